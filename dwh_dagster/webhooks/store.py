"""A durable store of received webhook events (SQLite), shared by the receiver and the sensors."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STORE_VAR = "DWH_WEBHOOK_STORE"


def default_store_path(project_root: Path) -> Path:
    """``$DWH_WEBHOOK_STORE``, else ``$DAGSTER_HOME/dwh_webhooks.sqlite``, else ``.dwh/webhooks.sqlite``."""
    if os.environ.get(STORE_VAR):
        return Path(os.environ[STORE_VAR]).expanduser()
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).expanduser() / "dwh_webhooks.sqlite"
    return project_root / ".dwh" / "webhooks.sqlite"


@dataclass(frozen=True)
class WebhookEvent:
    """One accepted delivery."""

    id: int
    trigger: str
    run_key: str
    payload: Any
    received_at: float


class WebhookStore:
    """Events by trigger, unique per (trigger, run key); written with a full fsync before accepting."""

    def __init__(self, path: Path):
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " trigger TEXT NOT NULL, run_key TEXT NOT NULL,"
                " payload TEXT NOT NULL, received_at REAL NOT NULL,"
                " UNIQUE (trigger, run_key))"
            )
            yield connection
            connection.commit()
        finally:
            connection.close()

    def add(self, trigger: str, run_key: str, payload: Any) -> bool:
        """Store an event durably; False when this trigger already has an event with this run key."""
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO events (trigger, run_key, payload, received_at) VALUES (?, ?, ?, ?)",
                (trigger, run_key, json.dumps(payload), time.time()),
            )
            return cursor.rowcount == 1

    def events_after(self, trigger: str, after_id: int, limit: int = 100) -> list[WebhookEvent]:
        """The trigger's events with an id above ``after_id``, oldest first."""
        if not self.path.exists():
            return []
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, trigger, run_key, payload, received_at FROM events"
                " WHERE trigger = ? AND id > ? ORDER BY id LIMIT ?",
                (trigger, after_id, limit),
            ).fetchall()
        return [WebhookEvent(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

"""A durable store of received webhook events (SQLite), shared by the receiver and the sensors.

The receiver writes through one :class:`StoreWriter`: a thread with its own connection that
commits the events waiting at that moment in one transaction (group commit: one fsync for all of
them) and only then resolves each one's future, so an answer is never sent before its event is on
disk. The sensors read with :meth:`WebhookStore.events_after` from other processes (WAL mode).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STORE_VAR = "DWH_WEBHOOK_STORE"
BATCH_LIMIT = 500  # events committed in one transaction at most
logger = logging.getLogger("dwh.webhooks")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " trigger TEXT NOT NULL, run_key TEXT NOT NULL,"
    " payload TEXT NOT NULL, received_at REAL NOT NULL,"
    " UNIQUE (trigger, run_key))"
)
_INSERT = "INSERT OR IGNORE INTO events (trigger, run_key, payload, received_at) VALUES (?, ?, ?, ?)"


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
            _prepare(connection)
            yield connection
            connection.commit()
        finally:
            connection.close()

    def add(self, trigger: str, run_key: str, payload: Any) -> bool:
        """Store an event durably; False when this trigger already has an event with this run key."""
        with self._connect() as connection:
            return _insert(connection, [(trigger, run_key, payload)]) == [True]

    def writer(self) -> StoreWriter:
        """A started :class:`StoreWriter` on this store (close it when done)."""
        return StoreWriter(self.path)

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


Item = tuple[str, str, Any]  # trigger, run key, payload


def _prepare(connection: sqlite3.Connection) -> None:
    """WAL (readers in other processes never block the writer), a full fsync at every commit."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(_SCHEMA)


def _insert(connection: sqlite3.Connection, items: Sequence[Item]) -> list[bool]:
    """Insert ``items`` in the open transaction; for each, whether it was new (not yet committed)."""
    now = time.time()
    created = []
    for trigger, run_key, payload in items:
        cursor = connection.execute(_INSERT, (trigger, run_key, json.dumps(payload), now))
        created.append(cursor.rowcount == 1)
    return created


class StoreWriter:
    """The receiver's one writer: events go into a queue; a thread commits what is queued together.

    :meth:`submit` returns a future that is resolved (True: a new event, False: this trigger has
    one with that run key already) only after the transaction holding the event has committed with
    ``synchronous=FULL``; it fails when the commit does. Events submitted while a commit runs go
    into the next one, up to :data:`BATCH_LIMIT` a transaction. Duplicates within one transaction
    are found as across transactions (``INSERT OR IGNORE`` on the unique (trigger, run key)).
    """

    def __init__(self, path: Path):
        self.path = path
        self._queue: queue.SimpleQueue[tuple[Item, Future[bool]] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._ready: Future[None] = Future()
        self._inflight: list[tuple[Item, Future[bool]]] = []
        self._thread = threading.Thread(target=self._run, name="dwh-webhook-store-writer", daemon=True)
        self._thread.start()
        self._ready.result()  # the store opens (or fails to) before the first request is accepted

    def submit(self, trigger: str, run_key: str, payload: Any) -> Future[bool]:
        future: Future[bool] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(RuntimeError("the webhook store writer is closed"))
                return future
            self._queue.put(((trigger, run_key, payload), future))
        return future

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            _prepare(connection)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            self._loop(connection)
        except BaseException:
            logger.exception("the webhook store writer stopped")
            with self._lock:
                self._closed = True
            left = [future for _, future in self._inflight if not future.done()]
            while True:  # nothing waits forever: what is still queued fails (its sender gets a 503)
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is not None and queued[1].set_running_or_notify_cancel():
                    left.append(queued[1])
            for future in left:
                future.set_exception(RuntimeError("the webhook store writer stopped"))
            raise
        finally:
            connection.close()

    def _loop(self, connection: sqlite3.Connection) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH_LIMIT:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            # a future whose waiter gave up (cancelled: no answer was sent) is dropped, the rest run
            batch = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
            self._inflight = batch
            if batch:
                self._commit(connection, batch)
            self._inflight = []
            if stop:
                return

    def _commit(self, connection: sqlite3.Connection, batch: list[tuple[Item, Future[bool]]]) -> None:
        try:
            results = self._transaction(connection, [item for item, _ in batch])
        except Exception:
            if len(batch) == 1:
                logger.exception("could not store a webhook event")
                batch[0][1].set_exception(RuntimeError("could not store the event"))
                return
            for one in batch:  # one bad event must not fail the others: each alone
                self._commit(connection, [one])
            return
        for (_, future), created in zip(batch, results, strict=True):
            future.set_result(created)

    @staticmethod
    def _transaction(connection: sqlite3.Connection, items: Sequence[Item]) -> list[bool]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            created = _insert(connection, items)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return created

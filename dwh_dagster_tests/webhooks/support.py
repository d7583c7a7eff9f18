"""Helpers of the webhook tests: a small project with webhook triggers, the real receiver, HTTP calls.

The project is the automation tests' filesystem -> DuckDB project (``job_a`` loads ``ds_a/t_a``,
``job_b`` loads ``ds_b/t_b``) plus these triggers:

- ``hook_hmac``: ``hmac_sha256`` with secret ``hook_hmac`` (env var :data:`HMAC_VAR`), starts
  ``job_a``; ``payload_tags`` as a mapping (``repo: repository.full_name``, ``ref: ref``,
  ``first_commit: commits.0.id``), trigger tags ``[webhook]``.
- ``hook_bearer``: ``bearer`` with secret ``hook_token`` (env var :data:`TOKEN_VAR`), starts
  ``job_b``; ``payload_tags`` as a list (``repository.full_name``, ``action``); disabled in prod
  by an ``environments:`` overlay.
- ``hook_disabled``: like ``hook_hmac`` but ``enabled: false``.
- ``hook_unset``: ``hmac_sha256`` whose secret's env var (:data:`UNSET_VAR`) is never set.
- ``nightly``: a cron trigger (not a webhook).

The receiver is started as ``python -m dwh_dagster.cli webhook serve`` in a subprocess whose output
goes to files, so nothing blocks on a full pipe and the output can be searched for the secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dwh_dagster.webhooks.auth import sign
from dwh_dagster_tests.automation.support import BASE_FILES
from dwh_dagster_tests.conftest import instance_settings_yaml
from dwh_dagster_tests.processes import free_port, start, stop

HMAC_VAR = "DWH_TEST_WEBHOOK_HMAC_KEY"
TOKEN_VAR = "DWH_TEST_WEBHOOK_BEARER"
UNSET_VAR = "DWH_TEST_WEBHOOK_NEVER_SET"
# Canaries: distinctive values that must never show up in the receiver's output or answers.
HMAC_SECRET = "canary-hmac-5b7f0c1e9a2d4e6f"
BEARER_SECRET = "canary-bearer-8d3a6c2f1e0b7a94"

SERVER_START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 15.0

WEBHOOK_FILES = {
    "secrets_mapping.yaml": f"""
        secrets:
          hook_hmac:
            env_var: {HMAC_VAR}
            required: false
          hook_token:
            env_var: {TOKEN_VAR}
            required: false
          hook_unset:
            env_var: {UNSET_VAR}
            required: false
    """,
    "triggers/hook_hmac.yaml": """
        trigger:
          name: hook_hmac
          type: webhook
          job: job_a.yaml
          tags: [webhook]
          webhook:
            auth: hmac_sha256
            secret_key: hook_hmac_secret_key
            payload_tags:
              repo: repository.full_name
              ref: ref
              first_commit: commits.0.id
    """,
    "triggers/hook_bearer.yaml": """
        trigger:
          name: hook_bearer
          type: webhook
          job: job_b
          webhook:
            auth: bearer
            secret_key: hook_token
            payload_tags: [repository.full_name, action]
          environments:
            prod: {enabled: false}
    """,
    "triggers/hook_disabled.yaml": """
        trigger:
          name: hook_disabled
          type: webhook
          enabled: false
          job: job_a
          webhook: {auth: hmac_sha256, secret_key: hook_hmac}
    """,
    "triggers/hook_unset.yaml": """
        trigger:
          name: hook_unset
          type: webhook
          job: job_a
          webhook: {auth: hmac_sha256, secret_key: hook_unset}
    """,
    "triggers/nightly.yaml": """
        trigger:
          name: nightly
          type: cron
          job: job_a
          schedule: {cron: "0 2 * * *"}
    """,
}


def write_webhook_project(root: Path) -> Path:
    """Write the project (YAML under ``root/yaml_defs``, data under ``root/drop``); return the defs dir."""
    defs = root / "yaml_defs"
    for rel, text in {**BASE_FILES, **WEBHOOK_FILES}.items():
        target = defs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    drop = root / "drop"
    drop.mkdir(exist_ok=True)
    for name in ("a", "b"):
        with (drop / f"{name}.jsonl").open("w") as out:
            for i in range(3):
                out.write(json.dumps({"id": i, "name": f"{name}{i}"}) + "\n")
    return defs


def make_dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME with the repo's dagster.yaml (as the ``dagster_home`` fixture makes it)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text(instance_settings_yaml())
    return path


def clean_env(dagster_home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without secrets or project settings, plus DAGSTER_HOME and ``extra``."""
    dropped = (
        "ENVIRONMENT",
        "DWH_DEFS_DIR",
        "DWH_WEBHOOK_STORE",
        "DWH_STATE_DIR",
        HMAC_VAR,
        TOKEN_VAR,
        UNSET_VAR,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.endswith(("_DEV", "_STAGE", "_PROD")) and "SECRET" not in k
    }
    env.update({"DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1", **extra})
    return env


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A running ``dwh webhook serve``."""

    process: subprocess.Popen[bytes]
    port: int
    log_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, trigger: str, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
        """POST ``body`` to ``/webhooks/<trigger>``; any status is returned, never raised."""
        request = urllib.request.Request(
            f"{self.base_url}/webhooks/{trigger}",
            data=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
                return Response(answer.status, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read())

    def post_signed(
        self,
        trigger: str,
        payload: Any,
        *,
        delivery: str | None = None,
        secret: str = HMAC_SECRET,
        timestamp: str | None = None,
    ) -> Response:
        """POST a JSON payload signed as the spec says (HMAC over ``<timestamp>.<body>``)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.post(
            trigger, body, signed_headers(body, secret=secret, timestamp=timestamp, delivery=delivery)
        )

    def post_expecting_continue(self, trigger: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST with ``Expect: 100-continue`` over a raw socket: the body is sent only after ``100``.

        A server that refuses a request from its headers (a too large Content-Length) answers
        at once without reading the body, so the answer can be read reliably. Returns the status.
        """
        lines = [
            f"POST /webhooks/{trigger} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Expect: 100-continue",
            "Connection: close",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        deadline = time.monotonic() + REQUEST_TIMEOUT
        received = b""
        body_sent = False
        with socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            while time.monotonic() < deadline:  # Connection: close, so the answer ends with EOF
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
                if not body_sent and received.startswith(b"HTTP/1.1 100") and received.endswith(b"\r\n\r\n"):
                    sock.sendall(body)
                    body_sent = True
        final = [s for s in re.findall(rb"^HTTP/1\.1 (\d{3})", received, flags=re.MULTILINE) if s != b"100"]
        assert final, f"no final answer within {REQUEST_TIMEOUT} s: {received[:500]!r}"
        return int(final[0])

    def access_log_statuses(self, trigger: str) -> list[int]:
        """The statuses uvicorn logged for ``POST /webhooks/<trigger>``, in order."""
        pattern = rf'"POST /webhooks/{re.escape(trigger)} HTTP/1\.1" (\d{{3}})'
        return [int(m) for m in re.findall(pattern, self.output())]

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        log = self.log_dir / "receiver.log"
        return log.read_text(errors="replace") if log.exists() else ""


def signed_headers(
    body: bytes, *, secret: str = HMAC_SECRET, timestamp: str | None = None, delivery: str | None = None
) -> dict[str, str]:
    """``X-Timestamp`` (now unless given), ``X-Signature-256`` and optionally ``X-Delivery-Id``."""
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    # Computed independently of the package: HMAC(secret, f"{timestamp}.".encode() + body).
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert f"sha256={digest}" == sign(secret, stamp, body)
    headers = {"X-Timestamp": stamp, "X-Signature-256": f"sha256={digest}"}
    if delivery is not None:
        headers["X-Delivery-Id"] = delivery
    return headers


@contextmanager
def serve(defs_dir: Path, env: Mapping[str, str], log_dir: Path) -> Iterator[Receiver]:
    """Start the real receiver on a free port, wait (bounded) until it answers, always stop it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "dwh_dagster.cli", "webhook", "serve", "--defs", str(defs_dir)]
    process = start([*command, "--host", "127.0.0.1", "--port", str(port)], env, log_dir / "receiver.log")
    receiver = Receiver(process, port, log_dir)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        ready = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                # Any HTTP answer means the server is up; an unknown trigger answers 404.
                receiver.post("__readiness_probe__", b"{}")
                ready = True
                break
            except (ConnectionError, urllib.error.URLError, OSError):
                time.sleep(0.2)
        assert ready, f"receiver did not answer (exit code {process.poll()}):\n{receiver.output()}"
        yield receiver
    finally:
        stop(process)


def stored_events(store: Path, trigger: str | None = None) -> list[tuple[str, str, Any]]:
    """``(trigger, run_key, payload)`` of every event in the SQLite store, in insertion order."""
    if not store.exists():
        return []
    connection = sqlite3.connect(store, timeout=30)
    try:
        rows = connection.execute("SELECT trigger, run_key, payload FROM events ORDER BY id").fetchall()
    finally:
        connection.close()
    return [(t, k, json.loads(p)) for t, k, p in rows if trigger is None or t == trigger]

"""Helpers of the deployment tests: Dagster's own servers and daemon as separate processes.

Every process starts in its own session (process group) and listens on 127.0.0.1 only;
:func:`running` stops the whole group on exit (SIGINT or SIGTERM, then SIGKILL), so no code
server or run worker a process spawned outlives a test. Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from dwh_dagster_tests.conftest import REPO_ROOT

STOP_TIMEOUT = 20  # seconds for a process (group) to stop before it is killed
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(dagster_home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without secrets, ENVIRONMENT, DWH_* or DAGSTER_PG_* settings.

    Nothing of the caller's own project, instance or credentials leaks into the processes; ``extra``
    (``DWH_DEFS_DIR``, ``ENVIRONMENT``, ``DAGSTER_PG_*``, ...) is added on top.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_DEV", "_STAGE", "_PROD"))
        and "SECRET" not in k
        and k != "ENVIRONMENT"
        and not k.startswith(("DWH_", "DAGSTER_"))
    }
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            **extra,
        }
    )
    return env


@contextmanager
def running(
    args: Sequence[str], env: dict[str, str], log: Path, *, stop_signal: int = signal.SIGTERM
) -> Iterator[subprocess.Popen[bytes]]:
    """``args`` in its own process group (output to ``log``), stopped with its group on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(args),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process, stop_signal)


def stop(process: subprocess.Popen[bytes], stop_signal: int = signal.SIGTERM) -> None:
    """``stop_signal`` to the process group, SIGKILL when it lingers; nothing of the group survives."""
    pgid = process.pid  # start_new_session: the process leads its own group
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(pgid, stop_signal)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError):  # children (code servers, run workers) of the group
        os.killpg(pgid, signal.SIGKILL)


def tail(log: Path, chars: int = 5000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no output)"


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    processes: dict[str, tuple[subprocess.Popen[bytes], Path]],
    interval: float = 1.0,
) -> None:
    """Poll ``condition`` until true; fail with the logs after ``timeout`` s or when a process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        for name, (process, log) in processes.items():
            if process.poll() is not None:
                raise AssertionError(
                    f"{name} exited ({process.returncode}) while waiting for {what}:\n{tail(log)}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}:\n{tail(log, 3000)}" for name, (_, log) in processes.items())
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
        time.sleep(interval)


def dagster(*args: str) -> list[str]:
    """The command line of ``python -m dagster ...`` in this interpreter."""
    return [sys.executable, "-m", "dagster", *args]


def grpc_server_command(port: int) -> list[str]:
    return dagster("api", "grpc", "-m", "dwh_dagster.definitions", "-h", HOST, "-p", str(port))


def grpc_healthy(port: int) -> bool:
    """The code server on ``port`` answers a ping."""
    from dagster._grpc.client import DagsterGrpcClient

    try:
        return DagsterGrpcClient(port=port, host=HOST).ping("ok")["echo"] == "ok"
    except Exception:
        return False


def daemon_command(workspace: Path) -> list[str]:
    return [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)]


def http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """GET (or POST ``payload`` as JSON) and return the decoded JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def answers(url: str) -> bool:
    try:
        http_json(url, timeout=5)
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return True

"""The one helper for processes that tests start: servers, daemons and CLI commands.

Every process starts in its own session (process group) and listens on 127.0.0.1 only.
:func:`running` stops the whole group on exit (the polite signal, then SIGKILL), so no code
server or run worker that a process spawned outlives a test. Every wait has a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from dwh_dagster_tests.conftest import REPO_ROOT

STOP_TIMEOUT = 20  # seconds for a process (group) to stop before it is killed
HOST = "127.0.0.1"

Watched = Mapping[str, tuple["subprocess.Popen[bytes]", Path]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(
    args: Sequence[str], env: Mapping[str, str], log: Path, *, cwd: Path = REPO_ROOT
) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group, stdin closed, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def running(
    args: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    *,
    cwd: Path = REPO_ROOT,
    stop_signal: int = signal.SIGTERM,
) -> Iterator[subprocess.Popen[bytes]]:
    """``args`` in its own process group (output to ``log``), stopped with its group on exit."""
    process = start(args, env, log, cwd=cwd)
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
    """The last ``chars`` characters of a process log."""
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no output)"


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    processes: Watched,
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

"""One writer per DuckDB file: an exclusive file lock held while a step writes it.

DuckDB refuses a second writer ("Could not set lock on file"). A step that writes a DuckDB file
first takes an exclusive lock on ``<file>.dwh-lock`` beside it and holds it while it loads. The
lock is the ``filelock`` library's native OS lock (``flock(2)`` on Linux and macOS). Waiting
happens inside the step, so a sequential job keeps its order.

What is guaranteed:

- At most one holder per lock file at a time on one machine. This holds across processes (any
  job, run or ``dwh run`` process) and across threads of one process: every acquisition makes
  its own lock object (thread-local, not a singleton), so it opens its own file descriptor, and
  the kernel keeps two threads apart just as it keeps two processes apart.
- A holder that dies never blocks anyone. The kernel drops a ``flock`` lock when the process
  that holds it exits, even after SIGKILL or an OOM kill. The lock file stays on disk as an empty
  file, and its being there means nothing. File-existence ("soft") locking is never used, not
  even as a fallback on a file system without ``flock``: there the lock raises an error instead,
  because a soft lock left by a killed process would stay stuck.
- A step that has to wait logs it: once right away, then about every ``LOG_EVERY_SECONDS``.
- A lock left by a dead holder is taken over with a log line. While it holds the lock, a holder's
  pid and start time are written in the lock file (through filelock's ``on_acquired``), and the
  file is emptied again before the lock is released. A name found in the file on taking the lock
  is that of a holder that died holding it (the kernel dropped its lock, but it could not empty
  the file): the new holder logs which process that was, then writes its own name.
  :func:`dead_holder` reads the same record without taking the lock, so that other leftovers of
  a dead process can be found (the dlt working folders, ``runner.py``).

What is not guaranteed:

- No order among waiters (no FIFO, no fairness). Waiters poll: they retry a non-blocking lock
  every ``poll_seconds``, and whichever tries first after the holder lets go gets the lock. A
  step that started waiting earlier can be overtaken by a later one.
- No timeout. A waiter waits for as long as the holder holds the lock.
- Only one machine. ``flock`` coordinates the processes of one host, and a DuckDB file is local
  to one host. Two machines writing one file on a network share are not kept apart.
- Not reentrant. A thread that already holds the lock on a file and asks for it again gets a
  ``RuntimeError``; it does not deadlock waiting for itself.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import filelock

from dwh_dagster.config.models.destinations import DestinationModel, DuckDbDestination

LOG_EVERY_SECONDS = 30.0

# The native lock for this platform, chosen here: ``filelock.FileLock`` would fall back to a soft
# lock on a platform without flock.
_NativeFileLock: type[filelock.BaseFileLock] = (
    filelock.WindowsFileLock if sys.platform == "win32" else filelock.UnixFileLock
)


class _HeldByThisThread(threading.local):
    def __init__(self) -> None:
        self.paths: set[str] = set()


_HELD = _HeldByThisThread()


@contextmanager
def destination_write_lock(
    destination: DestinationModel, local_path: Callable[[str], str], log: Callable[[str], None]
) -> Iterator[None]:
    """The one-writer lock of ``destination`` when it is a DuckDB file (loads and transformations
    alike); nothing for other destinations. ``local_path`` resolves the file's path."""
    if not isinstance(destination, DuckDbDestination):
        yield
        return
    database = Path(local_path(destination.connection.database))
    with exclusive_file_lock(duckdb_lock_path(database), log):
        yield


def duckdb_lock_path(database: Path) -> Path:
    """The lock file beside a DuckDB database file."""
    return database.with_name(database.name + ".dwh-lock")


_RECORD_BYTES = 4096


class _HolderRecord:
    """The holder's name in the lock file: written once the lock is taken, emptied before it is
    released. ``found`` is what the file held when the lock was taken (a dead holder's name)."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.found = ""

    def write(self, fd: int) -> None:
        """filelock's ``on_acquired``: ``fd`` is the locked descriptor, ours until release."""
        self.fd = fd
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with suppress(OSError):  # the record is a courtesy: the lock holds without it
            self.found = os.pread(fd, _RECORD_BYTES, 0).decode(errors="replace").strip()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {started}\n".encode(), 0)

    def clear(self) -> None:
        if self.fd is not None:
            with suppress(OSError):  # the file may be gone (a working folder removed by its step)
                os.ftruncate(self.fd, 0)
            self.fd = None


def dead_holder(path: Path) -> str | None:
    """The name in ``path`` (``pid 123 since ...``) when its holder died holding the lock; None
    when no process holds it and none died holding it, when a live process holds it now, or when
    the file does not exist. Never creates the file. Only where ``flock`` exists (None elsewhere).
    """
    if sys.platform == "win32":
        return None
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)  # not filelock: it would create a missing file
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # held: its holder is alive
        record = os.pread(fd, _RECORD_BYTES, 0).decode(errors="replace").strip()
        return record or None  # empty: released properly (or taken a moment ago, not written yet)
    finally:
        os.close(fd)  # drops the probe's lock


@contextmanager
def exclusive_file_lock(path: Path, log: Callable[[str], None], poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing); log while waiting for it, and
    when it was left by a holder that died holding it.

    Retries every ``poll_seconds`` while another holder has the lock. See the module docstring
    for what this does and does not guarantee.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if key in _HELD.paths:
        raise RuntimeError(f"this thread already holds {path}; taking it again would wait forever")
    record = _HolderRecord()
    lock = _NativeFileLock(
        path,
        thread_local=True,  # each thread's hold is its own; with a shared state a 2nd thread would just enter
        is_singleton=False,  # a fresh object (and descriptor) per acquisition: no in-process reentrancy
        poll_interval=poll_seconds,
        fallback_to_soft=False,  # a soft lock could be left stuck by a killed process
        # the holder's name in the file (not on Windows, whose locks keep others from reading it)
        on_acquired=None if sys.platform == "win32" else record.write,
    )
    started = time.monotonic()
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        while True:
            waited = time.monotonic() - started
            log(f"waiting {waited:.0f} s for {path.name}: another step writes this DuckDB file")
            try:
                lock.acquire(timeout=LOG_EVERY_SECONDS)
                break
            except filelock.Timeout:
                continue
    if record.found:
        log(
            f"{path.name} was left by {record.found}, which died holding it (killed or crashed): "
            "the kernel released its lock when it died, so this step took the lock over"
        )
    _HELD.paths.add(key)
    try:
        yield
    finally:
        _HELD.paths.discard(key)
        record.clear()
        lock.release()

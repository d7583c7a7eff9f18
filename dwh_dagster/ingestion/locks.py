"""One writer per DuckDB file: an exclusive file lock held while a step writes it.

DuckDB refuses a second writer ("Could not set lock on file"). Steps that write the same file
take this lock first, in any job, run or process on the machine, and wait for it in order of
arrival. Waiting happens inside the step, so a sequential job keeps its order.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_EVERY_SECONDS = 30.0


def duckdb_lock_path(database: Path) -> Path:
    """The lock file beside a DuckDB database file."""
    return database.with_name(database.name + ".dwh-lock")


@contextmanager
def exclusive_file_lock(path: Path, log: Callable[[str], None], poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing); log while waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        started = time.monotonic()
        next_log = started
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= next_log:
                    log(
                        f"waiting {now - started:.0f} s for {path.name}: another step writes this DuckDB file"
                    )
                    next_log = now + LOG_EVERY_SECONDS
                time.sleep(poll_seconds)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

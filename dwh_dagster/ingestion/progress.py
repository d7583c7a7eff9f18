"""What a load reports while it runs: dlt's progress at least every 5 seconds, and each repeated
library warning once, with its count.

dlt's ``LogCollector`` writes the rows (items) and pages of each table so far, and its rate, every
:data:`PROGRESS_SECONDS` and when a stage (extract, normalize, load) ends; its lines go to the
step's log (the Dagster event log and the console of ``dwh run``). A warning that dlt repeats for
every page or batch (``several column hints were different``) is written the first time and
counted after that: one more line at the end of the step gives the count.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PROGRESS_SECONDS = 5.0
LIBRARY_LOGGERS = ("dlt",)
"""The loggers whose repeated records are collapsed."""


class _ToStepLog(logging.Handler):
    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip("\n")
        if text.strip():
            self._log(text)


def progress_collector(log: Callable[[str], None], name: str) -> Any:
    """dlt's progress collector, writing through ``log`` every :data:`PROGRESS_SECONDS` of a
    stage, and when a stage that ran that long ends; a quick stage writes nothing (each message
    is an event in the run's log)."""
    from dlt.common.runtime.collector import LogCollector

    class QuietLogCollector(LogCollector):
        def _start(self, step: str) -> None:
            super()._start(step)
            self.stage_started = self._clock()
            self.last_log_time = self.stage_started  # the first line after a period, not at once

        def _stop(self) -> None:
            if self._clock() - self.stage_started < self.log_period:
                self.on_log = lambda: None  # type: ignore[method-assign]
            try:
                super()._stop()
            finally:
                self.__dict__.pop("on_log", None)

    logger = logging.Logger(f"dwh.progress.{name}", level=logging.INFO)
    logger.addHandler(_ToStepLog(log))
    return QuietLogCollector(log_period=PROGRESS_SECONDS, logger=logger, dump_system_stats=False)


class _Once(logging.Filter):
    """Lets each (logger, level, message) through once; counts the repeats."""

    def __init__(self) -> None:
        super().__init__()
        self.repeats: Counter[tuple[str, str]] = Counter()
        self._seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        if key not in self._seen:
            self._seen.add(key)
            return True
        self.repeats[(record.levelname, record.getMessage())] += 1
        return False


@contextmanager
def repeated_warnings_collapsed(log: Callable[[str], None]) -> Iterator[None]:
    """While active, a record the library loggers repeat is written once; at the end, one line
    per repeated record gives its count."""
    once = _Once()
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    for logger in loggers:
        logger.addFilter(once)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(once)
        for (level, message), count in sorted(once.repeats.items()):
            first = message.strip().splitlines()[0] if message.strip() else message
            log(f"{level.lower()} repeated {count} more time(s): {first}")

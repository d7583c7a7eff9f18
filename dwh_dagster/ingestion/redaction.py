"""Keep secret values out of logs, error messages and the Dagster event log."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary text


class SecretRedactor:
    """Remembers every secret value resolved during a run and masks it (and its encodings) in text."""

    def __init__(self) -> None:
        self._needles: set[str] = set()

    def add(self, value: str) -> None:
        """Remember ``value``, URL-quoted and base64 forms included."""
        if len(value) < _MIN_LENGTH:
            return
        self._needles.update(
            {
                value,
                urllib.parse.quote(value, safe=""),
                urllib.parse.quote_plus(value),
                base64.b64encode(value.encode()).decode(),
            }
        )

    def recording(self, resolve: Callable[[str], str]) -> Callable[[str], str]:
        """Wrap a secret resolver so that every value it returns is remembered."""

        def resolve_and_remember(reference: str) -> str:
            value = resolve(reference)
            self.add(value)
            return value

        return resolve_and_remember

    def redact(self, text: str) -> str:
        """``text`` with every remembered value replaced by ``***`` (longest first)."""
        for needle in sorted(self._needles, key=len, reverse=True):
            text = text.replace(needle, MASK)
        return text

    def scrub_files(self, root: Path) -> list[Path]:
        """Delete every file under ``root`` that holds a remembered value (a pickle cannot be edited)."""
        needles = [n.encode() for n in self._needles]
        removed = []
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file() and not path.is_symlink():
                content = path.read_bytes()
                if any(needle in content for needle in needles):
                    path.unlink()
                    removed.append(path)
        return removed

    @contextmanager
    def masking_logs(self) -> Iterator[None]:
        """While active, log records of every handler are masked before they are written."""
        log_filter = _RedactingFilter(self)
        loggers = [
            logging.getLogger(),
            *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict)),
        ]
        handlers = {id(h): h for lg in loggers for h in getattr(lg, "handlers", [])}
        for handler in handlers.values():
            handler.addFilter(log_filter)
        try:
            yield
        finally:
            for handler in handlers.values():
                handler.removeFilter(log_filter)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._redactor.redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        return True

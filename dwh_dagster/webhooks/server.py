"""The receiver's HTTP server: uvicorn, with a deadline for each request's headers.

uvicorn times out an idle kept-alive connection, but not a request whose headers never complete:
a connection that sends nothing after it opens, or stops in the middle of its headers, would stay
open for ever, and enough of them use up the server's connections. Here each request's headers
must be complete within ``$DWH_WEBHOOK_HEADER_TIMEOUT`` seconds (default
:data:`DEFAULT_HEADER_TIMEOUT`) of the connection opening or of the request's first byte; else the
sender gets 408 and the connection is closed. The body has a deadline of its own (``app.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dwh_dagster.webhooks.app import seconds_from_env

HEADER_TIMEOUT_VAR = "DWH_WEBHOOK_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT = 10.0
_TIMED_OUT_BODY = b"the request headers took too long"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    + f"content-length: {len(_TIMED_OUT_BODY)}\r\nconnection: close\r\n\r\n".encode()
    + _TIMED_OUT_BODY
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline from a connection's (or request's) start to
    the end of the request's headers."""

    header_timeout = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        self._cancel_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_late(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMED_OUT)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()  # the first request's headers are due

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()  # a kept-alive connection's next request

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)


def header_deadline_protocol() -> type[HeaderDeadlineProtocol]:
    """The protocol class for uvicorn, with the header timeout from the environment (a ValueError
    naming the variable when it is not a positive number)."""
    timeout = seconds_from_env(HEADER_TIMEOUT_VAR, DEFAULT_HEADER_TIMEOUT)
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": timeout})

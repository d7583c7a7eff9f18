"""A request's headers have a deadline (``DWH_WEBHOOK_HEADER_TIMEOUT``): a connection that sends
nothing, or stalls or trickles in the middle of its headers (its first request or a kept-alive
one's next), gets 408 and is closed; senders that keep to it are served as before. The real
receiver, on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dwh_dagster.webhooks.server import HEADER_TIMEOUT_VAR
from dwh_dagster_tests.webhooks.support import (
    HMAC_SECRET,
    HMAC_VAR,
    Receiver,
    clean_env,
    serve,
    signed_headers,
    stored_events,
    write_webhook_project,
)

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

TRIGGER = "hook_hmac"
HEADER_TIMEOUT = 1.5  # the receiver's DWH_WEBHOOK_HEADER_TIMEOUT in these tests
MARGIN = 5.0  # seconds beyond it within which a stalled connection must be closed


@pytest.fixture
def receiver(tmp_path: Path, dagster_home: Path) -> Iterator[Receiver]:
    env = clean_env(dagster_home, **{HMAC_VAR: HMAC_SECRET, HEADER_TIMEOUT_VAR: str(HEADER_TIMEOUT)})
    with serve(write_webhook_project(tmp_path / "project"), env, tmp_path / "logs") as running:
        yield running


def _until_closed(sock: socket.socket, started: float, trickle: bytes = b"") -> tuple[bytes, float]:
    """What the server sends until it closes, and after how many seconds; ``trickle`` is sent a
    byte at a time meanwhile. Fails when the connection is still open after the deadline."""
    received = b""
    deadline = started + HEADER_TIMEOUT + MARGIN
    sock.settimeout(0.1)
    try:
        while time.monotonic() < deadline:
            if trickle:
                sock.sendall(trickle[:1])
                trickle = trickle[1:]
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return received, time.monotonic() - started
            received += data
    except (BrokenPipeError, ConnectionResetError):
        return received, time.monotonic() - started
    finally:
        sock.close()
    raise AssertionError(f"still open {HEADER_TIMEOUT + MARGIN} s after it started: {received[:200]!r}")


def _connect(receiver: Receiver) -> socket.socket:
    return socket.create_connection(("127.0.0.1", receiver.port), timeout=HEADER_TIMEOUT + MARGIN)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /webhooks/hook_hmac HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"],
    ids=["nothing", "half-headers"],
)
def test_a_connection_without_complete_headers_gets_408_and_is_closed(
    receiver: Receiver, sent: bytes
) -> None:
    sock = _connect(receiver)
    started = time.monotonic()
    sock.sendall(sent)
    received, closed = _until_closed(sock, started)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert closed >= HEADER_TIMEOUT * 0.8, f"closed after {closed:.2f} s, before the header timeout"


def test_headers_trickled_in_a_byte_at_a_time_are_cut_off(receiver: Receiver) -> None:
    headers = b"POST /webhooks/hook_hmac HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"a" * 400
    sock = _connect(receiver)
    received, closed = _until_closed(sock, time.monotonic(), trickle=headers)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert closed < HEADER_TIMEOUT + MARGIN


def test_the_next_request_on_a_kept_alive_connection_has_the_deadline_too(
    receiver: Receiver, dagster_home: Path
) -> None:
    body = b'{"ref": "refs/heads/main"}'
    headers = signed_headers(body, delivery="kept-alive-1")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST /webhooks/{TRIGGER} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body
    sock = _connect(receiver)
    sock.sendall(request)
    first = b""
    while b"\r\n\r\n" not in first or not first.rstrip().endswith(b"}"):
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 202 "), first
    started = time.monotonic()
    sock.sendall(b"POST /webhooks/hook_hmac HTTP/1.1\r\nHo")  # then nothing more
    received, _ = _until_closed(sock, started)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert [key for _, key, _ in stored_events(dagster_home / "dwh_webhooks.sqlite")] == ["kept-alive-1"]


def test_a_prompt_sender_is_served_while_stalled_ones_wait(receiver: Receiver) -> None:
    stalled = [_connect(receiver) for _ in range(10)]
    try:
        answer = receiver.post_signed(TRIGGER, {"ok": True}, delivery="prompt-1")
        assert answer.status == 202, answer.body
    finally:
        for sock in stalled:
            sock.close()

"""The real webhook receiver under load, with oversized bodies and with slow senders (issue 16, item 3).

Each test starts its own ``python -m dwh_dagster.cli webhook serve`` (own process group, see
:mod:`dwh_dagster_tests.processes`) for the project of :mod:`dwh_dagster_tests.webhooks.support`,
with its body timeout (``DWH_WEBHOOK_BODY_TIMEOUT``) set to :data:`BODY_TIMEOUT` seconds, and talks
to it over raw sockets or :mod:`http.client` on 127.0.0.1:

- the load: :data:`DELIVERIES` signed deliveries from :data:`CLIENTS` concurrent keep-alive clients,
  a tenth of them replays (a delivery sent again as it was) and a tenth forgeries (bad signatures,
  each carrying the id of a genuine delivery and another payload). Every genuine one must be
  answered 202 only once it is in the store (each client looks it up in the SQLite store as soon as
  its 202 arrives), every forgery 401; after a SIGKILL of the receiver the store must hold exactly
  one event per distinct delivery id, with the genuine payload, and the trigger's sensor must ask
  for exactly one run per id. The receiver's RSS (``VmRSS`` of ``/proc/<pid>/status``) is sampled
  all along; from the first to the last quarter of the load it must grow by less than
  :data:`RSS_GROWTH_LIMIT_MB`.
- bodies above ``MAX_BODY_BYTES`` (50 MB, chunked or with a lying Content-Length) are answered
  413 (or 400) and cut off: the receiver closes the connection long before it could have read them,
  and its peak RSS (``VmHWM``) does not grow by anything near their size.
- a sender that stalls (or trickles) in the middle of its body is answered 408 and disconnected
  within :data:`BODY_TIMEOUT` plus a margin, while other deliveries are served meanwhile.

The store's writer thread is also tested in process: each event's future resolves only once
another connection sees it committed, duplicates within one transaction are found, and an event
that cannot be stored fails alone.

No throughput or latency is asserted (that is ``benchmarks/webhook_load.py``'s business); every
wait is bounded. :func:`plan_deliveries`, :func:`send_load` and :class:`RssSampler` are shared with
the benchmark.
"""

from __future__ import annotations

import functools
import http.client
import json
import queue
import random
import select
import signal
import socket
import sqlite3
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import dwh_dagster.webhooks.store as store_module
from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster.webhooks.app import BODY_TIMEOUT_VAR, MAX_BODY_BYTES
from dwh_dagster.webhooks.store import WebhookStore
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
DELIVERIES = 2000
CLIENTS = 16
REPLAY_SHARE = 0.10
FORGED_SHARE = 0.10
PAYLOAD_BYTES = 16 * 1024  # a genuine body: a GitHub push is a few to some tens of kB
WARM_UP = 200  # deliveries sent before the measured load, so that caches are filled
RSS_GROWTH_LIMIT_MB = 30.0
RSS_INTERVAL = 0.02  # seconds between RSS samples
BODY_TIMEOUT = 2.0  # the receiver's DWH_WEBHOOK_BODY_TIMEOUT in these tests
CLOSE_MARGIN = 5.0  # seconds beyond BODY_TIMEOUT within which a stalled connection must be closed
ANSWER_TIMEOUT = 30.0  # seconds for any one answer (bounded waits only, never a timing assertion)
HUGE = 50 * 1024 * 1024  # bytes of the oversized bodies
HUGE_RSS_LIMIT_MB = 20.0  # the receiver's peak RSS may grow by this much while refusing them
CUT_OFF_WITHIN = 10.0  # seconds for the receiver to answer and close a huge body's connection
FORGERIES = ("wrong secret", "corrupted signature", "stale timestamp", "missing signature")


# -- the load, shared with benchmarks/webhook_load.py ------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One request of the load: ``kind`` is ``new``, ``replay`` (a ``new`` one sent again) or ``forged``."""

    kind: str
    delivery_id: str
    body: bytes
    headers: dict[str, str]
    forgery: str = ""


@dataclass
class Outcome:
    """What one request got: its status and answer, the latency and whether it was stored by then."""

    delivery: Delivery
    status: int
    answer: Any
    latency: float
    attempts: int = 1  # 2: the kept-alive connection was closed under it, sent again on a new one
    stored_at_answer: bool | None = None  # looked up after a 202: None when not looked up


def payload_of(delivery_id: str, size: int) -> dict[str, Any]:
    """A push-like payload of about ``size`` bytes."""
    payload: dict[str, Any] = {
        "ref": "refs/heads/main",
        "delivery": delivery_id,
        "repository": {"full_name": "acme/shop", "id": 42},
        "commits": [{"id": f"{delivery_id}-c{i}", "message": "fix"} for i in range(3)],
    }
    pad = size - len(json.dumps(payload))
    payload["pad"] = "x" * max(pad - 12, 0)
    return payload


def plan_deliveries(
    count: int,
    *,
    replay_share: float = REPLAY_SHARE,
    forged_share: float = FORGED_SHARE,
    payload_bytes: int = PAYLOAD_BYTES,
    prefix: str = "load",
    seed: int = 16,
) -> list[Delivery]:
    """``count`` requests in a shuffled order: genuine ones, replays of them, forgeries of their ids.

    Each replay comes after the delivery it repeats and is the same request (body and headers); a
    forgery carries the id of a genuine delivery, another payload and a bad signature (one of
    :data:`FORGERIES` in turn). The timestamps are now: the plan must be sent within 5 minutes.
    """
    rng = random.Random(seed)
    replays = round(count * replay_share)
    forged = round(count * forged_share)
    fresh = count - replays - forged
    genuine = []
    for i in range(fresh):
        delivery_id = f"{prefix}-{i:05d}"
        body = json.dumps(payload_of(delivery_id, payload_bytes)).encode()
        genuine.append(Delivery("new", delivery_id, body, signed_headers(body, delivery=delivery_id)))
    plan: list[Delivery] = list(genuine)
    rng.shuffle(plan)
    for original in rng.sample(genuine, replays):
        at = plan.index(original)
        plan.insert(rng.randint(at + 1, len(plan)), Delivery("replay", *_fields(original)))
    now = int(time.time())
    for i, target in enumerate(rng.choices(genuine, k=forged)):
        forgery = FORGERIES[i % len(FORGERIES)]
        body = json.dumps({**payload_of(target.delivery_id, 256), "forged": True}).encode()
        if forgery == "wrong secret":
            headers = signed_headers(body, secret="not-the-secret", delivery=target.delivery_id)
        elif forgery == "corrupted signature":
            headers = signed_headers(body, delivery=target.delivery_id)
            digest = headers["X-Signature-256"]
            headers["X-Signature-256"] = digest[:-4] + ("0000" if not digest.endswith("0000") else "1111")
        elif forgery == "stale timestamp":
            headers = signed_headers(body, timestamp=str(now - 3600), delivery=target.delivery_id)
        else:
            headers = {"X-Timestamp": str(now), "X-Delivery-Id": target.delivery_id}
        plan.insert(rng.randint(0, len(plan)), Delivery("forged", target.delivery_id, body, headers, forgery))
    assert len(plan) == count
    return plan


def _fields(delivery: Delivery) -> tuple[str, bytes, dict[str, str]]:
    return delivery.delivery_id, delivery.body, delivery.headers


class StoreProbe:
    """Looks deliveries up in the receiver's SQLite store (one connection per thread, read only)."""

    def __init__(self, path: Path, trigger: str):
        self.path = path
        self.trigger = trigger
        self._local = threading.local()

    def has(self, delivery_id: str) -> bool:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            self._local.connection = connection
        row = connection.execute(
            "SELECT count(*) FROM events WHERE trigger = ? AND run_key = ?", (self.trigger, delivery_id)
        ).fetchone()
        return bool(row[0])

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


def send_load(
    port: int,
    plan: Sequence[Delivery],
    *,
    clients: int = CLIENTS,
    trigger: str = TRIGGER,
    probe_store: Path | None = None,
    timeout: float = ANSWER_TIMEOUT,
) -> list[Outcome]:
    """Send ``plan`` from ``clients`` threads, each over its own keep-alive connection, in plan order.

    With ``probe_store``, a client looks every delivery answered 202 up in that store at once,
    before it sends its next request: ``stored_at_answer`` says whether it was there.
    """
    work: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
    for delivery in plan:
        work.put(delivery)
    for _ in range(clients):
        work.put(None)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        probe = StoreProbe(probe_store, trigger) if probe_store is not None else None
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine: list[Outcome] = []
        try:
            while (delivery := work.get()) is not None:
                started = time.perf_counter()
                attempts = 1
                try:
                    status, raw = _post(connection, trigger, delivery)
                except (ConnectionError, http.client.HTTPException):
                    connection.close()  # the server closed a kept-alive connection: once more, anew
                    attempts = 2
                    status, raw = _post(connection, trigger, delivery)
                latency = time.perf_counter() - started
                outcome = Outcome(delivery, status, _json_or_text(raw), latency, attempts)
                if probe is not None and status == 202:
                    outcome.stored_at_answer = probe.has(delivery.delivery_id)
                mine.append(outcome)
        except BaseException as exc:  # reported by the caller, with the thread's results so far
            errors.append(exc)
        finally:
            connection.close()
            if probe is not None:
                probe.close()
            with lock:
                outcomes.extend(mine)

    threads = [threading.Thread(target=client, name=f"webhook-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.1 * len(plan)  # bounded, far above what it takes
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a load client did not finish"
    if errors:
        raise AssertionError(f"{len(errors)} load clients failed; the first: {errors[0]!r}") from errors[0]
    return outcomes


def _post(connection: http.client.HTTPConnection, trigger: str, delivery: Delivery) -> tuple[int, bytes]:
    connection.request(
        "POST",
        f"/webhooks/{trigger}",
        body=delivery.body,
        headers={"Content-Type": "application/json", **delivery.headers},
    )
    answer = connection.getresponse()
    return answer.status, answer.read()


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def status_kb(pid: int, key: str) -> int | None:
    """``key`` (``VmRSS``, ``VmHWM``) of ``/proc/<pid>/status`` in kB; None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return None


@dataclass
class RssSampler:
    """Samples ``VmRSS`` of a process every ``interval`` seconds in a thread, as ``(seconds, kB)``."""

    pid: int
    interval: float = RSS_INTERVAL
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            kb = status_kb(self.pid, "VmRSS")
            if kb is not None:
                self.samples.append((time.monotonic() - started, kb))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def quarters_mb(self) -> tuple[float, float]:
        """The median RSS (MB) of the first and of the last quarter of the samples."""
        kbs = [kb for _, kb in self.samples]
        assert len(kbs) >= 8, f"too few RSS samples: {len(kbs)}"
        quarter = len(kbs) // 4
        return statistics.median(kbs[:quarter]) / 1024, statistics.median(kbs[-quarter:]) / 1024

    def peak_mb(self) -> float:
        return max(kb for _, kb in self.samples) / 1024


class _AnyBool:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, bool)

    def __repr__(self) -> str:
        return "<any bool>"


ANY_BOOL: Any = _AnyBool()


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` percentile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def defs_dir(tmp_path: Path) -> Path:
    return write_webhook_project(tmp_path / "project")


@pytest.fixture
def store(dagster_home: Path) -> Path:
    return dagster_home / "dwh_webhooks.sqlite"


@pytest.fixture
def receiver(defs_dir: Path, dagster_home: Path, tmp_path: Path) -> Iterator[Receiver]:
    env = clean_env(dagster_home, **{HMAC_VAR: HMAC_SECRET, BODY_TIMEOUT_VAR: str(BODY_TIMEOUT)})
    with serve(defs_dir, env, tmp_path / "logs") as running:
        yield running


def _sensor_run_keys(defs_dir: Path) -> list[str]:
    """The run keys the trigger's sensor asks for, tick after tick from no cursor until none is new."""
    sensor = build_definitions(load_project(defs_dir, "dev")).get_repository_def().get_sensor_def(TRIGGER)
    keys: list[str] = []
    cursor = None
    with dg.DagsterInstance.get() as instance:
        for _ in range(100):  # bounded: 100 events a tick
            data = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
            if not data.run_requests:
                break
            keys.extend(r.run_key for r in data.run_requests if r.run_key)
            cursor = data.cursor
    return keys


# -- the load -------------------------------------------------------------------------------------


def test_load_every_genuine_delivery_is_stored_once_before_its_202(
    receiver: Receiver, store: Path, defs_dir: Path
) -> None:
    warm = send_load(receiver.port, plan_deliveries(WARM_UP, prefix="warm", seed=1))
    assert Counter(o.status for o in warm) == {202: WARM_UP * 9 // 10, 401: WARM_UP // 10}
    plan = plan_deliveries(DELIVERIES)
    with RssSampler(receiver.process.pid) as rss:
        outcomes = send_load(receiver.port, plan, probe_store=store)
    assert len(outcomes) == DELIVERIES
    assert [o for o in outcomes if o.attempts != 1] == [], "the receiver closed kept-alive connections"
    by_kind: dict[str, Counter[int]] = {}
    for o in outcomes:
        by_kind.setdefault(o.delivery.kind, Counter())[o.status] += 1
    assert by_kind == {
        "new": Counter({202: DELIVERIES * 8 // 10}),
        "replay": Counter({202: DELIVERIES // 10}),
        "forged": Counter({401: DELIVERIES // 10}),
    }, by_kind

    # every 202 came after the commit: the client found the delivery in the store at once
    not_yet = [o.delivery.delivery_id for o in outcomes if o.status == 202 and not o.stored_at_answer]
    assert not_yet == [], f"{len(not_yet)} deliveries answered 202 before they were stored: {not_yet[:5]}"

    # exactly one answer per distinct id created the event; every other one was a duplicate
    created = Counter(
        o.delivery.delivery_id for o in outcomes if o.status == 202 and not o.answer["duplicate"]
    )
    genuine = {o.delivery.delivery_id: o.delivery.body for o in outcomes if o.delivery.kind == "new"}
    assert set(created) == set(genuine)
    assert set(created.values()) == {1}
    for o in outcomes:
        if o.status == 202:
            assert o.answer == {
                "status": "accepted",
                "run_key": o.delivery.delivery_id,
                "duplicate": ANY_BOOL,
            }
        else:
            assert "error" in o.answer and HMAC_SECRET not in json.dumps(o.answer)

    first, last = rss.quarters_mb()
    assert last - first < RSS_GROWTH_LIMIT_MB, (
        f"the receiver's RSS grew from {first:.1f} MB (first quarter) to {last:.1f} MB (last quarter); "
        f"peak {rss.peak_mb():.1f} MB"
    )

    # SIGKILL, then the store: one event per distinct delivery id, with the genuine payload
    receiver.process.send_signal(signal.SIGKILL)
    receiver.process.wait(timeout=15)
    events = [(k, p) for _, k, p in stored_events(store, TRIGGER) if not k.startswith("warm-")]
    keys = Counter(k for k, _ in events)
    assert set(keys) == set(genuine)
    assert set(keys.values()) == {1}
    assert {k: json.dumps(p).encode() for k, p in events} == genuine

    # -> one run per distinct delivery id
    run_keys = [k for k in _sensor_run_keys(defs_dir) if not k.startswith("warm-")]
    assert sorted(run_keys) == sorted(genuine)


# -- bodies above the limit --------------------------------------------------------------------------


@dataclass
class Flood:
    """What a client that sent a huge body saw: the answer, how much it sent, when it was cut off."""

    received: bytes
    sent: int
    closed_after: float | None  # seconds from the headers to EOF or reset; None: still open at the deadline
    send_error: str | None


def _flood(port: int, head: bytes, chunks: Iterator[bytes], deadline: float = CUT_OFF_WITHIN) -> Flood:
    """Send ``head`` then ``chunks`` in a thread while reading the answer; stop when the server closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=deadline)
    sent = 0
    send_error: list[str] = []

    def pump() -> None:
        nonlocal sent
        try:
            for chunk in chunks:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError as exc:  # the server closed the connection: what the test wants
            send_error.append(type(exc).__name__)

    sender = threading.Thread(target=pump, name="flood-sender", daemon=True)
    received = b""
    closed_after = None
    started = time.monotonic()
    try:
        sock.sendall(head)
        sender.start()
        end = started + deadline
        while (left := end - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                continue
            try:
                data = sock.recv(65536)
            except OSError:  # reset: the receiver closed with the rest of the body unread
                data = b""
            if not data:
                closed_after = time.monotonic() - started
                break
            received += data
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # stops the sender if the receiver did not
    finally:
        sock.close()
        if sender.ident is not None:  # started
            sender.join(timeout=deadline)
    return Flood(received, sent, closed_after, send_error[0] if send_error else None)


def _statuses(raw: bytes) -> list[int]:
    return [int(line.split()[1]) for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def _json_chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    """``total`` bytes of the start of a JSON document, in pieces of ``size``."""
    yield b'{"pad": "'
    for _ in range(total // size):
        yield b"x" * size


def _chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` in HTTP/1.1 chunked framing (the last chunk never comes: the body is endless)."""
    for piece in pieces:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)


def _head(trigger: str, *extra: str) -> bytes:
    stamp = str(int(time.time()))
    lines = [
        f"POST /webhooks/{trigger} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"X-Timestamp: {stamp}",
        "X-Signature-256: sha256=" + "0" * 64,
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# A lying Content-Length: the receiver reads that many bytes as the body (a bad signature: 401) and
# the rest as the next request, which is no HTTP (uvicorn: 400 and close); the 400 may come first.
LIED = (400, 401)
HUGE_CASES: dict[str, tuple[tuple[str, ...], Any, tuple[int, ...]]] = {
    # name: (headers, framing, the first answer expected)
    "chunked, no content-length": (("Transfer-Encoding: chunked",), _chunked, (413,)),
    "honest content-length above the limit": ((f"Content-Length: {HUGE}",), None, (413,)),
    "content-length of 1000 followed by 50 MB": (("Content-Length: 1000",), None, LIED),
    "content-length at the limit followed by 50 MB": ((f"Content-Length: {MAX_BODY_BYTES}",), None, LIED),
    "chunked to an unknown trigger": (("Transfer-Encoding: chunked",), _chunked, (404,)),
}


@pytest.mark.parametrize("case", list(HUGE_CASES))
def test_huge_bodies_are_cut_off_while_streaming(receiver: Receiver, store: Path, case: str) -> None:
    extra, framing, expected = HUGE_CASES[case]
    pid = receiver.process.pid
    hwm_before = status_kb(pid, "VmHWM")
    assert hwm_before is not None
    pieces = _json_chunks(HUGE)
    trigger = "no_such_trigger" if expected == (404,) else TRIGGER
    flood = _flood(receiver.port, _head(trigger, *extra), framing(pieces) if framing else pieces)
    statuses = _statuses(flood.received) or _logged(receiver, trigger)
    assert statuses and statuses[0] in expected, (case, statuses, flood)
    # cut off: the receiver closed the connection instead of reading (or discarding) 50 MB
    assert flood.closed_after is not None, f"{case}: the connection was still open after {CUT_OFF_WITHIN} s"
    assert flood.sent < HUGE // 2, f"{case}: the receiver took {flood.sent:,} bytes before closing"
    hwm_after = status_kb(pid, "VmHWM")
    assert hwm_after is not None
    assert (hwm_after - hwm_before) / 1024 < HUGE_RSS_LIMIT_MB, (case, hwm_before, hwm_after)
    assert stored_events(store) == []
    ok = receiver.post_signed(TRIGGER, {"after": case}, delivery="after-flood")
    assert ok.status == 202, ok.body
    assert [k for _, k, _ in stored_events(store)] == ["after-flood"]


def _logged(receiver: Receiver, trigger: str) -> list[int]:
    """The access-log statuses of ``trigger`` once one is logged (bounded wait)."""
    deadline = time.monotonic() + 10
    while not (statuses := receiver.access_log_statuses(trigger)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return statuses


# -- slow senders ---------------------------------------------------------------------------------


def _stall(port: int, head: bytes, part: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT + CLOSE_MARGIN)
    sock.sendall(head + part)
    return sock


def _answer_and_close(sock: socket.socket, started: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (bounded)."""
    received = b""
    deadline = started + BODY_TIMEOUT + CLOSE_MARGIN
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                return received, time.monotonic() - started
            received += data
    except TimeoutError:
        pass
    except OSError:
        return received, time.monotonic() - started
    finally:
        sock.close()
    raise AssertionError(f"not closed {BODY_TIMEOUT + CLOSE_MARGIN} s after the request: {received[:200]!r}")


def test_a_sender_that_stalls_in_its_body_gets_408_and_is_disconnected(
    receiver: Receiver, store: Path
) -> None:
    started = time.monotonic()
    sock = _stall(receiver.port, _head(TRIGGER, "Content-Length: 1000"), b'{"ref": "refs/')
    received, closed = _answer_and_close(sock, started)
    assert _statuses(received) == [408], received
    assert b"Connection: close" in received or b"connection: close" in received
    assert closed >= BODY_TIMEOUT * 0.8, f"closed after {closed:.2f} s, before the body timeout"
    assert stored_events(store) == []


def test_a_chunked_sender_that_stalls_gets_408(receiver: Receiver) -> None:
    started = time.monotonic()
    sock = _stall(receiver.port, _head(TRIGGER, "Transfer-Encoding: chunked"), b'9\r\n{"ref": "\r\n')
    received, _ = _answer_and_close(sock, started)
    assert _statuses(received) == [408], received


def test_a_sender_that_trickles_is_cut_off_at_the_body_timeout(receiver: Receiver, store: Path) -> None:
    body = json.dumps({"ref": "x" * 200}).encode()
    head = _head(TRIGGER, f"Content-Length: {len(body)}")
    started = time.monotonic()
    sock = _stall(receiver.port, head, body[:1])
    received = b""
    for i in range(1, len(body)):  # a byte every 50 ms: never quiet for long, but 10 s in all
        if time.monotonic() - started > BODY_TIMEOUT + CLOSE_MARGIN:
            break
        try:
            sock.sendall(body[i : i + 1])
            sock.setblocking(False)
            try:
                received += sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        except OSError:
            break
        if received:
            break
        time.sleep(0.05)
    assert i < len(body) - 1, "the whole body was sent: the trickle was not cut off"
    rest, closed = _answer_and_close(sock, started)
    assert _statuses(received + rest) == [408], received + rest
    assert closed >= BODY_TIMEOUT * 0.8
    assert stored_events(store) == []


def test_stalled_senders_do_not_hold_up_the_others(receiver: Receiver, store: Path) -> None:
    started = time.monotonic()
    stalled = [
        _stall(receiver.port, _head(TRIGGER, "Content-Length: 500"), b'{"stalled": ') for _ in range(20)
    ]
    answers = [receiver.post_signed(TRIGGER, {"n": i}, delivery=f"meanwhile-{i}") for i in range(20)]
    assert [a.status for a in answers] == [202] * 20
    for sock in stalled:  # all of them still waiting: the 20 deliveries were served meanwhile
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(1, socket.MSG_PEEK)
        sock.setblocking(True)
    for sock in stalled:
        received, _ = _answer_and_close(sock, started)
        assert _statuses(received) == [408], received
    assert sorted(k for _, k, _ in stored_events(store)) == sorted(f"meanwhile-{i}" for i in range(20))


# -- the store's writer, in process ----------------------------------------------------------------


def test_writer_resolves_each_event_only_after_its_commit(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    writer = WebhookStore(path).writer()
    visible: dict[int, bool] = {}

    def committed(i: int, key: str, _: Future[bool]) -> None:
        # another connection sees only committed rows (WAL): the event must be there already
        connection = sqlite3.connect(path, timeout=30)
        try:
            row = connection.execute("SELECT count(*) FROM events WHERE run_key = ?", (key,)).fetchone()
        finally:
            connection.close()
        visible[i] = row[0] == 1

    futures = []
    try:
        for i in range(300):  # submitted faster than committed: many go into one transaction
            key = f"k{i % 200}"
            future = writer.submit("hook", key, {"i": i})
            future.add_done_callback(functools.partial(committed, i, key))
            futures.append(future)
        created = [f.result(timeout=ANSWER_TIMEOUT) for f in futures]
    finally:
        writer.close()
    assert created == [True] * 200 + [False] * 100
    assert visible == dict.fromkeys(range(300), True)
    assert stored_events(path) == [("hook", f"k{i}", {"i": i}) for i in range(200)]
    closed = writer.submit("hook", "late", {})
    with pytest.raises(RuntimeError, match="closed"):
        closed.result(timeout=ANSWER_TIMEOUT)


def test_writer_event_that_cannot_be_stored_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = store_module._insert

    def insert(connection: sqlite3.Connection, items: Sequence[tuple[str, str, Any]]) -> list[bool]:
        if any(key == "poison" for _, key, _ in items):
            raise sqlite3.OperationalError("disk I/O error")
        return real_insert(connection, items)

    monkeypatch.setattr(store_module, "_insert", insert)
    path = tmp_path / "store.sqlite"
    writer = WebhookStore(path).writer()
    try:
        keys = [f"ok-{i}" for i in range(50)]
        keys.insert(25, "poison")
        futures = {key: writer.submit("hook", key, {"key": key}) for key in keys}
        poisoned = futures.pop("poison")
        with pytest.raises(RuntimeError, match="could not store"):
            poisoned.result(timeout=ANSWER_TIMEOUT)
        assert [f.result(timeout=ANSWER_TIMEOUT) for f in futures.values()] == [True] * 50
    finally:
        writer.close()
    assert sorted(k for _, k, _ in stored_events(path)) == sorted(futures)

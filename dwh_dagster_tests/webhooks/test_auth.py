"""Webhook authentication: ``sign``, ``verify_hmac`` and ``verify_bearer`` as a table.

The signature is HMAC-SHA256(secret, ``f"{timestamp}.".encode() + body``) sent as
``X-Signature-256: sha256=<hex>``; the timestamp must be within 300 s of now (past or future).
Signatures here are computed independently of the package, with :mod:`hmac` directly.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from dwh_dagster.webhooks import auth
from dwh_dagster.webhooks.auth import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TIMESTAMP_TOLERANCE_SECONDS,
    sign,
    verify_bearer,
    verify_hmac,
)

SECRET = "canary-unit-secret-3f9a1c"
BODY = b'{"ref": "refs/heads/main", "repository": {"full_name": "acme/shop"}}'
T = "1700000000"
NOW = 1700000000.0


def reference_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


GOOD = reference_signature(SECRET, T, BODY)


def test_constants_match_the_spec() -> None:
    assert SIGNATURE_HEADER == "X-Signature-256"
    assert TIMESTAMP_HEADER == "X-Timestamp"
    assert TIMESTAMP_TOLERANCE_SECONDS == 300


@pytest.mark.parametrize(
    ("secret", "timestamp", "body"),
    [
        (SECRET, T, BODY),
        ("k", "0", b""),
        ("ünïcødé-key", "1700000000.25", '{"é": 1}'.encode()),
        (SECRET, T, bytes(range(256))),
    ],
)
def test_sign_is_hmac_sha256_of_timestamp_dot_body(secret: str, timestamp: str, body: bytes) -> None:
    assert sign(secret, timestamp, body) == reference_signature(secret, timestamp, body)


# (id, signature, timestamp, now, accepted)
HMAC_CASES = [
    ("good", GOOD, T, NOW, True),
    ("good, signature with surrounding spaces", f"  {GOOD} ", T, NOW, True),
    ("other secret", reference_signature("other-secret", T, BODY), T, NOW, False),
    ("tampered body", reference_signature(SECRET, T, BODY + b" "), T, NOW, False),
    ("signature of another timestamp", reference_signature(SECRET, "1700000001", BODY), T, NOW, False),
    (
        "body only, no timestamp (GitHub style)",
        "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),
        T,
        NOW,
        False,
    ),
    ("hex without sha256= prefix", GOOD.removeprefix("sha256="), T, NOW, False),
    ("sha1 prefix", "sha1=" + GOOD.removeprefix("sha256="), T, NOW, False),
    ("truncated", GOOD[:-2], T, NOW, False),
    ("garbage", "sha256=zz", T, NOW, False),
    ("missing signature", None, T, NOW, False),
    ("empty signature", "", T, NOW, False),
    ("missing timestamp", GOOD, None, NOW, False),
    ("empty timestamp", GOOD, "", NOW, False),
    ("both missing", None, None, NOW, False),
    # the 300 s boundary, in the past (stale) and in the future
    ("age exactly 300 s", GOOD, T, NOW + 300, True),
    ("age 300.5 s", GOOD, T, NOW + 300.5, False),
    ("age 301 s", GOOD, T, NOW + 301, False),
    ("age 1 day", GOOD, T, NOW + 86400, False),
    ("299 s in the future", GOOD, T, NOW - 299, True),
    ("exactly 300 s in the future", GOOD, T, NOW - 300, True),
    ("300.5 s in the future", GOOD, T, NOW - 300.5, False),
    ("301 s in the future", GOOD, T, NOW - 301, False),
]


@pytest.mark.parametrize(
    ("signature", "timestamp", "now", "accepted"),
    [case[1:] for case in HMAC_CASES],
    ids=[case[0] for case in HMAC_CASES],
)
def test_verify_hmac(signature: str | None, timestamp: str | None, now: float, accepted: bool) -> None:
    problem = verify_hmac(SECRET, BODY, signature, timestamp, now=now)
    if accepted:
        assert problem is None
    else:
        assert isinstance(problem, str) and problem
        assert SECRET not in problem
        assert GOOD.removeprefix("sha256=") not in problem, "the expected signature must not leak"


def test_missing_headers_are_named() -> None:
    problem = verify_hmac(SECRET, BODY, None, None, now=NOW)
    assert problem is not None
    assert "X-Signature-256" in problem and "X-Timestamp" in problem


def test_stale_and_future_messages_say_why() -> None:
    for now in (NOW + 301, NOW - 301):
        problem = verify_hmac(SECRET, BODY, GOOD, T, now=now)
        assert problem is not None and "300" in problem


def test_default_now_is_the_clock() -> None:
    import time

    fresh = str(int(time.time()))
    assert verify_hmac(SECRET, BODY, reference_signature(SECRET, fresh, BODY), fresh) is None
    stale = str(int(time.time()) - 400)
    assert verify_hmac(SECRET, BODY, reference_signature(SECRET, stale, BODY), stale) is not None
    future = str(int(time.time()) + 400)
    assert verify_hmac(SECRET, BODY, reference_signature(SECRET, future, BODY), future) is not None


NON_NUMERIC = ["abc", "2023-11-14T22:13:20Z", "17e", "0x6553f100", "1700000000s", "one"]


@pytest.mark.parametrize("timestamp", NON_NUMERIC)
def test_non_numeric_timestamp_is_rejected_even_when_signed(timestamp: str) -> None:
    # Correctly signed over the odd timestamp: only the timestamp check can reject it.
    signature = reference_signature(SECRET, timestamp, BODY)
    problem = verify_hmac(SECRET, BODY, signature, timestamp, now=NOW)
    assert problem is not None
    assert SECRET not in problem


@pytest.mark.parametrize("timestamp", ["inf", "-inf", "Infinity"])
def test_infinite_timestamp_is_rejected_even_when_signed(timestamp: str) -> None:
    signature = reference_signature(SECRET, timestamp, BODY)
    assert verify_hmac(SECRET, BODY, signature, timestamp, now=NOW) is not None


@pytest.mark.parametrize("timestamp", ["nan", "NaN", "-nan"])
def test_nan_timestamp_is_rejected_even_when_signed(timestamp: str) -> None:
    signature = reference_signature(SECRET, timestamp, BODY)
    assert verify_hmac(SECRET, BODY, signature, timestamp, now=NOW) is not None


# (id, Authorization header, accepted)
BEARER_CASES = [
    ("good", f"Bearer {SECRET}", True),
    ("good, trailing space", f"Bearer {SECRET} ", True),
    ("wrong token", "Bearer not-the-token", False),
    ("prefix of the token", f"Bearer {SECRET[:-1]}", False),
    ("token plus suffix", f"Bearer {SECRET}x", False),
    ("empty token", "Bearer ", False),
    ("missing header", None, False),
    ("empty header", "", False),
    ("no scheme", SECRET, False),
    ("basic scheme", f"Basic {SECRET}", False),
    ("scheme glued to token", f"Bearer{SECRET}", False),
]


@pytest.mark.parametrize(
    ("authorization", "accepted"),
    [case[1:] for case in BEARER_CASES],
    ids=[case[0] for case in BEARER_CASES],
)
def test_verify_bearer(authorization: str | None, accepted: bool) -> None:
    problem = verify_bearer(SECRET, authorization)
    if accepted:
        assert problem is None
    else:
        assert isinstance(problem, str) and problem
        assert SECRET not in problem


def test_comparisons_are_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert verify_hmac(SECRET, BODY, GOOD, T, now=NOW) is None
    assert verify_hmac(SECRET, BODY, reference_signature("x", T, BODY), T, now=NOW) is not None
    assert verify_bearer(SECRET, f"Bearer {SECRET}") is None
    assert verify_bearer(SECRET, "Bearer nope") is not None
    assert len(calls) == 4, "every signature and token comparison goes through hmac.compare_digest"


def test_bearer_scheme_name_is_case_insensitive() -> None:
    from dwh_dagster.webhooks.auth import verify_bearer

    assert verify_bearer("s3cr3t-token", "bearer s3cr3t-token") is None
    assert verify_bearer("s3cr3t-token", "BEARER s3cr3t-token") is None
    assert verify_bearer("s3cr3t-token", "Basic s3cr3t-token") == "missing bearer token"

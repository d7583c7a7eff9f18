"""Webhook authentication: HMAC-SHA256 over timestamp and raw body, or a bearer token; constant time."""

from __future__ import annotations

import hashlib
import hmac
import math
import time

TIMESTAMP_TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "X-Signature-256"
TIMESTAMP_HEADER = "X-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``<timestamp>.<body>``), the X-Signature-256 value."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_hmac(
    secret: str, body: bytes, signature: str | None, timestamp: str | None, now: float | None = None
) -> str | None:
    """None when the signature is valid and the timestamp recent; else why not (never the secret)."""
    if not signature or not timestamp:
        return f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header"
    try:
        sent = float(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not a Unix timestamp"
    if not math.isfinite(sent):
        return f"{TIMESTAMP_HEADER} is not a Unix timestamp"
    if abs((time.time() if now is None else now) - sent) > TIMESTAMP_TOLERANCE_SECONDS:
        return f"{TIMESTAMP_HEADER} is more than {TIMESTAMP_TOLERANCE_SECONDS} s away from now"
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.strip().encode()):
        return "bad signature"
    return None


def verify_bearer(secret: str, authorization: str | None) -> str | None:
    """None when ``Authorization: Bearer <token>`` carries the secret; else why not."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "missing bearer token"
    if not hmac.compare_digest(token.strip().encode(), secret.encode()):
        return "bad bearer token"
    return None

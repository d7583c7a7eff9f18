"""The webhook receiver: ``POST /webhooks/<trigger name>`` (starlette, served by uvicorn).

What a request goes through, and what bounds it:

- the trigger must be an enabled webhook trigger (else 404);
- the body is read as it streams in, never more than :data:`MAX_BODY_BYTES` (1 MiB): a larger
  Content-Length is refused from the headers, a longer chunked body as soon as it passes the limit
  (413). The whole body must arrive within ``$DWH_WEBHOOK_BODY_TIMEOUT`` seconds (default
  :data:`DEFAULT_BODY_TIMEOUT`) after the headers, else 408: a sender that stalls or trickles in
  its body does not hold a connection longer than that. An answer given before the body was read
  whole (404, 408, 413) closes the connection (``Connection: close``), so the rest is never read.
  (Before its headers are complete a request is the server's: :mod:`dwh_dagster.webhooks.server`
  gives them ``$DWH_WEBHOOK_HEADER_TIMEOUT`` seconds);
- then the HMAC signature or bearer token (401), the secret (503 when it is not configured) and
  JSON (400);
- the event goes to the store's one writer thread (:class:`~dwh_dagster.webhooks.store.StoreWriter`),
  which commits the events waiting at that moment in one transaction with a full fsync; 202 is
  sent only after that commit (503 when it failed: nothing was stored, the sender may retry). The
  event loop never waits on the disk, so slow commits do not hold up the reading of other requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dwh_dagster.config.models.triggers import WebhookTrigger
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.config.secrets import SecretNotSetError
from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_bearer, verify_hmac
from dwh_dagster.webhooks.store import StoreWriter, WebhookStore

MAX_BODY_BYTES = 1024 * 1024
DELIVERY_HEADER = "X-Delivery-Id"
BODY_TIMEOUT_VAR = "DWH_WEBHOOK_BODY_TIMEOUT"
DEFAULT_BODY_TIMEOUT = 10.0  # seconds from the headers to the end of the body
logger = logging.getLogger("dwh.webhooks")


class _BodyTooLarge(Exception):
    pass


def seconds_from_env(variable: str, default: float) -> float:
    """``$variable`` in seconds (a positive number), else ``default``; a ValueError that names the
    variable for anything else."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{variable} must be a positive number of seconds, not {raw!r}")
    return value


def body_timeout_from_env() -> float:
    """``$DWH_WEBHOOK_BODY_TIMEOUT`` in seconds (a positive number), else :data:`DEFAULT_BODY_TIMEOUT`."""
    return seconds_from_env(BODY_TIMEOUT_VAR, DEFAULT_BODY_TIMEOUT)


def _error(status: int, message: str, *, close: bool = False) -> JSONResponse:
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body as it streams in; :class:`_BodyTooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_webhook_app(
    project: ResolvedProject, store: WebhookStore, *, body_timeout: float | None = None
) -> Starlette:
    """The ASGI app for the project's enabled webhook triggers.

    ``body_timeout``: seconds a sender has for its body after its headers (default: from
    ``$DWH_WEBHOOK_BODY_TIMEOUT``, else :data:`DEFAULT_BODY_TIMEOUT`). The store's writer thread
    starts with the app (its lifespan, or the first request) and commits what is queued when the
    app stops.
    """
    triggers = {
        t.name: t.model
        for t in project.triggers.values()
        if isinstance(t.model, WebhookTrigger) and t.model.enabled
    }
    resolver = project.secret_resolver()
    timeout = body_timeout_from_env() if body_timeout is None else body_timeout
    writer: StoreWriter | None = None

    def store_writer() -> StoreWriter:
        nonlocal writer
        if writer is None:
            writer = store.writer()
        return writer

    async def receive(request: Request) -> Response:
        name = request.path_params["name"]
        trigger = triggers.get(name)
        if trigger is None:
            return _error(404, f"no enabled webhook trigger named '{name}'", close=True)
        try:
            async with asyncio.timeout(timeout):
                body = await _read_body(request, MAX_BODY_BYTES)
        except _BodyTooLarge:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes", close=True)
        except TimeoutError:
            logger.warning("webhook %s: body not received within %s s, connection closed", name, timeout)
            return _error(408, f"body not received within {timeout:g} s", close=True)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        try:
            secret = resolver.resolve(trigger.webhook.secret_key)
        except SecretNotSetError as exc:
            logger.error("webhook %s cannot authenticate: %s", name, exc)
            return _error(503, "the webhook secret is not configured on the server")
        if trigger.webhook.auth == "hmac_sha256":
            problem = verify_hmac(
                secret, body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
            )
        else:
            problem = verify_bearer(secret, request.headers.get("authorization"))
        if problem:
            return _error(401, problem)
        try:
            payload: Any = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "body is not JSON")
        run_key = request.headers.get(DELIVERY_HEADER) or hashlib.sha256(body).hexdigest()
        try:
            # resolved by the writer thread only once the event's transaction has committed
            created = await asyncio.wrap_future(store_writer().submit(name, run_key, payload))
        except Exception:
            logger.exception("webhook %s: event %s not stored", name, run_key)
            return _error(503, "the event could not be stored; nothing was accepted, retry later")
        return JSONResponse(
            {"status": "accepted", "run_key": run_key, "duplicate": not created}, status_code=202
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store_writer()
        try:
            yield
        finally:
            if writer is not None:
                await asyncio.to_thread(writer.close)

    return Starlette(routes=[Route("/webhooks/{name}", receive, methods=["POST"])], lifespan=lifespan)

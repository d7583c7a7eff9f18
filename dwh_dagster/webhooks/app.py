"""The webhook receiver: ``POST /webhooks/<trigger name>`` (starlette, served by uvicorn)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dwh_dagster.config.models.triggers import WebhookTrigger
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.config.secrets import SecretNotSetError
from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_bearer, verify_hmac
from dwh_dagster.webhooks.store import WebhookStore

MAX_BODY_BYTES = 1024 * 1024
DELIVERY_HEADER = "X-Delivery-Id"
logger = logging.getLogger("dwh.webhooks")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The raw body, or None once it exceeds :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_webhook_app(project: ResolvedProject, store: WebhookStore) -> Starlette:
    """The ASGI app for the project's enabled webhook triggers."""
    triggers = {
        t.name: t.model
        for t in project.triggers.values()
        if isinstance(t.model, WebhookTrigger) and t.model.enabled
    }
    resolver = project.secret_resolver()

    async def receive(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        trigger = triggers.get(name)
        if trigger is None:
            return _error(404, f"no enabled webhook trigger named '{name}'")
        body = await _read_body(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
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
        created = store.add(name, run_key, payload)
        return JSONResponse(
            {"status": "accepted", "run_key": run_key, "duplicate": not created}, status_code=202
        )

    return Starlette(routes=[Route("/webhooks/{name}", receive, methods=["POST"])])

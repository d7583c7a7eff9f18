"""Senders for each channel type (a registry keyed by ``type``) and the default channels from env vars.

Every secret (SMTP password, webhook URLs, HMAC keys) is read when a message is sent.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from email.message import EmailMessage

from dwh_dagster.config.models.channels import (
    ChannelModel,
    EmailChannel,
    MsTeamsChannel,
    SlackChannel,
    WebhookChannel,
)
from dwh_dagster.config.secrets import SecretNotSetError, SecretResolver
from dwh_dagster.notifications.messages import RunSummary, ui_url

TIMEOUT_SECONDS = 10
Resolve = Callable[[str], str]


class ChannelConfigError(RuntimeError):
    """A channel cannot be used: a missing env var or secret (the message names it, never a value)."""


class ChannelDeliveryError(RuntimeError):
    """A send failed; the message says how, without the channel's URL."""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ChannelConfigError(f"environment variable {name} is not set")
    return value


def _post_json(url: str, payload: object, headers: dict[str, str] | None = None) -> None:
    import requests

    body = json.dumps(payload, default=str).encode()
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        # requests quotes the URL (or its path) in its messages, and a webhook URL is a secret
        raise ChannelDeliveryError(f"{type(exc).__name__} posting to the channel's webhook") from None
    if response.status_code >= 300:
        raise ChannelDeliveryError(f"HTTP {response.status_code} from the channel's webhook")


def send_email(
    summary: RunSummary,
    host: str,
    port: int,
    security: str,
    sender: str,
    to: list[str],
    username: str | None,
    password: str | None,
) -> None:
    """Send the summary as a plain-text email over SMTP (plain, STARTTLS or implicit TLS)."""
    message = EmailMessage()
    message["Subject"] = summary.title()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(summary.text())
    context = ssl.create_default_context()
    if security == "ssl":
        with smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context) as smtp:
            if username:
                smtp.login(username, password or "")
            smtp.send_message(message)
        return
    with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if username:
            smtp.login(username, password or "")
        smtp.send_message(message)


def _email(channel: ChannelModel, summary: RunSummary, resolve: Resolve) -> None:
    assert isinstance(channel, EmailChannel)
    password = resolve(channel.credentials_secret_key) if channel.credentials_secret_key else None
    send_email(
        summary,
        channel.host,
        channel.port,
        channel.security,
        channel.from_address,
        list(channel.to),
        channel.username,
        password,
    )


def _slack(channel: ChannelModel, summary: RunSummary, resolve: Resolve) -> None:
    assert isinstance(channel, SlackChannel)
    _post_json(resolve(channel.webhook_url_secret_key), {"text": summary.text()})


def msteams_payload(summary: RunSummary) -> dict[str, object]:
    """A Teams message with an Adaptive Card (what Teams workflows and connectors accept)."""
    body: list[dict[str, object]] = [
        {"type": "TextBlock", "text": summary.title(), "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": summary.text(), "wrap": True, "fontType": "Monospace"},
    ]
    card: dict[str, object] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if summary.run_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open run", "url": summary.run_url}]
    return {
        "type": "message",
        "text": summary.title(),
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


def _msteams(channel: ChannelModel, summary: RunSummary, resolve: Resolve) -> None:
    assert isinstance(channel, MsTeamsChannel)
    _post_json(resolve(channel.webhook_url_secret_key), msteams_payload(summary))


def post_signed_json(
    url: str, payload: dict[str, object], secret: str | None, headers: dict[str, str]
) -> None:
    """POST JSON; with a secret, signed like the webhook receiver expects (timestamp and body)."""
    from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    body = json.dumps(payload, default=str)
    extra = dict(headers)
    if secret:
        timestamp = str(int(time.time()))
        extra[TIMESTAMP_HEADER] = timestamp
        extra[SIGNATURE_HEADER] = sign(secret, timestamp, body.encode())
    _post_json(url, json.loads(body), extra)


def _webhook(channel: ChannelModel, summary: RunSummary, resolve: Resolve) -> None:
    assert isinstance(channel, WebhookChannel)
    secret = resolve(channel.hmac_secret_key) if channel.hmac_secret_key else None
    post_signed_json(channel.url, summary.as_json(), secret, dict(channel.headers))


SENDERS: dict[str, Callable[[ChannelModel, RunSummary, Resolve], None]] = {
    "email": _email,
    "slack": _slack,
    "msteams": _msteams,
    "webhook": _webhook,
}


def send_default(channel_type: str, summary: RunSummary) -> None:
    """Send through the default channel of a type, configured by the documented env vars."""
    if channel_type == "email":
        username = os.environ.get("DWH_SMTP_USERNAME") or None
        send_email(
            summary,
            _env("DWH_SMTP_HOST"),
            int(os.environ.get("DWH_SMTP_PORT") or 587),
            os.environ.get("DWH_SMTP_SECURITY") or "starttls",
            _env("DWH_EMAIL_FROM"),
            [a.strip() for a in _env("DWH_EMAIL_TO").split(",") if a.strip()],
            username,
            os.environ.get("DWH_SMTP_PASSWORD") if username else None,
        )
    elif channel_type == "slack":
        _post_json(_env("DWH_SLACK_WEBHOOK_URL"), {"text": summary.text()})
    elif channel_type == "msteams":
        _post_json(_env("DWH_MSTEAMS_WEBHOOK_URL"), msteams_payload(summary))
    else:
        post_signed_json(
            _env("DWH_WEBHOOK_URL"), summary.as_json(), os.environ.get("DWH_WEBHOOK_HMAC_SECRET") or None, {}
        )


def deliver(
    channel_name: str,
    channel: ChannelModel | None,
    summary: RunSummary,
    secrets: SecretResolver,
    attempts: int = 3,
    backoff_seconds: float = 1.0,
) -> str | None:
    """Send to one channel, retrying; None on success, else why it failed.

    Never raises, so a dead channel cannot fail anything; the reason has every secret value masked
    (a Slack or Teams webhook URL is a secret, and HTTP errors quote URLs).
    """
    from dwh_dagster.config.models.channels import DEFAULT_CHANNEL_ENV_VARS
    from dwh_dagster.ingestion.redaction import SecretRedactor

    redactor = SecretRedactor()
    resolve = redactor.recording(secrets.resolve)
    if channel is None:
        for name in DEFAULT_CHANNEL_ENV_VARS.get(channel_name, ()):
            if os.environ.get(name) and name not in ("DWH_SMTP_HOST", "DWH_SMTP_PORT", "DWH_SMTP_SECURITY"):
                redactor.add(os.environ[name])
    else:
        summary = replace(summary, ui_url=ui_url(channel.ui_url))
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            if channel is None:
                send_default(channel_name, summary)
            else:
                SENDERS[channel.type](channel, summary, resolve)
            return None
        except (ChannelConfigError, SecretNotSetError) as exc:
            return redactor.redact(str(exc))  # retrying cannot help
        except Exception as exc:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            last = redactor.redact(
                detail if isinstance(exc, ChannelDeliveryError) else f"{type(exc).__name__}: {detail}"
            )
            if attempt < attempts:
                time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return f"gave up after {attempts} attempts: {last}"

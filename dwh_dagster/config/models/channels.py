"""``channels/*.yaml``: named notification channels (email, Slack, Teams, webhook)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt

from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    Name,
    SecretRef,
    StrictModel,
    environments_field,
    optional_secret_field,
    secret_field,
    tag_values,
)


class ChannelBase(StrictModel):
    """Fields every channel has."""

    name: Name = Field(description="Unique channel name, used in a job's `notifications.channels`.")
    description: str | None = Field(default=None, description="Who this channel reaches.")
    ui_url: str | None = Field(
        default=None, description="Base URL of the Dagster UI for run links (else env var DWH_UI_URL)."
    )
    environments: EnvironmentOverlays | None = environments_field()


class EmailChannel(ChannelBase):
    """Email over SMTP."""

    type: Literal["email"] = Field(description="Email over SMTP.")
    host: str = Field(description="SMTP server host.")
    port: PositiveInt = Field(default=587, description="SMTP server port.")
    security: Literal["plain", "starttls", "ssl"] = Field(
        default="starttls", description="`plain`, `starttls` or `ssl` (implicit TLS)."
    )
    from_address: str = Field(alias="from", description="Sender address.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    username: str | None = Field(default=None, description="SMTP user name; no login when omitted.")
    credentials_secret_key: SecretRef | None = optional_secret_field("Secret holding the SMTP password.")


class SlackChannel(ChannelBase):
    """Slack incoming webhook."""

    type: Literal["slack"] = Field(description="Slack incoming webhook.")
    webhook_url_secret_key: SecretRef = secret_field("Secret holding the Slack incoming-webhook URL.")


class MsTeamsChannel(ChannelBase):
    """Microsoft Teams incoming webhook."""

    type: Literal["msteams"] = Field(description="Microsoft Teams webhook.")
    webhook_url_secret_key: SecretRef = secret_field("Secret holding the Teams webhook URL.")


class WebhookChannel(ChannelBase):
    """A generic JSON webhook, optionally HMAC-signed."""

    type: Literal["webhook"] = Field(description="Generic JSON webhook.")
    url: str = Field(description="URL the JSON message is POSTed to.")
    hmac_secret_key: SecretRef | None = optional_secret_field(
        "Secret used to sign the body (header `X-Signature-256: sha256=<hex>`)."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")


ChannelModel = EmailChannel | SlackChannel | MsTeamsChannel | WebhookChannel
Channel = Annotated[ChannelModel, Field(discriminator="type")]
CHANNEL_TYPES: tuple[str, ...] = tag_values(ChannelModel)

DEFAULT_CHANNEL_ENV_VARS: dict[str, tuple[str, ...]] = {
    "email": (
        "DWH_SMTP_HOST",
        "DWH_SMTP_PORT",
        "DWH_SMTP_SECURITY",
        "DWH_SMTP_USERNAME",
        "DWH_SMTP_PASSWORD",
        "DWH_EMAIL_FROM",
        "DWH_EMAIL_TO",
    ),
    "slack": ("DWH_SLACK_WEBHOOK_URL",),
    "msteams": ("DWH_MSTEAMS_WEBHOOK_URL",),
    "webhook": ("DWH_WEBHOOK_URL", "DWH_WEBHOOK_HMAC_SECRET"),
}
"""Env vars that configure the default channel of each type (a job naming `email` with no
``channels/email.yaml``). They are read when a notification is sent, never at load time."""


class ChannelFile(StrictModel):
    """A file under ``channels/``."""

    channel: Channel = Field(description="The channel defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()

"""``channels/*.yaml``: email (with the ``from`` alias), Slack, Teams and webhook channels."""

from __future__ import annotations

from typing import Any

import pytest

from dwh_dagster.config.models.channels import (
    CHANNEL_TYPES,
    EmailChannel,
    MsTeamsChannel,
    SlackChannel,
    WebhookChannel,
)
from dwh_dagster.config.models.files import KIND_BY_TOP_KEY
from dwh_dagster.schema import build_json_schema
from dwh_dagster_tests.models.helpers import assert_error, validate

VALID: list[tuple[str, type, dict[str, Any]]] = [
    (
        """
        channel:
          name: team_email
          type: email
          host: smtp.example.com
          from: dwh@example.com
          to: [data@example.com]
        """,
        EmailChannel,
        {"port": 587, "security": "starttls", "from_address": "dwh@example.com", "username": None},
    ),
    (
        """
        channel:
          name: ops_email
          type: email
          host: smtp.example.com
          port: 465
          security: ssl
          from: dwh@example.com
          to: [a@example.com, b@example.com]
          username: dwh
          credentials_secret_key: smtp_password_secret_key
        """,
        EmailChannel,
        {"port": 465, "security": "ssl", "to": ["a@example.com", "b@example.com"]},
    ),
    ("channel: {name: s, type: slack, webhook_url_secret_key: slack_hook}", SlackChannel, {}),
    ("channel: {name: t, type: msteams, webhook_url_secret_key: teams_hook}", MsTeamsChannel, {}),
    (
        "channel: {name: w, type: webhook, url: 'https://ops/hook', hmac_secret_key: hmac, "
        "headers: {X-A: b}}",
        WebhookChannel,
        {"headers": {"X-A": "b"}, "hmac_secret_key": "hmac"},
    ),
    ("channel: {name: w, type: webhook, url: 'https://ops/hook'}", WebhookChannel, {"headers": {}}),
]


def test_every_channel_type_has_a_valid_case() -> None:
    assert {model.model_fields["type"].annotation.__args__[0] for _, model, _ in VALID} == set(CHANNEL_TYPES)


@pytest.mark.parametrize(("text", "model", "attrs"), VALID)
def test_valid_channels(text: str, model: type, attrs: dict[str, Any]) -> None:
    channel = validate(text)
    assert isinstance(channel, model)
    for key, value in attrs.items():
        assert getattr(channel, key) == value


EMAIL = """
channel:
  name: e
  type: email
  host: smtp.example.com
  <sender>
  to: [x@example.com]
"""


def test_email_from_is_an_alias_of_from_address() -> None:
    assert validate(EMAIL.replace("<sender>", "from: me@example.com")).from_address == "me@example.com"


def test_email_from_address_is_not_accepted_by_its_python_name() -> None:
    text = EMAIL.replace("<sender>", "from_address: me@example.com")
    assert_error(
        text, "channel.from_address", "unknown field 'from_address'", line=5, hint="did you mean 'from'?"
    )


def test_json_schema_uses_the_from_alias() -> None:
    schema = build_json_schema(KIND_BY_TOP_KEY["channel"])
    email = schema["$defs"]["EmailChannel"]
    assert "from" in email["properties"]
    assert "from_address" not in email["properties"]
    assert "from" in email["required"]


INVALID = [
    (EMAIL.replace("<sender>", "from: a@b\n  security: tls"), "channel.security", "invalid value 'tls'", 6),
    (
        EMAIL.replace("<sender>", "from: a@b").replace("[x@example.com]", "[]"),
        "channel.to",
        "must not be empty",
        6,
    ),
    (
        EMAIL.replace("<sender>", "from: a@b").replace("[x@example.com]", "x@example.com"),
        "channel.to",
        "expected a list",
        6,
    ),
    (EMAIL.replace("<sender>", "from: a@b\n  port: 0"), "channel.port", "greater than 0", 6),
    ("channel: {name: s, type: slack, webhook_url: 'http://x'}", "channel.webhook_url", "unknown field", 1),
    ("channel: {name: s, type: slack}", "channel.webhook_url_secret_key", "missing required field", 1),
    ("channel: {name: s, type: sms}", "channel.type", "unknown type 'sms'", 1),
    (
        "channel: {name: 'my channel', type: slack, webhook_url_secret_key: x}",
        "channel.name",
        "not a valid name",
        1,
    ),
    ("channel: {name: w, type: webhook}", "channel.url", "missing required field 'url'", 1),
]


@pytest.mark.parametrize(("text", "field", "message", "line"), INVALID)
def test_invalid_channels(text: str, field: str, message: str, line: int) -> None:
    assert_error(text, field, message, line)

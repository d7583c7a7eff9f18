"""``triggers/*.yaml``: every trigger type, interval arithmetic, cron aliases and timezones."""

from __future__ import annotations

import pytest

from dwh_dagster.config.models.triggers import (
    CRON_ALIASES,
    TRIGGER_TYPES,
    AssetMaterializedEvent,
    CronTrigger,
    EventTrigger,
    FileArrivedEvent,
    IntervalTrigger,
    JobFinishedEvent,
    ManualTrigger,
    WebhookTrigger,
)
from dwh_dagster_tests.models.helpers import assert_error, validate


def trigger(type_: str, body: str = "") -> str:
    """A trigger snippet: lines 1-4 are fixed, ``body`` starts on line 5."""
    return f"""
trigger:
  name: t
  type: {type_}
  job: daily.yaml
  {body}
"""


VALID = [
    (trigger("cron", "schedule: {cron: '0 2 * * *'}"), CronTrigger),
    (trigger("interval", "interval: {minutes: 15}"), IntervalTrigger),
    (trigger("manual"), ManualTrigger),
    (trigger("event", "event: {type: job_failed, job: nightly}"), EventTrigger),
    (trigger("webhook", "webhook: {auth: bearer, secret_key: hook_token}"), WebhookTrigger),
]


def test_every_trigger_type_has_a_valid_case() -> None:
    assert {model.model_fields["type"].annotation.__args__[0] for _, model in VALID} == set(TRIGGER_TYPES)


@pytest.mark.parametrize(("text", "model"), VALID)
def test_valid_triggers(text: str, model: type) -> None:
    t = validate(text)
    assert isinstance(t, model)
    assert t.enabled is True
    assert t.job == "daily.yaml"
    assert t.tags == []


def test_tags_as_list_or_mapping() -> None:
    assert validate(trigger("manual", "tags: [daily, prod]")).tags == ["daily", "prod"]
    assert validate(trigger("manual", "tags: {team: data}")).tags == {"team": "data"}


# --------------------------------------------------------------------------- interval


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [
        ("{seconds: 30}", 30),
        ("{minutes: 15}", 900),
        ("{hours: 2}", 7200),
        ("{days: 1}", 86400),
        ("{days: 1, hours: 1, minutes: 1, seconds: 1}", 90061),
        ("{minutes: 1, seconds: 90}", 150),
    ],
)
def test_interval_total_seconds(interval: str, seconds: int) -> None:
    t = validate(trigger("interval", f"interval: {interval}"))
    assert t.interval.total_seconds() == seconds


@pytest.mark.parametrize(
    ("interval", "field", "message"),
    [
        ("{}", "trigger.interval", "give at least one of seconds, minutes, hours or days"),
        ("{minutes: 0}", "trigger.interval.minutes", "greater than 0"),
        ("{hours: -1}", "trigger.interval.hours", "greater than 0"),
        ("{minutes: 1.5}", "trigger.interval.minutes", "valid integer"),
        ("{weeks: 1}", "trigger.interval.weeks", "unknown field 'weeks'"),
        ("15m", "trigger.interval", "expected a mapping of fields, got '15m'"),
    ],
)
def test_invalid_intervals(interval: str, field: str, message: str) -> None:
    assert_error(trigger("interval", f"interval: {interval}"), field, message, line=5)


# --------------------------------------------------------------------------- cron


@pytest.mark.parametrize("alias", CRON_ALIASES)
def test_cron_aliases(alias: str) -> None:
    assert validate(trigger("cron", f"schedule: {{cron: '{alias}'}}")).schedule.cron == alias


@pytest.mark.parametrize(
    "cron", ["0 2 * * *", "*/15 * * * *", "0 9-17 * * 1-5", "0 0 1 */3 *", " 5 4 * * 0 "]
)
def test_valid_cron_expressions(cron: str) -> None:
    schedule = validate(trigger("cron", f"schedule: {{cron: '{cron}'}}")).schedule
    assert schedule.cron == cron.strip()
    assert schedule.timezone == "UTC"
    assert schedule.catchup is False


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 2 * *", "it needs 5 fields"),
        ("0 2 * * * *", "it needs 5 fields"),
        ("@every_day", "is not a valid cron"),
        ("61 2 * * *", "check each of the 5 fields"),
        ("0 25 * * *", "check each of the 5 fields"),
        ("0 2 */0 * *", "check each of the 5 fields"),
        ("", "it needs 5 fields"),
    ],
)
def test_invalid_cron_expressions(cron: str, message: str) -> None:
    assert_error(trigger("cron", f"schedule: {{cron: '{cron}'}}"), "trigger.schedule.cron", message, line=5)


def test_misspelt_cron_alias_gets_a_suggestion() -> None:
    error = assert_error(
        trigger("cron", "schedule: {cron: '@dayly'}"), "trigger.schedule.cron", "'@dayly'", 5
    )
    assert "did you mean '@daily'?" in error.message


def test_unknown_cron_alias_message_is_punctuated() -> None:
    error = assert_error(
        trigger("cron", "schedule: {cron: '@every_day'}"), "trigger.schedule.cron", "'@daily'", 5
    )
    assert "alias valid aliases" not in error.message


def test_cron_must_be_text() -> None:
    assert_error(
        trigger("cron", "schedule: {cron: 5}"),
        "trigger.schedule.cron",
        "expected a text value",
        5,
        hint="quote the value",
    )


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_valid_timezones(tz: str) -> None:
    assert validate(trigger("cron", f"schedule: {{cron: '@daily', timezone: {tz}}}")).schedule.timezone == tz


@pytest.mark.parametrize(
    ("tz", "suggestion"),
    [("Europe/Berln", "Europe/Berlin"), ("europe/berlin", "Europe/Berlin"), ("Mars/Olympus", None)],
)
def test_invalid_timezones(tz: str, suggestion: str | None) -> None:
    error = assert_error(
        trigger("cron", f"schedule: {{cron: '@daily', timezone: {tz}}}"),
        "trigger.schedule.timezone",
        f"unknown timezone '{tz}'",
        line=5,
    )
    if suggestion:
        assert f"did you mean '{suggestion}'?" in error.message
    else:
        assert "did you mean" not in error.message


def test_cron_schedule_is_required() -> None:
    assert_error(trigger("cron"), "trigger.schedule", "missing required field 'schedule'", line=1)


# --------------------------------------------------------------------------- event and webhook


@pytest.mark.parametrize(
    ("event", "model"),
    [
        ("{type: job_succeeded, job: nightly.yaml}", JobFinishedEvent),
        ("{type: job_failed, job: nightly}", JobFinishedEvent),
        ("{type: asset_materialized, pipelines: [a, b.yaml]}", AssetMaterializedEvent),
        ("{type: file_arrived, path: 'incoming/*.csv'}", FileArrivedEvent),
    ],
)
def test_valid_events(event: str, model: type) -> None:
    t = validate(trigger("event", f"event: {event}"))
    assert isinstance(t.event, model)
    assert t.poll_interval == 30


@pytest.mark.parametrize(
    ("body", "field", "message", "hint"),
    [
        (
            "event: {type: job_sucess, job: x}",
            "trigger.event.type",
            "unknown type",
            "did you mean 'job_succeeded'?",
        ),
        ("event: {type: file_arrived}", "trigger.event.path", "missing required field 'path'", ""),
        (
            "webhook: {auth: basic, secret_key: s}",
            "trigger.webhook.auth",
            "invalid value 'basic'",
            "'bearer'",
        ),
        ("webhook: {auth: bearer}", "trigger.webhook.secret_key", "missing required field", ""),
    ],
)
def test_invalid_event_and_webhook(body: str, field: str, message: str, hint: str) -> None:
    type_ = "webhook" if body.startswith("webhook") else "event"
    assert_error(trigger(type_, body), field, message, hint=hint)


def test_missing_event_type_lists_the_event_types() -> None:
    error = assert_error(
        trigger("event", "event: {job: x}"), "trigger.event.type", "missing required field 'type'"
    )
    assert "'asset_materialized', 'file_arrived', 'job_failed', 'job_succeeded'" in error.hint
    assert "'cron'" not in error.hint


def test_webhook_payload_tags() -> None:
    t = validate(
        trigger("webhook", "webhook: {auth: hmac_sha256, secret_key: k, payload_tags: {repo: repo.name}}")
    )
    assert t.webhook.payload_tags == {"repo": "repo.name"}
    assert t.webhook.secret_key == "k"


# --------------------------------------------------------------------------- common mistakes


@pytest.mark.parametrize(
    ("text", "field", "message", "line"),
    [
        (trigger("manual", "interval: {minutes: 1}"), "trigger.interval", "unknown field 'interval'", 5),
        (trigger("hourly"), "trigger.type", "unknown type 'hourly'", 3),
        (trigger("manual", "enabled: maybe"), "trigger.enabled", "valid boolean", 5),
        (trigger("manual").replace("job: daily.yaml", "job: [a]"), "trigger.job", "expected a text value", 4),
        (
            trigger("manual").replace("  job: daily.yaml\n", ""),
            "trigger.job",
            "missing required field 'job'",
            1,
        ),
    ],
)
def test_common_trigger_mistakes(text: str, field: str, message: str, line: int) -> None:
    assert_error(text, field, message, line)


# The trigger types 'interval', 'event' and 'webhook' are also field names of their triggers.
TYPE_NAMED_LIKE_A_FIELD = [
    pytest.param(
        trigger("interval", "interval: {minutes: 1}\n  enabled: maybe"),
        "trigger.enabled",
        "valid boolean",
        6,
        id="interval-enabled",
    ),
    pytest.param(
        trigger("event", "event: {type: job_failed, job: x}\n  poll_interval: 0"),
        "trigger.poll_interval",
        "greater than 0",
        6,
        id="event-poll_interval",
    ),
    pytest.param(
        trigger("webhook", "webhook: {auth: bearer, secret_key: s}\n  tags: 5"),
        "trigger.tags",
        "got 5",
        6,
        id="webhook-tags",
    ),
    pytest.param(
        trigger("interval", "interval: {minutes: 1}").replace("  job: daily.yaml\n", ""),
        "trigger.job",
        "missing required field 'job'",
        1,
        id="interval-missing-job",
    ),
]


@pytest.mark.parametrize(("text", "field", "message", "line"), TYPE_NAMED_LIKE_A_FIELD)
def test_errors_of_triggers_whose_type_is_also_a_field_name(
    text: str, field: str, message: str, line: int
) -> None:
    assert_error(text, field, message, line)


@pytest.mark.parametrize(
    ("text", "field", "message", "line"),
    [
        (
            trigger("cron", "schedule: {cron: '@daily'}\n  enabled: maybe"),
            "trigger.enabled",
            "valid boolean",
            6,
        ),
        (trigger("manual", "tags: 5"), "trigger.tags", "got 5", 5),
    ],
)
def test_errors_of_other_fields_are_located_when_the_type_is_no_field_name(
    text: str, field: str, message: str, line: int
) -> None:
    assert_error(text, field, message, line)

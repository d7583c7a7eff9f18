"""``triggers/*.yaml``: what starts a job (cron, interval, manual, event, webhook)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PositiveFloat, PositiveInt, model_validator

from dwh_dagster.config.errors import did_you_mean
from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    Name,
    SecretRef,
    StrictModel,
    Tags,
    environments_field,
    secret_field,
    tag_values,
)

CRON_ALIASES = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight")


def _check_cron(value: str) -> str:
    from croniter import croniter

    text = value.strip()
    if text in CRON_ALIASES:
        return text
    if text.startswith("@"):
        hint = did_you_mean(text, CRON_ALIASES)
        raise ValueError(
            f"'{value}' is not a valid cron alias"
            + (f"; {hint}" if hint else "")
            + f"; valid aliases: {', '.join(repr(a) for a in CRON_ALIASES)}, or a 5-field expression"
        )
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"'{value}' is not a valid cron expression: it needs 5 fields "
            "(minute hour day-of-month month day-of-week), for example '0 2 * * *'"
        )
    if not croniter.is_valid(text):
        raise ValueError(
            f"'{value}' is not a valid cron expression: check each of the 5 fields "
            "(minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-6)"
        )
    return text


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str:
    if value in _timezones() or value == "UTC":
        return value
    hint = did_you_mean(value, _timezones())
    raise ValueError(
        f"unknown timezone '{value}': use an IANA name such as 'UTC' or 'Europe/Berlin'"
        + (f"; {hint}" if hint else "")
    )


CronExpression = Annotated[str, AfterValidator(_check_cron)]
Timezone = Annotated[str, AfterValidator(_check_timezone)]


class TriggerBase(StrictModel):
    """Fields every trigger has."""

    name: Name = Field(description="Unique trigger name; the Dagster schedule or sensor name.")
    description: str | None = Field(default=None, description="What this trigger is for.")
    enabled: bool = Field(
        default=True, description="Whether the trigger runs (its default status in Dagster)."
    )
    job: str = Field(description="Job to start: file name (`daily_ingestion.yaml`) or job name.")
    tags: Tags = Field(default_factory=list, description="Tags added to every run this trigger starts.")
    environments: EnvironmentOverlays | None = environments_field()


class CronSchedule(StrictModel):
    """When a cron trigger fires."""

    cron: CronExpression = Field(description="Cron expression with 5 fields, for example `0 2 * * *`.")
    timezone: Timezone = Field(default="UTC", description="IANA timezone the cron is read in.")
    catchup: bool = Field(
        default=False,
        description="After downtime, run every missed tick (true) or only the latest one (false).",
    )


class CronTrigger(TriggerBase):
    """Runs the job on a cron schedule."""

    type: Literal["cron"] = Field(description="Cron schedule.")
    schedule: CronSchedule = Field(description="Cron expression, timezone and catchup.")


class Interval(StrictModel):
    """A fixed interval; the parts given are added up."""

    seconds: PositiveInt | None = Field(default=None, description="Seconds.")
    minutes: PositiveInt | None = Field(default=None, description="Minutes.")
    hours: PositiveInt | None = Field(default=None, description="Hours.")
    days: PositiveInt | None = Field(default=None, description="Days.")

    @model_validator(mode="after")
    def _not_empty(self) -> Interval:
        if self.total_seconds() == 0:
            raise ValueError(
                "give at least one of seconds, minutes, hours or days, for example 'minutes: 15'"
            )
        return self

    def describe(self) -> str:
        """``1 hour 30 minutes``: the parts as written."""
        parts = [(self.days, "day"), (self.hours, "hour"), (self.minutes, "minute"), (self.seconds, "second")]
        return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)

    def total_seconds(self) -> int:
        """The whole interval in seconds."""
        return (
            (self.seconds or 0)
            + 60 * (self.minutes or 0)
            + 3600 * (self.hours or 0)
            + 86400 * (self.days or 0)
        )


class IntervalTrigger(TriggerBase):
    """Runs the job every fixed interval."""

    type: Literal["interval"] = Field(description="Fixed interval.")
    interval: Interval = Field(description="`seconds`, `minutes`, `hours` and/or `days`.")


class ManualTrigger(TriggerBase):
    """No automation: the job is started from the UI or with `dwh run`."""

    type: Literal["manual"] = Field(description="Started by hand only.")


class JobFinishedEvent(StrictModel):
    """A run of another job finished."""

    type: Literal["job_succeeded", "job_failed"] = Field(
        description="`job_succeeded` or `job_failed`: a run of `job` ended that way."
    )
    job: str = Field(description="The job whose runs are watched (name or file name).")


class AssetMaterializedEvent(StrictModel):
    """Tables of some pipelines were loaded, or some transformations were rebuilt."""

    type: Literal["asset_materialized"] = Field(
        description="Assets of the named pipelines or transformations were materialized."
    )
    pipelines: list[str] = Field(default_factory=list, description="Pipelines whose tables are watched.")
    transformations: list[str] = Field(
        default_factory=list, description="Transformations whose tables are watched."
    )


class FileArrivedEvent(StrictModel):
    """A new file matched a glob."""

    type: Literal["file_arrived"] = Field(description="A new file matching `path` appeared.")
    path: str = Field(
        description="Glob under a local folder (relative to the project root) or fsspec URL, "
        "for example `incoming/*.csv` or `s3://bucket/in/*.json`."
    )


EventSpec = Annotated[
    JobFinishedEvent | AssetMaterializedEvent | FileArrivedEvent, Field(discriminator="type")
]


class EventTrigger(TriggerBase):
    """Runs the job when something happens."""

    type: Literal["event"] = Field(description="Event sensor.")
    event: EventSpec = Field(description="The event: its `type` and parameters.")
    poll_interval: PositiveFloat = Field(default=30, description="Seconds between two checks for the event.")


class WebhookSpec(StrictModel):
    """How webhook requests are authenticated and what they carry into the run."""

    auth: Literal["hmac_sha256", "bearer"] = Field(
        description="`hmac_sha256` (signed body and timestamp) or `bearer` (shared token)."
    )
    secret_key: SecretRef = secret_field("Secret holding the HMAC key or the bearer token.")
    payload_tags: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Payload fields copied into run tags: dotted paths, or a mapping of tag name to path.",
    )


class WebhookTrigger(TriggerBase):
    """Runs the job when a signed request arrives at `POST /webhooks/<name>`."""

    type: Literal["webhook"] = Field(description="Webhook receiver.")
    webhook: WebhookSpec = Field(description="Authentication and payload tags.")


TriggerModel = CronTrigger | IntervalTrigger | ManualTrigger | EventTrigger | WebhookTrigger
Trigger = Annotated[TriggerModel, Field(discriminator="type")]
TRIGGER_TYPES: tuple[str, ...] = tag_values(TriggerModel)


class TriggerFile(StrictModel):
    """A file under ``triggers/``."""

    trigger: Trigger = Field(description="The trigger defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()

"""``partitions:``: a table loaded in time windows (hours, days, weeks or months) that can each be
reloaded on their own, and ``backfill:``: how a range of them runs.

Each spelling becomes one Dagster time-window partitions definition; a partition run loads only
the records whose ``cursor_field`` falls in its window, and replaces that window in the table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import Field, field_validator

from dwh_dagster.config.errors import did_you_mean
from dwh_dagster.config.models.base import StrictModel

PartitionType = Literal["hourly", "daily", "weekly", "monthly"]
PARTITION_TYPES: tuple[str, ...] = ("hourly", "daily", "weekly", "monthly")
BackfillPolicyName = Literal["single_run", "per_partition"]
PARTITION_COLUMN = "_dwh_partition"
"""The column of a partitioned table that holds each row's partition key (`2024-01-31`)."""


def parse_start(value: str) -> datetime:
    """The first partition's start: ``2024-01-01`` or ``2024-01-01T06:00`` (or with ``:ss``)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
    return parsed.replace(tzinfo=None)


class Partitions(StrictModel):
    """Time windows of a table: one partition per hour, day, week or month since ``start``."""

    type: PartitionType = Field(
        description="`hourly`, `daily`, `weekly` (weeks start on Sunday) or `monthly`: the size of a window."
    )
    start: str = Field(
        description="Start of the first partition: a date (`2024-01-01`) or, for hourly ones, a date "
        "and time (`2024-01-01T06:00`), in `timezone`."
    )
    end_offset: int = Field(
        default=0,
        description="As Dagster's end_offset: 0 (default) ends with the last complete window, 1 adds "
        "the window in progress, -1 leaves out the last complete one.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone of the windows (`Europe/Berlin`).")
    cursor_field: str | None = Field(
        default=None,
        description="Field (column) whose value places a record in a window; the resource's "
        "incremental `cursor_field` when omitted.",
    )

    def windows(self) -> tuple[str, datetime, int, str]:
        """What makes the windows (and Dagster's partitions): equal for two spellings whose
        partitions are the same, whatever their ``cursor_field``."""
        timezone = "UTC" if self.timezone.lower() == "utc" else self.timezone
        return (self.type, parse_start(self.start), self.end_offset, timezone)

    @field_validator("start")
    @classmethod
    def _start_is_a_date(cls, value: str) -> str:
        try:
            parse_start(value)
        except ValueError:
            raise ValueError(
                f"'{value}' is not a date: write 'YYYY-MM-DD' (for example '2024-01-01'), or "
                "'YYYY-MM-DDTHH:MM' for hourly partitions"
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value in ("UTC", "utc"):
            return value
        try:
            ZoneInfo(value)
        except (KeyError, ValueError):
            hint = (
                did_you_mean(value, sorted(available_timezones())) or "for example 'UTC' or 'Europe/Berlin'"
            )
            raise ValueError(f"'{value}' is not an IANA time zone; {hint}") from None
        return value


def describe_partitions(partitions: Partitions | None) -> str:
    """``daily from 2024-01-01 (UTC)`` or ``not partitioned``."""
    if partitions is None:
        return "not partitioned"
    offset = f", end_offset {partitions.end_offset}" if partitions.end_offset else ""
    return f"{partitions.type} from {partitions.start} ({partitions.timezone}{offset})"


def partitions_field(description: str) -> Any:
    """An optional ``partitions:`` field."""
    return Field(default=None, description=description)


def backfill_field() -> Any:
    """The ``backfill:`` field of a pipeline."""
    return Field(
        default="single_run",
        description="How a range of partitions runs (UI backfills, `dwh backfill`): `single_run` (one "
        "run loads the whole range at once) or `per_partition` (one run per partition).",
    )

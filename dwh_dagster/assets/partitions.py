"""Pure factories from ``partitions:`` and ``backfill:`` to Dagster partitions and backfill policies."""

from __future__ import annotations

from functools import cache

import dagster as dg

from dwh_dagster.config.models.partitions import Partitions, parse_start

_HOURLY_FORMAT = "%Y-%m-%d-%H:%M"
_DATE_FORMAT = "%Y-%m-%d"


@cache
def build_partitions_def(partitions: Partitions) -> dg.TimeWindowPartitionsDefinition:
    """Dagster's time-window partitions of a spelling; equal spellings share one definition."""
    start = parse_start(partitions.start)
    timezone = "UTC" if partitions.timezone.lower() == "utc" else partitions.timezone
    common = {"end_offset": partitions.end_offset, "timezone": timezone}
    if partitions.type == "hourly":
        return dg.HourlyPartitionsDefinition(start_date=start.strftime(_HOURLY_FORMAT), **common)  # type: ignore[arg-type]
    day = start.strftime(_DATE_FORMAT)
    if partitions.type == "daily":
        return dg.DailyPartitionsDefinition(start_date=day, **common)  # type: ignore[arg-type]
    if partitions.type == "weekly":
        return dg.WeeklyPartitionsDefinition(start_date=day, **common)  # type: ignore[arg-type]
    return dg.MonthlyPartitionsDefinition(start_date=day, **common)  # type: ignore[arg-type]


def build_backfill_policy(name: str) -> dg.BackfillPolicy:
    """``single_run``: one run for a whole range; ``per_partition``: one run per partition."""
    return dg.BackfillPolicy.single_run() if name == "single_run" else dg.BackfillPolicy.multi_run(1)

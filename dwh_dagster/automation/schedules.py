"""Schedules from cron triggers and from interval triggers that cron can express."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from dwh_dagster.automation.common import JobTarget, default_schedule_status, trigger_run_tags
from dwh_dagster.config.models.triggers import CronTrigger, IntervalTrigger

MAX_CATCHUP_TICKS = 50
"""With ``catchup: true``, at most this many missed ticks are run after a downtime (oldest dropped)."""

SCHEDULED_TIME_TAG = "dwh/scheduled_time"


def cron_ticks_between(cron: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """Cron ticks strictly after ``after`` and up to ``until`` (inclusive), in order."""
    from croniter import croniter

    tz = ZoneInfo(timezone)
    iterator = croniter(cron, after.astimezone(tz))
    ticks: list[datetime] = []
    while True:
        tick = iterator.get_next(datetime)
        if tick > until.astimezone(tz):
            return ticks
        ticks.append(tick)


def _last_scheduled_time(instance: dg.DagsterInstance, schedule_name: str) -> datetime | None:
    """The newest scheduled time among this schedule's runs (re-executions of old ticks do not count)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": schedule_name}), limit=200)
    times = [
        datetime.fromisoformat(run.tags[SCHEDULED_TIME_TAG])
        for run in runs
        if SCHEDULED_TIME_TAG in run.tags and "dagster/parent_run_id" not in run.tags
    ]
    return max(times) if times else None


def interval_as_cron(seconds: int) -> str | None:
    """The cron expression that fires exactly every ``seconds`` seconds, if there is one."""
    if seconds % 60:
        return None
    minutes = seconds // 60
    if minutes < 60:
        return "* * * * *" if minutes == 1 else (f"*/{minutes} * * * *" if 60 % minutes == 0 else None)
    if minutes % 60:
        return None
    hours = minutes // 60
    if hours < 24:
        return "0 * * * *" if hours == 1 else (f"0 */{hours} * * *" if 24 % hours == 0 else None)
    if hours == 24:
        return "0 0 * * *"
    if hours == 24 * 7:
        return "0 0 * * 0"
    return None


def build_cron_schedule(trigger: CronTrigger, target: JobTarget) -> dg.ScheduleDefinition:
    """A schedule with the trigger's cron and timezone; ``enabled`` sets its default status.

    ``catchup: false``: after a downtime only the latest missed tick runs (Dagster's own behaviour
    for a schedule). ``catchup: true``: the latest tick also requests every tick missed since the
    last run this schedule launched (at most :data:`MAX_CATCHUP_TICKS`), each with its own run key
    and its scheduled time in the ``dwh/scheduled_time`` tag.
    """
    schedule = trigger.schedule
    base_tags = trigger_run_tags(trigger)

    def _request(tick: datetime) -> dg.RunRequest:
        iso = tick.isoformat()
        return dg.RunRequest(run_key=f"{trigger.name}@{iso}", tags={**base_tags, SCHEDULED_TIME_TAG: iso})

    @dg.schedule(
        name=trigger.name,
        cron_schedule=schedule.cron,
        execution_timezone=schedule.timezone,
        target=target,
        description=trigger.description,
        default_status=default_schedule_status(trigger.enabled),
        tags={"dwh/trigger_type": "cron"},
    )
    def _cron(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        tick = context.scheduled_execution_time
        if not schedule.catchup or context.instance is None:
            return [_request(tick)]
        last = _last_scheduled_time(context.instance, trigger.name)
        if last is None:
            return [_request(tick)]  # never ran: nothing before the schedule was turned on
        missed = [t for t in cron_ticks_between(schedule.cron, schedule.timezone, last, tick) if t < tick]
        return [_request(t) for t in missed[-MAX_CATCHUP_TICKS + 1 :]] + [_request(tick)]

    return _cron


def build_interval_schedule(trigger: IntervalTrigger, target: JobTarget, cron: str) -> dg.ScheduleDefinition:
    """An interval that cron can express exactly, as a schedule in UTC."""
    base_tags = trigger_run_tags(trigger)

    @dg.schedule(
        name=trigger.name,
        cron_schedule=cron,
        execution_timezone="UTC",
        target=target,
        description=trigger.description or f"every {trigger.interval.describe()}",
        default_status=default_schedule_status(trigger.enabled),
        tags={"dwh/trigger_type": "interval"},
    )
    def _interval(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        iso = context.scheduled_execution_time.isoformat()
        return dg.RunRequest(tags={**base_tags, SCHEDULED_TIME_TAG: iso})

    return _interval

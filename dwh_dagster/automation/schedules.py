"""Schedules from cron triggers and from interval triggers that cron can express."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from dwh_dagster.automation.common import (
    JobTarget,
    Partitioning,
    default_schedule_status,
    run_request,
    trigger_run_tags,
)
from dwh_dagster.config.models.triggers import CronTrigger, IntervalTrigger

MAX_CATCHUP_TICKS = 50
"""With ``catchup: true``, at most this many missed ticks are run after a downtime (oldest dropped)."""

SCHEDULED_TIME_TAG = "dwh/scheduled_time"
EXECUTION_TIME_TAG = ".dagster/scheduled_execution_time"
"""The tick whose evaluation created a run (Dagster's tag; a catch-up run has an older scheduled time)."""
MAX_CATCHUP_RUNS = 100
"""With ``catchup: true`` on a job loaded one partition per run, at most this many missed partitions
are requested per tick (oldest first); the next ticks request the rest."""
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


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


def _last_scheduled_time(
    instance: dg.DagsterInstance, schedule_name: str, evaluating: datetime
) -> datetime | None:
    """The newest scheduled time among this schedule's runs (re-executions of old ticks do not count).

    Nor do the runs that an interrupted evaluation of the tick ``evaluating`` created (Dagster's
    ``.dagster/scheduled_execution_time`` tag): the daemon evaluates that tick again, and only the
    same requests make it launch each run the first evaluation created (a run it created, but
    killed before submitting it, would otherwise count as run and never start).
    """
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": schedule_name}), limit=200)
    times = [
        datetime.fromisoformat(run.tags[SCHEDULED_TIME_TAG])
        for run in runs
        if SCHEDULED_TIME_TAG in run.tags
        and "dagster/parent_run_id" not in run.tags
        and not _evaluated_at(run, evaluating)
    ]
    return max(times) if times else None


def _evaluated_at(run: dg.DagsterRun, tick: datetime) -> bool:
    """Whether an evaluation of the tick ``tick`` created ``run``."""
    evaluated = run.tags.get(EXECUTION_TIME_TAG)
    return evaluated is not None and datetime.fromisoformat(evaluated) == tick


def _schedule_started(instance: dg.DagsterInstance, schedule_name: str) -> datetime | None:
    """When the daemon started running this schedule (turned on, or first seen with ``enabled:
    true``), from the schedule's state on the instance; None without one (an evaluation outside
    the daemon). Several code locations with the schedule: the latest start."""
    from dagster._core.scheduler.instigation import InstigatorType  # not exported by dagster

    starts = [
        stamp
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        if state.instigator_name == schedule_name
        and state.is_running
        and (stamp := getattr(state.instigator_data, "start_timestamp", None))
    ]
    return datetime.fromtimestamp(max(starts), UTC) if starts else None


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


def _in_flight_partitions(
    instance: dg.DagsterInstance, job_name: str, partitioning: Partitioning
) -> set[str]:
    """Partitions that queued or running runs of the job load."""
    keys: set[str] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=_IN_FLIGHT)):
        if "dagster/partition" in run.tags:
            keys.add(run.tags["dagster/partition"])
        elif RANGE_START_TAG in run.tags and RANGE_END_TAG in run.tags:
            keys.update(
                partitioning.partitions_def.get_partition_keys_in_range(
                    dg.PartitionKeyRange(run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG])
                )
            )
    return keys


def missed_partitions(
    instance: dg.DagsterInstance, job_name: str, partitioning: Partitioning, when: datetime
) -> list[str]:
    """Partitions complete at ``when`` that some table of the job lacks and no run is loading."""
    done: set[str] | None = None
    for key in partitioning.asset_keys:
        materialized = instance.get_materialized_partitions(key)
        done = materialized if done is None else done & materialized
    skip = (done or set()) | _in_flight_partitions(instance, job_name, partitioning)
    return [key for key in partitioning.keys_until(when) if key not in skip]


def contiguous_ranges(keys: list[str], all_keys: list[str]) -> list[tuple[str, str]]:
    """``keys`` (a subset of ``all_keys``, in its order) as runs of neighbouring partitions."""
    position = {key: i for i, key in enumerate(all_keys)}
    ranges: list[tuple[str, str]] = []
    for key in keys:
        if ranges and position[key] == position[ranges[-1][1]] + 1:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges


def catchup_requests(
    instance: dg.DagsterInstance,
    trigger: CronTrigger,
    job_name: str,
    partitioning: Partitioning,
    tick: datetime,
    tags: dict[str, str],
) -> list[dg.RunRequest]:
    """The runs that load every missed partition: one per range of neighbouring ones
    (``backfill: single_run``) or one per partition (``per_partition``, oldest first, at most
    :data:`MAX_CATCHUP_RUNS` per tick)."""
    missed = missed_partitions(instance, job_name, partitioning, tick)
    if partitioning.backfill == "per_partition":
        return [
            dg.RunRequest(run_key=f"{trigger.name}:{key}", partition_key=key, tags=tags)
            for key in missed[:MAX_CATCHUP_RUNS]
        ]
    requests = []
    for first, last in contiguous_ranges(missed, partitioning.keys_until(tick)):
        if first == last:
            requests.append(dg.RunRequest(run_key=f"{trigger.name}:{first}", partition_key=first, tags=tags))
        else:
            requests.append(
                dg.RunRequest(
                    run_key=f"{trigger.name}:{first}..{last}",
                    tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last},
                )
            )
    return requests


def build_cron_schedule(
    trigger: CronTrigger, target: JobTarget, partitioning: Partitioning | None = None
) -> dg.ScheduleDefinition:
    """A schedule with the trigger's cron and timezone; ``enabled`` sets its default status.

    ``catchup: false``: after a downtime only the latest missed tick runs (Dagster's own behaviour
    for a schedule). ``catchup: true``: the latest tick also requests every tick missed since the
    last run this schedule launched (at most :data:`MAX_CATCHUP_TICKS`), each with its own run key
    and its scheduled time in the ``dwh/scheduled_time`` tag; a schedule that never launched a run
    catches up the ticks since the daemon started it (its instigator state), so the first ticks of a
    schedule are not lost to a daemon that was down when they were due.
    """
    schedule = trigger.schedule
    base_tags = trigger_run_tags(trigger)

    def _request(tick: datetime) -> dg.RunRequest | dg.SkipReason:
        iso = tick.isoformat()
        return run_request(
            partitioning, tick, run_key=f"{trigger.name}@{iso}", tags={**base_tags, SCHEDULED_TIME_TAG: iso}
        )

    @dg.schedule(
        name=trigger.name,
        cron_schedule=schedule.cron,
        execution_timezone=schedule.timezone,
        target=target,
        description=trigger.description,
        default_status=default_schedule_status(trigger.enabled),
        tags={"dwh/trigger_type": "cron"},
    )
    def _cron(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        tick = context.scheduled_execution_time
        if schedule.catchup and partitioning is not None and context.instance is not None:
            tags = {**base_tags, SCHEDULED_TIME_TAG: tick.isoformat()}
            requests = catchup_requests(context.instance, trigger, target.name, partitioning, tick, tags)
            return requests or dg.SkipReason("every partition is loaded or being loaded")
        if not schedule.catchup or context.instance is None:
            return _requests([_request(tick)])
        # never ran: the ticks missed since the schedule was started, none from before
        last = _last_scheduled_time(context.instance, trigger.name, tick) or _schedule_started(
            context.instance, trigger.name
        )
        if last is None:
            return _requests([_request(tick)])
        missed = [t for t in cron_ticks_between(schedule.cron, schedule.timezone, last, tick) if t < tick]
        return _requests([_request(t) for t in missed[-MAX_CATCHUP_TICKS + 1 :]] + [_request(tick)])

    return _cron


def _requests(found: list[dg.RunRequest | dg.SkipReason]) -> list[dg.RunRequest] | dg.SkipReason:
    """The run requests among ``found``, or its first skip when there is none."""
    requests = [r for r in found if isinstance(r, dg.RunRequest)]
    if requests:
        return requests
    return next(r for r in found if isinstance(r, dg.SkipReason))


def build_interval_schedule(
    trigger: IntervalTrigger, target: JobTarget, cron: str, partitioning: Partitioning | None = None
) -> dg.ScheduleDefinition:
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
    def _interval(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        tick = context.scheduled_execution_time
        return run_request(partitioning, tick, tags={**base_tags, SCHEDULED_TIME_TAG: tick.isoformat()})

    return _interval

"""Cron and interval triggers as Dagster schedules, evaluated on a real instance.

Schedules are evaluated as the daemon does, through ``ScheduleDefinition.evaluate_tick`` with a
context built on the persistent instance of the ``dagster_home`` fixture. A downtime of the daemon
is simulated by a run this schedule launched at an earlier tick (created on the instance with the
tags the daemon and the schedule give it) and an evaluation several ticks later.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from dwh_dagster.automation.schedules import (
    MAX_CATCHUP_TICKS,
    SCHEDULED_TIME_TAG,
    cron_ticks_between,
    interval_as_cron,
)
from dwh_dagster_tests.automation.support import (
    definitions,
    schedule_of,
    sensor_of,
    write_small_project,
)
from dwh_dagster_tests.conftest import YAML_DEFS, WriteProject

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def cron_trigger(
    name: str,
    cron: str,
    *,
    timezone: str | None = None,
    catchup: bool | None = None,
    enabled: bool | None = None,
    job: str = "job_a",
    extra: str = "",
) -> str:
    schedule = [f"cron: '{cron}'"]
    if timezone is not None:
        schedule.append(f"timezone: {timezone}")
    if catchup is not None:
        schedule.append(f"catchup: {str(catchup).lower()}")
    lines = [
        "trigger:",
        f"  name: {name}",
        "  type: cron",
        f"  job: {job}.yaml",
        f"  schedule: {{{', '.join(schedule)}}}",
    ]
    if enabled is not None:
        lines.append(f"  enabled: {str(enabled).lower()}")
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.get() as inst:
        yield inst


def evaluate(
    schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance, at: datetime
) -> list[dg.RunRequest]:
    """The run requests of one tick, with the tags Dagster adds (as the daemon evaluates it)."""
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
    data = schedule.evaluate_tick(context)
    assert data.skip_message is None, data.skip_message
    return list(data.run_requests or [])


def record_prior_run(
    instance: dg.DagsterInstance, defs: dg.Definitions, schedule_name: str, job: str, tick: datetime
) -> dg.DagsterRun:
    """A run this schedule launched for ``tick``, as the daemon would have stored it."""
    return instance.create_run_for_job(
        job_def=defs.resolve_job_def(job),
        tags={"dagster/schedule_name": schedule_name, SCHEDULED_TIME_TAG: tick.isoformat()},
    )


def scheduled_times(requests: list[dg.RunRequest]) -> list[datetime]:
    return [datetime.fromisoformat(r.tags[SCHEDULED_TIME_TAG]) for r in requests]


# --------------------------------------------------------------------------- interval as cron


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [
        (15 * 60, "*/15 * * * *"),
        (90 * 60, None),
        (3600, "0 * * * *"),
        (6 * 3600, "0 */6 * * *"),
        (24 * 3600, "0 0 * * *"),
        (7 * 86400, "0 0 * * 0"),
        (45, None),
        (7 * 60, None),
    ],
)
def test_interval_as_cron(seconds: int, cron: str | None) -> None:
    assert interval_as_cron(seconds) == cron


def test_interval_as_cron_fires_exactly_every_interval() -> None:
    """Whatever cron is returned really fires at that fixed interval, across a whole week."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for seconds in (60, 300, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800):
        cron = interval_as_cron(seconds)
        assert cron is not None, seconds
        ticks = cron_ticks_between(cron, "UTC", start, start + timedelta(days=15))
        gaps = {(b - a).total_seconds() for a, b in pairwise(ticks)}
        assert gaps == {seconds}, (seconds, cron)


def test_interval_triggers_become_a_schedule_or_a_sensor(write_project: WriteProject) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "every_15": "trigger: {name: every_15, type: interval, job: job_a, interval: {minutes: 15}}",
            "every_90": "trigger: {name: every_90, type: interval, job: job_a, interval: {minutes: 90}}",
            "every_45s": "trigger: {name: every_45s, type: interval, job: job_b, interval: {seconds: 45}}",
            "by_hand": "trigger: {name: by_hand, type: manual, job: job_a}",
        },
    )
    defs = definitions(defs_dir)
    repo = defs.get_repository_def()
    assert sorted(s.name for s in repo.schedule_defs) == ["every_15"]
    assert sorted(s.name for s in repo.sensor_defs) == ["every_45s", "every_90"]
    every_15 = schedule_of(defs, "every_15")
    assert (every_15.cron_schedule, every_15.execution_timezone, every_15.job_name) == (
        "*/15 * * * *",
        "UTC",
        "job_a",
    )
    assert sensor_of(defs, "every_90").minimum_interval_seconds == 5400
    assert sensor_of(defs, "every_45s").minimum_interval_seconds == 45
    assert [t.job_name for t in sensor_of(defs, "every_45s").targets] == ["job_b"]


def test_interval_schedule_run_request_carries_tags(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "every_15": """
                trigger:
                  name: every_15
                  type: interval
                  job: job_a
                  interval: {minutes: 15}
                  tags: [mock, fast]
            """
        },
    )
    tick = datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    [request] = evaluate(schedule_of(definitions(defs_dir), "every_15"), instance, tick)
    assert request.tags["mock"] == "" and request.tags["fast"] == ""
    assert request.tags["dwh/trigger"] == "every_15"
    assert request.tags["dagster/schedule_name"] == "every_15"
    assert datetime.fromisoformat(request.tags[SCHEDULED_TIME_TAG]) == tick


# --------------------------------------------------------------------------- cron: timezone


def test_cron_timezone_defaults_to_utc(write_project: WriteProject) -> None:
    defs_dir = write_small_project(write_project, {"nightly": cron_trigger("nightly", "0 2 * * *")})
    schedule = schedule_of(definitions(defs_dir), "nightly")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "0 2 * * *",
        "UTC",
        "job_a",
    )


def test_berlin_cron_ticks_follow_daylight_saving_time(write_project: WriteProject) -> None:
    """``0 6 * * 0`` in Berlin is 05:00 UTC in winter and 04:00 UTC in summer, switching on the
    last Sundays of March and October."""
    defs_dir = write_small_project(
        write_project, {"weekly": cron_trigger("weekly", "0 6 * * 0", timezone="Europe/Berlin")}
    )
    schedule = schedule_of(definitions(defs_dir), "weekly")
    assert schedule.execution_timezone == "Europe/Berlin"

    def next_ticks(start: datetime, count: int) -> list[datetime]:
        it = cron_string_iterator(start.timestamp(), str(schedule.cron_schedule), schedule.execution_timezone)
        return [next(it).astimezone(UTC) for _ in range(count)]

    spring = [
        datetime(2024, 3, 24, 5, tzinfo=UTC),
        datetime(2024, 3, 31, 4, tzinfo=UTC),  # DST began at 02:00 that morning
        datetime(2024, 4, 7, 4, tzinfo=UTC),
    ]
    autumn = [
        datetime(2024, 10, 20, 4, tzinfo=UTC),
        datetime(2024, 10, 27, 5, tzinfo=UTC),  # DST ended at 03:00 that morning
        datetime(2024, 11, 3, 5, tzinfo=UTC),
    ]
    assert next_ticks(datetime(2024, 3, 20, tzinfo=UTC), 3) == spring
    assert next_ticks(datetime(2024, 10, 15, tzinfo=UTC), 3) == autumn
    # the catch-up arithmetic agrees with the daemon's own tick iterator
    after = datetime(2024, 3, 20, tzinfo=UTC)
    assert [
        t.astimezone(UTC) for t in cron_ticks_between("0 6 * * 0", "Europe/Berlin", after, spring[-1])
    ] == (spring)


# --------------------------------------------------------------------------- default status


def test_default_status_follows_enabled_and_environment_overlay(write_project: WriteProject) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "switched_on": cron_trigger("switched_on", "0 2 * * *", enabled=True),
            "switched_off": cron_trigger("switched_off", "0 3 * * *", enabled=False),
            "implicit": cron_trigger("implicit", "0 4 * * *"),
            "prod_only": cron_trigger(
                "prod_only",
                "0 5 * * *",
                enabled=True,
                extra="  environments:\n    dev: {enabled: false}\n    stage: {enabled: false}\n",
            ),
            "interval_off": """
                trigger: {name: interval_off, type: interval, job: job_a, interval: {hours: 1},
                          enabled: false}
            """,
            "interval_sensor_off": """
                trigger: {name: interval_sensor_off, type: interval, job: job_a, interval: {minutes: 90},
                          enabled: false}
            """,
            "interval_sensor_on": """
                trigger: {name: interval_sensor_on, type: interval, job: job_a, interval: {minutes: 90}}
            """,
        },
    )
    running, stopped = dg.DefaultScheduleStatus.RUNNING, dg.DefaultScheduleStatus.STOPPED
    expected = {
        "dev": {"switched_on": running, "switched_off": stopped, "implicit": running, "prod_only": stopped},
        "stage": {"switched_on": running, "switched_off": stopped, "implicit": running, "prod_only": stopped},
        "prod": {"switched_on": running, "switched_off": stopped, "implicit": running, "prod_only": running},
    }
    for environment, statuses in expected.items():
        defs = definitions(defs_dir, environment)
        got = {name: schedule_of(defs, name).default_status for name in statuses}
        assert got == statuses, environment
        assert schedule_of(defs, "interval_off").default_status == stopped
        assert sensor_of(defs, "interval_sensor_off").default_status == dg.DefaultSensorStatus.STOPPED
        assert sensor_of(defs, "interval_sensor_on").default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.parametrize(
    ("environment", "status"),
    [("dev", dg.DefaultScheduleStatus.STOPPED), ("prod", dg.DefaultScheduleStatus.RUNNING)],
)
def test_shipped_schedules_are_off_in_dev_and_on_in_prod(
    environment: str, status: dg.DefaultScheduleStatus
) -> None:
    from dwh_dagster.config.loader import load_project
    from dwh_dagster.definitions import build_definitions

    defs = build_definitions(load_project(YAML_DEFS, environment))
    for name in ("daily_ingestion", "github_hourly", "weekly_full_refresh"):
        assert schedule_of(defs, name).default_status == status, name
    assert schedule_of(defs, "weekly_full_refresh").execution_timezone == "Europe/Berlin"
    # mock_every_15_minutes is enabled: false in every environment
    assert schedule_of(defs, "mock_every_15_minutes").default_status == dg.DefaultScheduleStatus.STOPPED


# --------------------------------------------------------------------------- tags


def test_cron_run_requests_carry_list_tags_and_trigger_name(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project,
        {"nightly": cron_trigger("nightly", "0 2 * * *", extra="  tags: [daily, production]\n")},
    )
    tick = datetime(2024, 5, 2, 2, tzinfo=UTC)
    [request] = evaluate(schedule_of(definitions(defs_dir), "nightly"), instance, tick)
    assert request.tags == {
        "daily": "",
        "production": "",
        "dwh/trigger": "nightly",
        SCHEDULED_TIME_TAG: request.tags[SCHEDULED_TIME_TAG],
        "dagster/schedule_name": "nightly",
    }
    assert datetime.fromisoformat(request.tags[SCHEDULED_TIME_TAG]) == tick


def test_cron_run_requests_carry_mapping_tags(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "weekly": cron_trigger(
                "weekly",
                "0 6 * * 0",
                timezone="Europe/Berlin",
                extra="  tags: {weekly: 'true', team: data}\n",
            )
        },
    )
    tick = datetime(2024, 5, 5, 6, tzinfo=BERLIN)
    [request] = evaluate(schedule_of(definitions(defs_dir), "weekly"), instance, tick)
    assert request.tags["weekly"] == "true"
    assert request.tags["team"] == "data"
    assert request.tags["dwh/trigger"] == "weekly"
    assert datetime.fromisoformat(request.tags[SCHEDULED_TIME_TAG]) == datetime(2024, 5, 5, 4, tzinfo=UTC)


# --------------------------------------------------------------------------- catchup


def test_catchup_true_runs_every_missed_tick_in_order(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project,
        {"hourly": cron_trigger("hourly", "0 * * * *", catchup=True, extra="  tags: [hourly]\n")},
    )
    defs = definitions(defs_dir)
    schedule = schedule_of(defs, "hourly")
    record_prior_run(instance, defs, "hourly", "job_a", T0)

    requests = evaluate(schedule, instance, T0 + timedelta(hours=5))

    expected = [T0 + timedelta(hours=k) for k in range(1, 6)]
    assert scheduled_times(requests) == expected
    run_keys = [r.run_key for r in requests]
    assert all(run_keys) and len(set(run_keys)) == 5
    for request in requests:
        assert request.run_key == f"hourly@{request.tags[SCHEDULED_TIME_TAG]}"
        assert request.tags["hourly"] == ""
        assert request.tags["dwh/trigger"] == "hourly"
        assert request.tags["dagster/schedule_name"] == "hourly"


def test_catchup_true_after_the_catchup_runs_only_the_new_tick(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    """Once the missed ticks ran, the next tick requests itself only."""
    defs_dir = write_small_project(
        write_project, {"hourly": cron_trigger("hourly", "0 * * * *", catchup=True)}
    )
    defs = definitions(defs_dir)
    schedule = schedule_of(defs, "hourly")
    record_prior_run(instance, defs, "hourly", "job_a", T0)
    for request in evaluate(schedule, instance, T0 + timedelta(hours=3)):
        # the daemon launches each request: a run with the request's tags
        instance.create_run_for_job(job_def=defs.resolve_job_def("job_a"), tags=request.tags)

    requests = evaluate(schedule, instance, T0 + timedelta(hours=4))
    assert scheduled_times(requests) == [T0 + timedelta(hours=4)]


def test_catchup_true_ignores_a_late_reexecution_of_an_older_tick(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project, {"hourly": cron_trigger("hourly", "0 * * * *", catchup=True)}
    )
    defs = definitions(defs_dir)
    job_def = defs.resolve_job_def("job_a")
    runs = [record_prior_run(instance, defs, "hourly", "job_a", T0 + timedelta(hours=k)) for k in range(4)]
    # after the tick of T0+3h ran, the run of T0+1h is re-executed with its tags (as the UI and
    # Dagster's run retries do): a new run, created last, carrying the older scheduled time
    old = runs[1]
    instance.create_run_for_job(
        job_def=job_def,
        tags={**old.tags, "dagster/parent_run_id": old.run_id, "dagster/root_run_id": old.run_id},
    )

    requests = evaluate(schedule_of(defs, "hourly"), instance, T0 + timedelta(hours=4))

    assert scheduled_times(requests) == [T0 + timedelta(hours=4)], "T0+2h and T0+3h already ran"


def test_catchup_true_across_dst_in_the_schedule_timezone(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project,
        {"weekly": cron_trigger("weekly", "0 6 * * 0", timezone="Europe/Berlin", catchup=True)},
    )
    defs = definitions(defs_dir)
    record_prior_run(instance, defs, "weekly", "job_a", datetime(2024, 3, 24, 6, tzinfo=BERLIN))

    requests = evaluate(schedule_of(defs, "weekly"), instance, datetime(2024, 4, 14, 6, tzinfo=BERLIN))

    assert [t.astimezone(UTC) for t in scheduled_times(requests)] == [
        datetime(2024, 3, 31, 4, tzinfo=UTC),
        datetime(2024, 4, 7, 4, tzinfo=UTC),
        datetime(2024, 4, 14, 4, tzinfo=UTC),
    ]
    assert len({r.run_key for r in requests}) == 3


def test_catchup_true_never_ran_requests_the_current_tick_only(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project, {"hourly": cron_trigger("hourly", "0 * * * *", catchup=True)}
    )
    defs = definitions(defs_dir)
    # a run of another schedule does not count
    record_prior_run(instance, defs, "someone_else", "job_a", T0)
    requests = evaluate(schedule_of(defs, "hourly"), instance, T0 + timedelta(hours=5))
    assert scheduled_times(requests) == [T0 + timedelta(hours=5)]


@pytest.mark.parametrize("catchup", [False, None], ids=["catchup_false", "catchup_default"])
def test_catchup_false_runs_only_the_latest_tick(
    write_project: WriteProject, instance: dg.DagsterInstance, catchup: bool | None
) -> None:
    defs_dir = write_small_project(
        write_project, {"hourly": cron_trigger("hourly", "0 * * * *", catchup=catchup)}
    )
    defs = definitions(defs_dir)
    record_prior_run(instance, defs, "hourly", "job_a", T0)

    requests = evaluate(schedule_of(defs, "hourly"), instance, T0 + timedelta(hours=5))

    assert scheduled_times(requests) == [T0 + timedelta(hours=5)]
    assert requests[0].tags["dwh/trigger"] == "hourly"


def test_catchup_after_a_long_downtime_is_bounded(
    write_project: WriteProject, instance: dg.DagsterInstance
) -> None:
    defs_dir = write_small_project(
        write_project, {"every_15": cron_trigger("every_15", "*/15 * * * *", catchup=True)}
    )
    defs = definitions(defs_dir)
    record_prior_run(instance, defs, "every_15", "job_a", T0)
    missed = 3 * MAX_CATCHUP_TICKS
    now = T0 + timedelta(minutes=15 * missed)

    requests = evaluate(schedule_of(defs, "every_15"), instance, now)

    assert len(requests) == MAX_CATCHUP_TICKS
    # the newest ticks, oldest first, ending with the current one
    expected = [now - timedelta(minutes=15 * k) for k in reversed(range(MAX_CATCHUP_TICKS))]
    assert scheduled_times(requests) == expected
    assert len({r.run_key for r in requests}) == MAX_CATCHUP_TICKS

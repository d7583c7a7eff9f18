"""Triggers of partitioned jobs: each run loads the latest partition; ``catchup: true`` requests
every missed one (a range per run with ``backfill: single_run``, one run each with
``per_partition``). Schedules are evaluated on a real instance after real partition runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.partitions.support import DatedApi, serve, write_events_project

TICK = datetime(2024, 1, 10, 1, 0, tzinfo=UTC)


@pytest.fixture
def api(server: HTTPServer) -> DatedApi:
    dated = DatedApi()
    dated.fill(12)
    serve(server, dated)
    return dated


def _with_trigger(defs_dir: Path, catchup: bool) -> Path:
    (defs_dir / "triggers").mkdir(exist_ok=True)
    (defs_dir / "triggers" / "nightly.yaml").write_text(
        "trigger:\n"
        "  name: nightly\n"
        "  type: cron\n"
        "  job: events_job\n"
        f"  schedule: {{cron: '0 1 * * *', timezone: UTC, catchup: {str(catchup).lower()}}}\n"
    )
    return defs_dir


def _evaluate(defs_dir: Path, instance: dg.DagsterInstance) -> list[dg.RunRequest] | str:
    defs = build_definitions(load_project(defs_dir))
    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def("nightly")
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, repository_def=repository
    )
    result = schedule.evaluate_tick(context)
    if result.skip_message:
        return result.skip_message
    return list(result.run_requests or [])


def test_a_cron_trigger_of_a_partitioned_job_runs_the_latest_partition(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, dagster_home: Path
) -> None:
    defs_dir = _with_trigger(write_events_project(write_project, server), catchup=False)
    with dg.DagsterInstance.get() as instance:
        [request] = _evaluate(defs_dir, instance)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2024-01-09"  # the last complete day at 01:00 on the 10th


@pytest.mark.parametrize("backfill", ["single_run", "per_partition"])
def test_catchup_requests_every_missed_partition(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob, backfill: str
) -> None:
    defs_dir = _with_trigger(write_events_project(write_project, server, backfill=backfill), catchup=True)
    assert run_job(defs_dir, "events_job", partition_range=("2024-01-01", "2024-01-03")).success
    assert run_job(defs_dir, "events_job", partition_key="2024-01-06").success
    with dg.DagsterInstance.get() as instance:
        requests = _evaluate(defs_dir, instance)
    assert not isinstance(requests, str)
    if backfill == "per_partition":
        assert [r.partition_key for r in requests] == [
            "2024-01-04",
            "2024-01-05",
            "2024-01-07",
            "2024-01-08",
            "2024-01-09",
        ]
        assert requests[0].run_key == "nightly:2024-01-04"
    else:
        assert [r.partition_key for r in requests] == [None, None]
        assert [
            (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in requests
        ] == [("2024-01-04", "2024-01-05"), ("2024-01-07", "2024-01-09")]

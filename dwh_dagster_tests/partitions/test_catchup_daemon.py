"""Under the real ``dagster-daemon``, a ``catchup: true`` cron trigger of a partitioned job
launches the runs of the partitions that were never loaded (``backfill: single_run``: one run per
range of neighbouring ones), and they load exactly those days."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster_tests.automation.test_daemon import clean_env, daemon_command
from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.deployment.support import module_workspace
from dwh_dagster_tests.partitions.support import (
    DatedApi,
    day_keys,
    expected_rows,
    serve,
    table_rows,
    write_events_project,
)
from dwh_dagster_tests.processes import running, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

TIMEOUT = 240  # seconds: the next minute's tick, then the runs


def test_catchup_launches_the_missed_partitions_under_the_daemon(
    write_project: WriteProject, server: HTTPServer, run_job: RunJob, dagster_home: Path, tmp_path: Path
) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=6)
    days = day_keys(first.strftime("%Y-%m-%d"), 6)  # the six complete days before today
    api = DatedApi()
    api.fill(7, start=first)
    serve(server, api)
    defs_dir = write_events_project(
        write_project, server, partitions=f"{{type: daily, start: '{days[0]}'}}", backfill="single_run"
    )
    (defs_dir / "triggers").mkdir()
    (defs_dir / "triggers" / "catch_up.yaml").write_text(
        "trigger:\n  name: catch_up\n  type: cron\n  job: events_job\n"
        "  schedule: {cron: '* * * * *', timezone: UTC, catchup: true}\n"
    )
    assert run_job(defs_dir, "events_job", partition_key=days[3]).success  # one loaded already

    workspace = module_workspace(tmp_path / "workspace.yaml")
    log = tmp_path / "daemon.log"

    def schedule_runs() -> list[dg.DagsterRun]:
        with dg.DagsterInstance.get() as instance:
            return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": "catch_up"})))

    def all_done() -> bool:
        runs = schedule_runs()
        assert not [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE], log.read_text()[-3000:]
        return len(runs) >= 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)

    with running(
        daemon_command(workspace), clean_env(dagster_home, defs_dir), log, stop_signal=signal.SIGINT
    ) as d:
        wait_for(all_done, TIMEOUT, "the catch-up runs", {"the daemon": (d, log)})

    runs = sorted(schedule_runs(), key=lambda r: r.tags.get("dagster/asset_partition_range_start", ""))
    ranges = [
        (r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
        for r in runs
        if "dagster/asset_partition_range_start" in r.tags
    ]
    singles = [r.tags["dagster/partition"] for r in runs if "dagster/partition" in r.tags]
    assert sorted(ranges) == [(days[0], days[2]), (days[4], days[5])], (ranges, singles)
    assert singles == []
    assert len(runs) == 2  # each missed range once, none of the loaded day
    assert table_rows(defs_dir) == expected_rows(api, days)

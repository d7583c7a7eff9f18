"""``dwh backfill`` and ``dwh run --partition`` on a real instance against the local dated API."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.backfill_command import RANGE_RUN_SETTINGS
from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.partitions.support import (
    DatedApi,
    day_keys,
    expected_rows,
    table_rows,
    write_events_project,
)


def _runs(backfill_line: str) -> list[dg.DagsterRun]:
    backfill_id = backfill_line.split()[1]
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags={"dwh/backfill": backfill_id})))


def test_a_single_run_backfill_loads_the_range_in_one_run_and_resumes(
    write_project: WriteProject,
    server: HTTPServer,
    api: DatedApi,
    dagster_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    defs_dir = write_events_project(write_project, server)
    days = day_keys("2024-01-01", 30)
    args = ["backfill", "events_job", "--defs", str(defs_dir), "--from", days[0], "--to", days[-1]]

    assert main(["run", "events_job", "--defs", str(defs_dir), "--partition", days[10]]) == 0
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(line for line in out if line.startswith("backfill "))
    assert "30 partitions 2024-01-01 .. 2024-01-30, 29 to load, 1 already loaded" in header
    assert sum(1 for line in out if "  loaded  (run " in line) == 29  # one line per partition
    assert len(_runs(header)) == 2  # the ranges before and after the day loaded by dwh run
    assert table_rows(defs_dir) == expected_rows(api, days)

    assert main(args) == 0  # resumable: nothing left to load
    out = capsys.readouterr().out
    assert "0 to load, 30 already loaded" in out
    assert main([*args, "--all"]) == 0
    out = capsys.readouterr().out
    assert "30 to load" in out
    (whole,) = _runs(next(line for line in out.splitlines() if line.startswith("backfill ")))
    assert table_rows(defs_dir) == expected_rows(api, days)
    with dg.DagsterInstance.get() as instance:
        planned = instance.get_records_for_run(
            whole.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        materialized = instance.get_records_for_run(
            whole.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=100
        ).records
    assert len(planned) == 1  # one planned event for the range (RANGE_RUN_SETTINGS), not 30
    assert len(materialized) == 30  # one per partition, as Dagster records them
    assert not set(RANGE_RUN_SETTINGS) & set(os.environ)  # set for the backfill only


def test_a_per_partition_backfill_goes_on_after_a_failure_and_retries_it(
    write_project: WriteProject,
    server: HTTPServer,
    api: DatedApi,
    dagster_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    defs_dir = write_events_project(write_project, server, backfill="per_partition")
    days = day_keys("2024-01-01", 5)
    args = ["backfill", "events_job", "--defs", str(defs_dir), "--from", days[0], "--to", days[-1]]
    api.failing_days.add(days[2])
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"  {days[2]}  FAILED" in out
    assert "1 partitions failed" in out
    assert table_rows(defs_dir) == expected_rows(api, [d for d in days if d != days[2]])

    api.failing_days.clear()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 to load, 4 already loaded" in out
    assert table_rows(defs_dir) == expected_rows(api, days)


def test_partition_mistakes_are_named(
    write_project: WriteProject,
    server: HTTPServer,
    api: DatedApi,
    dagster_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    defs_dir = write_events_project(write_project, server)
    assert (
        main(["backfill", "events_job", "--defs", str(defs_dir), "--from", "2024-01-3", "--to", "2024-01-05"])
        == 2
    )
    err = capsys.readouterr().err
    assert "--from '2024-01-3' is not a partition of this job" in err
    assert "(partitions: '2024-01-01' to '" in err
    assert (
        main(
            ["backfill", "events_job", "--defs", str(defs_dir), "--from", "2024-01-09", "--to", "2024-01-05"]
        )
        == 2
    )
    assert "--from '2024-01-09' comes after --to '2024-01-05'" in capsys.readouterr().err
    plain = write_events_project(write_project, server, partitions=None)
    assert main(["run", "events_job", "--defs", str(plain), "--partition", "2024-01-05"]) == 2
    assert (
        "job 'events_job' has no partitioned pipeline or transformation, so it has no partitions"
        in capsys.readouterr().err
    )

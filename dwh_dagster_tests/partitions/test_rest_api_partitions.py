"""Partitioned loads from a local HTTP API of dated records into DuckDB, run on a real instance.

Each partition loads exactly its window's records; a range (single run or one run per partition)
gives each record of its days once; re-running a day after the source changed replaces that day
only; the pipeline's moving cursor is not touched by partition runs.
"""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.partitions.support import (
    DatedApi,
    day_keys,
    expected_rows,
    table_rows,
    write_events_project,
)


def test_one_partition_loads_only_its_window(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_events_project(write_project, server)
    result = run_job(defs_dir, "events_job", partition_key="2024-01-02")
    assert result.success
    assert table_rows(defs_dir) == expected_rows(api, ["2024-01-02"])
    assert api.requests == [{"since": "2024-01-02T00:00:00+00:00", "until": "2024-01-03T00:00:00+00:00"}]


@pytest.mark.parametrize("write_disposition", ["merge", "append", "replace"])
def test_a_30_day_range_in_one_run_loads_each_record_once(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob, write_disposition: str
) -> None:
    defs_dir = write_events_project(write_project, server, write_disposition=write_disposition)
    days = day_keys("2024-01-01", 30)
    for _ in range(2):  # and again: still once
        result = run_job(defs_dir, "events_job", partition_range=(days[0], days[-1]))
        assert result.success
        assert table_rows(defs_dir) == expected_rows(api, days)
    assert api.requests[-1] == {"since": "2024-01-01T00:00:00+00:00", "until": "2024-01-31T00:00:00+00:00"}
    assert len(api.requests) == 2  # one request per run for the whole range


def test_one_run_per_partition_gives_the_same_table(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_events_project(
        write_project, server, backfill="per_partition", write_disposition="append"
    )
    days = day_keys("2024-01-01", 30)
    for day in [*days, days[3], days[17]]:  # two of them twice
        assert run_job(defs_dir, "events_job", partition_key=day).success
    assert table_rows(defs_dir) == expected_rows(api, days)


def test_rerunning_a_day_after_the_source_changed_replaces_that_day_only(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_events_project(write_project, server, write_disposition="append")
    days = day_keys("2024-01-01", 10)
    assert run_job(defs_dir, "events_job", partition_range=(days[0], days[-1])).success
    before = {row for row in table_rows(defs_dir) if row[3] != "2024-01-05"}

    changed = api.on_day("2024-01-05")
    api.records[changed[0]["id"]]["amount"] = -1  # changed
    del api.records[changed[1]["id"]]  # deleted
    api.records[999] = {"id": 999, "updated_at": "2024-01-05T23:59:59Z", "amount": 5}  # added
    api.records[changed[2]["id"]]["updated_at"] = "2024-01-20T01:00:00Z"  # moved out of the range
    assert run_job(defs_dir, "events_job", partition_key="2024-01-05").success

    rows = table_rows(defs_dir)
    assert [row for row in rows if row[3] == "2024-01-05"] == expected_rows(api, ["2024-01-05"])
    assert {row for row in rows if row[3] != "2024-01-05"} == before  # other days untouched


def test_a_day_emptied_at_the_source_is_emptied_in_the_table(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_events_project(write_project, server, write_disposition="merge")
    days = day_keys("2024-01-01", 5)
    assert run_job(defs_dir, "events_job", partition_range=(days[0], days[-1])).success
    for record in api.on_day("2024-01-03"):
        del api.records[record["id"]]
    assert run_job(defs_dir, "events_job", partition_range=("2024-01-02", "2024-01-03")).success
    assert table_rows(defs_dir) == expected_rows(api, days)
    assert run_job(defs_dir, "events_job", partition_key="2024-01-03").success  # an empty window alone
    assert table_rows(defs_dir) == expected_rows(api, days)


def test_partition_runs_neither_use_nor_move_the_moving_cursor(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    plain = write_events_project(write_project, server, partitions=None)
    assert run_job(plain, "events_job").success
    assert api.requests == [{"since": "2024-01-01T00:00:00Z"}]  # the moving cursor's first run
    last = max(r["updated_at"] for r in api.records.values())

    partitioned = write_events_project(write_project, server)
    assert run_job(partitioned, "events_job", partition_range=("2024-01-01", "2024-01-10")).success
    assert run_job(partitioned, "events_job", partition_key="2024-02-05").success
    assert api.requests[1:] == [
        {"since": "2024-01-01T00:00:00+00:00", "until": "2024-01-11T00:00:00+00:00"},
        {"since": "2024-02-05T00:00:00+00:00", "until": "2024-02-06T00:00:00+00:00"},
    ]

    plain = write_events_project(write_project, server, partitions=None)
    assert run_job(plain, "events_job").success
    assert api.requests[-1] == {"since": last}  # where the moving cursor stopped, not moved since


def test_a_failed_partition_leaves_the_others_loaded_and_reruns_alone(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_events_project(write_project, server, backfill="per_partition")
    days = day_keys("2024-01-01", 6)
    api.failing_days.add("2024-01-04")
    outcomes = {day: run_job(defs_dir, "events_job", partition_key=day).success for day in days}
    assert outcomes == {day: day != "2024-01-04" for day in days}
    assert table_rows(defs_dir) == expected_rows(api, [d for d in days if d != "2024-01-04"])

    api.failing_days.clear()
    assert run_job(defs_dir, "events_job", partition_key="2024-01-04").success
    assert table_rows(defs_dir) == expected_rows(api, days)

"""Partitioned SQL transformations over partitioned loads, built on a real instance in DuckDB.

A partition run of a model computes its window's rows with ``{start}`` and ``{end}`` and replaces
only that window in the model's table; a range in one run gives every day once; a model
partitioned differently from what it reads maps partitions through ``partition_mapping``.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import RunJob, WriteProject, duckdb_rows
from dwh_dagster_tests.partitions.support import (
    DAILY_AMOUNTS,
    DatedApi,
    daily_amounts_rows,
    day_keys,
    expected_daily_amounts,
    write_models_project,
)

MONTHLY_AMOUNTS = """
    transformation:
      name: monthly_amounts
      destination: wh
      dataset_name: marts
      partitions: {type: monthly, start: '2024-01-01'}
      partition_mapping: {api.events: window}
      sql: |
        select count(*) as events, sum(amount) as amount
        from api.events
        where updated_at >= {start} and updated_at < {end}
"""


def test_a_partition_run_builds_only_its_window_and_a_range_builds_each_day_once(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_models_project(write_project, server)
    days = day_keys("2024-01-01", 30)
    result = run_job(defs_dir, "events_job", partition_key=days[4])
    assert result.success
    assert daily_amounts_rows(defs_dir) == expected_daily_amounts(api, [days[4]])
    for _ in range(2):  # a single-run range, twice: every day once
        result = run_job(defs_dir, "events_job", partition_range=(days[0], days[-1]))
        assert result.success
        assert daily_amounts_rows(defs_dir) == expected_daily_amounts(api, days)
    built = [
        e.event_specific_data.materialization  # type: ignore[union-attr]
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["marts", "daily_amounts"])
    ]
    assert len(built) == 30  # one materialization per partition of the range
    assert built[0].metadata["dwh/action"].value == "30 partitions replaced (2024-01-01 .. 2024-01-30)"


def test_rerunning_a_day_after_the_source_changed_rebuilds_that_day_only(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_models_project(write_project, server)
    days = day_keys("2024-01-01", 10)
    assert run_job(defs_dir, "events_job", partition_range=(days[0], days[-1])).success
    before = daily_amounts_rows(defs_dir)
    changed = api.on_day("2024-01-05")
    with api.lock:
        api.records[changed[0]["id"]]["amount"] = 100_000
        del api.records[changed[1]["id"]]
        for record in api.on_day("2024-01-06"):  # outside the re-run window: not rebuilt
            record["amount"] += 1
    assert run_job(defs_dir, "events_job", partition_key="2024-01-05").success
    after = daily_amounts_rows(defs_dir)
    assert after[4] == ("2024-01-05", 3, sum(r["amount"] for r in api.on_day("2024-01-05")), "2024-01-05")
    assert after[:4] == before[:4] and after[5:] == before[5:]


def test_a_monthly_model_reads_the_days_of_its_month_through_its_mapping(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_models_project(
        write_project,
        server,
        {
            "transformations/monthly_amounts.yaml": MONTHLY_AMOUNTS,
            "jobs/monthly.yaml": "job: {name: monthly, transformations: [{name: monthly_amounts}]}\n",
        },
    )
    defs = build_definitions(load_project(defs_dir, "dev"))
    graph = defs.resolve_asset_graph()
    monthly = graph.get(dg.AssetKey(["marts", "monthly_amounts"]))
    assert monthly.partitions_def is not None
    assert monthly.partitions_def.get_partition_keys()[0] == "2024-01-01"
    january = day_keys("2024-01-01", 31)
    assert run_job(defs_dir, "events_job", partition_range=(january[0], january[-1])).success
    assert run_job(defs_dir, "monthly", partition_key="2024-01-01").success
    rows = duckdb_rows(
        defs_dir.parent / "wh.duckdb", "select events, amount, _dwh_partition from marts.monthly_amounts"
    )
    amounts = [r["amount"] for day in january for r in api.on_day(day)]
    assert rows == [(len(amounts), sum(amounts), "2024-01-01")]


def test_an_unpartitioned_model_in_a_partitioned_job_rebuilds_whole(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_models_project(
        write_project,
        server,
        {
            "transformations/totals.yaml": """
            transformation:
              name: totals
              destination: wh
              dataset_name: marts
              sql: select count(*) as events from api.events
        """,
            "jobs/events_job.yaml": (
                "job: {name: events_job, pipelines: [{name: load_events}], "
                "transformations: [{name: daily_amounts}, {name: totals}]}\n"
            ),
        },
    )
    for day in ("2024-01-02", "2024-01-03"):
        assert run_job(defs_dir, "events_job", partition_key=day).success
    assert duckdb_rows(defs_dir.parent / "wh.duckdb", "select events from marts.totals") == [(8,)]


def test_a_model_whose_columns_changed_fails_with_how_to_rebuild(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    defs_dir = write_models_project(write_project, server)
    assert run_job(defs_dir, "events_job", partition_key="2024-01-02").success
    write_project(
        {"transformations/daily_amounts.yaml": DAILY_AMOUNTS.replace("as events,", "as events, 1 as extra,")}
    )
    result = run_job(defs_dir, "events_job", partition_key="2024-01-03")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.cause.message  # type: ignore[union-attr]
    assert "the query's columns (day, events, extra, amount) differ from marts.daily_amounts's" in message
    assert "drop marts.daily_amounts and backfill every partition" in message
    assert daily_amounts_rows(defs_dir) == expected_daily_amounts(
        api, ["2024-01-02"]
    )  # the table is as it was


def test_dwh_backfill_builds_the_models_of_a_job(
    write_project: WriteProject,
    server: HTTPServer,
    api: DatedApi,
    dagster_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    defs_dir = write_models_project(write_project, server)
    days = day_keys("2024-01-01", 7)
    args = ["backfill", "events_job", "--defs", str(defs_dir), "--from", days[0], "--to", days[-1]]
    assert main(args) == 0
    assert daily_amounts_rows(defs_dir) == expected_daily_amounts(api, days)
    assert "7 to load" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            (
                "partitions: {type: daily, start: '2024-01-01'}",
                "partitions: {type: monthly, start: '2024-01-01'}",
            ),
            "is monthly from 2024-01-01 (UTC) but reads 'api.events' (pipeline 'load_events'), "
            "which is daily",
        ),
        (("group by all", "group by all\n    "), None),
        (
            ("      partitions:", "      materialized: view\n      partitions:"),
            "it cannot be materialized: view",
        ),
        (
            ("where updated_at >= {start} and updated_at < {end}", "where true"),
            "uses neither {start} nor {end}",
        ),
        (("updated_at >= {start}", "updated_at >= '{start}'"), "'{start}' is quoted"),
    ],
)
def test_partitioned_model_rules(
    write_project: WriteProject, server: HTTPServer, change: tuple[str, str], expected: str | None
) -> None:
    assert change[0] in DAILY_AMOUNTS
    defs_dir = write_models_project(
        write_project, server, {"transformations/daily_amounts.yaml": DAILY_AMOUNTS.replace(*change)}
    )
    if expected is None:
        load_project(defs_dir, "dev")
        return
    with pytest.raises(ProjectConfigError) as caught:
        load_project(defs_dir, "dev")
    assert expected in str(caught.value)


def test_checks_of_a_partitioned_model_run_on_its_table(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, run_job: RunJob
) -> None:
    checked = DAILY_AMOUNTS + (
        "      checks:\n"
        "        - {type: not_null, columns: [day, _dwh_partition]}\n"
        "        - {type: unique, columns: [day]}\n"
    )
    defs_dir = write_models_project(write_project, server, {"transformations/daily_amounts.yaml": checked})
    days = day_keys("2024-01-01", 5)
    result = run_job(defs_dir, "events_job", partition_range=(days[0], days[-1]))
    assert result.success
    outcomes = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert outcomes == {"not_null_day__dwh_partition": True, "unique_day": True}

"""The offline demo loads the committed sample data into DuckDB, incrementally and idempotently."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.cli import main
from dwh_dagster.sample_data import generate
from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS, RunJob, duckdb_rows


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A copy of the shipped yaml_defs and sample data, so runs write inside tmp_path."""
    shutil.copytree(YAML_DEFS, tmp_path / "yaml_defs")
    shutil.copytree(REPO_ROOT / "sample_data", tmp_path / "sample_data")
    return tmp_path / "yaml_defs"


def test_committed_sample_data_matches_the_generator(tmp_path: Path) -> None:
    for generated in generate(tmp_path / "regenerated"):
        committed = REPO_ROOT / "sample_data" / generated.name
        assert committed.read_bytes() == generated.read_bytes(), f"regenerate {committed.name}"


def test_demo_job_loads_every_table(demo_project: Path, run_job: RunJob) -> None:
    result = run_job(demo_project, "demo_job")
    assert result.success
    database = demo_project.parent / "data" / "dwh_dev.duckdb"
    counts = {
        table: duckdb_rows(database, f"select count(*) from demo.{table}")[0][0]
        for table in ("customers", "orders", "orders__items", "payments")
    }
    assert counts["customers"] == 50
    assert counts["orders"] == 200
    assert counts["payments"] == 200
    assert counts["orders__items"] >= 200
    metadata = {
        event.asset_key.to_user_string(): event.event_specific_data.materialization.metadata  # type: ignore[union-attr]
        for event in result.get_asset_materialization_events()
    }
    assert set(metadata) == {
        "demo/customers",
        "demo/orders",
        "demo/payments",
        "analytics/stg_orders",
        "analytics/customer_orders",
        "analytics/daily_revenue",
        "analytics/sku_sales",
    }
    assert metadata["demo/orders"]["rows_loaded"].value == 200
    assert metadata["demo/orders"]["dagster/row_count"].value == 200
    assert metadata["demo/orders"]["dwh/load_id"].value != "-"
    columns = {c.name for c in metadata["demo/customers"]["dagster/column_schema"].value.columns}
    assert {"id", "email", "country"} <= columns
    # the demo's checks: every one passes on the sample data but the warn check made to fail
    evaluations = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    outcome = {f"{c.asset_key.to_user_string()}:{c.check_name}": c.passed for c in evaluations}  # type: ignore[union-attr]
    assert len(outcome) == 8
    assert [name for name, passed in outcome.items() if not passed] == ["demo/orders:orders_below_1000"]
    [warned] = [c for c in evaluations if c.check_name == "orders_below_1000"]  # type: ignore[union-attr]
    assert warned.severity == dg.AssetCheckSeverity.WARN  # type: ignore[union-attr]
    assert warned.metadata["dwh/failing_rows"].value == 20  # type: ignore[union-attr]


def test_demo_job_builds_the_analytics_models_over_the_loaded_tables(
    demo_project: Path, run_job: RunJob
) -> None:
    assert run_job(demo_project, "demo_job").success
    database = demo_project.parent / "data" / "dwh_dev.duckdb"
    assert duckdb_rows(database, "select count(*) from analytics.stg_orders") == [(200,)]
    assert duckdb_rows(database, "select count(*), sum(orders) from analytics.customer_orders") == [(50, 200)]
    revenue = duckdb_rows(database, "select sum(amount) from demo.orders where status <> 'returned'")[0][0]
    assert duckdb_rows(database, "select sum(revenue) from analytics.daily_revenue") == [(revenue,)]
    items = duckdb_rows(database, "select sum(quantity) from demo.orders__items")[0][0]
    assert duckdb_rows(database, "select sum(units) from analytics.sku_sales") == [(items,)]
    # a second run merges the incremental model: the same days, no duplicates
    assert run_job(demo_project, "demo_job").success
    assert duckdb_rows(
        database, "select count(*) = count(distinct order_date) from analytics.daily_revenue"
    ) == [(True,)]
    assert duckdb_rows(database, "select sum(revenue) from analytics.daily_revenue") == [(revenue,)]


@pytest.mark.slow
def test_second_run_is_incremental_and_merge_never_duplicates(
    demo_project: Path, run_job: RunJob, dagster_home: Path
) -> None:
    assert run_job(demo_project, "demo_job").success
    shutil.rmtree(dagster_home / "dwh_state", ignore_errors=True)  # a lost local folder
    second = run_job(demo_project, "demo_job")
    assert second.success
    loaded = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata["rows_loaded"].value  # type: ignore[union-attr]
        for e in second.get_asset_materialization_events()
        if e.asset_key.path[0] == "demo"  # the loaded tables (the models have no rows_loaded)
    }
    assert loaded["demo/orders"] == 0  # no file changed: the cursor came back from the destination
    database = demo_project.parent / "data" / "dwh_dev.duckdb"
    assert duckdb_rows(database, "select count(*), count(distinct id) from demo.customers")[0] == (50, 50)
    assert duckdb_rows(database, "select count(*) from demo.payments")[0][0] == 200


def test_single_table_can_be_materialized_alone(demo_project: Path, run_job: RunJob) -> None:
    result = run_job(demo_project, "demo_job", asset_selection=[["demo", "payments"]])
    assert result.success
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == [
        "demo/payments"
    ]
    database = demo_project.parent / "data" / "dwh_dev.duckdb"
    tables = {
        r[0]
        for r in duckdb_rows(
            database, "select table_name from information_schema.tables where table_schema = 'demo'"
        )
    }
    assert "payments" in tables and "customers" not in tables


def test_dwh_run_prints_each_table_and_its_row_count(
    demo_project: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "demo_job", "--defs", str(demo_project)]) == 0
    out = capsys.readouterr().out
    assert "demo/customers" in out and "demo/orders" in out and "demo/payments" in out
    assert "job demo_job succeeded" in out
    line = next(line for line in out.splitlines() if line.startswith("demo/orders"))
    assert line.split()[1:] == ["200", "200"]


@pytest.mark.slow
def test_dwh_run_exits_non_zero_when_a_step_fails(
    demo_project: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(demo_project.parent / "sample_data")
    (demo_project.parent / "sample_data").mkdir()
    (demo_project.parent / "sample_data" / "payments.parquet").write_text("not parquet")
    assert main(["run", "demo_job", "--defs", str(demo_project)]) == 1
    captured = capsys.readouterr()
    assert "FAILED load_demo_to_duckdb" in captured.err
    assert "job demo_job failed" in captured.out


@pytest.mark.slow
def test_failed_step_keeps_its_dlt_folder_under_dwh_state_dir(
    demo_project: Path, run_job: RunJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("DWH_STATE_DIR", str(state))
    (demo_project.parent / "sample_data" / "payments.parquet").write_text("not parquet")
    result = run_job(demo_project, "demo_job")
    assert not result.success
    kept = list((state / "demo_to_duckdb").iterdir())
    assert [p.name for p in kept] == [result.run_id]
    (demo_project.parent / "sample_data" / "payments.parquet").unlink()
    # the loads alone: with no payments file, the demo's models have no payments table to read
    loads = [["demo", "customers"], ["demo", "orders"], ["demo", "payments"]]
    assert run_job(demo_project, "demo_job", asset_selection=loads).success
    assert {p.name for p in (state / "demo_to_duckdb").iterdir()} == {result.run_id}  # success cleans up


def test_runs_switch_dlt_telemetry_off(
    demo_project: Path, run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNTIME__DLTHUB_TELEMETRY", raising=False)
    assert run_job(demo_project, "demo_job", asset_selection=[["demo", "customers"]]).success
    import dlt

    assert dlt.config["runtime.dlthub_telemetry"] in (False, "false")

"""Checks on SQL models, evaluated by real runs in real DuckDB files (and the PostgreSQL).

The shop project of ``transformation_support.py`` loads customers (1 ada, 2 alan, 3 grace) and
orders; the model ``stg_orders`` copies the orders it is given, and ``big_orders`` reads it. Each
test plants its bad rows in the orders file and asserts on exactly the failures it planted.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.orchestration.transformation_support import tables_in, write_shop_project

pytestmark = pytest.mark.slow

JOB = """
    job:
      name: all
      pipelines: [{name: crm}, {name: shop}]
      transformations: [{name: stg_orders}, {name: big_orders}]
      notifications: {on_failure: false}
"""


def _models(checks: str) -> dict[str, str]:
    indented = "\n".join("            " + line for line in checks.strip().splitlines())
    return {
        "stg_orders": f"""
        transformation:
          name: stg_orders
          destination: wh
          dataset_name: analytics
          sql: select order_id, customer_id, amount from ds_shop.orders
          checks:
{indented}
        """,
        "big_orders": """
        transformation:
          name: big_orders
          destination: wh
          dataset_name: analytics
          sql: select order_id, amount from analytics.stg_orders where amount >= 10
        """,
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    out = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            out[evaluation.check_name] = evaluation
    return out


def _failing(evaluation: dg.AssetCheckEvaluation) -> int | None:
    value = evaluation.metadata.get("dwh/failing_rows")
    return None if value is None else int(value.value)  # type: ignore[arg-type]


ALL_TYPES = """
- {type: not_null, columns: [order_id, amount]}
- {type: unique, columns: [order_id]}
- {type: accepted_values, column: customer_id, values: [1, 2, 3]}
- {type: row_count, min: 1, max: 100}
- {type: relationships, column: customer_id, to: ds_crm.customers, field: id}
- {type: expression, expression: "amount >= 0"}
- {type: sql, name: no_huge_orders, sql: "select * from {table} where amount > 1000"}
- {type: schema, columns: {order_id: bigint, amount: double}}
"""


def test_every_check_type_passes_on_clean_data(write_project: WriteProject, run_job: RunJob) -> None:
    orders = [(1, 1, 10.0), (2, 1, 5.0), (3, 2, 7.5), (4, 3, 20.0)]
    defs = write_shop_project(write_project, {"all": JOB}, models=_models(ALL_TYPES), orders=orders)
    result = run_job(defs, "all")
    assert result.success
    checks = _checks(result)
    assert set(checks) == {
        "not_null_order_id_amount",
        "unique_order_id",
        "accepted_values_customer_id",
        "row_count",
        "relationships_customer_id",
        "expression",
        "no_huge_orders",
        "schema",
    }
    assert all(c.passed for c in checks.values()), {n: c.metadata for n, c in checks.items() if not c.passed}
    assert "big_orders" in tables_in(defs.parent, "analytics")


def test_planted_bad_rows_fail_exactly_their_checks_and_block_the_model_over_it(
    write_project: WriteProject, run_job: RunJob
) -> None:
    orders = [
        (1, 1, 10.0),
        (2, 1, None),  # a null amount
        (3, 9, 7.5),  # customer 9 does not exist, and is not an accepted value
        (4, 3, -2.0),  # a negative amount
        (5, 3, 5000.0),  # a huge order
    ]
    defs = write_shop_project(write_project, {"all": JOB}, models=_models(ALL_TYPES), orders=orders)  # type: ignore[arg-type]
    result = run_job(defs, "all")
    assert not result.success
    checks = _checks(result)
    failed = {name: _failing(c) for name, c in checks.items() if not c.passed}
    assert failed == {
        "not_null_order_id_amount": 1,
        "accepted_values_customer_id": 1,
        "relationships_customer_id": 1,
        "expression": 1,
        "no_huge_orders": 1,
    }
    sample = str(checks["relationships_customer_id"].metadata["dwh/failing_sample"].value)
    assert "| 3 | 9 | 7.5 |" in sample
    # the blocking failures keep the model that reads stg_orders from being built
    assert "big_orders" not in tables_in(defs.parent, "analytics")
    assert "stg_orders" in tables_in(defs.parent, "analytics")  # the data stays, as in dbt


def test_warn_checks_fail_as_warnings_and_block_nothing(write_project: WriteProject, run_job: RunJob) -> None:
    checks = """
- {type: expression, name: positive, expression: "amount > 0", severity: warn}
- {type: not_null, columns: [amount], where: "customer_id = 1", severity: warn}
"""
    orders = [(1, 1, 10.0), (2, 2, -1.0), (3, 3, None)]
    defs = write_shop_project(write_project, {"all": JOB}, models=_models(checks), orders=orders)  # type: ignore[arg-type]
    result = run_job(defs, "all")
    assert result.success
    found = _checks(result)
    assert not found["positive"].passed and found["positive"].severity == dg.AssetCheckSeverity.WARN
    assert _failing(found["positive"]) == 1  # the null amount passes an expression check
    assert found["not_null_amount"].passed  # where: only customer 1's rows are checked
    assert "big_orders" in tables_in(defs.parent, "analytics")


def _with_pipeline_checks(defs: Path, checks: str) -> None:
    path = defs / "pipelines" / "shop.yaml"
    indented = "\n".join("    " + line for line in checks.strip().splitlines())
    path.write_text(path.read_text() + f"  checks:\n    orders:\n{indented}\n")


def test_checks_on_a_loaded_table_run_after_the_load_and_block_the_models_over_it(
    write_project: WriteProject, run_job: RunJob
) -> None:
    from dwh_dagster.config.naming import pipeline_op_name, transformation_op_name

    orders = [(1, 1, 10.0), (1, 2, 5.0), (3, 9, 7.5)]  # merged on order_id: 1 is loaded once
    models = {k: v for k, v in _models("- {type: row_count, min: 1}").items()}
    defs = write_shop_project(write_project, {"all": JOB}, models=models, orders=orders)
    _with_pipeline_checks(
        defs,
        """
- {type: relationships, column: customer_id, to: ds_crm.customers, field: id}
- {type: row_count, min: 5, severity: warn}
""",
    )
    result = run_job(defs, "all")
    assert not result.success
    checks = _checks(result)
    assert checks["relationships_customer_id"].asset_key == dg.AssetKey(["ds_shop", "orders"])
    assert (
        not checks["relationships_customer_id"].passed and _failing(checks["relationships_customer_id"]) == 1
    )
    assert not checks["row_count"].passed  # the warn check on orders
    failed = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE}
    assert failed == {pipeline_op_name("shop")}  # the load itself is committed: the check failed after
    assert tables_in(defs.parent, "ds_shop") >= {"orders"}
    # no model over the orders is built in this run: Dagster never starts the transform step
    assert not tables_in(defs.parent, "analytics")
    assert transformation_op_name("wh") not in {
        e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START
    }
    # a failure notification names the failed checks with their failing rows
    from dwh_dagster.notifications.sensors import summarize_run

    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        text = summarize_run(instance, run, "dev", "FAILURE").text()
    assert "failed check ds_shop/orders:relationships_customer_id (error): 1 failing rows" in text
    assert "failed check ds_shop/orders:row_count (warn): 2 rows, expected at least 5" in text


def test_dwh_run_prints_each_check_and_exits_1_on_a_blocking_failure(
    write_project: WriteProject, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dwh_dagster.cli import main

    checks = """
- {type: expression, expression: "amount > 0", severity: warn}
- {type: unique, columns: [order_id]}
- {type: row_count, min: 10}
"""
    orders = [(1, 1, 10.0), (2, 2, -1.0)]
    defs = write_shop_project(write_project, {"all": JOB}, models=_models(checks), orders=orders)
    assert main(["run", "all", "--defs", str(defs)]) == 1
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["analytics/stg_orders:expression", "warn", "1"] in lines
    assert ["analytics/stg_orders:unique_order_id", "pass", "0"] in lines
    assert [
        "analytics/stg_orders:row_count",
        "FAIL",
        "-",
        "2",
        "rows,",
        "expected",
        "at",
        "least",
        "10",
    ] in lines


def test_dwh_check_runs_the_checks_alone_on_the_data_as_it_is(
    write_project: WriteProject, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    from dwh_dagster.cli import main

    defs = write_shop_project(
        write_project, {"all": JOB}, models=_models("- {type: expression, expression: 'amount > 0'}")
    )
    _with_pipeline_checks(defs, "- {type: unique, columns: [order_id]}")
    orders = [(1, 1, 10.0), (2, 2, 5.0)]
    from dwh_dagster_tests.orchestration.transformation_support import write_orders

    write_orders(defs.parent, orders)
    assert main(["run", "all", "--defs", str(defs)]) == 0
    capsys.readouterr()
    with dg.DagsterInstance.get() as instance:
        before = len(instance.get_runs())
    # the data changes behind the project's back: the checks alone see it, nothing is loaded or built
    with duckdb.connect(str(defs.parent / "wh.duckdb")) as connection:
        connection.execute("update analytics.stg_orders set amount = -amount where order_id = 2")
        connection.execute("insert into ds_shop.orders select * from ds_shop.orders where order_id = 1")
    assert main(["check", "all", "--defs", str(defs)]) == 1
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["analytics/stg_orders:expression", "FAIL", "1"] in lines
    assert ["ds_shop/orders:unique_order_id", "FAIL", "1"] in lines
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == before + 2  # one per step: the load's checks, the models' checks
        materialized = [
            record
            for run in runs[:2]
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
        ]
    assert materialized == []  # nothing was loaded or rebuilt
    assert main(["check", "all", "--defs", str(defs), "--select", "stg_orders"]) == 1
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["analytics/stg_orders:expression", "FAIL", "1"] in lines
    assert not any(line and line[0].startswith("ds_shop/orders:") for line in lines)


@pytest.mark.parametrize("mode", ["sequential", "parallel", "dag"])
def test_a_blocking_check_of_a_load_stops_the_models_over_it_in_every_mode(
    mode: str, write_project: WriteProject, dagster_home: Path
) -> None:
    from dwh_dagster.config.naming import pipeline_op_name, transformation_op_name
    from dwh_dagster_tests.orchestration.support import EV, execute_job_like_the_daemon

    job = f"""
        job:
          name: all
          pipelines: [{{name: crm}}, {{name: shop}}]
          transformations: [{{name: stg_orders}}, {{name: big_orders}}]
          execution: {{mode: {mode}, continue_on_failure: true}}
          notifications: {{on_failure: false}}
    """
    orders = [(1, 1, 10.0), (2, 9, 5.0)]  # customer 9 does not exist
    defs = write_shop_project(
        write_project, {"all": job}, models=_models("- {type: row_count, min: 1}"), orders=orders
    )
    _with_pipeline_checks(
        defs, "- {type: relationships, column: customer_id, to: ds_crm.customers, field: id}"
    )
    events = execute_job_like_the_daemon(defs, "all", dagster_home)
    assert events.status == dg.DagsterRunStatus.FAILURE, events.output
    assert pipeline_op_name("shop") in {e.step_key for e in events.of_type(EV.STEP_FAILURE)}
    assert pipeline_op_name("crm") in {e.step_key for e in events.of_type(EV.STEP_SUCCESS)}
    assert transformation_op_name("wh") not in set(events.started_steps())
    assert not tables_in(defs.parent, "analytics")
    assert tables_in(defs.parent, "ds_shop") >= {"orders"}  # the load stays

"""Transformations built in real DuckDB files: each materialization, failures, readers, metadata."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster.transform.plan import build_transform_plans
from dwh_dagster.transform.runner import build_models
from dwh_dagster.transform.sessions import DuckDbSession
from dwh_dagster_tests.conftest import WriteProject, duckdb_rows

DESTINATION = """
destination:
  name: wh
  type: duckdb
  connection: {database: wh.duckdb}
  settings: {schema: analytics}
"""


def model(name: str, sql: str, materialized: str = "table", extra: str = "") -> str:
    """A transformation file in ``wh`` reading the seeded ``raw`` tables (declared external)."""
    body = "\n".join("    " + line for line in sql.strip().splitlines())
    return f"""
transformation:
  name: {name}
  destination: wh
  materialized: {materialized}
  external_tables: [raw.customers, raw.orders]
  sql: |
{body}
{extra}"""


def seed(database: Path, orders: list[tuple[int, int, str, float]]) -> None:
    """(Re)create raw.customers and raw.orders with the given orders."""
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema if not exists raw")
        connection.execute(
            "create or replace table raw.customers as "
            "select * from (values (1, 'ada'), (2, 'alan'), (3, 'grace')) t(id, name)"
        )
        connection.execute(
            "create or replace table raw.orders "
            "(order_id integer, customer_id integer, day date, amount double)"
        )
        if orders:
            connection.executemany("insert into raw.orders values (?, ?, ?, ?)", orders)


ORDERS = [(1, 1, "2024-01-01", 10.0), (2, 1, "2024-01-02", 5.0), (3, 2, "2024-01-02", 7.5)]


@pytest.fixture
def project(write_project: WriteProject) -> Any:
    """A writer of a project of ``wh`` plus the given transformation files; returns the defs dir."""

    def write(**models: str) -> Path:
        files = {"destinations/wh.yaml": DESTINATION}
        files.update({f"transformations/{name}.yaml": text for name, text in models.items()})
        root = write_project(files)
        seed(root.parent / "wh.duckdb", ORDERS)
        return root

    return write


def materialize(defs_dir: Path, *keys: str) -> dg.ExecuteInProcessResult:
    """Materialize the given asset keys (all transformations when none) on an ephemeral instance."""
    defs = build_definitions(load_project(defs_dir))
    job = defs.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey.from_user_string(k) for k in keys] or None
    if selection is None:
        selection = [
            key
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if defs.resolve_asset_graph().get(key).is_materializable
        ]
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=selection)


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Materialization metadata (plain values) by asset key."""
    out = {}
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[m.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    return out


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The error message of the run's failed step."""
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "no step failed"
    error = failures[0].event_specific_data.error  # type: ignore[union-attr]
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_table_model_is_built_with_row_count_schema_and_duration(project: Any) -> None:
    root = project(
        revenue=model(
            "revenue",
            """
            select c.name, sum(o.amount) as revenue
            from raw.orders o join raw.customers c on c.id = o.customer_id
            group by c.name
            """,
        )
    )
    result = materialize(root)
    assert result.success
    database = root.parent / "wh.duckdb"
    assert duckdb_rows(database, "select * from analytics.revenue order by name") == [
        ("ada", 15.0),
        ("alan", 7.5),
    ]
    meta = metadata(result)["analytics/revenue"]
    assert meta["dagster/row_count"] == 2
    assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == [
        ("name", "VARCHAR"),
        ("revenue", "DOUBLE"),
    ]
    assert meta["dwh/duration_seconds"] >= 0
    assert meta["dwh/action"] == "table created"

    seed(database, [*ORDERS, (4, 3, "2024-01-03", 1.0)])
    again = materialize(root)
    assert again.success
    assert duckdb_rows(database, "select count(*) from analytics.revenue") == [(3,)]
    assert metadata(again)["analytics/revenue"]["dwh/action"] == "table replaced"


def test_view_model_follows_its_table_and_can_become_a_table(
    project: Any, write_project: WriteProject
) -> None:
    root = project(big_orders=model("big_orders", "select * from raw.orders where amount > 6", "view"))
    assert materialize(root).success
    database = root.parent / "wh.duckdb"
    assert duckdb_rows(database, "select count(*) from analytics.big_orders") == [(2,)]
    assert duckdb_rows(
        database, "select table_type from information_schema.tables where table_name = 'big_orders'"
    ) == [("VIEW",)]
    seed(database, [*ORDERS, (4, 3, "2024-01-03", 100.0)])
    assert duckdb_rows(database, "select count(*) from analytics.big_orders") == [(3,)]  # a view: live

    (root / "transformations" / "big_orders.yaml").write_text(
        model("big_orders", "select * from raw.orders where amount > 6", "table")
    )
    assert materialize(root).success
    assert duckdb_rows(
        database, "select table_type from information_schema.tables where table_name = 'big_orders'"
    ) == [("BASE TABLE",)]
    (root / "transformations" / "big_orders.yaml").write_text(
        model("big_orders", "select order_id from raw.orders", "view")
    )
    assert materialize(root).success
    assert duckdb_rows(database, "select count(*) from analytics.big_orders") == [(4,)]


def test_incremental_model_merges_on_unique_key_without_duplicates(project: Any) -> None:
    root = project(
        daily=model(
            "daily",
            "select day, sum(amount) as revenue, count(*) as orders from raw.orders group by day",
            "incremental",
            "  unique_key: [day]\n"
            "  incremental_filter: \"day >= (select coalesce(max(day), date '1900-01-01') from {this})\"\n",
        )
    )
    database = root.parent / "wh.duckdb"
    first = materialize(root)
    assert first.success
    assert duckdb_rows(
        database, "select day::varchar, revenue, orders from analytics.daily order by day"
    ) == [
        ("2024-01-01", 10.0, 1),
        ("2024-01-02", 12.5, 2),
    ]
    # a late order for the last day and a new day: the last day is recomputed, the new one added
    seed(database, [*ORDERS, (4, 3, "2024-01-02", 1.0), (5, 3, "2024-01-03", 2.0)])
    second = materialize(root)
    assert second.success
    assert duckdb_rows(
        database, "select day::varchar, revenue, orders from analytics.daily order by day"
    ) == [
        ("2024-01-01", 10.0, 1),
        ("2024-01-02", 13.5, 3),
        ("2024-01-03", 2.0, 1),
    ]
    meta = metadata(second)["analytics/daily"]
    assert meta["dwh/rows_inserted"] == 2  # only the rows the filter lets through
    assert meta["dagster/row_count"] == 3
    assert meta["dwh/action"] == "merged"
    third = materialize(root)  # nothing new: the same rows again, still no duplicate
    assert third.success
    assert duckdb_rows(database, "select count(*), count(distinct day) from analytics.daily") == [(3, 3)]


def test_incremental_model_without_unique_key_appends_new_rows(project: Any) -> None:
    root = project(
        log=model(
            "order_log",
            "select order_id, amount from raw.orders",
            "incremental",
            '  incremental_filter: "order_id > (select coalesce(max(order_id), 0) from {this})"\n',
        )
    )
    database = root.parent / "wh.duckdb"
    assert materialize(root).success
    seed(database, [*ORDERS, (4, 3, "2024-01-03", 1.0)])
    assert materialize(root).success
    assert materialize(root).success
    assert duckdb_rows(database, "select order_id from analytics.order_log order by 1") == [
        (1,),
        (2,),
        (3,),
        (4,),
    ]


def test_a_model_over_a_model_is_built_after_it_in_one_step(project: Any) -> None:
    root = project(
        # names sort against the build order: the step must follow the reads, not the names
        a_top=model("a_top", "select name from analytics.z_base where revenue > 10"),
        z_base=model(
            "z_base",
            "select c.name, sum(o.amount) as revenue from raw.orders o "
            "join raw.customers c on c.id = o.customer_id group by c.name",
        ),
    )
    result = materialize(root)
    assert result.success
    steps = {e.step_key for e in result.all_events if e.is_step_success}
    assert steps == {"transform_wh"}
    order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert order == ["analytics/z_base", "analytics/a_top"]
    assert duckdb_rows(root.parent / "wh.duckdb", "select * from analytics.a_top") == [("ada",)]


def test_a_failed_statement_names_file_and_line_and_keeps_the_old_table(project: Any) -> None:
    good_sql = "select order_id, amount from raw.orders"
    root = project(
        totals=model("totals", good_sql),
        over_totals=model("over_totals", "select count(*) as n from analytics.totals"),
        independent=model("independent", "select count(*) as n from raw.customers"),
    )
    database = root.parent / "wh.duckdb"
    assert materialize(root).success
    # line 3 of the SQL fails at run time (a cast), not when it is parsed
    bad_sql = "select\n  order_id,\n  cast('not a number' as integer) as amount\nfrom raw.orders"
    (root / "transformations" / "totals.yaml").write_text(model("totals", bad_sql))
    seed(database, [*ORDERS, (4, 3, "2024-01-03", 1.0)])
    result = materialize(root)
    assert not result.success
    message = failure_message(result)
    yaml_file = root / "transformations" / "totals.yaml"
    sql_start = yaml_file.read_text().splitlines().index("  sql: |") + 2  # first SQL line, 1-based
    assert f"{yaml_file}:{sql_start + 2}: transformation 'totals' (analytics.totals) failed" in message
    assert "Conversion Error" in message
    assert "SQL line 3" in message
    assert "analytics.over_totals: not built, it reads totals which failed" in message
    # the old table is whole, the independent model was rebuilt, the dependent one kept its old rows
    assert duckdb_rows(database, "select count(*), sum(amount) from analytics.totals") == [(3, 22.5)]
    built = set(metadata(result))
    assert built == {"analytics/independent"}
    assert duckdb_rows(database, "select n from analytics.over_totals") == [(3,)]


def test_readers_see_the_old_table_or_the_new_one_while_it_is_rebuilt(project: Any) -> None:
    slow = (
        "select o.order_id, o.amount from raw.orders o, "
        "(select count(*) as n from range(100000000) r(x) where x % 7 = 3) slow"
    )
    root = project(wide=model("wide", slow), wide_view=model("wide_view", slow, "view"))
    database = root.parent / "wh.duckdb"
    plan = build_transform_plans(load_project(root))[0]
    session = DuckDbSession(database)
    try:
        assert not build_models(session, "duckdb", plan.models, print).failures
        seed(database, [*ORDERS, (4, 3, "2024-01-03", 1.0)])
        seen: list[object] = []
        stop = threading.Event()

        def read() -> None:
            reader = duckdb.connect(str(database))  # the same database instance as the session's
            try:
                while not stop.is_set():
                    try:
                        seen.append(reader.execute("select count(*) from analytics.wide").fetchall()[0][0])
                    except duckdb.Error as exc:  # pragma: no cover - what the test guards against
                        seen.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.002)
            finally:
                reader.close()

        thread = threading.Thread(target=read)
        thread.start()
        try:
            outcome = build_models(session, "duckdb", plan.models, print)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not outcome.failures
    finally:
        session.close()
    assert seen, "the reader never ran"
    assert set(seen) <= {3, 4}, sorted(set(map(str, seen)))
    assert seen.count(3) > 1, "the reader never read during the rebuild"
    assert seen[-1] == 4
    assert duckdb_rows(database, "select count(*) from analytics.wide_view") == [(4,)]


def test_the_sql_and_its_file_show_on_the_asset(project: Any) -> None:
    root = project(revenue=model("revenue", "select sum(amount) as revenue from raw.orders"))
    defs = build_definitions(load_project(root))
    spec = defs.resolve_assets_def(dg.AssetKey(["analytics", "revenue"])).specs_by_key[
        dg.AssetKey(["analytics", "revenue"])
    ]
    assert "select sum(amount) as revenue from raw.orders" in spec.metadata["dwh/sql"].value
    assert spec.metadata["dwh/sql"].value.startswith("```sql")
    assert spec.metadata["dwh/sql_file"].value.endswith("revenue.yaml:7")  # the first line of the SQL block
    assert spec.kinds == {"sql", "duckdb"}
    assert spec.group_name == "transformations"
    assert {d.asset_key for d in spec.deps} == {dg.AssetKey(["raw", "orders"])}
    external = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "orders"]))
    assert not external.is_materializable


def test_quick_models_report_in_one_message_and_a_failure_at_once(project: Any) -> None:
    """Each log message is an event of the run (some ms each): quick models share one message,
    a failure is written when it happens, before the models after it are built."""
    root = project(
        a=model("a", "select order_id from raw.orders"),
        b=model("b", "select order_id from analytics.a"),
        c=model("c", "select no_such_column from analytics.b"),
        d=model("d", "select 1 as one"),
    )
    database = root.parent / "wh.duckdb"
    plan = build_transform_plans(load_project(root))[0]
    messages: list[str] = []
    session = DuckDbSession(database)
    try:
        outcome = build_models(session, "duckdb", plan.models, messages.append)
    finally:
        session.close()
    assert [f.model.name for f in outcome.failures] == ["c"]
    assert len(messages) == 2
    first, last = (m.splitlines() for m in messages)
    assert [line.split(":")[0] for line in first[:2]] == ["analytics.a", "analytics.b"]
    assert "transformation 'c' (analytics.c) failed" in first[2]
    assert last == [line for line in last if line.startswith("analytics.d: table created, 1 rows in ")]

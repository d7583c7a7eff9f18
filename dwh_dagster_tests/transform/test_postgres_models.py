"""Transformations built in the machine's PostgreSQL through the destination's dlt SQL client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema
from dwh_dagster_tests.transform.test_duckdb_models import failure_message, materialize, metadata


@pytest.fixture
def schemas() -> Iterator[tuple[str, str]]:
    """A raw schema with seeded customers and orders, and an empty name for the models' schema."""
    with unique_schema("tr_raw", create=True) as raw, unique_schema("tr_an", create=False) as analytics:
        pg_query(
            f"create table \"{raw}\".customers as select * from (values (1, 'ada'), (2, 'alan')) t(id, name);"
            f'create table "{raw}".orders (order_id int, customer_id int, day date, amount numeric);'
            f"insert into \"{raw}\".orders values (1, 1, '2024-01-01', 10), (2, 1, '2024-01-02', 5), "
            f"(3, 2, '2024-01-02', 7.5)"
        )
        yield raw, analytics


def model(name: str, raw: str, sql: str, materialized: str = "table", extra: str = "") -> str:
    body = "\n".join("    " + line for line in sql.strip().splitlines())
    return f"""
transformation:
  name: {name}
  destination: pg
  materialized: {materialized}
  external_tables: [{raw}.customers, {raw}.orders]
  sql: |
{body}
{extra}"""


@pytest.fixture
def project(write_project: WriteProject, schemas: tuple[str, str]) -> Any:
    _raw, analytics = schemas

    def write(**models: str) -> Path:
        files = {
            "destinations/pg.yaml": f"""
destination:
  name: pg
  type: postgres
  connection: {{host: 127.0.0.1, port: 5432, database: test, username: {PG_USER}}}
  settings: {{schema: {analytics}}}
"""
        }
        files.update({f"transformations/{name}.yaml": text for name, text in models.items()})
        return write_project(files)

    return write


def test_table_view_and_incremental_models_in_postgres(project: Any, schemas: tuple[str, str]) -> None:
    raw, an = schemas
    root = project(
        revenue=model(
            "revenue",
            raw,
            f"select c.name, sum(o.amount) as revenue from {raw}.orders o "
            f"join {raw}.customers c on c.id = o.customer_id group by c.name",
        ),
        top=model("top", raw, f"select name from {an}.revenue where revenue > 10", "view"),
        daily=model(
            "daily",
            raw,
            f"select day, sum(amount) as revenue from {raw}.orders group by day",
            "incremental",
            "  unique_key: [day]\n"
            "  incremental_filter: \"day >= (select coalesce(max(day), date '1900-01-01') from {this})\"\n",
        ),
    )
    first = materialize(root)
    assert first.success, failure_message(first)
    assert pg_query(f'select name, revenue from "{an}".revenue order by name') == [
        ("ada", 15),
        ("alan", 7.5),
    ]
    assert pg_query(f'select name from "{an}".top') == [("ada",)]
    meta = metadata(first)
    assert meta[f"{an}/revenue"]["dagster/row_count"] == 2
    assert [c.name for c in meta[f"{an}/revenue"]["dagster/column_schema"].columns] == ["name", "revenue"]

    pg_query(f"insert into \"{raw}\".orders values (4, 2, '2024-01-02', 1), (5, 2, '2024-01-03', 100)")
    second = materialize(root)
    assert second.success, failure_message(second)
    # the table was refilled in place (same columns), so the view over it kept working
    assert metadata(second)[f"{an}/revenue"]["dwh/action"] == "table refilled"
    assert pg_query(f'select name from "{an}".top order by name') == [("ada",), ("alan",)]
    assert pg_query(f'select day::text, revenue from "{an}".daily order by day') == [
        ("2024-01-01", 10),
        ("2024-01-02", 13.5),
        ("2024-01-03", 100),
    ]
    assert materialize(root).success
    assert pg_query(f'select count(*), count(distinct day) from "{an}".daily') == [(3, 3)]


def test_a_changed_table_shape_replaces_the_table_and_a_failure_keeps_it(
    project: Any, schemas: tuple[str, str]
) -> None:
    raw, an = schemas
    root = project(totals=model("totals", raw, f"select order_id from {raw}.orders"))
    assert materialize(root).success
    (root / "transformations" / "totals.yaml").write_text(
        model("totals", raw, f"select order_id, amount * 2 as doubled from {raw}.orders")
    )
    changed = materialize(root)
    assert changed.success, failure_message(changed)
    assert metadata(changed)[f"{an}/totals"]["dwh/action"] == "table replaced"
    assert pg_query(f'select count(*), sum(doubled) from "{an}".totals') == [(3, 45)]

    (root / "transformations" / "totals.yaml").write_text(
        model("totals", raw, f"select\n  order_id,\n  amount / 0 as doubled\nfrom {raw}.orders")
    )
    failed = materialize(root)
    assert not failed.success
    message = failure_message(failed)
    assert "division by zero" in message
    # PostgreSQL gives no position for an error while executing: the SQL's first line (the file
    # was written without write_project's dedent, so it starts with an empty line)
    assert "totals.yaml:8: transformation 'totals'" in message
    assert pg_query(f'select count(*), sum(doubled) from "{an}".totals') == [(3, 45)]
    assert pg_query(
        "select count(*) from information_schema.tables where table_schema = %s and table_name like %s",
        (an, "%dwh_new"),
    ) == [(0,)]


def test_readers_never_see_a_half_built_table(project: Any, schemas: tuple[str, str]) -> None:
    raw, an = schemas
    sql = f"select o.order_id, o.amount from {raw}.orders o, (select pg_sleep(1.5)) slow"
    root = project(wide=model("wide", raw, sql))
    assert materialize(root).success
    pg_query(f"insert into \"{raw}\".orders values (4, 2, '2024-01-02', 1)")
    seen: list[object] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(pg_query(f'select count(*) from "{an}".wide')[0][0])
            except Exception as exc:  # pragma: no cover - what the test guards against
                seen.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        result = materialize(root)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert result.success
    assert set(seen) <= {3, 4}, sorted(set(map(str, seen)))
    assert seen.count(3) > 3, "the reader never read during the rebuild"
    assert pg_query(f'select count(*) from "{an}".wide') == [(4,)]


@pytest.mark.slow
def test_checks_of_a_model_run_in_postgres_with_exact_failing_counts(
    project: Any, schemas: tuple[str, str]
) -> None:
    import dagster as dg

    raw, an = schemas
    checks = (
        "  checks:\n"
        "    - {type: not_null, columns: [order_id, amount]}\n"
        "    - {type: accepted_values, column: customer_id, values: [1]}\n"
        "    - {type: unique, columns: [customer_id], severity: warn}\n"
        "    - {type: expression, expression: 'amount > 6'}\n"
        "    - {type: sql, name: big, sql: 'select * from {table} t where t.amount > 9'}\n"
        "    - {type: row_count, max: 2}\n"
        "    - {type: schema, columns: {order_id: integer, amount: numeric, day: date}}\n"
        "    - {type: expression, name: recent, expression: \"day > date '2024-01-01'\", "
        "where: 'customer_id = 1'}\n"
    )
    root = project(copy=model("copy", raw, f"select * from {raw}.orders", extra=checks))
    result = materialize(root)
    assert not result.success
    found = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            failing = evaluation.metadata.get("dwh/failing_rows")
            found[evaluation.check_name] = (evaluation.passed, None if failing is None else failing.value)
    assert found == {
        "not_null_order_id_amount": (True, 0),
        "accepted_values_customer_id": (False, 1),  # order 3 of customer 2
        "unique_customer_id": (False, 1),  # customer 1 twice: one duplicated value
        "expression": (False, 1),  # order 2, amount 5
        "big": (False, 1),  # order 1, amount 10
        "row_count": (False, None),  # 3 rows
        "schema": (True, None),
        "recent": (False, 1),  # customer 1's order of 2024-01-01
    }
    assert pg_query(f'select count(*) from "{an}".copy') == [(3,)]  # the data stays


def test_a_partitioned_model_replaces_its_windows_in_postgres(project: Any, schemas: tuple[str, str]) -> None:
    raw, an = schemas
    root = project(
        daily=model(
            "daily",
            raw,
            f"select day, sum(amount) as revenue from {raw}.orders "
            "where day >= {start} and day < {end} group by day",
            extra="  partitions: {type: daily, start: '2024-01-01'}\n",
        )
    )
    defs = build_definitions(load_project(root))
    job = defs.resolve_implicit_global_asset_job_def()
    key = dg.AssetKey([an, "daily"])

    def run(**kwargs: Any) -> None:
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(instance=instance, asset_selection=[key], **kwargs)
        assert result.success

    run(partition_key="2024-01-02")  # the table is created from its first partition
    table = f'"{an}".daily'
    assert pg_query(f"select day::text, revenue, _dwh_partition from {table}") == [
        ("2024-01-02", Decimal("12.5"), "2024-01-02")
    ]
    pg_query(f"insert into \"{raw}\".orders values (4, 2, '2024-01-02', 1), (5, 2, '2024-01-03', 2)")
    run(
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-03",
        }
    )
    assert pg_query(f"select day::text, revenue, _dwh_partition from {table} order by day") == [
        ("2024-01-01", Decimal("10"), "2024-01-01"),
        ("2024-01-02", Decimal("13.5"), "2024-01-02"),
        ("2024-01-03", Decimal("2"), "2024-01-03"),
    ]

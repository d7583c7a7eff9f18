"""Helpers of the transformation job tests: a tiny shop loaded from files, and SQL models over it.

The project (written under ``tmp_path``) has one filesystem source ``drop`` reading files in
``tmp_path/drop`` and one DuckDB destination ``wh`` (``tmp_path/wh.duckdb``):

- pipeline ``crm``: ``customers.csv`` into ``ds_crm.customers`` (merged on ``id``)
- pipeline ``shop``: ``orders.jsonl`` into ``ds_shop.orders`` (merged on ``order_id``)
- pipeline ``bad``: ``broken.parquet`` (not parquet: its loads fail) into ``ds_bad.broken``

and three models in dataset ``analytics`` of ``wh``:

- ``stg_orders``: the orders with a positive amount (a model over a loaded table)
- ``big_orders``: the staged orders of 10 or more (a model over that model)
- ``customer_revenue``: orders and revenue per customer (a join of the tables of both pipelines)

Jobs, triggers and further files are given by each test.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from dwh_dagster.config.naming import pipeline_op_name, transformation_op_name
from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject, duckdb_rows

CUSTOMERS = [(1, "ada"), (2, "alan"), (3, "grace")]
ORDERS = [(1, 1, 10.0), (2, 1, 5.0), (3, 2, 7.5), (4, 3, 20.0), (5, 3, -1.0)]

LOAD_CRM = pipeline_op_name("crm")
LOAD_SHOP = pipeline_op_name("shop")
LOAD_BAD = pipeline_op_name("bad")
TRANSFORM = transformation_op_name("wh")

STG_ORDERS = "analytics/stg_orders"
BIG_ORDERS = "analytics/big_orders"
CUSTOMER_REVENUE = "analytics/customer_revenue"
MODELS = (STG_ORDERS, BIG_ORDERS, CUSTOMER_REVENUE)
CUSTOMERS_TABLE = "ds_crm/customers"
ORDERS_TABLE = "ds_shop/orders"

MODEL_FILES = {
    "stg_orders": """
        transformation:
          name: stg_orders
          destination: wh
          dataset_name: analytics
          materialized: table
          sql: |
            select order_id, customer_id, amount
            from ds_shop.orders
            where amount > 0
    """,
    "big_orders": """
        transformation:
          name: big_orders
          destination: wh
          dataset_name: analytics
          sql: |
            select order_id, amount
            from analytics.stg_orders
            where amount >= 10
    """,
    "customer_revenue": """
        transformation:
          name: customer_revenue
          destination: wh
          dataset_name: analytics
          sql: |
            select c.name as customer, count(o.order_id) as orders, sum(o.amount) as revenue
            from ds_crm.customers c
            join ds_shop.orders o on o.customer_id = c.id
            group by c.name
    """,
}

BASE_FILES = {
    "sources/drop.yaml": """
        source:
          name: drop
          type: filesystem
          connection: {bucket_url: drop}
          resources:
            - name: customers
              file_glob: customers.csv
              format: csv
              primary_key: [id]
              write_disposition: merge
            - name: orders
              file_glob: orders.jsonl
              format: jsonl
              primary_key: [order_id]
              write_disposition: merge
            - {name: broken, file_glob: "broken.parquet", format: parquet}
    """,
    "destinations/wh.yaml": "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n",
    "pipelines/crm.yaml": """
        pipeline:
          name: crm
          source: {config_file: drop, resources: [customers]}
          destination: {config_file: wh, dataset_name: ds_crm}
    """,
    "pipelines/shop.yaml": """
        pipeline:
          name: shop
          source: {config_file: drop, resources: [orders]}
          destination: {config_file: wh, dataset_name: ds_shop}
    """,
    "pipelines/bad.yaml": """
        pipeline:
          name: bad
          source: {config_file: drop, resources: [broken]}
          destination: {config_file: wh, dataset_name: ds_bad}
    """,
}


def write_orders(root: Path, orders: list[tuple[int, int, float]]) -> None:
    """(Re)write ``drop/orders.jsonl``; its modification time moves forward."""
    path = root / "drop" / "orders.jsonl"
    path.write_text(
        "".join(json.dumps({"order_id": o, "customer_id": c, "amount": a}) + "\n" for o, c, a in orders)
    )
    later = time.time() + 1
    os.utime(path, (later, later))


def write_shop_project(
    write_project: WriteProject,
    jobs: Mapping[str, str] | None = None,
    *,
    models: Mapping[str, str] | None = None,
    triggers: Mapping[str, str] | None = None,
    orders: list[tuple[int, int, float]] | None = None,
) -> Path:
    """Write the data files and YAML of the shop project; the defs directory.

    ``models`` replaces :data:`MODEL_FILES` (``{name: yaml}``); ``jobs`` and ``triggers`` are
    ``{name: yaml}`` too.
    """
    files = dict(BASE_FILES)
    for name, text in (MODEL_FILES if models is None else models).items():
        files[f"transformations/{name}.yaml"] = text
    for name, text in (jobs or {}).items():
        files[f"jobs/{name}.yaml"] = text
    for name, text in (triggers or {}).items():
        files[f"triggers/{name}.yaml"] = text
    defs = write_project(files)
    root = defs.parent
    (root / "drop").mkdir(exist_ok=True)
    (root / "drop" / "customers.csv").write_text(
        "id,name\n" + "".join(f"{i},{name}\n" for i, name in CUSTOMERS)
    )
    write_orders(root, ORDERS if orders is None else orders)
    (root / "drop" / "broken.parquet").write_text("not parquet")
    return defs


# -- what the models hold -----------------------------------------------------------------------

MODEL_QUERIES = {
    STG_ORDERS: "select order_id, customer_id, amount from analytics.stg_orders order by order_id",
    BIG_ORDERS: "select order_id, amount from analytics.big_orders order by order_id",
    CUSTOMER_REVENUE: "select customer, orders, revenue from analytics.customer_revenue order by customer",
}


def expected_rows(orders: list[tuple[int, int, float]]) -> dict[str, list[tuple[object, ...]]]:
    """What each model holds when built over ``CUSTOMERS`` and ``orders``, as its query returns it."""
    staged = sorted((o, c, a) for o, c, a in orders if a > 0)
    names = dict(CUSTOMERS)
    revenue: dict[str, list[float]] = {}
    for _, customer, amount in orders:
        revenue.setdefault(names[customer], []).append(amount)
    return {
        STG_ORDERS: [tuple(row) for row in staged],
        BIG_ORDERS: [(o, a) for o, _, a in staged if a >= 10],
        CUSTOMER_REVENUE: [(name, len(a), sum(a)) for name, a in sorted(revenue.items())],
    }


LOADED_QUERIES = {
    CUSTOMERS_TABLE: "select id, name from ds_crm.customers order by id",
    ORDERS_TABLE: "select order_id, customer_id, amount from ds_shop.orders order by order_id",
}


def loaded_rows(root: Path, asset: str) -> list[tuple[object, ...]]:
    """The rows of a loaded table (by its asset key), without dlt's own columns."""
    return duckdb_rows(root / "wh.duckdb", LOADED_QUERIES[asset])


def model_rows(root: Path, asset: str) -> list[tuple[object, ...]]:
    """The rows of a model (by its asset key), in the order of :data:`MODEL_QUERIES`."""
    return duckdb_rows(root / "wh.duckdb", MODEL_QUERIES[asset])


def tables_in(root: Path, dataset: str) -> set[str]:
    """Tables and views of ``dataset`` in ``wh.duckdb`` (empty when the file does not exist)."""
    database = root / "wh.duckdb"
    if not database.exists():
        return set()
    sql = f"select table_name from information_schema.tables where table_schema = '{dataset}'"
    return {str(row[0]) for row in duckdb_rows(database, sql)}


# -- materializations on the instance -----------------------------------------------------------


def materializations(key: str) -> list[dg.EventLogEntry]:
    """Every materialization of ``key`` on the instance in ``$DAGSTER_HOME``, oldest first."""
    with dg.DagsterInstance.get() as instance:
        records = instance.fetch_materializations(dg.AssetKey.from_user_string(key), limit=1000).records
    return sorted((r.event_log_entry for r in records), key=lambda e: e.timestamp)


# -- the real daemon ----------------------------------------------------------------------------


def write_workspace(path: Path) -> Path:
    """A workspace loading ``dwh_dagster.definitions`` (the project of ``$DWH_DEFS_DIR``)."""
    path.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: dwh_dagster.definitions\n"
        f"      working_directory: {REPO_ROOT}\n"
        "      location_name: dwh_dagster\n"
    )
    return path


FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def all_runs() -> list[dg.DagsterRun]:
    """Every run on the instance, newest first."""
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs())


def describe_runs() -> str:
    return "\n".join(f"{r.job_name} {r.status.value} {dict(r.tags)}" for r in all_runs())


def finished_ticks(sensor_name: str) -> list[object]:
    """The finished ticks of a sensor on the instance (the daemon records them), newest first."""
    from dagster._core.scheduler.instigation import InstigatorType, TickStatus

    done = (TickStatus.SUCCESS, TickStatus.SKIPPED, TickStatus.FAILURE)
    with dg.DagsterInstance.get() as instance:
        states = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.instigator_name == sensor_name
        ]
        ticks = [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id)]
    return [t for t in ticks if t.status in done]

"""sql_database sources: tables of the local PostgreSQL loaded into DuckDB by real Dagster runs.

Each test creates its own schema in the ``test`` database of the PostgreSQL at 127.0.0.1:5432
(trust authentication) and drops it afterwards.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.ingestion.dlt_sources import BuildContext, build_dlt_source
from dwh_dagster_tests.conftest import RunJob, WriteProject, duckdb_rows, rows_loaded
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema

# the driver is named: a bare postgresql:// URL is covered by test_bare_postgresql_url_loads
PG_URL = f"postgresql+psycopg2://{PG_USER}@127.0.0.1:5432/test"
URL_ENV_VAR = "SHOP_DB_URL_DEV"


def pg_execute(sql: str, params: Any = None) -> None:
    """Run statements on the test database."""
    pg_query(sql, params)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, uniquely named schema in the local PostgreSQL, dropped afterwards."""
    with unique_schema("dwh_test", create=True) as schema:
        yield schema


def write_sql_project(
    write_project: WriteProject,
    schema: str,
    tables: str,
    *,
    backend: str = "pyarrow",
    resources: list[str] | None = None,
) -> Path:
    """A project: PostgreSQL schema ``schema`` -> ``warehouse.duckdb``, dataset ``shop``, job ``shop_job``."""
    source_resources = f"resources: {resources}" if resources else ""
    return write_project(
        {
            "secrets_mapping.yaml": f"""
                secrets:
                  shop_db_url:
                    env_var_dev: "{URL_ENV_VAR}"
                    description: "SQLAlchemy URL of the shop database"
            """,
            "sources/shop_db.yaml": f"""
                source:
                  name: shop_db
                  type: sql_database
                  backend: {backend}
                  connection:
                    credentials_secret_key: shop_db_url_secret_key
                    schema: "{schema}"
                    chunk_size: 1000
                  tables:
                {tables}
            """,
            "destinations/warehouse.yaml": """
                destination:
                  name: warehouse
                  type: duckdb
                  connection: {database: "warehouse.duckdb"}
            """,
            "pipelines/shop_to_duckdb.yaml": f"""
                pipeline:
                  name: shop_to_duckdb
                  source:
                    config_file: shop_db.yaml
                    {source_resources}
                  destination: {{config_file: warehouse.yaml, dataset_name: shop}}
            """,
            "jobs/shop_job.yaml": """
                job:
                  name: shop_job
                  pipelines: [{name: shop_to_duckdb}]
            """,
        }
    )


def user_tables(database: Path, dataset: str) -> set[str]:
    rows = duckdb_rows(
        database, f"select table_name from information_schema.tables where table_schema = '{dataset}'"
    )
    return {str(r[0]) for r in rows if not str(r[0]).startswith("_dlt")}


CUSTOMERS_AND_ORDERS = """
                    - name: customers
                      primary_key: [id]
                    - name: orders
                      primary_key: [order_id]
"""


def create_shop_tables(schema: str) -> None:
    pg_execute(
        f"""
        CREATE TABLE "{schema}".customers (id int PRIMARY KEY, name text NOT NULL);
        INSERT INTO "{schema}".customers SELECT g, 'customer ' || g FROM generate_series(1, 12) g;
        CREATE TABLE "{schema}".orders (order_id int PRIMARY KEY, customer_id int, amount numeric(10, 2));
        INSERT INTO "{schema}".orders SELECT g, 1 + g % 12, g * 1.25 FROM generate_series(1, 40) g;
        -- types SQLAlchemy does not know: reflecting this table warns, loading it is not asked for
        CREATE TYPE "{schema}".money_pair AS (amount numeric, currency text);
        CREATE TABLE "{schema}".oddities (
            id int, location point, price "{schema}".money_pair, span int4range);
        INSERT INTO "{schema}".oddities VALUES (1, point(1, 2), ROW(9.5, 'EUR'), '[1,5)');
        """
    )


def test_only_the_named_tables_are_reflected_and_loaded(
    pg_schema: str, write_project: WriteProject, run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_shop_tables(pg_schema)
    defs = write_sql_project(write_project, pg_schema, CUSTOMERS_AND_ORDERS)
    monkeypatch.setenv(URL_ENV_VAR, PG_URL)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_job(defs, "shop_job")

    assert result.success
    assert rows_loaded(result) == {"shop/customers": 12, "shop/orders": 40}
    database = defs.parent / "warehouse.duckdb"
    assert user_tables(database, "shop") == {"customers", "orders"}
    assert duckdb_rows(database, "select count(*), sum(amount) from shop.orders")[0] == (40, 1025)
    unrecognized = [str(w.message) for w in caught if "Did not recognize type" in str(w.message)]
    assert unrecognized == [], "a table the source does not name was reflected"


def test_the_warning_check_sees_reflection_of_an_odd_table(
    pg_schema: str, write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control for the test above: naming ``oddities`` does reflect it, and the warning shows."""
    create_shop_tables(pg_schema)
    defs = write_sql_project(
        write_project, pg_schema, CUSTOMERS_AND_ORDERS + "                    - name: oddities\n"
    )
    monkeypatch.setenv(URL_ENV_VAR, PG_URL)
    project = load_project(defs, "dev")
    ctx = BuildContext(resolve=project.secret_resolver().resolve, local_path=project.local_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = build_dlt_source(project.sources["shop_db"], ["customers", "oddities"], ctx)
    assert list(source.selected_resources) == ["customers", "oddities"]
    messages = " ".join(str(w.message) for w in caught)
    assert "Did not recognize type 'point'" in messages


def test_only_the_tables_a_pipeline_selects_are_reflected(
    pg_schema: str, write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source names ``oddities`` too, but a pipeline that loads only customers never reflects it."""
    create_shop_tables(pg_schema)
    defs = write_sql_project(
        write_project, pg_schema, CUSTOMERS_AND_ORDERS + "                    - name: oddities\n"
    )
    monkeypatch.setenv(URL_ENV_VAR, PG_URL)
    project = load_project(defs, "dev")
    ctx = BuildContext(resolve=project.secret_resolver().resolve, local_path=project.local_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = build_dlt_source(project.sources["shop_db"], ["customers"], ctx)
    assert list(source.selected_resources) == ["customers"]
    assert not [w for w in caught if "Did not recognize type" in str(w.message)]


INCREMENTAL_TABLES = """
                    - name: customers
                      primary_key: [id]
                      write_disposition: merge
                      incremental: {cursor_field: updated_at}
                    - name: events
                      primary_key: [id]
                      write_disposition: append
                      incremental: {cursor_field: id, initial_value: 0}
"""


@pytest.mark.parametrize("backend", ["pyarrow", "sqlalchemy"])
@pytest.mark.slow
def test_incremental_loads_only_new_rows_and_merge_deduplicates(
    backend: str,
    pg_schema: str,
    write_project: WriteProject,
    run_job: RunJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg_execute(
        f"""
        CREATE TABLE "{pg_schema}".customers (
            id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
        INSERT INTO "{pg_schema}".customers
            SELECT g, 'customer ' || g, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour'
            FROM generate_series(1, 5) g;
        CREATE TABLE "{pg_schema}".events (id bigserial PRIMARY KEY, kind text NOT NULL);
        INSERT INTO "{pg_schema}".events (kind) SELECT 'first run' FROM generate_series(1, 20);
        """
    )
    defs = write_sql_project(write_project, pg_schema, INCREMENTAL_TABLES, backend=backend)
    monkeypatch.setenv(URL_ENV_VAR, PG_URL)
    database = defs.parent / "warehouse.duckdb"

    first = run_job(defs, "shop_job")
    assert first.success
    assert rows_loaded(first) == {"shop/customers": 5, "shop/events": 20}

    pg_execute(
        f"""
        INSERT INTO "{pg_schema}".customers VALUES
            (6, 'customer 6', '2024-02-01 00:00+00'), (7, 'customer 7', '2024-02-02 00:00+00');
        UPDATE "{pg_schema}".customers SET name = 'renamed', updated_at = '2024-03-01 00:00+00' WHERE id = 2;
        INSERT INTO "{pg_schema}".events (kind) SELECT 'second run' FROM generate_series(1, 10);
        """
    )
    second = run_job(defs, "shop_job")
    assert second.success
    assert rows_loaded(second) == {"shop/customers": 3, "shop/events": 10}

    assert duckdb_rows(database, "select count(*), count(distinct id) from shop.customers")[0] == (7, 7)
    assert duckdb_rows(database, "select name from shop.customers where id = 2") == [("renamed",)]
    assert duckdb_rows(
        database, "select kind, count(*), count(distinct id) from shop.events group by kind order by kind"
    ) == [("first run", 20, 20), ("second run", 10, 10)]


def test_bare_postgresql_url_loads(
    pg_schema: str, write_project: WriteProject, run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_shop_tables(pg_schema)
    defs = write_sql_project(write_project, pg_schema, CUSTOMERS_AND_ORDERS, resources=["customers"])
    monkeypatch.setenv(URL_ENV_VAR, f"postgresql://{PG_USER}@127.0.0.1:5432/test")  # as the docs show
    result = run_job(defs, "shop_job")
    assert result.success
    assert duckdb_rows(defs.parent / "warehouse.duckdb", "select count(*) from shop.customers") == [(12,)]


@pytest.mark.parametrize("backend", ["pyarrow", "sqlalchemy"])
@pytest.mark.slow
def test_incremental_initial_value_on_a_timestamp_cursor(
    backend: str,
    pg_schema: str,
    write_project: WriteProject,
    run_job: RunJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg_execute(
        f"""
        CREATE TABLE "{pg_schema}".customers (
            id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
        INSERT INTO "{pg_schema}".customers
            SELECT g, 'customer ' || g, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour'
            FROM generate_series(1, 6) g;
        """
    )
    tables = """
                    - name: customers
                      primary_key: [id]
                      write_disposition: merge
                      incremental: {cursor_field: updated_at, initial_value: "2024-01-01T03:30:00Z"}
    """
    defs = write_sql_project(write_project, pg_schema, tables, backend=backend)
    monkeypatch.setenv(URL_ENV_VAR, PG_URL)
    result = run_job(defs, "shop_job")
    assert result.success
    assert duckdb_rows(defs.parent / "warehouse.duckdb", "select id from shop.customers order by id") == [
        (4,),
        (5,),
        (6,),
    ]

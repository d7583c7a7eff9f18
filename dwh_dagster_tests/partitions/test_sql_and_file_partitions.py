"""Partitions of a PostgreSQL table (the window pushed down as a bounded incremental on its cursor
column) and of a folder of files (jsonl records and csv rows), loaded into DuckDB by real runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dwh_dagster_tests.conftest import RunJob, WriteProject, duckdb_rows
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema

PG_URL = f"postgresql+psycopg2://{PG_USER}@127.0.0.1:5432/test"
WH = "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with unique_schema("dwh_part", create=True) as schema:
        yield schema


def _sql_project(write_project: WriteProject, schema: str, backend: str, column_type: str) -> Path:
    pg_query(
        f"""
        CREATE TABLE "{schema}".orders (id int PRIMARY KEY, updated_at {column_type}, amount int);
        INSERT INTO "{schema}".orders
        SELECT g, timestamptz '2024-01-01 00:00:00+00' + (g - 1) * interval '6 hours', g * 10
        FROM generate_series(1, 80) g;
        """
    )
    return write_project(
        {
            "secrets_mapping.yaml": "secrets:\n  shop_db_url: {env_var_dev: PART_DB_URL_DEV}\n",
            "sources/shop_db.yaml": f"""
                source:
                  name: shop_db
                  type: sql_database
                  backend: {backend}
                  connection: {{credentials_secret_key: shop_db_url, schema: "{schema}"}}
                  tables:
                    - name: orders
                      primary_key: [id]
                      incremental: {{cursor_field: updated_at}}
                      partitions: {{type: daily, start: "2024-01-01"}}
            """,
            "destinations/wh.yaml": WH,
            "pipelines/load_orders.yaml": """
                pipeline:
                  name: load_orders
                  source: {config_file: shop_db}
                  destination: {config_file: wh, dataset_name: shop}
            """,
            "jobs/orders_job.yaml": "job: {name: orders_job, pipelines: [{name: load_orders}]}\n",
        }
    )


def _orders(defs_dir: Path) -> list[tuple[object, ...]]:
    return duckdb_rows(
        defs_dir.parent / "wh.duckdb", "select id, amount, _dwh_partition from shop.orders order by id"
    )


def _source_orders(schema: str, days: list[str]) -> list[tuple[object, ...]]:
    rows = pg_query(
        f"""select id, amount, to_char(updated_at, 'YYYY-MM-DD') from "{schema}".orders
        where to_char(updated_at, 'YYYY-MM-DD') = any(%s) order by id""",
        (days,),
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    ("backend", "column_type"), [("pyarrow", "timestamptz"), ("sqlalchemy", "timestamp")]
)
def test_a_postgres_table_loads_by_partition(
    pg_schema: str,
    write_project: WriteProject,
    run_job: RunJob,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    column_type: str,
) -> None:
    monkeypatch.setenv("PART_DB_URL_DEV", PG_URL)
    monkeypatch.setenv("PGTZ", "UTC")
    defs_dir = _sql_project(write_project, pg_schema, backend, column_type)
    assert run_job(defs_dir, "orders_job", partition_key="2024-01-03").success
    assert _orders(defs_dir) == _source_orders(pg_schema, ["2024-01-03"])

    days = [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert run_job(defs_dir, "orders_job", partition_range=(days[0], days[-1])).success
    assert _orders(defs_dir) == _source_orders(pg_schema, days)

    pg_query(
        f"""UPDATE "{pg_schema}".orders SET amount = -1 WHERE id = 17;
        DELETE FROM "{pg_schema}".orders WHERE id = 18;
        INSERT INTO "{pg_schema}".orders VALUES (500, timestamptz '2024-01-05 23:00:00+00', 5);"""
    )
    assert run_job(defs_dir, "orders_job", partition_key="2024-01-05").success
    assert _orders(defs_dir) == _source_orders(pg_schema, days)


def _file_project(write_project: WriteProject, file_format: str) -> Path:
    return write_project(
        {
            "sources/drop.yaml": f"""
                source:
                  name: drop
                  type: filesystem
                  connection: {{bucket_url: drop}}
                  resources:
                    - name: events
                      file_glob: "*.{file_format}"
                      format: {file_format}
                      partitions: {{type: daily, start: "2024-01-01", cursor_field: ts}}
            """,
            "destinations/wh.yaml": WH,
            "pipelines/load_events.yaml": """
                pipeline:
                  name: load_events
                  source: {config_file: drop}
                  destination: {config_file: wh, dataset_name: files}
                  backfill: per_partition
            """,
            "jobs/events_job.yaml": "job: {name: events_job, pipelines: [{name: load_events}]}\n",
        }
    )


def _write_files(drop: Path, file_format: str, records: list[dict[str, object]]) -> None:
    drop.mkdir(exist_ok=True)
    by_day: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_day.setdefault(str(record["ts"])[:10], []).append(record)
    for path in drop.iterdir():
        path.unlink()
    for day, rows in by_day.items():
        if file_format == "jsonl":
            text = "".join(json.dumps(r) + "\n" for r in rows)
        else:
            text = "id,ts,value\n" + "".join(f"{r['id']},{r['ts']},{r['value']}\n" for r in rows)
        (drop / f"{day}.{file_format}").write_text(text)


def _events(defs_dir: Path) -> list[tuple[object, ...]]:
    return duckdb_rows(
        defs_dir.parent / "wh.duckdb", "select id, value, _dwh_partition from files.events order by id"
    )


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_files_load_by_partition(write_project: WriteProject, run_job: RunJob, file_format: str) -> None:
    defs_dir = _file_project(write_project, file_format)
    records = [
        {"id": i, "ts": f"2024-01-{1 + i // 3:02d}T{(i % 3) * 8:02d}:00:00Z", "value": i * 2}
        for i in range(15)
    ]
    drop = defs_dir.parent / "drop"
    _write_files(drop, file_format, records)

    def expected(days: set[str]) -> list[tuple[object, ...]]:
        return sorted((r["id"], r["value"], str(r["ts"])[:10]) for r in records if str(r["ts"])[:10] in days)

    assert run_job(defs_dir, "events_job", partition_key="2024-01-02").success
    assert _events(defs_dir) == expected({"2024-01-02"})
    assert run_job(defs_dir, "events_job", partition_key="2024-01-03").success
    records = [r for r in records if r["id"] != 4] + [{"id": 99, "ts": "2024-01-02T23:00:00Z", "value": 1}]
    records[3]["value"] = -5  # id 3, on 2024-01-02
    _write_files(drop, file_format, records)
    assert run_job(defs_dir, "events_job", partition_key="2024-01-02").success
    assert _events(defs_dir) == expected({"2024-01-02", "2024-01-03"})

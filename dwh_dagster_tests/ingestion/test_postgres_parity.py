"""A load into PostgreSQL gives the same tables, column types and rows as plain dlt's INSERT
statements, for API records with nested objects, lists, timestamps, decimals, nulls, empty
strings, quotes, newlines and unicode (a rest_api source on a local server, run as a Dagster job).

The guard of any faster load path: dlt's csv COPY fails it (its COPY forces empty strings of
nullable columns to NULL), dlt's parquet through ADBC passed it when tried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.ingestion.rest_api_support import base_url, json_response
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema

DLT_RANDOM = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id")


def _records() -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": None if i % 7 == 0 else f'name {i} ünï "quoted", with comma\nand newline',
            "price": 1.5 * i,
            "big": 2**53 + i,
            "ok": i % 2 == 0,
            "created_at": f"2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
            "amount": f"{i}.25",
            "meta": {"a": i, "b": {"c": "x" if i % 3 else None}},
            "tags": [f"t{j}" for j in range(i % 3)],
            "empty": "",
        }
        for i in range(300)
    ]


@pytest.fixture
def schemas() -> Iterator[tuple[str, str]]:
    with unique_schema("dwh_copy", create=False) as ours, unique_schema("dlt_ins", create=False) as plain:
        yield ours, plain


def _columns(schema: str) -> list[tuple[Any, ...]]:
    return pg_query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name not like '\\_dlt%%' order by 1, 2",
        (schema,),
    )


def _rows(schema: str, table: str) -> list[tuple[Any, ...]]:
    names = [c for t, c, _ in _columns(schema) if t == table and c not in DLT_RANDOM]
    listed = ", ".join(f'"{name}"' for name in names)
    return pg_query(f'select {listed} from "{schema}"."{table}" order by {listed}')


def test_a_postgres_load_matches_plain_dlt_row_for_row(
    server: HTTPServer, write_project: WriteProject, run_job: RunJob, schemas: tuple[str, str], tmp_path: Path
) -> None:
    import dlt

    ours, plain = schemas
    records = _records()
    server.expect_request("/items").respond_with_response(json_response(records))
    destination = f"""
        destination:
          name: pg
          type: postgres
          connection: {{host: 127.0.0.1, port: 5432, database: test, username: "{PG_USER}"}}
    """
    defs = write_project(
        {
            "sources/api.yaml": f"""
                source:
                  name: api
                  type: rest_api
                  connection: {{base_url: "{base_url(server)}", timeout: 5}}
                  resources:
                    - {{name: items, endpoint: {{path: items, paginator: single_page}}}}
            """,
            "destinations/pg.yaml": destination,
            "pipelines/api_to_pg.yaml": f"""
                pipeline:
                  name: api_to_pg
                  source: {{config_file: api}}
                  destination: {{config_file: pg, dataset_name: {ours}}}
            """,
            "jobs/load.yaml": "job: {name: load, pipelines: [{name: api_to_pg}]}\n",
        }
    )
    assert run_job(defs, "load").success

    pipeline = dlt.pipeline(
        pipeline_name="plain_insert",
        destination=dlt.destinations.postgres(f"postgresql://{PG_USER}:unused@127.0.0.1:5432/test"),
        dataset_name=plain,
        pipelines_dir=str(tmp_path / "plain"),
    )
    pipeline.run(records, table_name="items", loader_file_format="insert_values")

    assert _columns(ours) == _columns(plain)
    assert {t for t, _, _ in _columns(ours)} == {"items", "items__tags"}
    for table in ("items", "items__tags"):
        assert _rows(ours, table) == _rows(plain, table), table
    assert len(_rows(ours, "items")) == 300

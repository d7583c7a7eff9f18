"""``dwh show TABLE``: the first rows of a loaded table or model with its row count and column
types, read in its destination: the demo's DuckDB file, and a model in the local PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS, RunJob, WriteProject
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema
from dwh_dagster_tests.transform.test_duckdb_models import materialize


@pytest.fixture
def demo(tmp_path: Path, run_job: RunJob) -> Path:
    """The shipped demo, copied and loaded by demo_job."""
    shutil.copytree(YAML_DEFS, tmp_path / "yaml_defs")
    shutil.copytree(REPO_ROOT / "sample_data", tmp_path / "sample_data")
    assert run_job(tmp_path / "yaml_defs", "demo_job").success
    return tmp_path / "yaml_defs"


def test_show_prints_rows_count_and_columns_of_duckdb_tables(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "demo.customers", "--limit", "3", "--defs", str(demo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "demo.customers in duckdb destination 'duckdb_local': 50 rows"
    assert lines[1].startswith("columns: id BIGINT, ")
    header = lines[3].split()
    assert header[0] == "id" and "email" in header
    assert len(lines) == 3 + 2 + 3 + 1  # title, columns, blank, header, rule, 3 rows, the rest
    assert lines[-1] == "(3 of 50 rows; --limit N shows more)"
    # a model by its name, and a nested table of dlt's
    assert main(["show", "customer_orders", "--defs", str(demo)]) == 0
    assert capsys.readouterr().out.startswith("analytics.customer_orders in duckdb destination")
    assert main(["show", "demo/orders__items", "--limit", "1", "--defs", str(demo)]) == 0
    assert "demo.orders__items" in capsys.readouterr().out


def test_show_names_the_near_miss_of_an_unknown_table(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "custmers", "--defs", str(demo)]) == 2
    assert "'custmers' is not a table or model of this project; did you mean 'customers'?" in (
        capsys.readouterr().err
    )


def test_show_reads_a_model_in_postgres(
    write_project: WriteProject, capsys: pytest.CaptureFixture[str]
) -> None:
    with unique_schema("show_raw", create=True) as raw, unique_schema("show_an", create=False) as analytics:
        pg_query(f'create table "{raw}".orders as select * from (values (1, 10.5), (2, 3.0)) t(id, amount)')
        defs = write_project(
            {
                "destinations/pg.yaml": f"""
                    destination:
                      name: pg
                      type: postgres
                      connection: {{host: 127.0.0.1, port: 5432, database: test, username: {PG_USER}}}
                      settings: {{schema: {analytics}}}
                """,
                "transformations/big.yaml": f"""
                    transformation:
                      name: big
                      destination: pg
                      external_tables: [{raw}.orders]
                      sql: select id, amount from {raw}.orders where amount > 5
                """,
            }
        )
        assert materialize(defs).success
        assert main(["show", "big", "--defs", str(defs)]) == 0
        out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{analytics}.big in postgres destination 'pg': 1 rows"
    assert out[1] == "columns: id integer, amount numeric"
    assert out[3].split() == ["id", "amount"]
    assert out[5].split() == ["1", "10.5"]

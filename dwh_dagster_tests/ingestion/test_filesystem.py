"""filesystem sources (csv, jsonl, parquet files in tmp_path) and the filesystem destination."""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dwh_dagster_tests.conftest import RunJob, WriteProject, duckdb_rows, rows_loaded

DUCKDB_DESTINATION = """
    destination:
      name: warehouse
      type: duckdb
      connection: {database: "warehouse.duckdb"}
"""


def write_jsonl(path: Path, rows: list[dict[str, object]], mtime: float | None = None) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def files_project(write_project: WriteProject, resources: str, destination: str = DUCKDB_DESTINATION) -> Path:
    return write_project(
        {
            "sources/drop_zone.yaml": f"""
                source:
                  name: drop_zone
                  type: filesystem
                  connection: {{bucket_url: "drop_zone"}}
                  resources:
                {resources}
            """,
            "destinations/target.yaml": destination,
            "pipelines/files_pipeline.yaml": """
                pipeline:
                  name: files_pipeline
                  source: {config_file: drop_zone}
                  destination: {config_file: target.yaml, dataset_name: landing}
            """,
            "jobs/files_job.yaml": """
                job:
                  name: files_job
                  pipelines: [{name: files_pipeline}]
            """,
        }
    )


def test_csv_jsonl_and_parquet_files_land_in_duckdb(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    drop = tmp_path / "drop_zone"
    (drop / "csv").mkdir(parents=True)
    (drop / "csv" / "stores_1.csv").write_text(
        "store_id,city,opened\n1,Berlin,2020-01-05\n2,Paris,2021-03-01\n"
    )
    (drop / "csv" / "stores_2.csv").write_text("store_id,city,opened\n3,Madrid,2022-07-19\n")
    (drop / "csv" / "ignored.txt").write_text("not matched by the glob\n")
    write_jsonl(
        drop / "clicks.jsonl", [{"click_id": i, "page": f"/p/{i % 4}", "meta": {"ms": i}} for i in range(30)]
    )
    pq.write_table(
        pa.table({"sku": ["A1", "B2", "C3", "D4"], "price": [1.5, 2.25, 3.0, 10.0], "qty": [1, 2, 3, 4]}),
        drop / "prices.parquet",
    )
    defs = files_project(
        write_project,
        """
                    - name: stores
                      file_glob: "csv/*.csv"
                      format: csv
                      primary_key: store_id
                      write_disposition: merge
                    - name: clicks
                      file_glob: "*.jsonl"
                      format: jsonl
                    - name: prices
                      file_glob: "*.parquet"
                      format: parquet
                      write_disposition: replace
        """,
    )

    result = run_job(defs, "files_job")
    assert result.success
    assert rows_loaded(result) == {"landing/stores": 3, "landing/clicks": 30, "landing/prices": 4}
    database = defs.parent / "warehouse.duckdb"
    assert duckdb_rows(database, "select store_id, city, opened from landing.stores order by store_id") == [
        (1, "Berlin", date(2020, 1, 5)),
        (2, "Paris", date(2021, 3, 1)),
        (3, "Madrid", date(2022, 7, 19)),
    ]
    assert duckdb_rows(database, "select count(*), sum(click_id), sum(meta__ms) from landing.clicks")[0] == (
        30,
        435,
        435,
    )
    assert duckdb_rows(database, "select sum(price * qty) from landing.prices") == [(55.0,)]
    types = dict(
        duckdb_rows(
            database,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'landing' and table_name = 'prices'",
        )
    )
    assert (types["price"], types["qty"]) == ("DOUBLE", "BIGINT")


@pytest.mark.slow
def test_incremental_on_modification_time(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    drop = tmp_path / "drop_zone"
    drop.mkdir()
    start = time.time() - 3600
    write_jsonl(drop / "events_a.jsonl", [{"event_id": i, "file": "a"} for i in range(5)], mtime=start)
    write_jsonl(
        drop / "events_b.jsonl", [{"event_id": 10 + i, "file": "b"} for i in range(3)], mtime=start + 10
    )
    defs = files_project(
        write_project,
        """
                    - name: events
                      file_glob: "events_*.jsonl"
                      format: jsonl
                      incremental: {enabled: true}
        """,
    )
    database = defs.parent / "warehouse.duckdb"

    first = run_job(defs, "files_job")
    assert first.success
    assert rows_loaded(first) == {"landing/events": 8}

    write_jsonl(
        drop / "events_c.jsonl", [{"event_id": 20 + i, "file": "c"} for i in range(4)], mtime=start + 20
    )
    second = run_job(defs, "files_job")
    assert second.success
    assert rows_loaded(second) == {"landing/events": 4}  # only the new file

    os.utime(drop / "events_a.jsonl", (start + 30, start + 30))  # touched: modified again
    third = run_job(defs, "files_job")
    assert third.success
    assert rows_loaded(third) == {"landing/events": 5}  # only the touched file
    assert duckdb_rows(database, "select file, count(*) from landing.events group by file order by file") == [
        ("a", 10),
        ("b", 3),
        ("c", 4),
    ]

    fourth = run_job(defs, "files_job")
    assert fourth.success
    assert rows_loaded(fourth) == {"landing/events": 0}


def test_incremental_initial_value_skips_older_files(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    drop = tmp_path / "drop_zone"
    drop.mkdir()
    now = time.time()
    write_jsonl(drop / "events_old.jsonl", [{"event_id": 1, "file": "old"}], mtime=now - 400 * 86400)
    write_jsonl(drop / "events_new.jsonl", [{"event_id": 2, "file": "new"}], mtime=now - 3600)
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400))
    defs = files_project(
        write_project,
        f"""
                    - name: events
                      file_glob: "events_*.jsonl"
                      format: jsonl
                      incremental: {{initial_value: "{cutoff}"}}
        """,
    )
    result = run_job(defs, "files_job")
    assert result.success
    assert duckdb_rows(defs.parent / "warehouse.duckdb", "select file from landing.events") == [("new",)]


def _read_jsonl_files(files: list[Path]) -> list[dict[str, object]]:
    rows = []
    for file in files:
        raw = file.read_bytes()
        text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
        rows += [json.loads(line) for line in text.splitlines() if line]
    return rows


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_filesystem_destination_writes_readable_files(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path, file_format: str
) -> None:
    drop = tmp_path / "drop_zone"
    drop.mkdir()
    (drop / "orders.csv").write_text("order_id,amount\n1,10.5\n2,20.0\n3,7.25\n")
    format_line = "" if file_format == "parquet" else f"format: {file_format}"
    destination = f"""
        destination:
          name: lake
          type: filesystem
          connection: {{bucket_url: "lake"}}
          {format_line}
    """
    defs = files_project(
        write_project,
        """
                    - name: orders
                      file_glob: "*.csv"
                      format: csv
        """,
        destination=destination,
    )

    result = run_job(defs, "files_job")
    assert result.success
    assert rows_loaded(result) == {"landing/orders": 3}
    table_dir = tmp_path / "lake" / "landing" / "orders"
    files = sorted(p for p in table_dir.rglob("*") if p.is_file())
    assert files, f"no files under {table_dir}"
    assert all(f".{file_format}" in p.name for p in files), [p.name for p in files]
    if file_format == "parquet":
        table = pq.read_table(files[0])
        assert table.num_rows == 3
        assert sorted(zip(table["order_id"].to_pylist(), table["amount"].to_pylist(), strict=True)) == [
            (1, 10.5),
            (2, 20.0),
            (3, 7.25),
        ]
        import duckdb

        total = duckdb.sql(f"select sum(amount) from read_parquet('{table_dir}/*.parquet')").fetchall()
        assert total == [(37.75,)]
    else:
        rows = _read_jsonl_files(files)
        assert sorted((r["order_id"], r["amount"]) for r in rows) == [(1, 10.5), (2, 20.0), (3, 7.25)]

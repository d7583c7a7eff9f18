"""Ingestion benchmark: `dwh run` with shipped defaults against plain dlt and DuckDB's own floor.

    uv run python benchmarks/ingest.py                 # 200,000 records, pages of 1,000, 3 repeats
    uv run python benchmarks/ingest.py --smoke         # 5,000 records, once (CI)

A local paginated JSON API (benchmarks/paged_api.py, a separate process on 127.0.0.1) serves the
same records to every contender; each contender runs in a fresh process, one after the other:
- `dwh run`: a generated YAML project (one rest_api source, one DuckDB destination, one pipeline,
  one job) run with `dwh run`; its time is the Dagster step (STEP_START to STEP_SUCCESS in the
  event log), which includes importing dlt, building the source and reading row counts.
- plain dlt, default settings, and plain dlt with parquet: dlt's own rest_api source configured as a
  dlt user would (benchmarks/plain_dlt.py); the time includes `import dlt`.
- DuckDB floor: DuckDB reading the same records from an NDJSON file (`read_json`).
Afterwards the tables written by `dwh run` and by both plain dlt runs are compared: same columns
with the same types, same rows (all columns but dlt's random `_dlt_id` and `_dlt_load_id`).
Prints a table and writes JSON (default benchmarks/results/ingest.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from paged_api import records  # noqa: E402

TABLE = "items"
DATASET = "bench"
IGNORED_COLUMNS = ("_dlt_id", "_dlt_load_id")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "DAGSTER_"))}
    env.update(RUNTIME__DLTHUB_TELEMETRY="false", DAGSTER_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", **extra)
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def write_project(root: Path, base_url: str, database: Path, page_size: int) -> Path:
    """The YAML project `dwh run` loads: the API into DuckDB with every default left alone."""
    files = {
        "sources/bench_api.yaml": f"""
            source:
              name: bench_api
              type: rest_api
              connection:
                base_url: "{base_url}"
              resources:
                - name: {TABLE}
                  endpoint:
                    path: /items
                    data_selector: data
                    paginator: {{type: offset, limit: {page_size}, total_path: total}}
                  write_disposition: replace
            """,
        "destinations/bench_duckdb.yaml": f"""
            destination:
              name: bench_duckdb
              type: duckdb
              connection:
                database: "{database}"
            """,
        "pipelines/bench_to_duckdb.yaml": f"""
            pipeline:
              name: bench_to_duckdb
              source:
                config_file: bench_api.yaml
                resources: [{TABLE}]
              destination:
                config_file: bench_duckdb.yaml
                dataset_name: {DATASET}
            """,
        "jobs/bench_job.yaml": """
            job:
              name: bench_job
              pipelines:
                - name: bench_to_duckdb
            """,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def step_seconds(dagster_home: Path) -> float:
    """STEP_START to STEP_SUCCESS of the latest run in ``dagster_home``."""
    script = textwrap.dedent(
        """
        import dagster as dg
        with dg.DagsterInstance.get() as instance:
            run = instance.get_runs(limit=1)[0]
            times = {}
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                    times[event.event_type_value] = record.timestamp
            print(times["STEP_SUCCESS"] - times["STEP_START"])
        """
    )
    env = _env(DAGSTER_HOME=str(dagster_home))
    return float(_run([sys.executable, "-c", script], env, 120).strip())


def run_dwh(work: Path, base_url: str, page_size: int, attempt: int) -> dict[str, Any]:
    """One `dwh run` in a fresh project, instance and DuckDB file."""
    root = work / f"dwh_{attempt}"
    database = root / "warehouse.duckdb"
    project = write_project(root / "yaml_defs", base_url, database, page_size)
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = _env(DWH_DEFS_DIR=str(project), DAGSTER_HOME=str(home), DWH_STATE_DIR=str(root / "state"))
    started = time.perf_counter()
    _run([sys.executable, "-m", "dwh_dagster.cli", "run", "bench_job"], env, 1800)
    wall = time.perf_counter() - started
    return {"seconds": step_seconds(home), "process_seconds": wall, "database": str(database)}


def run_plain(work: Path, base_url: str, page_size: int, attempt: int, parquet: bool) -> dict[str, Any]:
    """One plain dlt run (default settings or parquet) in a fresh DuckDB file."""
    name = "plain_parquet" if parquet else "plain_default"
    database = work / f"{name}_{attempt}" / "warehouse.duckdb"
    database.parent.mkdir(parents=True)
    cmd = [sys.executable, str(HERE / "plain_dlt.py"), base_url, str(database), "--page-size", str(page_size)]
    started = time.perf_counter()
    out = json.loads(_run([*cmd, *(["--parquet"] if parquet else [])], _env(), 1800).strip().splitlines()[-1])
    return {**out, "process_seconds": time.perf_counter() - started, "database": str(database)}


def run_duckdb_floor(work: Path, ndjson: Path) -> dict[str, Any]:
    """DuckDB reading the same records from an NDJSON file into a table."""
    script = textwrap.dedent(
        f"""
        import time
        started = time.perf_counter()
        import duckdb
        con = duckdb.connect({str(work / "floor.duckdb")!r})
        con.execute(
            "CREATE OR REPLACE TABLE items AS "
            "SELECT * FROM read_json({str(ndjson)!r}, format='newline_delimited')"
        )
        print(time.perf_counter() - started)
        """
    )
    started = time.perf_counter()
    seconds = float(_run([sys.executable, "-c", script], _env(), 600).strip())
    return {"seconds": seconds, "process_seconds": time.perf_counter() - started}


def table_shape(database: str) -> tuple[list[tuple[str, str]], int, Any]:
    """Columns (name, type) sorted by name, row count, and the rows without dlt's random columns."""
    import duckdb

    with duckdb.connect(database, read_only=True) as con:
        columns = sorted(
            (str(name), str(kind))
            for name, kind in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [DATASET, TABLE],
            ).fetchall()
        )
        kept = ", ".join(f'"{name}"' for name, _ in columns if name not in IGNORED_COLUMNS)
        rows = con.execute(f"SELECT {kept} FROM {DATASET}.{TABLE} ORDER BY id").fetchall()
        nulls = con.execute(
            f"SELECT count(*) FROM {DATASET}.{TABLE} WHERE _dlt_id IS NULL OR _dlt_load_id IS NULL"
        ).fetchone()
    assert nulls is not None and nulls[0] == 0, f"{database}: rows without _dlt_id/_dlt_load_id"
    return columns, len(rows), rows


def compare(ours: str, others: dict[str, str]) -> dict[str, Any]:
    """Do the other contenders' tables hold exactly what ours holds?"""
    our_columns, our_count, our_rows = table_shape(ours)
    out: dict[str, Any] = {"columns": our_columns, "rows": our_count}
    for name, database in others.items():
        columns, count, rows = table_shape(database)
        out[f"same_as_{name}"] = columns == our_columns and rows == our_rows
        if columns != our_columns:
            out[f"column_diff_{name}"] = sorted(set(columns) ^ set(our_columns))
        elif rows != our_rows:
            out[f"row_diff_{name}"] = f"{count} rows vs {our_count}, contents differ"
    return out


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    import dagster
    import dlt
    import duckdb

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dagster": dagster.__version__,
        "dlt": dlt.__version__,
        "duckdb": duckdb.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="5,000 records, once: proves it runs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ingest.json")
    args = parser.parse_args()
    if args.smoke:
        args.records, args.repeats = 5_000, 1

    with tempfile.TemporaryDirectory(prefix="dwh-bench-ingest-") as tmp:
        work = Path(tmp)
        ndjson = work / "records.ndjson"
        with ndjson.open("w") as handle:
            for item in records(args.records):
                handle.write(json.dumps(item, separators=(",", ":")) + "\n")
        server = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "paged_api.py"),
                "--records",
                str(args.records),
                "--page-size",
                str(args.page_size),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base_url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            runs: dict[str, list[dict[str, Any]]] = {
                "dwh": [],
                "plain_default": [],
                "plain_parquet": [],
                "duckdb": [],
            }
            for attempt in range(args.repeats):  # interleaved, so a busy moment hits every contender
                runs["dwh"].append(run_dwh(work, base_url, args.page_size, attempt))
                runs["plain_default"].append(
                    run_plain(work, base_url, args.page_size, attempt, parquet=False)
                )
                runs["plain_parquet"].append(run_plain(work, base_url, args.page_size, attempt, parquet=True))
                runs["duckdb"].append(run_duckdb_floor(work, ndjson))
                print(f"repeat {attempt + 1}/{args.repeats} done", file=sys.stderr)
            parity = compare(
                runs["dwh"][0]["database"],
                {
                    "plain_default": runs["plain_default"][0]["database"],
                    "plain_parquet": runs["plain_parquet"][0]["database"],
                },
            )
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(timeout=30)

    figures: dict[str, Any] = {}
    for name, attempts in runs.items():
        seconds = statistics.median(a["seconds"] for a in attempts)
        figures[name] = {
            "seconds": round(seconds, 3),
            "rows_per_second": round(args.records / seconds),
            "process_seconds": round(statistics.median(a["process_seconds"] for a in attempts), 3),
            "all_seconds": [round(a["seconds"], 3) for a in attempts],
            **({"dlt_steps": attempts[0]["steps"]} if "steps" in attempts[0] else {}),
        }
    ours = figures["dwh"]["rows_per_second"]
    ratios = {
        "dwh_vs_plain_default": round(ours / figures["plain_default"]["rows_per_second"], 2),
        "dwh_vs_plain_parquet": round(ours / figures["plain_parquet"]["rows_per_second"], 2),
        "duckdb_floor_vs_dwh": round(figures["duckdb"]["rows_per_second"] / ours, 2),
    }
    targets = {
        "dwh >= 10x plain dlt default": ratios["dwh_vs_plain_default"] >= 10,
        "dwh >= 2x plain dlt parquet": ratios["dwh_vs_plain_parquet"] >= 2,
        "same rows and columns as plain dlt": bool(
            parity["same_as_plain_default"] and parity["same_as_plain_parquet"]
        ),
    }
    report = {
        "benchmark": "ingest",
        "records": args.records,
        "page_size": args.page_size,
        "repeats": args.repeats,
        "machine": machine(),
        "figures": figures,
        "ratios": ratios,
        "parity": parity,
        "targets": targets,
    }
    print(f"\ningest: {args.records:,} records, pages of {args.page_size}, median of {args.repeats}")
    print(f"{'contender':<28}{'seconds':>10}{'rows/s':>12}{'process s':>12}")
    labels = {
        "dwh": "dwh run (shipped defaults)",
        "plain_default": "plain dlt, defaults",
        "plain_parquet": "plain dlt, parquet",
        "duckdb": "DuckDB read_json (floor)",
    }
    for name, label in labels.items():
        f = figures[name]
        print(f"{label:<28}{f['seconds']:>10.2f}{f['rows_per_second']:>12,}{f['process_seconds']:>12.2f}")
    print(
        f"\ndwh / plain default {ratios['dwh_vs_plain_default']}x, dwh / plain parquet "
        f"{ratios['dwh_vs_plain_parquet']}x, DuckDB floor / dwh {ratios['duckdb_floor_vs_dwh']}x"
    )
    print(f"columns: {', '.join(f'{n} {t}' for n, t in parity['columns'])}")
    for target, met in targets.items():
        print(f"[{'met' if met else 'MISSED'}] {target}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

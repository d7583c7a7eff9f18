"""DuckDB has one writer: two jobs writing one DuckDB file, launched together, both succeed.

Each job runs in its own ``dwh run`` process on the same Dagster instance (DAGSTER_HOME with the
repo's dagster.yaml: ``concurrency.pools.default_limit: 1``). The steps writing a DuckDB file share
one pool per file, so the second step waits for the first; the instance's event log shows it.
Without the pool the same launch fails one of the runs with DuckDB's "Could not set lock on file".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dwh_dagster.naming import duckdb_pool
from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject, duckdb_rows

ROWS = 15_000  # a few seconds of dlt work per step: long enough for the two runs to overlap


def write_two_job_project(write_project: WriteProject, tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name in ("a", "b"):
        with (drop / f"{name}.jsonl").open("w") as out:
            for i in range(ROWS):
                out.write(json.dumps({"id": i, "source": name, "value": i * 0.5, "note": "x" * 20}) + "\n")
    files = {
        "sources/drop.yaml": """
            source:
              name: drop
              type: filesystem
              connection: {bucket_url: drop}
              resources:
                - {name: rows_a, file_glob: "a.jsonl", format: jsonl}
                - {name: rows_b, file_glob: "b.jsonl", format: jsonl}
        """,
        "destinations/shared.yaml": """
            destination:
              name: shared
              type: duckdb
              connection: {database: shared.duckdb}
        """,
    }
    for name in ("a", "b"):
        files[f"pipelines/load_{name}.yaml"] = f"""
            pipeline:
              name: load_{name}
              source: {{config_file: drop, resources: [rows_{name}]}}
              destination: {{config_file: shared, dataset_name: ds_{name}}}
        """
        files[f"jobs/job_{name}.yaml"] = f"""
            job:
              name: job_{name}
              pipelines: [{{name: load_{name}}}]
        """
    return write_project(files)


def test_two_jobs_writing_one_duckdb_file_both_succeed(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    defs = write_two_job_project(write_project, tmp_path)
    assert "default_limit: 1" in (dagster_home / "dagster.yaml").read_text()
    # create the instance's SQLite storage once, as any used DAGSTER_HOME has it: two processes
    # creating it at the same moment race (two alembic heads in schedules.db, and a process that
    # looked before the concurrency tables existed skips the pool: both runs then write at once)
    with dg.DagsterInstance.get() as instance:
        assert instance.event_log_storage.supports_global_concurrency_limits

    processes = {
        job: subprocess.Popen(
            [sys.executable, "-m", "dwh_dagster.cli", "run", job, "--defs", str(defs)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for job in ("job_a", "job_b")
    }
    outputs = {job: process.communicate(timeout=180)[0] for job, process in processes.items()}
    for job, process in processes.items():
        assert process.returncode == 0, f"{job} failed:\n{outputs[job][-3000:]}"

    database = tmp_path / "shared.duckdb"
    assert duckdb_rows(database, "select count(*), count(distinct id) from ds_a.rows_a") == [(ROWS, ROWS)]
    assert duckdb_rows(database, "select count(*), count(distinct id) from ds_b.rows_b") == [(ROWS, ROWS)]

    # the control: the event log of the instance shows that the steps were serialized by the pool
    pool = duckdb_pool(database)
    with dg.DagsterInstance.get() as instance:
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
        assert limits.get(pool) == 1
        runs = instance.get_runs()
        assert sorted(run.job_name for run in runs) == ["job_a", "job_b"]
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        steps = {}
        for run in runs:
            times: dict[str, float] = {}
            blocked: list[float] = []
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None:
                    continue
                if event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                    times[event.event_type_value] = record.timestamp
                if (event.message or "").startswith(f"Step blocked by limit for pool {pool}"):
                    blocked.append(record.timestamp)
            steps[run.job_name] = (times["STEP_START"], times["STEP_SUCCESS"], blocked)

    first, second = sorted(steps.values())
    _, first_end, first_blocked = first
    second_start, _, second_blocked = second
    assert first_blocked == []
    assert second_start >= first_end, "the two steps wrote the DuckDB file at the same time"
    assert second_blocked, "the later step never waited on the pool"
    # it was already waiting before the first step finished: the runs really overlapped
    assert min(second_blocked) < first_end


def test_the_repo_dagster_yaml_limits_every_pool_to_one_step() -> None:
    import yaml

    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["concurrency"]["pools"].get("granularity", "op") == "op"  # "run" would skip op slots

"""DuckDB has one writer: two jobs writing one DuckDB file, launched together, both succeed.

Each job runs in its own ``dwh run`` process on the same Dagster instance. A step writing a DuckDB
file holds an exclusive lock on ``<file>.dwh-lock`` while it loads, so the second step waits for
the first, and logs that it waits; the instance's event log shows it. Without the lock the same
launch fails one of the runs with DuckDB's "Could not set lock on file".
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg

from dwh_dagster.ingestion.locks import duckdb_lock_path, exclusive_file_lock
from dwh_dagster_tests.conftest import WriteProject, duckdb_rows

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
    # create the instance's SQLite storage once, as any used DAGSTER_HOME has it: two processes
    # creating it at the same moment race (two alembic heads in schedules.db)
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []

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

    # the control: the event log shows that the later step waited for the lock while the first loaded
    lock = duckdb_lock_path(database).name
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(run.job_name for run in runs) == ["job_a", "job_b"]
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        steps = {}
        for run in runs:
            loaded: list[float] = []
            waited: list[float] = []
            end = 0.0
            for record in instance.all_logs(run.run_id):
                message = record.user_message or ""
                if "rows loaded" in message:
                    loaded.append(record.timestamp)
                if message.startswith("waiting") and lock in message:
                    waited.append(record.timestamp)
                event = record.dagster_event
                if event is not None and event.event_type_value == "STEP_SUCCESS":
                    end = record.timestamp
            steps[run.job_name] = (min(loaded), end, waited)
    first, second = sorted(steps.values())  # by the time each finished loading
    first_loaded, _, first_waited = first
    second_loaded, _, second_waited = second
    assert first_waited == []
    assert second_waited, "the later step never waited for the DuckDB lock"
    assert min(second_waited) < first_loaded  # it was waiting while the first one loaded
    assert second_loaded > first_loaded


def test_the_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    path = duckdb_lock_path(tmp_path / "wh.duckdb")
    order: list[str] = []
    first_holds = threading.Event()
    release_first = threading.Event()
    waits: list[str] = []

    def first() -> None:
        with exclusive_file_lock(path, waits.append):
            order.append("first in")
            first_holds.set()
            release_first.wait(timeout=30)
            order.append("first out")

    def second() -> None:
        first_holds.wait(timeout=30)
        with exclusive_file_lock(path, waits.append, poll_seconds=0.01):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_holds.wait(timeout=30)
    while not waits:  # the second thread is waiting (it logs once when it starts waiting)
        threading.Event().wait(0.01)
    release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    assert order == ["first in", "first out", "second in"]
    assert waits and "another step writes this DuckDB file" in waits[0]

"""DuckDB has one writer: two jobs writing one DuckDB file, launched together, both succeed.

Each job runs in its own ``dwh run`` process on the same Dagster instance. A step writing a DuckDB
file holds an exclusive lock on ``<file>.dwh-lock`` while it loads, so the second step waits for
the first, and logs that it waits; the instance's event log shows it. Without the lock the same
launch fails one of the runs with DuckDB's "Could not set lock on file".
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.ingestion import locks
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


@pytest.mark.slow
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


def test_the_lock_file_sits_beside_the_database_in_a_created_folder(tmp_path: Path) -> None:
    database = tmp_path / "not" / "yet" / "wh.duckdb"
    path = duckdb_lock_path(database)
    assert path == database.with_name("wh.duckdb.dwh-lock")
    waits: list[str] = []
    with exclusive_file_lock(path, waits.append):
        assert path.is_file()
    assert path.is_file()  # left in place: waiters must all lock the same file
    assert waits == []


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    path = duckdb_lock_path(tmp_path / "wh.duckdb")
    start = threading.Barrier(4)
    guard = threading.Lock()
    inside: list[int] = []
    most_inside = 0
    entered: list[int] = []
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        nonlocal most_inside
        try:
            start.wait(timeout=30)
            for _ in range(5):
                with exclusive_file_lock(path, lambda _message: None, poll_seconds=0.001):
                    with guard:
                        inside.append(number)
                        most_inside = max(most_inside, len(inside))
                        entered.append(number)
                    time.sleep(0.005)
                    with guard:
                        inside.remove(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(entered) == sorted(list(range(4)) * 5)
    assert most_inside == 1


def test_taking_the_lock_again_in_the_holding_thread_fails_instead_of_waiting(tmp_path: Path) -> None:
    path = duckdb_lock_path(tmp_path / "wh.duckdb")
    with exclusive_file_lock(path, print):
        with pytest.raises(RuntimeError, match="already holds"), exclusive_file_lock(path, print):
            pass
        # another thread still has to wait while this one holds it
        got_in = threading.Event()
        waits: list[str] = []

        def other() -> None:
            with exclusive_file_lock(path, waits.append, poll_seconds=0.01):
                got_in.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not got_in.wait(timeout=0.3)
        assert waits
    thread.join(timeout=30)
    assert got_in.is_set()
    with exclusive_file_lock(path, print):  # released: this thread can take it again
        pass


def test_a_waiter_logs_right_away_then_again_while_it_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LOG_EVERY_SECONDS", 0.2)
    path = duckdb_lock_path(tmp_path / "wh.duckdb")
    waits: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with exclusive_file_lock(path, print):
            holding.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(timeout=30)
    threading.Timer(0.9, release.set).start()
    with exclusive_file_lock(path, waits.append, poll_seconds=0.01):
        pass
    thread.join(timeout=30)
    assert waits[0] == "waiting 0 s for wh.duckdb.dwh-lock: another step writes this DuckDB file"
    assert 3 <= len(waits) <= 6  # at 0 s, then about every 0.2 s until the holder lets go at 0.9 s


HOLD_AND_SLEEP = """
import sys, time
from pathlib import Path
from dwh_dagster.ingestion.locks import exclusive_file_lock
with exclusive_file_lock(Path(sys.argv[1]), print):
    print("holding", flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_lock_file_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    path = duckdb_lock_path(tmp_path / "wh.duckdb")
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_SLEEP, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "holding"

        # while the child lives, it holds the lock: a waiter here waits
        waits: list[str] = []
        got_in = threading.Event()
        leave = threading.Event()

        def waiter() -> None:
            with exclusive_file_lock(path, waits.append, poll_seconds=0.01):
                got_in.set()
                leave.wait(timeout=30)

        thread = threading.Thread(target=waiter)
        thread.start()
        assert not got_in.wait(timeout=0.5)
        assert waits, "the waiter did not wait for the child's lock"

        # SIGKILL: the child cannot clean up, but the kernel drops its lock
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert got_in.wait(timeout=10), "the lock of a killed process still blocks"
        leave.set()
        thread.join(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)

    # the lock file is still there, and the next step takes the lock at once
    assert path.is_file()
    later: list[str] = []
    with exclusive_file_lock(path, later.append):
        pass
    assert later == []

"""Crash consistency: ``dwh run`` SIGKILLed at each stage of a load and of a model rebuild, then
the warehouse checked and the job run again.

Every test loads the resource ``items`` of a rest_api source (paginated, incremental on
``updated_at``, merged on ``id``) from an API on 127.0.0.1, usually once completely (the previous
state), then changes the API (5 records updated, 25 added) and runs ``dwh run`` again in its own
process group, which is SIGKILLed at one point of its work: by the test, while the API holds back
a page or while a model builds, or by the process itself at an exact point of dlt's or our code
(``crash_support.py``, the driver). Then:

- the table shows the previous complete state, or nothing on a first load: no row of the killed load;
- the DuckDB file opens read-write and read-only, and its ``.dwh-lock`` can be taken at once;
- a plain ``dwh run`` of the job (a new process) asks the API from the cursor of the last complete
  load, removes the dlt working folder the killed process left and takes over the lock file it
  left, saying so in a log line that names the dead process, and ends with every record of the API
  exactly once, row for row, each row from a load dlt recorded as complete.

The first check is made right after the kill but asserted last (as :class:`PartialStateVisible`),
so that where it does not hold (the ``xfail`` cases) the recovery is still checked in full.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster.ingestion.locks import dead_holder, duckdb_lock_path, exclusive_file_lock
from dwh_dagster.ingestion.runner import STEP_LOCK
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.deployment.support import clean_env
from dwh_dagster_tests.ingestion.crash_support import (
    INITIAL_CURSOR,
    JOB,
    MODELS_JOB,
    PIPELINE,
    REACHED,
    UNRECORDED_LOADS,
    ItemsApi,
    Warehouse,
    duckdb_query,
    dwh_command,
    model_files,
    project_files,
    wait_for_event,
    wait_for_text,
)
from dwh_dagster_tests.postgres_support import unique_schema
from dwh_dagster_tests.processes import start, stop, tail

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 120  # seconds for a whole `dwh run` process
KILL_TIMEOUT = 60  # seconds for the killed run to reach its point
WEIGHT_ROWS = 8_000_000  # rows each item is joined with in the slow model (0.7 s for 25 items here)


class PartialStateVisible(AssertionError):
    """Right after the kill, the table showed rows of the killed load."""


@dataclass
class Project:
    """A test's project: its YAML, the API it loads, its warehouse and its Dagster instance."""

    defs: Path
    api: ItemsApi
    warehouse: Warehouse
    home: Path

    def state_folders(self) -> list[Path]:
        """The dlt working folders of the pipeline (one per run that has not removed its own)."""
        folder = self.home / "dwh_state" / PIPELINE
        return sorted(folder.iterdir()) if folder.is_dir() else []

    def run_in_process(self, capsys: pytest.CaptureFixture[str], job: str = JOB) -> str:
        """``dwh run JOB`` in this process (only before anything was killed); its console output."""
        status = main(["run", job, "--defs", str(self.defs)])
        output = capsys.readouterr()
        assert status == 0, output.err[-4000:]
        return output.err

    def run(self, name: str, job: str = JOB) -> str:
        """``dwh run JOB`` in its own process, bounded in time; its output."""
        log = self.defs.parent / "logs" / f"{name}.log"
        process = start(dwh_command("run", job, "--defs", str(self.defs)), clean_env(self.home), log)
        try:
            status = process.wait(timeout=RUN_TIMEOUT)
        finally:
            stop(process, signal.SIGKILL)
        assert status == 0, tail(log)
        return log.read_text()

    @contextmanager
    def killed(
        self, job: str, *extra: str, point: str | None = None
    ) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
        """``dwh run JOB`` started in its own process group (through the driver that dies at
        ``point`` when given); whatever happens, the group is SIGKILLed and the API released."""
        log = self.defs.parent / "logs" / "killed.log"
        command = dwh_command("run", job, *extra, "--defs", str(self.defs), point=point)
        process = start(command, clean_env(self.home), log)
        try:
            yield process, log
        finally:
            stop(process, signal.SIGKILL)
            self.api.release.set()
        assert process.returncode == -signal.SIGKILL, tail(log)


@pytest.fixture
def make_project(
    write_project: WriteProject, server: HTTPServer, dagster_home: Path
) -> Iterator[Callable[..., Project]]:
    """``make_project(kind, models=False)``: a project loading the API into ``duckdb`` (a file
    beside ``yaml_defs/``) or ``postgres`` (a unique schema, dropped afterwards); ``models`` adds
    the models."""
    with ExitStack() as stack:

        def make(kind: str, *, models: bool = False) -> Project:
            api = ItemsApi()
            server.expect_request("/items").respond_with_handler(api.handle)
            dataset = (
                stack.enter_context(unique_schema("dwh_crash", create=False)) if kind == "postgres" else "api"
            )
            files = project_files(server.port, kind, dataset)
            if models:
                files.update(model_files(WEIGHT_ROWS))
            defs = write_project(files)
            return Project(defs, api, Warehouse(kind, dataset, defs.parent / "wh.duckdb"), dagster_home)

        yield make


# --------------------------------------------------------------------------- shared steps


def prepare(
    project: Project, capsys: pytest.CaptureFixture[str], *, baseline: bool
) -> tuple[list[tuple[Any, ...]] | None, str]:
    """25 records, loaded completely when ``baseline``; then 5 of them updated and 25 added.

    Returns what the table holds before the run that is killed (None: no table) and the cursor
    the next complete load must start from.
    """
    project.api.change(added=25)
    previous: list[tuple[Any, ...]] | None = None
    cursor = INITIAL_CURSOR
    if baseline:
        project.run_in_process(capsys)
        previous = project.warehouse.items()
        assert previous == project.api.rows()
        cursor = project.api.cursor()
    project.api.change(updated=5, added=25)
    return previous, cursor


def kill_at(project: Project, point: str, job: str = JOB, *extra: str) -> int:
    """Run ``job`` through the driver, which SIGKILLs it when it reaches ``point``; its pid."""
    with project.killed(job, *extra, point=point) as (process, log):
        try:
            process.wait(timeout=KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{point} not reached in {KILL_TIMEOUT} s:\n{tail(log)}") from None
    assert f"{REACHED}{point}" in log.read_text(), tail(log)
    return process.pid


def assert_duckdb_usable(database: Path) -> None:
    """The file's ``.dwh-lock`` is free at once, and the file opens read-write, then read-only."""
    import duckdb
    import filelock

    lock = filelock.UnixFileLock(str(duckdb_lock_path(database)), is_singleton=False)
    lock.acquire(timeout=0)  # filelock.Timeout: something still holds it
    try:
        with duckdb.connect(str(database)) as connection:  # read-write: replays a WAL left behind
            assert connection.execute("select 42").fetchall() == [(42,)]
    finally:
        lock.release()
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("select 42").fetchall() == [(42,)]


def lines_naming(output: str, *needles: str) -> list[str]:
    """The lines of ``output`` that contain every one of ``needles``."""
    return [line for line in output.splitlines() if all(n in line for n in needles)]


def recover(project: Project, pid: int, cursor: str) -> list[tuple[Any, ...]] | None:
    """The checks after a kill during a load; returns what the table showed right after it."""
    visible = project.warehouse.items()
    left = project.state_folders()
    assert len(left) == 1, f"expected the killed run's dlt working folder, found {left}"
    killed_run = left[0].name
    if project.warehouse.kind == "duckdb":
        assert_duckdb_usable(project.warehouse.database)

    project.api.requests.clear()
    output = project.run("rerun")

    sent = [request["since"] for request in project.api.requests]
    assert sent and set(sent) == {cursor}, f"the re-run asked from {sent}, not from {cursor}"
    assert project.warehouse.items() == project.api.rows()  # every record once, as the API has it
    assert project.warehouse.query("select count(*), count(distinct id) from {dataset}.items") == [
        (len(project.api.records), len(project.api.records))
    ]
    assert project.warehouse.query(UNRECORDED_LOADS) == [(0,)]

    assert project.state_folders() == [], "the killed run's dlt working folder is still there"
    said = lines_naming(output, killed_run, f"pid {pid}", "removed")
    assert said, f"no line says that the working folder of run {killed_run} was removed:\n{output}"
    if project.warehouse.kind == "duckdb":
        said = lines_naming(output, "wh.duckdb.dwh-lock", f"pid {pid}")
        assert said, f"no line says that the lock left by pid {pid} was taken over:\n{output}"
    return visible


def assert_no_row_of_the_killed_load(
    visible: list[tuple[Any, ...]] | None, previous: list[tuple[Any, ...]] | None
) -> None:
    """What the table showed right after the kill: ``previous``, or nothing (no table, no row)."""
    if previous is None and not visible:
        return
    if visible == previous:
        return
    shown = {row[0]: row for row in visible or []}
    before = {row[0]: row for row in previous or []}
    missing = sorted(set(before) - set(shown))
    changed = sorted(i for i in shown if shown[i] != before.get(i))
    raise PartialStateVisible(
        f"right after the kill the table showed {len(shown)} rows instead of {len(before)}: "
        f"ids missing {missing}, ids new or changed by the killed load {changed}"
    )


# --------------------------------------------------------------------------- the stages


def killed_at_and_recovered(
    project: Project, capsys: pytest.CaptureFixture[str], point: str, *, baseline: bool
) -> None:
    """The job killed by the driver at ``point`` (after a complete load first, with ``baseline``),
    recovered by a plain re-run, and no row of the killed load seen right after the kill."""
    previous, cursor = prepare(project, capsys, baseline=baseline)
    pid = kill_at(project, point)
    visible = recover(project, pid, cursor)
    assert_no_row_of_the_killed_load(visible, previous)


@pytest.mark.parametrize(
    ("baseline", "page"),
    [
        pytest.param(False, 2, id="first-load-page-2"),
        pytest.param(True, 1, id="page-1"),
        pytest.param(True, 5, id="last-empty-page"),
    ],
)
def test_kill_during_the_http_extract(
    make_project: Callable[..., Project], capsys: pytest.CaptureFixture[str], baseline: bool, page: int
) -> None:
    project = make_project("duckdb")
    previous, cursor = prepare(project, capsys, baseline=baseline)
    project.api.hold_page = page  # the API holds that page back: the run waits for it mid-pagination
    with project.killed(JOB) as (process, log):
        wait_for_event(project.api.held, process, log, KILL_TIMEOUT)
        stop(process, signal.SIGKILL)
    assert project.api.requests[-1] == {"since": cursor, "page": str(page)}
    visible = recover(project, process.pid, cursor)
    assert_no_row_of_the_killed_load(visible, previous)


@pytest.mark.parametrize(
    ("point", "baseline"),
    [("normalize_start", True), ("normalize_spooled", False), ("normalize_committed", True)],
)
def test_kill_during_normalize(
    make_project: Callable[..., Project], capsys: pytest.CaptureFixture[str], point: str, baseline: bool
) -> None:
    killed_at_and_recovered(make_project("duckdb"), capsys, point, baseline=baseline)


LOAD_BEFORE_COMPLETE = pytest.mark.xfail(
    strict=True,
    raises=PartialStateVisible,
    reason="dlt commits each load job (the merge into the final table included) before it writes "
    "the load to _dlt_loads: killed in between, the table shows every row of the killed load "
    "although the load was never recorded (the re-run still fetches from the old cursor and "
    "merges them again, exactly once)",
)


@pytest.mark.parametrize(
    "point",
    [
        "load_data_job",
        "load_merge_half",
        pytest.param("load_before_complete", marks=LOAD_BEFORE_COMPLETE),
    ],
)
def test_kill_during_the_duckdb_load(
    make_project: Callable[..., Project], capsys: pytest.CaptureFixture[str], point: str
) -> None:
    killed_at_and_recovered(make_project("duckdb"), capsys, point, baseline=True)


@pytest.mark.parametrize(
    "point",
    [
        "load_data_job",
        "load_insert_open",
        pytest.param("load_before_complete", marks=LOAD_BEFORE_COMPLETE),
    ],
)
def test_kill_during_a_postgres_load(
    make_project: Callable[..., Project], capsys: pytest.CaptureFixture[str], point: str
) -> None:
    killed_at_and_recovered(make_project("postgres"), capsys, point, baseline=True)


def test_duckdb_commits_each_statement_of_a_script_unless_a_transaction_is_open(tmp_path: Path) -> None:
    """What ``load_merge_half`` relies on: in a transaction, a DELETE; INSERT script whose INSERT
    does not happen leaves nothing; outside one, its DELETE stays committed."""
    import duckdb

    database = str(tmp_path / "script.duckdb")
    script = "delete from t where a = 1; insert into t select cast(v as integer) from s;"  # 'x' fails
    with duckdb.connect(database) as connection:
        connection.execute("create table t (a integer); insert into t values (1), (2)")
        connection.execute("create table s (v varchar); insert into s values ('x')")
        connection.begin()
        with pytest.raises(duckdb.ConversionException):
            connection.execute(script)
        connection.rollback()
        assert connection.execute("select a from t order by a").fetchall() == [(1,), (2,)]
        with pytest.raises(duckdb.ConversionException):
            connection.execute(script)
    with duckdb.connect(database) as connection:  # seen anew: row 1 is deleted for good
        assert connection.execute("select a from t order by a").fetchall() == [(2,)]


MODEL_SQL = {
    "weights": "select id, name, weight from marts.weights order by id",
    "latest": "select id, name, strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
    "from marts.latest order by id",
}


def model_rows(project: Project) -> dict[str, list[tuple[Any, ...]] | None]:
    return {name: duckdb_query(project.warehouse.database, sql) for name, sql in MODEL_SQL.items()}


@pytest.mark.parametrize(
    ("model", "point", "fraction"),
    [
        pytest.param("weights", None, 0.3, id="table-model-early"),
        pytest.param("weights", None, 1.0, id="table-model-late"),
        pytest.param("latest", "transform_after_delete", None, id="incremental-model-in-transaction"),
    ],
)
def test_kill_during_a_model_rebuild(
    make_project: Callable[..., Project],
    capsys: pytest.CaptureFixture[str],
    model: str,
    point: str | None,
    fraction: float | None,
) -> None:
    project = make_project("duckdb", models=True)
    project.api.change(added=25)
    project.run_in_process(capsys)
    built = project.run_in_process(capsys, MODELS_JOB)
    took = re.search(r"marts\.weights: table created, 25 rows in ([0-9.]+) s", built)
    assert took, built
    previous = model_rows(project)
    project.api.change(updated=5, added=25)
    project.run_in_process(capsys)  # api.items changed: both models would change

    if point is not None:
        pid = kill_at(project, point, MODELS_JOB, "--select", model)
    else:
        assert fraction is not None
        with project.killed(MODELS_JOB, "--select", model) as (process, log):
            wait_for_text(log, "building marts.weights in duckdb destination", process, KILL_TIMEOUT)
            # a fraction of the time 25 items took: with 50 items now the build takes about twice that
            time.sleep(fraction * float(took.group(1)))
            stop(process, signal.SIGKILL)
        assert "marts.weights: table replaced" not in log.read_text(), "the kill came after the build"
        pid = process.pid
    visible = model_rows(project)
    assert_duckdb_usable(project.warehouse.database)

    output = project.run("rerun", MODELS_JOB)
    items = project.api.rows()
    assert model_rows(project) == {
        "weights": [(number, name, WEIGHT_ROWS) for number, name, _ in items],
        "latest": items,
    }
    said = lines_naming(output, "wh.duckdb.dwh-lock", f"pid {pid}")
    assert said, f"no line says that the lock left by pid {pid} was taken over:\n{output}"
    if visible != previous:
        raise PartialStateVisible(f"right after the kill the models showed {visible}, not {previous}")


# --------------------------------------------------------------------------- the leftovers themselves

HOLD = """
import sys, time
from pathlib import Path
from dwh_dagster.ingestion.locks import exclusive_file_lock
with exclusive_file_lock(Path(sys.argv[1]), print):
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_lock_file_names_its_holder_and_a_dead_one_is_reported_when_taken_over(tmp_path: Path) -> None:
    path = duckdb_lock_path(tmp_path / "wh.duckdb")
    log = tmp_path / "holder.log"
    holder = start([sys.executable, "-c", HOLD, str(path)], dict(os.environ), log)
    try:
        wait_for_text(log, "holding", holder, KILL_TIMEOUT)
        record = path.read_text().strip()
        assert record.startswith(f"pid {holder.pid} since "), record
        assert dead_holder(path) is None  # held by a live process
    finally:
        stop(holder, signal.SIGKILL)
    assert holder.returncode == -signal.SIGKILL
    assert dead_holder(path) == record  # the kernel dropped the lock, the name stayed

    messages: list[str] = []
    with exclusive_file_lock(path, messages.append):
        assert path.read_text().startswith(f"pid {os.getpid()} since ")
    assert messages == [
        f"wh.duckdb.dwh-lock was left by {record}, which died holding it (killed or crashed): the "
        "kernel released its lock when it died, so this step took the lock over"
    ]
    assert path.read_text() == ""  # released properly: no name, nothing to report
    assert dead_holder(path) is None
    with exclusive_file_lock(path, messages.append):
        pass
    assert len(messages) == 1


def test_the_working_folder_of_a_failed_step_is_kept_not_taken_for_a_dead_one(
    make_project: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("duckdb")
    project.api.change(added=25)
    project.api.fail_page = 2
    assert main(["run", JOB, "--defs", str(project.defs)]) == 1
    assert "dlt working directory kept at" in capsys.readouterr().err
    (failed,) = project.state_folders()
    assert (failed / STEP_LOCK).read_text() == ""  # released properly
    assert dead_holder(failed / STEP_LOCK) is None

    project.api.fail_page = None
    output = project.run_in_process(capsys)
    assert project.state_folders() == [failed]  # still there for inspection
    assert "removed the dlt working folder" not in output
    assert project.warehouse.items() == project.api.rows()

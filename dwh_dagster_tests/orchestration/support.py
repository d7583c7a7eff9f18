"""Helpers of the job-mode tests: small filesystem projects, daemon-like runs and a run's event log.

A project here is a filesystem source ``drop`` (files written into ``tmp_path/drop``) with one
resource per pipeline, and one DuckDB destination per database file. A pipeline that must fail
reads a corrupt parquet file. Runs of ``parallel`` and ``dag`` jobs go through the job's own
executor, as the daemon runs them: ``dagster job execute`` in a subprocess on the test's
``DAGSTER_HOME``; the steps are then read back from that instance's event log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dwh_dagster.config.naming import pipeline_op_name
from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject

RUN_TIMEOUT = 240  # seconds a subprocess run may take before the test fails

EV = dg.DagsterEventType
ATTEMPT_STARTS = (EV.STEP_START, EV.STEP_RESTARTED)
ATTEMPT_ENDS = (EV.STEP_SUCCESS, EV.STEP_FAILURE, EV.STEP_UP_FOR_RETRY)


@dataclass(frozen=True)
class Pipe:
    """One pipeline of a test project: its own table, written into ``database``.duckdb."""

    name: str
    database: str = "warehouse"
    fails: bool = False  # reads a corrupt parquet file
    rows: int = 500

    @property
    def step(self) -> str:
        return pipeline_op_name(self.name)

    @property
    def table(self) -> str:
        return f"t_{self.name}"

    @property
    def dataset(self) -> str:
        return f"ds_{self.name}"

    @property
    def asset(self) -> str:
        return f"{self.dataset}/{self.table}"


def write_pipes_project(
    write_project: WriteProject, tmp_path: Path, pipes: Sequence[Pipe], jobs: dict[str, str]
) -> Path:
    """Write the data files and the YAML of ``pipes`` plus the ``jobs`` (``{job name: yaml}``)."""
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    resources = []
    for pipe in pipes:
        if pipe.fails:
            (drop / f"{pipe.name}.parquet").write_text("not parquet")
            resources.append(f'- {{name: {pipe.table}, file_glob: "{pipe.name}.parquet", format: parquet}}')
        else:
            with (drop / f"{pipe.name}.jsonl").open("w") as out:
                for i in range(pipe.rows):
                    out.write(json.dumps({"id": i, "pipe": pipe.name, "value": i * 0.5, "note": "x" * 20}))
                    out.write("\n")
            resources.append(f'- {{name: {pipe.table}, file_glob: "{pipe.name}.jsonl", format: jsonl}}')
    files = {
        "sources/drop.yaml": "source:\n  name: drop\n  type: filesystem\n  connection: {bucket_url: drop}\n"
        "  resources:\n" + "".join(f"    {r}\n" for r in resources)
    }
    for database in sorted({p.database for p in pipes}):
        files[f"destinations/{database}.yaml"] = f"""
            destination:
              name: {database}
              type: duckdb
              connection: {{database: {database}.duckdb}}
        """
    for pipe in pipes:
        files[f"pipelines/{pipe.name}.yaml"] = f"""
            pipeline:
              name: {pipe.name}
              source: {{config_file: drop, resources: [{pipe.table}]}}
              destination: {{config_file: {pipe.database}, dataset_name: {pipe.dataset}}}
        """
    for name, text in jobs.items():
        files[f"jobs/{name}.yaml"] = textwrap.dedent(text)
    return write_project(files)


def prepare_instance() -> None:
    """Create the SQLite storage of ``$DAGSTER_HOME`` once, before any subprocess uses it."""
    with dg.DagsterInstance.get() as instance:
        assert instance.event_log_storage.supports_global_concurrency_limits


def dagster_job_execute(defs: Path, job: str, dagster_home: Path) -> subprocess.Popen[str]:
    """Start ``dagster job execute`` of ``job``: the job runs through its own executor."""
    env = {**os.environ, "DWH_DEFS_DIR": str(defs), "DAGSTER_HOME": str(dagster_home)}
    env.pop("ENVIRONMENT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "dwh_dagster.definitions", "-j", job],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = RUN_TIMEOUT) -> str:
    """Wait for a started run (killed after ``timeout`` seconds); its exit code and output tail."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"run did not finish in {timeout} s:\n{output[-4000:]}") from None
    return f"exit code {process.returncode}\n{output[-6000:]}"


def execute_job_like_the_daemon(
    defs: Path, job: str, dagster_home: Path, timeout: float = RUN_TIMEOUT
) -> RunEvents:
    """Run ``job`` through its own executor in a ``dagster job execute`` subprocess; its events."""
    prepare_instance()
    output = finish(dagster_job_execute(defs, job, dagster_home), timeout)
    return RunEvents.of_job(job, output)


def wait_for_step_start(job: str, step: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    """Wait until the run of ``job`` has started ``step`` (fails when ``process`` ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with dg.DagsterInstance.get() as instance:
            for run in instance.get_runs():
                if run.job_name != job:
                    continue
                records = instance.get_records_for_run(run.run_id, of_type=EV.STEP_START).records
                if any(r.event_log_entry.step_key == step for r in records):
                    return
        assert process.poll() is None, f"{job} ended before {step} started:\n{finish(process)}"
        time.sleep(0.2)
    raise AssertionError(f"{step} of {job} did not start in {timeout} s")


@dataclass
class RunEvents:
    """The event log of one run on the instance in ``$DAGSTER_HOME``."""

    run: dg.DagsterRun
    records: list[dg.EventLogEntry]
    output: str = ""  # the subprocess output, for failure messages
    _attempts: dict[str, list[tuple[float, float]]] | None = field(default=None, repr=False)

    @classmethod
    def of_job(cls, job: str, output: str = "") -> RunEvents:
        """The events of the one run of ``job`` on the instance."""
        with dg.DagsterInstance.get() as instance:
            runs = [run for run in instance.get_runs() if run.job_name == job]
        assert len(runs) == 1, f"expected one run of {job}, found {len(runs)}:\n{output}"
        return cls.load(runs[0].run_id, output)

    @classmethod
    def load(cls, run_id: str, output: str = "") -> RunEvents:
        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            records = sorted(instance.all_logs(run_id), key=lambda r: r.timestamp)
        return cls(run, records, output)

    @property
    def status(self) -> dg.DagsterRunStatus:
        return self.run.status

    def of_type(self, *event_types: dg.DagsterEventType, step: str | None = None) -> list[dg.EventLogEntry]:
        """Records of these event types, optionally of one step, in time order."""
        return [
            r
            for r in self.records
            if r.dagster_event is not None
            and r.dagster_event.event_type in event_types
            and (step is None or r.step_key == step)
        ]

    def times(self, event_type: dg.DagsterEventType, step: str) -> list[float]:
        return [r.timestamp for r in self.of_type(event_type, step=step)]

    def started_steps(self) -> list[str]:
        """Steps in the order of their first STEP_START."""
        return list(dict.fromkeys(r.step_key for r in self.of_type(EV.STEP_START) if r.step_key))

    def step_types(self, step: str) -> list[dg.DagsterEventType]:
        """The event types of one step, in time order."""
        return [
            r.dagster_event.event_type
            for r in self.records
            if r.dagster_event is not None and r.step_key == step
        ]

    def materialized(self) -> set[str]:
        """Asset keys materialized by the run, as ``dataset/table``."""
        out = set()
        for record in self.of_type(EV.ASSET_MATERIALIZATION):
            key = record.dagster_event.asset_key  # type: ignore[union-attr]
            assert key is not None
            out.add(key.to_user_string())
        return out

    def messages(self, step: str | None = None, level: int | None = None) -> list[str]:
        """Text of the log records (user and engine messages), optionally of one step or level."""
        out = []
        for record in self.records:
            if step is not None and record.step_key != step:
                continue
            if level is not None and record.level != level:
                continue
            text = record.user_message or ""
            if record.dagster_event is not None and record.dagster_event.message:
                text = f"{text} {record.dagster_event.message}"
            out.append(text)
        return out

    def message_times(self, text: str, step: str | None = None) -> list[float]:
        """Times of the user log messages containing ``text`` (of one step, if given)."""
        return [
            r.timestamp
            for r in self.records
            if text in (r.user_message or "") and (step is None or r.step_key == step)
        ]

    def loaded_at(self, step: str) -> float:
        """When the step finished loading (its ``rows loaded`` log line)."""
        times = self.message_times("rows loaded", step)
        assert times, f"{step} never loaded"
        return min(times)

    def run_failure_message(self) -> str:
        failures = self.of_type(EV.RUN_FAILURE)
        assert failures, f"no RUN_FAILURE event:\n{self.output}"
        return failures[-1].dagster_event.message or ""  # type: ignore[union-attr]

    def attempts(self) -> dict[str, list[tuple[float, float]]]:
        """Each step's attempts as (start, end) times: STEP_START/STEP_RESTARTED to
        STEP_SUCCESS/STEP_FAILURE/STEP_UP_FOR_RETRY."""
        if self._attempts is None:
            attempts: dict[str, list[tuple[float, float]]] = {}
            opened: dict[str, float] = {}
            for record in self.of_type(*ATTEMPT_STARTS, *ATTEMPT_ENDS):
                step = record.step_key
                assert step is not None
                kind = record.dagster_event.event_type  # type: ignore[union-attr]
                if kind in ATTEMPT_STARTS:
                    assert step not in opened, f"{step} started twice without ending:\n{self.output}"
                    opened[step] = record.timestamp
                else:
                    assert step in opened, f"{step} ended ({kind}) without starting:\n{self.output}"
                    attempts.setdefault(step, []).append((opened.pop(step), record.timestamp))
            assert not opened, f"attempts never ended: {sorted(opened)}"
            self._attempts = attempts
        return self._attempts

    def max_overlap(self, steps: Iterable[str] | None = None) -> int:
        """Most attempts running at one moment (of ``steps``, default all)."""
        chosen = set(self.attempts()) if steps is None else set(steps)
        return max_overlap([a for step in chosen for a in self.attempts().get(step, [])])

    def overlaps(self, first: str, second: str) -> bool:
        """Whether an attempt of ``first`` ran at the same time as one of ``second``."""
        return max_overlap([*self.attempts().get(first, []), *self.attempts().get(second, [])]) > 1


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one moment; one ending when another starts does not overlap."""
    points = sorted(p for start, end in intervals for p in ((start, 1), (end, -1)))  # ends sort first
    running = peak = 0
    for _, change in points:
        running += change
        peak = max(peak, running)
    return peak

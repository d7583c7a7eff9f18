"""The DuckDB writer pool: the run queue starts one run per DuckDB file at a time.

Every step that writes a DuckDB file is in that file's Dagster pool (``duckdb_writer:<file>:<hash>``)
and the repo's dagster.yaml sets ``concurrency: pools: granularity: run`` with ``default_limit: 1``.
Runs are launched as in production: ``dagster job launch`` puts them in the queue, the real
``dagster-daemon`` dequeues them (its QueuedRunCoordinator) and run workers execute them, all on
the test's DAGSTER_HOME. A watcher polls the run statuses the whole time.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dwh_dagster.assets.pipeline_assets import writer_pool
from dwh_dagster.config.loader import load_project
from dwh_dagster.config.naming import duckdb_writer_pool
from dwh_dagster.ingestion.plan import build_load_plan
from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject, instance_settings_yaml
from dwh_dagster_tests.deployment.support import clean_env, daemon_command, dagster, module_workspace
from dwh_dagster_tests.orchestration.support import Pipe, RunEvents, prepare_instance, write_pipes_project
from dwh_dagster_tests.processes import running, tail

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

ROWS = 20_000  # a few seconds of loading per run
LAUNCH_TIMEOUT = 180  # seconds for `dagster job launch` to queue a run
RUNS_TIMEOUT = 420  # seconds for the daemon to start and finish every run of a test
LOCATION = "dwh"
ROUND_TAG = "test/round"

ACTIVE = {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def one_pipeline_job(name: str, pipeline: str) -> str:
    return f"""
        job:
          name: {name}
          pipelines: [{{name: {pipeline}}}]
    """


@dataclass
class Watch:
    """Run statuses seen while polling, by run id: which runs were active (STARTING/STARTED) together."""

    jobs: dict[str, str] = field(default_factory=dict)  # run id -> job name
    statuses: dict[str, list[dg.DagsterRunStatus]] = field(default_factory=dict)
    together: set[frozenset[str]] = field(default_factory=set)
    queued_while_active: set[tuple[str, str]] = field(default_factory=set)  # (queued run, active run)

    def see(self, runs: list[dg.DagsterRun]) -> None:
        for run in runs:
            self.jobs[run.run_id] = run.job_name
            seen = self.statuses.setdefault(run.run_id, [])
            if not seen or seen[-1] != run.status:
                seen.append(run.status)
        active = [r.run_id for r in runs if r.status in ACTIVE]
        queued = [r.run_id for r in runs if r.status == dg.DagsterRunStatus.QUEUED]
        for i, first in enumerate(active):
            for second in active[i + 1 :]:
                self.together.add(frozenset((first, second)))
        self.queued_while_active.update((q, a) for q in queued for a in active)

    def ran_together(self, first: str, second: str) -> bool:
        return frozenset((first, second)) in self.together

    def report(self) -> str:
        return "\n".join(
            f"{self.jobs[r]} {r[:8]}: {[s.value for s in st]}" for r, st in self.statuses.items()
        )


@contextmanager
def watching(interval: float = 0.2) -> Iterator[Watch]:
    """Poll the runs of the instance in ``$DAGSTER_HOME`` in a thread while the block runs."""
    watch = Watch()
    stop = threading.Event()

    def poll() -> None:
        with dg.DagsterInstance.get() as instance:
            while not stop.is_set():
                watch.see(list(instance.get_runs()))
                stop.wait(interval)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join(timeout=30)


class Deployment:
    """A project, a workspace on it and the environment of the daemon and of ``dagster job launch``."""

    def __init__(self, defs: Path, dagster_home: Path, tmp_path: Path) -> None:
        self.workspace = module_workspace(tmp_path / "workspace.yaml", LOCATION)
        self.env = clean_env(dagster_home, DWH_DEFS_DIR=str(defs))
        self.daemon_log = tmp_path / "daemon.log"

    def launch(self, *jobs: str, round_: int = 1) -> None:
        """Queue one run of each job (``dagster job launch``, all at once), tagged ``round``."""
        tags = json.dumps({ROUND_TAG: str(round_)})
        processes = {
            job: subprocess.Popen(
                dagster("job", "launch", "-w", str(self.workspace), "-j", job, "--tags", tags),
                cwd=REPO_ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for job in jobs
        }
        for job, process in processes.items():
            try:
                output, _ = process.communicate(timeout=LAUNCH_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            assert process.returncode == 0, f"dagster job launch -j {job} failed:\n{output[-4000:]}"

    @contextmanager
    def daemon(self) -> Iterator[subprocess.Popen[bytes]]:
        with running(daemon_command(self.workspace), self.env, self.daemon_log) as process:
            yield process

    def wait_until_done(
        self, jobs: set[str], process: subprocess.Popen[bytes], round_: int = 1
    ) -> dict[str, str]:
        """Wait until the run of every job in round ``round_`` finished successfully; run ids by job."""
        deadline = time.monotonic() + RUNS_TIMEOUT
        while True:
            with dg.DagsterInstance.get() as instance:
                runs = {
                    r.job_name: r
                    for r in instance.get_runs(filters=dg.RunsFilter(tags={ROUND_TAG: str(round_)}))
                }
            if jobs <= runs.keys() and all(runs[j].status in DONE for j in jobs):
                break
            assert process.poll() is None, f"the daemon exited:\n{tail(self.daemon_log)}"
            if time.monotonic() > deadline:
                status = {j: r.status.value for j, r in runs.items()}
                raise AssertionError(
                    f"runs not done after {RUNS_TIMEOUT} s: {status}\n{tail(self.daemon_log)}"
                )
            time.sleep(1)
        for job, run in runs.items():
            if run.status != dg.DagsterRunStatus.SUCCESS:
                messages = RunEvents.load(run.run_id).messages()[-20:]
                raise AssertionError(f"{job}: {run.status.value}\n" + "\n".join(messages))
        return {job: run.run_id for job, run in runs.items()}


def run_interval(run_id: str) -> tuple[float, float]:
    with dg.DagsterInstance.get() as instance:
        [record] = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run_id]))
    assert record.start_time is not None and record.end_time is not None
    return record.start_time, record.end_time


def lock_waits(run_id: str) -> list[str]:
    """The messages of a run about waiting for a DuckDB file lock (inside a step)."""
    return [m for m in RunEvents.load(run_id).messages() if "dwh-lock" in m]


# -- the pool on the ops -----------------------------------------------------------------------


def test_every_duckdb_pipeline_is_in_the_pool_of_its_file(
    write_project: WriteProject, tmp_path: Path
) -> None:
    pipes = [Pipe("a", database="one"), Pipe("b", database="one"), Pipe("c", database="two")]
    defs = write_pipes_project(write_project, tmp_path, pipes, {})
    project = load_project(defs, "dev")
    plans = {name: build_load_plan(project, p) for name, p in project.pipelines.items()}
    pools = {name: writer_pool(plan.destination, plan.local_path) for name, plan in plans.items()}

    assert pools["a"] == pools["b"] == duckdb_writer_pool(str(tmp_path / "one.duckdb"))
    assert pools["c"] == duckdb_writer_pool(str(tmp_path / "two.duckdb")) != pools["a"]
    assert pools["a"] is not None and pools["a"].startswith("duckdb_writer:one.duckdb:")
    # one file, however it is spelled; same name in another folder: another pool
    assert duckdb_writer_pool("/data/x/../wh.duckdb") == duckdb_writer_pool("/data/wh.duckdb")
    assert duckdb_writer_pool("/data/a/wh.duckdb") != duckdb_writer_pool("/data/b/wh.duckdb")
    assert duckdb_writer_pool("/my data/w h.duckdb").split(":")[1] == "w_h.duckdb"  # no whitespace


def test_instance_settings_make_the_pools_run_scoped_with_one_slot(dagster_home: Path) -> None:
    assert "run_queue" not in yaml.safe_load(instance_settings_yaml())  # an error beside `concurrency: runs:`
    with dg.DagsterInstance.get() as instance:
        config = instance.get_concurrency_config()
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert config.pool_config.pool_granularity is not None
    assert config.pool_config.pool_granularity.value == "run"
    assert config.pool_config.default_pool_limit == 1
    assert config.run_queue_config is not None
    assert config.run_queue_config.max_concurrent_runs == 4
    assert config.run_queue_config.should_block_op_concurrency_limited_runs


# -- the real daemon -------------------------------------------------------------------------------


def test_queue_runs_one_writer_per_duckdb_file_and_different_files_together(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    first, second = Pipe("first", database="shared", rows=ROWS), Pipe("second", database="shared", rows=ROWS)
    other = Pipe("other", database="own", rows=ROWS)
    jobs = {"job_first", "job_second", "job_other"}
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [first, second, other],
        {
            "job_first": one_pipeline_job("job_first", "first"),
            "job_second": one_pipeline_job("job_second", "second"),
            "job_other": one_pipeline_job("job_other", "other"),
        },
    )
    shared_pool = duckdb_writer_pool(str(tmp_path / "shared.duckdb"))
    own_pool = duckdb_writer_pool(str(tmp_path / "own.duckdb"))
    prepare_instance()
    deployment = Deployment(defs, dagster_home, tmp_path)

    # Round 1, on an instance that never saw these pools: Dagster 1.13 creates a pool (with
    # `default_limit`) in the dequeue pass that first sees it, but decides that pass with the pools
    # it knew before, so runs queued together before that pass all start (README). The file lock
    # keeps their writes apart: all succeed.
    deployment.launch(*sorted(jobs), round_=1)
    with deployment.daemon() as daemon:
        deployment.wait_until_done(jobs, daemon, round_=1)
        with dg.DagsterInstance.get() as instance:
            limits = {p.name: (p.limit, p.from_default) for p in instance.event_log_storage.get_pool_limits()}
        assert limits == {shared_pool: (1, True), own_pool: (1, True)}

        # Round 2, the pools known: the queue starts one run per DuckDB file at a time
        with watching() as watch:
            deployment.launch(*sorted(jobs), round_=2)
            run_ids = deployment.wait_until_done(jobs, daemon, round_=2)

    one, two, own = run_ids["job_first"], run_ids["job_second"], run_ids["job_other"]
    # one DuckDB file: never in progress together; one of them waited in the queue
    assert not watch.ran_together(one, two), watch.report()
    assert (two, one) in watch.queued_while_active or (one, two) in watch.queued_while_active, watch.report()
    earlier, later = sorted((run_interval(one), run_interval(two)))
    assert later[0] >= earlier[1]
    assert "is blocked by global concurrency limits" in tail(deployment.daemon_log, 1_000_000)
    # the queue kept them apart, so the file lock inside the step never had to wait
    assert lock_waits(one) == lock_waits(two) == []
    # another DuckDB file: not serialized behind them
    assert watch.ran_together(own, one) or watch.ran_together(own, two), watch.report()


def test_sequential_job_waits_in_the_queue_and_keeps_its_order(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    holder = Pipe("holder", database="shared", rows=ROWS)
    first, second = Pipe("first_shared", database="shared"), Pipe("second_own", database="own")
    third = Pipe("third_shared", database="shared")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [holder, first, second, third],
        {
            "hold": one_pipeline_job("hold", "holder"),
            "ordered": """
                job:
                  name: ordered
                  pipelines:
                    - {name: third_shared, order: 3}
                    - {name: second_own, order: 2}
                    - {name: first_shared, order: 1}
                  execution: {mode: sequential, continue_on_failure: false}
            """,
        },
    )
    prepare_instance()
    deployment = Deployment(defs, dagster_home, tmp_path)
    # the pool's limit set explicitly, as the README suggests: it exists before the first dequeue
    pool = duckdb_writer_pool(str(tmp_path / "shared.duckdb"))
    result = subprocess.run(
        dagster("instance", "concurrency", "set", pool, "1"),
        cwd=REPO_ROOT,
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    deployment.launch("hold")
    deployment.launch("ordered")  # queued after hold: the queue is first in, first out

    with watching() as watch, deployment.daemon() as daemon:
        run_ids = deployment.wait_until_done({"hold", "ordered"}, daemon)

    # `ordered` writes shared.duckdb (and own.duckdb): it waited in the queue while `hold` ran
    hold, ordered = run_ids["hold"], run_ids["ordered"]
    assert not watch.ran_together(hold, ordered), watch.report()
    assert (ordered, hold) in watch.queued_while_active, watch.report()
    assert run_interval(ordered)[0] >= run_interval(hold)[1]
    events = RunEvents.load(ordered)
    # in `order`, one at a time: no step waited for a pool inside the run, none was started ahead
    assert events.started_steps() == [first.step, second.step, third.step]
    assert events.max_overlap() == 1
    assert not [m for m in events.messages() if "blocked by limit for pool" in m or "dwh-lock" in m]

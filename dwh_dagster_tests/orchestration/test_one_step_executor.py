"""The executor of a job: in the run's process for one step, whatever the mode; else as the mode says.

A job whose run has one step (one enabled pipeline: one multi-asset op) gains nothing from a step
process, which costs a second Python start and code load (``benchmarks/run_overhead.py``); it
runs in-process in every mode. Jobs of several steps keep their mode's executor: ``sequential``
in-process, ``parallel`` and ``dag`` one process per step. A one-step ``parallel`` job still
retries through Dagster (STEP_UP_FOR_RETRY), as its mode says.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster.jobs import job_step_count
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.orchestration.support import EV, Pipe, execute_job_like_the_daemon, write_pipes_project

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

MODES = ("sequential", "parallel", "dag")


def job_yaml(name: str, pipelines: str, mode: str, extra: str = "") -> str:
    return f"""
        job:
          name: {name}
          pipelines: {pipelines}
          execution: {{mode: {mode}, max_parallelism: 2}}
          {extra}
    """


def executors(write_project: WriteProject, tmp_path: Path, jobs: dict[str, str]) -> dict[str, str]:
    defs = write_pipes_project(write_project, tmp_path, [Pipe("a"), Pipe("b"), Pipe("c")], jobs)
    project = load_project(defs, "dev")
    definitions = build_definitions(project)
    return {name: definitions.resolve_job_def(name).executor_def.name for name in jobs}


@pytest.mark.parametrize("mode", MODES)
def test_a_job_of_one_pipeline_runs_in_process_in_every_mode(
    write_project: WriteProject, tmp_path: Path, mode: str
) -> None:
    found = executors(
        write_project,
        tmp_path,
        {
            "one": job_yaml("one", "[{name: a}]", mode),
            # two entries, one disabled: still one step
            "one_enabled": job_yaml("one_enabled", "[{name: a}, {name: b, enabled: false}]", mode),
        },
    )
    assert found == {"one": "in_process", "one_enabled": "in_process"}


def test_jobs_of_several_pipelines_keep_their_modes_executor(
    write_project: WriteProject, tmp_path: Path
) -> None:
    found = executors(
        write_project,
        tmp_path,
        {
            "seq": job_yaml("seq", "[{name: a}, {name: b}]", "sequential"),
            "par": job_yaml("par", "[{name: a}, {name: b}, {name: c}]", "parallel"),
            "dag": job_yaml("dag", "[{name: a}, {name: b, depends_on: [a]}]", "dag"),
            "par_two_enabled": job_yaml(
                "par_two_enabled", "[{name: a}, {name: b}, {name: c, enabled: false}]", "parallel"
            ),
        },
    )
    assert found == {
        "seq": "in_process",
        "par": "multiprocess",
        "dag": "multiprocess",
        "par_two_enabled": "multiprocess",
    }


def test_step_count_is_the_number_of_enabled_pipelines(write_project: WriteProject, tmp_path: Path) -> None:
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [Pipe("a"), Pipe("b")],
        {
            "both": job_yaml("both", "[{name: a}, {name: b}]", "parallel"),
            "first": job_yaml("first", "[{name: a}, {name: b, enabled: false}]", "parallel"),
        },
    )
    project = load_project(defs, "dev")
    assert job_step_count(project.jobs["both"]) == 2
    assert job_step_count(project.jobs["first"]) == 1


def test_one_step_parallel_job_runs_in_the_run_process_like_the_daemon_runs_it(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    pipe = Pipe("a", rows=20)
    defs = write_pipes_project(
        write_project, tmp_path, [pipe], {"one": job_yaml("one", "[{name: a}]", "parallel")}
    )

    events = execute_job_like_the_daemon(defs, "one", dagster_home)

    assert events.status == dg.DagsterRunStatus.SUCCESS, events.output
    assert events.materialized() == {pipe.asset}
    assert not events.of_type(EV.STEP_WORKER_STARTING)  # no step process
    assert any("Executing steps in process" in m for m in events.messages()), events.messages()


def test_one_step_parallel_job_still_retries_through_dagster(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    broken = Pipe("broken", fails=True)
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [broken],
        {
            "flaky": job_yaml(
                "flaky", "[{name: broken}]", "parallel", "retries: {max_attempts: 2, retry_delay: 1}"
            )
        },
    )

    events = execute_job_like_the_daemon(defs, "flaky", dagster_home)

    assert events.status == dg.DagsterRunStatus.FAILURE, events.output
    assert not events.of_type(EV.STEP_WORKER_STARTING)
    kinds = [
        t
        for t in events.step_types(broken.step)
        if t in (EV.STEP_START, EV.STEP_UP_FOR_RETRY, EV.STEP_RESTARTED, EV.STEP_FAILURE)
    ]
    assert kinds == [EV.STEP_START, EV.STEP_UP_FOR_RETRY, EV.STEP_RESTARTED, EV.STEP_FAILURE]
    up, restart = (
        events.times(EV.STEP_UP_FOR_RETRY, broken.step)[0],
        events.times(EV.STEP_RESTARTED, broken.step)[0],
    )
    assert restart - up >= 1.0  # the retry_delay

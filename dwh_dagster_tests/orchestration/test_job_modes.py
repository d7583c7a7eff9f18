"""Job execution modes with real parts: filesystem files loaded into DuckDB by real Dagster runs.

``sequential`` jobs run one pipeline at a time in ``order`` and stop at the first failure unless
``continue_on_failure``; ``parallel`` jobs run at most ``max_parallelism`` pipelines at once;
``dag`` jobs follow ``depends_on`` and skip the dependents of a failed pipeline; ``retries``
retries failed steps with their delays; steps writing one DuckDB file never overlap, in any mode.

``execute_in_process`` always uses the in-process executor, so ``parallel`` and ``dag`` jobs (and
the sequential order test) run through the job's own executor in a ``dagster job execute``
subprocess, as the daemon runs them; their steps are read back from the instance's event log.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster_tests.conftest import RunJob, WriteProject, duckdb_rows
from dwh_dagster_tests.orchestration.support import (
    EV,
    Pipe,
    RunEvents,
    dagster_job_execute,
    execute_job_like_the_daemon,
    finish,
    prepare_instance,
    wait_for_step_start,
    write_pipes_project,
)

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

HOLD_ROWS = 40_000
SUCCESS = dg.DagsterRunStatus.SUCCESS
FAILURE = dg.DagsterRunStatus.FAILURE


def table_rows(tmp_path: Path, pipe: Pipe) -> int:
    rows = duckdb_rows(
        tmp_path / f"{pipe.database}.duckdb", f"select count(*) from {pipe.dataset}.{pipe.table}"
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def table_exists(tmp_path: Path, pipe: Pipe) -> bool:
    database = tmp_path / f"{pipe.database}.duckdb"
    if not database.exists():
        return False
    sql = (
        "select count(*) from information_schema.tables "
        f"where table_schema = '{pipe.dataset}' and table_name = '{pipe.table}'"
    )
    return duckdb_rows(database, sql)[0][0] == 1


def retry_delays(events: RunEvents, step: str) -> list[float]:
    """Seconds from each STEP_UP_FOR_RETRY of ``step`` to its next STEP_RESTARTED."""
    ups = events.times(EV.STEP_UP_FOR_RETRY, step)
    restarts = events.times(EV.STEP_RESTARTED, step)
    assert len(ups) == len(restarts), (ups, restarts)
    return [restart - up for up, restart in zip(ups, restarts, strict=True)]


def requested_retry_delays(events: RunEvents, step: str) -> list[float]:
    """The delays the STEP_UP_FOR_RETRY events announce ("requested a retry in 1.0 seconds")."""
    out = []
    for record in events.of_type(EV.STEP_UP_FOR_RETRY, step=step):
        found = re.search(r"retry in ([0-9.]+) seconds", record.dagster_event.message or "")  # type: ignore[union-attr]
        assert found, record.dagster_event.message  # type: ignore[union-attr]
        out.append(float(found.group(1)))
    return out


# -- sequential ---------------------------------------------------------------------------------


def test_sequential_job_runs_its_enabled_pipelines_one_at_a_time_in_order(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    # each pipeline has its own DuckDB file: no pool serializes them, only the execution mode
    alpha, bravo, charlie, delta = (
        Pipe(n, database=f"db_{n}") for n in ("alpha", "bravo", "charlie", "delta")
    )
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [alpha, bravo, charlie, delta],
        {
            "nightly": """
                job:
                  name: nightly
                  pipelines:
                    - {name: alpha, order: 3}
                    - {name: delta, order: 0, enabled: false}
                    - {name: bravo.yaml, order: 1}
                    - {name: charlie, order: 2}
                  execution: {mode: sequential, max_parallelism: 4}
            """
        },
    )
    events = execute_job_like_the_daemon(defs, "nightly", dagster_home)

    assert events.status == SUCCESS, events.output
    # by `order`: neither alphabetical (alpha, bravo, charlie) nor file order (alpha, bravo, charlie)
    assert events.started_steps() == [bravo.step, charlie.step, alpha.step]
    assert events.max_overlap() == 1
    attempts = events.attempts()
    for earlier, later in [(bravo, charlie), (charlie, alpha)]:
        assert attempts[later.step][0][0] >= attempts[earlier.step][-1][1]
    assert events.materialized() == {alpha.asset, bravo.asset, charlie.asset}
    assert events.step_types(delta.step) == []  # disabled: not part of the job
    assert not (tmp_path / "db_delta.duckdb").exists()
    for pipe in (alpha, bravo, charlie):
        assert table_rows(tmp_path, pipe) == pipe.rows


def test_sequential_job_stops_at_the_first_failure_without_continue_on_failure(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    zed, broken, able, baker = Pipe("zed"), Pipe("broken", fails=True), Pipe("able"), Pipe("baker")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [zed, broken, able, baker],
        {
            "stop_early": """
                job:
                  name: stop_early
                  pipelines:
                    - {name: able, order: 3}
                    - {name: baker, order: 4}
                    - {name: broken, order: 2}
                    - {name: zed, order: 1}
                  execution: {mode: sequential, continue_on_failure: false}
            """
        },
    )
    result = run_job(defs, "stop_early")
    events = RunEvents.load(result.run_id)

    assert not result.success
    assert events.status == FAILURE
    assert events.materialized() == {zed.asset}
    assert events.step_types(broken.step)[-1] == EV.STEP_FAILURE
    assert table_rows(tmp_path, zed) == zed.rows
    for pipe in (able, baker):
        assert EV.STEP_FAILURE not in events.step_types(pipe.step)
        assert not table_exists(tmp_path, pipe)
        warnings = events.messages(step=pipe.step, level=logging.WARNING)
        assert any(
            f"pipeline {pipe.name} not run" in w and broken.step in w and "continue_on_failure: false" in w
            for w in warnings
        ), warnings
    assert broken.step in events.run_failure_message()


def test_sequential_job_with_continue_on_failure_runs_the_rest_and_fails_naming_the_failure(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    broken, after, last = Pipe("zz_broken", fails=True), Pipe("after"), Pipe("last")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [broken, after, last],
        {
            "keep_going": """
                job:
                  name: keep_going
                  pipelines:
                    - {name: last, order: 3}
                    - {name: after, order: 2}
                    - {name: zz_broken, order: 1}
                  execution: {mode: sequential, continue_on_failure: true}
            """
        },
    )
    result = run_job(defs, "keep_going")
    events = RunEvents.load(result.run_id)

    assert not result.success
    assert events.status == FAILURE
    assert events.started_steps() == [broken.step, after.step, last.step]
    assert events.step_types(broken.step)[-1] == EV.STEP_FAILURE
    assert EV.STEP_UP_FOR_RETRY not in events.step_types(broken.step)  # no `retries`: one attempt
    assert events.materialized() == {after.asset, last.asset}
    assert table_rows(tmp_path, after) == after.rows and table_rows(tmp_path, last) == last.rows
    message = events.run_failure_message()
    assert broken.step in message
    assert after.step not in message and last.step not in message


def test_sequential_fail_fast_holds_while_a_failed_pipeline_waits_for_its_retry(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    zed, broken, able = Pipe("zed"), Pipe("broken", fails=True), Pipe("able")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [zed, broken, able],
        {
            "stop_early": """
                job:
                  name: stop_early
                  pipelines:
                    - {name: able, order: 3}
                    - {name: broken, order: 2}
                    - {name: zed, order: 1}
                  execution: {mode: sequential, continue_on_failure: false}
                  retries: {max_attempts: 2, retry_delay: 2}
            """
        },
    )
    result = run_job(defs, "stop_early")
    events = RunEvents.load(result.run_id)

    assert not result.success
    # sequential jobs retry inside the step: the executor never moves on while a retry is pending
    retried = events.messages(step=broken.step, level=logging.WARNING)
    assert sum("attempt 1 of 2 failed; retrying in 2 s" in w for w in retried) == 1, retried
    final_failure = events.times(EV.STEP_FAILURE, broken.step)[-1]
    able_starts = events.times(EV.STEP_START, able.step)
    assert all(start >= final_failure for start in able_starts), "able ran before broken failed for good"
    assert events.materialized() == {zed.asset}
    assert not table_exists(tmp_path, able)


def test_sequential_order_holds_while_another_run_writes_the_first_pipelines_duckdb_file(
    write_project: WriteProject, run_job: RunJob, dagster_home: Path, tmp_path: Path
) -> None:
    holder = Pipe("holder", database="shared", rows=HOLD_ROWS)  # a few seconds of writing
    first, second = Pipe("first_shared", database="shared"), Pipe("second_own", database="own")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [holder, first, second],
        {
            "hold": """
                job:
                  name: hold
                  pipelines: [{name: holder}]
            """,
            "ordered": """
                job:
                  name: ordered
                  pipelines:
                    - {name: second_own, order: 2}
                    - {name: first_shared, order: 1}
                  execution: {mode: sequential, continue_on_failure: false}
            """,
        },
    )
    prepare_instance()
    hold = dagster_job_execute(defs, "hold", dagster_home)
    try:
        wait_for_step_start("hold", holder.step, hold)
        result = run_job(defs, "ordered")
    finally:
        hold_output = finish(hold)
    held, events = RunEvents.of_job("hold", hold_output), RunEvents.load(result.run_id)

    assert held.status == SUCCESS, hold_output
    assert events.status == SUCCESS
    # one DuckDB writer across runs: first_shared waited for holder's lock on the file
    assert events.message_times("shared.duckdb.dwh-lock", first.step), "never waited for the lock"
    assert events.loaded_at(first.step) > held.loaded_at(holder.step)
    # and still one pipeline at a time, in `order`
    assert events.started_steps() == [first.step, second.step]
    assert events.attempts()[second.step][0][0] >= events.attempts()[first.step][-1][1]


def test_job_retries_count_every_attempt_and_back_off_exponentially(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    broken = Pipe("broken", fails=True)
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [broken],
        {
            "flaky": """
                job:
                  name: flaky
                  pipelines: [{name: broken}]
                  execution: {mode: parallel}
                  retries: {max_attempts: 3, retry_delay: 1, exponential_backoff: true}
            """
        },
    )
    result = run_job(defs, "flaky")
    events = RunEvents.load(result.run_id)

    assert not result.success
    kinds = [
        t
        for t in events.step_types(broken.step)
        if t in (EV.STEP_START, EV.STEP_UP_FOR_RETRY, EV.STEP_RESTARTED, EV.STEP_FAILURE)
    ]
    assert kinds == [
        EV.STEP_START,
        EV.STEP_UP_FOR_RETRY,
        EV.STEP_RESTARTED,
        EV.STEP_UP_FOR_RETRY,
        EV.STEP_RESTARTED,
        EV.STEP_FAILURE,
    ]  # 3 attempts in all, the first included
    assert len(events.attempts()[broken.step]) == 3
    delays = retry_delays(events, broken.step)
    assert delays[0] >= 1.0 and delays[1] >= 2.0  # retry_delay, then doubled
    assert delays[1] > delays[0]
    requested = requested_retry_delays(events, broken.step)
    assert requested[0] >= 1.0 and requested[1] >= 2.0


def test_exponential_backoff_doubles_the_delay_after_each_retry(
    write_project: WriteProject, tmp_path: Path
) -> None:
    from dwh_dagster.config.loader import load_project
    from dwh_dagster.definitions import build_definitions

    defs = write_pipes_project(
        write_project,
        tmp_path,
        [Pipe("broken", fails=True)],
        {
            "flaky": """
                job:
                  name: flaky
                  pipelines: [{name: broken}]
                  retries: {max_attempts: 4, retry_delay: 10, exponential_backoff: true}
            """
        },
    )
    from dwh_dagster.assets.pipeline_assets import all_step_policies

    project = load_project(defs, "dev")
    assert build_definitions(project).resolve_job_def("flaky").op_retry_policy is None  # steps retry
    retry = all_step_policies(project)["broken"]["flaky"].retry
    assert retry.max_attempts == 4
    assert [retry.delay_before(attempt) for attempt in (2, 3, 4)] == [10, 20, 40]


def test_constant_job_retries_are_the_jobs_dagster_retry_policy(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    from dwh_dagster.config.loader import load_project
    from dwh_dagster.definitions import build_definitions

    broken = Pipe("broken", fails=True)
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [broken],
        {
            "flaky": """
                job:
                  name: flaky
                  pipelines: [{name: broken}]
                  execution: {mode: parallel}
                  retries: {max_attempts: 3, retry_delay: 1}
            """
        },
    )
    job = build_definitions(load_project(defs, "dev")).resolve_job_def("flaky")
    assert job.op_retry_policy == dg.RetryPolicy(max_retries=2, delay=1)

    events = RunEvents.load(run_job(defs, "flaky").run_id)

    assert len(events.attempts()[broken.step]) == 3  # the first and max_retries 2
    assert events.step_types(broken.step).count(EV.STEP_UP_FOR_RETRY) == 2
    assert all(delay >= 1.0 for delay in retry_delays(events, broken.step))


def test_a_pipelines_own_retry_overrides_the_job_retry_policy(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    broken = Pipe("broken", fails=True)
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [broken],
        {
            "flaky": """
                job:
                  name: flaky
                  pipelines: [{name: broken}]
                  execution: {mode: parallel}
                  retries: {max_attempts: 4, retry_delay: 1}
            """
        },
    )
    pipeline_file = defs / "pipelines" / "broken.yaml"
    pipeline_file.write_text(pipeline_file.read_text() + "  retry: {max_attempts: 2, initial_delay: 1}\n")

    result = run_job(defs, "flaky")
    events = RunEvents.load(result.run_id)

    assert not result.success
    assert len(events.attempts()[broken.step]) == 2, "the job's policy retried after the pipeline's own"
    assert events.step_types(broken.step)[-1] == EV.STEP_FAILURE


def test_sequential_retries_happen_inside_the_step_with_doubling_delays(
    write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    broken = Pipe("broken", fails=True)
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [broken],
        {
            "flaky": """
                job:
                  name: flaky
                  pipelines: [{name: broken}]
                  execution: {mode: sequential}
                  retries: {max_attempts: 3, retry_delay: 1, exponential_backoff: true}
            """
        },
    )
    result = run_job(defs, "flaky")
    events = RunEvents.load(result.run_id)
    assert not result.success
    assert EV.STEP_UP_FOR_RETRY not in events.step_types(broken.step)
    first = events.message_times("attempt 1 of 3 failed; retrying in 1 s", broken.step)
    second = events.message_times("attempt 2 of 3 failed; retrying in 2 s", broken.step)
    assert len(first) == len(second) == 1
    assert second[0] - first[0] >= 1.0
    assert events.times(EV.STEP_FAILURE, broken.step)[-1] - second[0] >= 2.0


# -- parallel -----------------------------------------------------------------------------------


def test_parallel_job_runs_at_most_max_parallelism_pipelines_at_once(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    pipes = [Pipe(n, database=f"db_{n}") for n in ("north", "east", "south", "west")]
    defs = write_pipes_project(
        write_project,
        tmp_path,
        pipes,
        {
            "fan_out": """
                job:
                  name: fan_out
                  pipelines: [{name: north}, {name: east}, {name: south}, {name: west}]
                  execution: {mode: parallel, max_parallelism: 2}
            """
        },
    )
    events = execute_job_like_the_daemon(defs, "fan_out", dagster_home)

    assert events.status == SUCCESS, events.output
    assert set(events.attempts()) == {p.step for p in pipes}
    assert events.max_overlap() == 2, events.attempts()
    assert events.materialized() == {p.asset for p in pipes}
    for pipe in pipes:
        assert table_rows(tmp_path, pipe) == pipe.rows


def test_parallel_pipelines_writing_one_duckdb_file_never_overlap(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    one, two = Pipe("one", database="shared"), Pipe("two", database="shared")
    other = Pipe("other", database="elsewhere")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [one, two, other],
        {
            "fan_out": """
                job:
                  name: fan_out
                  pipelines: [{name: one}, {name: two}, {name: other}]
                  execution: {mode: parallel, max_parallelism: 3}
            """
        },
    )
    events = execute_job_like_the_daemon(defs, "fan_out", dagster_home)

    assert events.status == SUCCESS, events.output
    assert events.materialized() == {one.asset, two.asset, other.asset}
    # the executor ran the steps in parallel: only the lock on the shared file kept one waiting
    assert events.overlaps(other.step, one.step) or events.overlaps(other.step, two.step), events.attempts()
    waited = [p for p in (one, two) if events.message_times("shared.duckdb.dwh-lock", p.step)]
    assert len(waited) == 1, "exactly one of the two writers waited for the other"
    other_writer = two if waited[0] is one else one
    assert events.loaded_at(waited[0].step) > events.loaded_at(other_writer.step)
    assert table_rows(tmp_path, one) == one.rows and table_rows(tmp_path, two) == two.rows


def test_parallel_job_ignores_the_depends_on_of_another_dag_job(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    upstream = Pipe("upstream", database="db_upstream", fails=True)
    downstream = Pipe("downstream", database="db_downstream")
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [upstream, downstream],
        {
            "graph": """
                job:
                  name: graph
                  pipelines: [{name: upstream}, {name: downstream, depends_on: [upstream]}]
                  execution: {mode: dag}
            """,
            "fan_out": """
                job:
                  name: fan_out
                  pipelines: [{name: upstream}, {name: downstream}]
                  execution: {mode: parallel, max_parallelism: 2}
            """,
        },
    )
    events = execute_job_like_the_daemon(defs, "fan_out", dagster_home)

    assert events.status == FAILURE, events.output
    assert events.step_types(upstream.step)[-1] == EV.STEP_FAILURE
    # fan_out has no dependencies: downstream runs, alongside upstream
    assert events.materialized() == {downstream.asset}, events.step_types(downstream.step)
    assert events.overlaps(upstream.step, downstream.step), events.attempts()


# -- dag ----------------------------------------------------------------------------------------


def test_dag_job_follows_depends_on_and_skips_the_dependents_of_a_failed_pipeline(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    zulu = Pipe("zulu", database="shared")
    solo = Pipe("solo", database="shared")  # same DuckDB file as zulu: never at the same time
    alpha = Pipe("alpha", database="db_alpha")  # depends on zulu
    broken = Pipe("broken", database="db_broken", fails=True)
    after_broken = Pipe("after_broken", database="db_after")  # depends on broken
    after_after = Pipe("after_after", database="db_after_after")  # depends on after_broken
    defs = write_pipes_project(
        write_project,
        tmp_path,
        [zulu, solo, alpha, broken, after_broken, after_after],
        {
            "graph": """
                job:
                  name: graph
                  pipelines:
                    - {name: after_after, depends_on: [after_broken]}
                    - {name: after_broken, depends_on: [broken.yaml]}
                    - {name: alpha, depends_on: [zulu]}
                    - {name: broken}
                    - {name: solo}
                    - {name: zulu}
                  execution: {mode: dag, max_parallelism: 2}
            """
        },
    )
    events = execute_job_like_the_daemon(defs, "graph", dagster_home)

    assert events.status == FAILURE, events.output
    message = events.run_failure_message()
    assert broken.step in message
    # the independent branches succeed, in dependency order
    assert events.materialized() == {zulu.asset, solo.asset, alpha.asset}
    attempts = events.attempts()
    assert events.loaded_at(alpha.step) >= attempts[zulu.step][-1][1]  # alpha waited for zulu
    for pipe in (zulu, solo, alpha):
        assert table_rows(tmp_path, pipe) == pipe.rows
    assert events.step_types(broken.step)[-1] == EV.STEP_FAILURE
    # its dependents, direct and transitive, load nothing and say why
    for pipe in (after_broken, after_after):
        assert not events.message_times("rows loaded", pipe.step)
        assert any(
            f"pipeline {pipe.name} not run" in w and "did not load in this run" in w
            for w in events.messages(step=pipe.step, level=logging.WARNING)
        ), events.messages(step=pipe.step)
        assert not table_exists(tmp_path, pipe)
    # parallel where possible, at most max_parallelism at once
    assert events.max_overlap() == 2, attempts

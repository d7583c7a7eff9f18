"""Event and interval triggers as Dagster sensors, evaluated on a real instance.

Sensors are evaluated as the daemon does (``SensorDefinition.evaluate_tick`` with a context on the
persistent instance of ``dagster_home``, the cursor passed from one evaluation to the next); the
runs and materializations they react to are real runs of a tiny filesystem -> DuckDB project.
"""

from __future__ import annotations

import json
import os
import time
import types
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.automation import sensors as sensors_module
from dwh_dagster.automation.sensors import FILE_TAG
from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.automation.support import ASSET_A, definitions, sensor_of, write_small_project
from dwh_dagster_tests.conftest import RunJob, WriteProject


@pytest.fixture
def instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.get() as inst:
        yield inst


class Evaluator:
    """Evaluates one sensor again and again, carrying the cursor like the daemon does."""

    def __init__(self, sensor: dg.SensorDefinition, instance: dg.DagsterInstance) -> None:
        self.sensor = sensor
        self.instance = instance
        self.cursor: str | None = None

    def __call__(self) -> list[dg.RunRequest]:
        """Run requests of one evaluation with the cursor of the previous one."""
        return self.evaluate(self.cursor)

    def without_cursor(self) -> list[dg.RunRequest]:
        """Run requests of one evaluation after the cursor was lost (a reset sensor)."""
        return self.evaluate(None)

    def evaluate(self, cursor: str | None) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor)
        data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        requests = list(data.run_requests or [])
        if not requests:
            assert data.skip_message, "an evaluation without run requests should say why"
        return requests


# --------------------------------------------------------------------------- file_arrived


FILE_TRIGGER = """
    trigger:
      name: on_file
      type: event
      job: job_a
      event: {type: file_arrived, path: "incoming/*.csv"}
      poll_interval: 5
      tags: {source: upload}
"""


def drop_file(folder: Path, name: str, modified: float) -> str:
    """Write ``folder/name`` with the given modification time; its absolute path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("id,value\n1,2\n")
    os.utime(path, (modified, modified))
    return str(path)


@pytest.fixture
def file_sensor(write_project: WriteProject, instance: dg.DagsterInstance) -> tuple[Evaluator, Path]:
    defs_dir = write_small_project(write_project, {"on_file": FILE_TRIGGER})
    sensor = sensor_of(definitions(defs_dir), "on_file")
    assert [t.job_name for t in sensor.targets] == ["job_a"]
    assert sensor.minimum_interval_seconds == 5
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    return Evaluator(sensor, instance), defs_dir.parent / "incoming"


def test_file_arrived_new_file_requests_one_run_keyed_by_path(file_sensor: tuple[Evaluator, Path]) -> None:
    evaluate, incoming = file_sensor
    assert evaluate() == []  # the folder does not exist yet
    assert evaluate() == []
    now = time.time()
    first = drop_file(incoming, "first.csv", now - 100)
    drop_file(incoming, "ignored.txt", now - 50)  # does not match the glob

    [request] = evaluate()

    assert request.run_key == first
    assert request.tags == {
        "source": "upload",
        "dwh/trigger": "on_file",
        FILE_TAG: first,
        "dagster/sensor_name": "on_file",
    }
    assert evaluate.cursor is not None


def test_file_arrived_cursor_keeps_to_new_files(file_sensor: tuple[Evaluator, Path]) -> None:
    evaluate, incoming = file_sensor
    now = time.time()
    first = drop_file(incoming, "first.csv", now - 100)
    assert [r.run_key for r in evaluate()] == [first]

    assert evaluate() == [], "re-evaluation with the returned cursor: nothing new"

    second = drop_file(incoming, "second.csv", now - 10)
    assert [r.run_key for r in evaluate()] == [second], "a new file: only it"
    assert evaluate() == []


def test_file_arrived_new_files_are_always_requested(file_sensor: tuple[Evaluator, Path]) -> None:
    """Whatever else is re-requested, every new file is in the next evaluation, with its tag
    (a file with the same modification time as the newest one seen included)."""
    evaluate, incoming = file_sensor
    now = time.time()
    first = drop_file(incoming, "first.csv", now - 100)
    assert [r.run_key for r in evaluate()] == [first]
    second = drop_file(incoming, "second.csv", now - 10)
    requests = {r.run_key: r for r in evaluate()}
    assert second in requests
    assert requests[second].tags[FILE_TAG] == second
    same_time = drop_file(incoming, "same_time.csv", now - 10)
    assert same_time in {r.run_key for r in evaluate()}


def test_file_arrived_lost_cursor_requests_the_same_run_keys(file_sensor: tuple[Evaluator, Path]) -> None:
    """Without its cursor (a reset sensor) the sensor requests every file again under the same run
    keys, so the daemon's run-key de-duplication still starts one run per file."""
    evaluate, incoming = file_sensor
    now = time.time()
    seen: dict[str, dict[str, str]] = {}
    for name, age in (("one.csv", 300), ("two.csv", 200), ("three.csv", 100)):
        drop_file(incoming, name, now - age)
        for request in evaluate():
            assert request.run_key is not None
            seen.setdefault(request.run_key, dict(request.tags))
    assert sorted(seen) == sorted(str(incoming / n) for n in ("one.csv", "two.csv", "three.csv"))

    again = evaluate.without_cursor()

    assert sorted(str(r.run_key) for r in again) == sorted(seen)
    for request in again:
        assert request.run_key is not None
        assert dict(request.tags) == seen[request.run_key]


def test_file_arrived_cursor_keeps_only_files_still_present(file_sensor: tuple[Evaluator, Path]) -> None:
    evaluate, incoming = file_sensor
    now = time.time()
    kept = drop_file(incoming, "kept.csv", now - 20)
    gone = drop_file(incoming, "gone.csv", now - 10)
    assert sorted(str(r.run_key) for r in evaluate()) == sorted([kept, gone])
    Path(gone).unlink()
    assert evaluate() == []
    assert evaluate.cursor is not None
    assert json.loads(evaluate.cursor)["seen"] == [kept]


def test_file_arrived_new_file_with_an_older_mtime(file_sensor: tuple[Evaluator, Path]) -> None:
    evaluate, incoming = file_sensor
    now = time.time()
    drop_file(incoming, "recent.csv", now - 10)
    evaluate()
    late = drop_file(incoming, "written_earlier_moved_in_now.csv", now - 3600)
    assert late in {r.run_key for r in evaluate()}


def test_file_arrived_fsspec_url(
    write_project: WriteProject, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    defs_dir = write_small_project(
        write_project,
        {
            "on_url": f"""
                trigger:
                  name: on_url
                  type: event
                  job: job_b
                  event: {{type: file_arrived, path: "file://{landing}/**/*.json"}}
            """
        },
    )
    evaluate = Evaluator(sensor_of(definitions(defs_dir), "on_url"), instance)
    assert evaluate() == []
    path = drop_file(landing / "2024" / "05", "batch.json", time.time() - 60)

    [request] = evaluate()

    assert request.run_key == f"file://{path}"
    assert request.tags[FILE_TAG] == f"file://{path}"
    assert request.tags["dwh/trigger"] == "on_url"


# --------------------------------------------------------------------------- asset_materialized


ASSET_TRIGGER = """
    trigger:
      name: after_a
      type: event
      job: job_b
      event: {type: asset_materialized, pipelines: [load_a]}
      tags: [chained]
"""


@pytest.mark.slow
def test_asset_materialized_first_evaluation_records_cursor_then_one_request(
    write_project: WriteProject, instance: dg.DagsterInstance, run_job: RunJob
) -> None:
    defs_dir = write_small_project(write_project, {"after_a": ASSET_TRIGGER})
    sensor = sensor_of(definitions(defs_dir), "after_a")
    assert [t.job_name for t in sensor.targets] == ["job_b"]
    evaluate = Evaluator(sensor, instance)

    assert evaluate() == []
    assert evaluate.cursor is not None, "the first evaluation records where it started"
    assert evaluate() == []

    assert run_job(defs_dir, "job_a").success
    assert instance.get_latest_materialization_event(ASSET_A) is not None

    [request] = evaluate()
    assert request.tags["dwh/trigger"] == "after_a"
    assert request.tags["chained"] == ""
    assert request.tags["dwh/materialized"] == "ds_a/t_a"
    assert request.run_key

    assert evaluate() == [], "the same materialization never starts a second run"

    assert run_job(defs_dir, "job_b").success  # a table that is not watched
    assert evaluate() == []


def test_asset_materialized_history_before_the_first_evaluation_does_not_count(
    write_project: WriteProject, instance: dg.DagsterInstance, run_job: RunJob
) -> None:
    defs_dir = write_small_project(write_project, {"after_a": ASSET_TRIGGER})
    assert run_job(defs_dir, "job_a").success
    evaluate = Evaluator(sensor_of(definitions(defs_dir), "after_a"), instance)

    assert evaluate() == []
    assert evaluate.cursor is not None
    assert evaluate() == []


# --------------------------------------------------------------------------- job_succeeded / job_failed


JOB_TRIGGERS = {
    "after_a_succeeded": """
        trigger:
          name: after_a_succeeded
          type: event
          job: job_b
          event: {type: job_succeeded, job: job_a.yaml}
          tags: [chained]
    """,
    "after_a_failed": """
        trigger:
          name: after_a_failed
          type: event
          job: job_b
          event: {type: job_failed, job: job_a}
    """,
    "after_bad_failed": """
        trigger:
          name: after_bad_failed
          type: event
          job: job_a
          event: {type: job_failed, job: job_bad}
          tags: {alert: "yes"}
    """,
}


def test_job_succeeded_direct_invocation_with_the_real_run(
    write_project: WriteProject, instance: dg.DagsterInstance, run_job: RunJob
) -> None:
    defs_dir = write_small_project(write_project, JOB_TRIGGERS)
    sensor = sensor_of(definitions(defs_dir), "after_a_succeeded")
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert [t.job_name for t in sensor.targets] == ["job_b"]
    result = run_job(defs_dir, "job_a")
    assert result.success

    context = dg.build_run_status_sensor_context(
        sensor_name="after_a_succeeded",
        dagster_event=result.get_run_success_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    )
    request = sensor(context)

    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"after_a_succeeded:{result.run_id}"
    assert request.tags["dwh/triggered_by_run"] == result.run_id
    assert request.tags["dwh/triggered_by_job"] == "job_a"
    assert request.tags["dwh/trigger"] == "after_a_succeeded"
    assert request.tags["chained"] == ""


@pytest.mark.slow
def test_job_finished_sensors_react_once_to_real_runs(
    write_project: WriteProject, instance: dg.DagsterInstance, run_job: RunJob
) -> None:
    """Through the run-status machinery the daemon uses: cursor, event log, status and job filter."""
    defs_dir = write_small_project(write_project, JOB_TRIGGERS)
    defs = definitions(defs_dir)
    succeeded = Evaluator(sensor_of(defs, "after_a_succeeded"), instance)
    a_failed = Evaluator(sensor_of(defs, "after_a_failed"), instance)
    bad_failed = Evaluator(sensor_of(defs, "after_bad_failed"), instance)
    for evaluate in (succeeded, a_failed, bad_failed):
        assert evaluate() == []  # initialises the cursor

    ok = run_job(defs_dir, "job_a")
    assert ok.success
    assert not run_job(defs_dir, "job_bad").success
    assert run_job(defs_dir, "job_b").success  # watched by nobody

    [request] = succeeded()
    assert request.tags["dwh/triggered_by_run"] == ok.run_id
    assert request.tags["dwh/trigger"] == "after_a_succeeded"
    assert request.job_name in (None, "job_b")
    assert succeeded() == []  # once

    assert a_failed() == []  # job_a succeeded

    [failure_request] = bad_failed()
    bad_run = instance.get_runs(filters=dg.RunsFilter(job_name="job_bad"))[0]
    assert bad_run.status == dg.DagsterRunStatus.FAILURE
    assert failure_request.tags["dwh/triggered_by_run"] == bad_run.run_id
    assert failure_request.tags["dwh/triggered_by_job"] == "job_bad"
    assert failure_request.tags["alert"] == "yes"
    assert bad_failed() == []


# --------------------------------------------------------------------------- interval sensor


def test_interval_sensor_requests_once_per_window(
    write_project: WriteProject, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "every_90": """
                trigger: {name: every_90, type: interval, job: job_a, interval: {minutes: 90}, tags: [slow]}
            """
        },
    )
    sensor = sensor_of(definitions(defs_dir), "every_90")
    assert sensor.minimum_interval_seconds == 5400
    evaluate = Evaluator(sensor, instance)
    clock = {"now": 1_000 * 5400 + 10.0}
    monkeypatch.setattr(sensors_module, "time", types.SimpleNamespace(time=lambda: clock["now"]))

    [first] = evaluate()
    assert first.tags == {"slow": "", "dwh/trigger": "every_90", "dagster/sensor_name": "every_90"}
    assert evaluate() == []
    clock["now"] = 1_000 * 5400 + 5399.0  # still the same 90 minutes
    assert evaluate() == []

    clock["now"] = 1_001 * 5400 + 1.0
    [second] = evaluate()
    assert second.run_key != first.run_key
    assert evaluate() == []

    # a lost cursor within the window repeats the window's run key (the daemon de-duplicates it)
    [repeat] = evaluate.without_cursor()
    assert repeat.run_key == second.run_key

    clock["now"] = 1_004 * 5400 + 100.0  # after a long pause: one run, not one per missed window
    assert len(evaluate()) == 1


# --------------------------------------------------------------------------- validation


def test_job_succeeded_trigger_watching_its_own_job_is_an_error(write_project: WriteProject) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "loop": """
                trigger:
                  name: loop
                  type: event
                  job: job_a
                  event:
                    type: job_succeeded
                    job: job_a.yaml
            """
        },
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs_dir, "dev")
    [error] = info.value.errors
    assert error.file == defs_dir / "triggers" / "loop.yaml"
    assert (error.line, error.column) == (7, 10)
    assert error.field == "trigger.event.job"
    assert "job_a" in error.message and "itself" in error.message


def test_asset_materialized_trigger_whose_job_loads_the_watched_pipeline_is_an_error(
    write_project: WriteProject,
) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "reload": """
                trigger:
                  name: reload
                  type: event
                  job: job_a
                  event:
                    type: asset_materialized
                    pipelines:
                      - load_b
                      - load_a.yaml
            """
        },
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs_dir, "dev")
    [error] = info.value.errors
    assert error.file == defs_dir / "triggers" / "reload.yaml"
    assert (error.line, error.column) == (9, 9)
    assert error.field == "trigger.event.pipelines[1]"
    assert "job_a" in error.message and "load_a" in error.message


def test_event_triggers_that_cannot_loop_are_accepted(write_project: WriteProject) -> None:
    defs_dir = write_small_project(
        write_project,
        {
            "after_a": ASSET_TRIGGER,
            **JOB_TRIGGERS,
        },
    )
    defs = definitions(defs_dir)
    names = sorted(s.name for s in defs.get_repository_def().sensor_defs)
    assert names == ["after_a", "after_a_failed", "after_a_succeeded", "after_bad_failed"]

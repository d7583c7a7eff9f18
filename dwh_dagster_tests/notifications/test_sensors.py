"""The notification sensors on real runs of a real instance.

A tiny filesystem -> DuckDB project (a good jsonl file, a corrupt parquet file) is run in-process on
the instance of ``dagster_home``; the failure and success sensors are evaluated with the run's real
status event, and the SLA sensor while a real run is held up by a slow local API. Messages go to a
real HTTP server on 127.0.0.1 through a signed webhook channel.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dwh_dagster.config.loader import load_project
from dwh_dagster.config.naming import (
    NOTIFY_FAILURE_SENSOR,
    NOTIFY_SUCCESS_SENSOR,
    SLA_SENSOR,
    pipeline_op_name,
)
from dwh_dagster.definitions import build_definitions
from dwh_dagster.notifications.sensors import SLA_TAG
from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_hmac
from dwh_dagster_tests.conftest import REPO_ROOT, RunJob, WriteProject, drop_project_files
from dwh_dagster_tests.notifications.conftest import closed_port, json_posts, requests_to, url_of

UI = "https://dagster.internal.example.com"
HMAC_SECRET = "notify-hmac-secret"
HOOK = "/notify"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWH_UI_URL", UI)
    monkeypatch.setenv("TEST_NOTIFY_HMAC", HMAC_SECRET)


def write_notify_project(write_project: WriteProject, server: HTTPServer) -> Path:
    """Jobs ``job_bad`` (fails), ``job_ok`` (succeeds), ``job_bad_dead`` (fails; a dead channel
    first) and ``job_quiet`` (fails; no channels), all notifying the webhook channel ``hook``."""
    files = {
        **drop_project_files({"t_ok": "ok.jsonl", "t_bad": "bad.parquet"}),
        "channels/hook.yaml": f"""
            channel:
              name: hook
              type: webhook
              url: "{url_of(server, HOOK)}"
              hmac_secret_key: notify_hmac
              headers: {{X-Team: data-platform}}
        """,
        "channels/dead.yaml": f"""
            channel:
              name: dead
              type: webhook
              url: "http://127.0.0.1:{closed_port()}/nobody-home"
        """,
        "secrets_mapping.yaml": "secrets:\n  notify_hmac: {env_var: TEST_NOTIFY_HMAC}\n",
        "jobs/job_bad.yaml": """
            job:
              name: job_bad
              pipelines: [{name: load_bad}]
              notifications: {on_failure: true, channels: [hook]}
        """,
        "jobs/job_ok.yaml": """
            job:
              name: job_ok
              pipelines: [{name: load_ok}]
              notifications: {on_failure: true, on_success: true, channels: [hook.yaml]}
        """,
        "jobs/job_bad_dead.yaml": """
            job:
              name: job_bad_dead
              pipelines: [{name: load_bad}]
              notifications: {channels: [dead, hook]}
        """,
        "jobs/job_quiet.yaml": """
            job:
              name: job_quiet
              pipelines: [{name: load_bad}]
        """,
    }
    defs_dir = write_project(files)
    drop = defs_dir.parent / "drop"
    drop.mkdir()
    (drop / "ok.jsonl").write_text("".join(json.dumps({"id": i, "v": f"v{i}"}) + "\n" for i in range(5)))
    (drop / "bad.parquet").write_text("not parquet")
    return defs_dir


@pytest.fixture
def project(write_project: WriteProject, server: HTTPServer) -> Path:
    server.expect_request(HOOK, method="POST").respond_with_data("ok")
    return write_notify_project(write_project, server)


def sensor_of(defs_dir: Path, name: str, environment: str = "dev") -> dg.SensorDefinition:
    defs = build_definitions(load_project(defs_dir, environment))
    return defs.get_repository_def().get_sensor_def(name)


def evaluate_status_sensor(
    sensor: dg.SensorDefinition, result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance
) -> str:
    """Evaluate a run-status sensor on the run's real RUN_SUCCESS / RUN_FAILURE event."""
    event = result.get_run_success_event() if result.success else result.get_run_failure_event()
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run
    )
    outcome = sensor(context)
    assert isinstance(outcome, dg.SkipReason)
    return outcome.skip_message or ""


def signed_messages(server: HTTPServer) -> list[dict[str, Any]]:
    """The messages POSTed to the hook, each checked for its HMAC signature and extra header."""
    for request in requests_to(server, HOOK):
        signature, timestamp = request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
        assert verify_hmac(HMAC_SECRET, request.get_data(), signature, timestamp) is None
        assert request.headers["X-Team"] == "data-platform"
    return json_posts(server, HOOK)


def run_duration(instance: dg.DagsterInstance, run_id: str) -> float:
    stats = instance.get_run_stats(run_id)
    assert stats.start_time is not None and stats.end_time is not None
    return stats.end_time - stats.start_time


def test_notification_sensors_are_running_by_default(project: Path) -> None:
    defs = build_definitions(load_project(project, "dev")).get_repository_def()
    failure = defs.get_sensor_def(NOTIFY_FAILURE_SENSOR)
    success = defs.get_sensor_def(NOTIFY_SUCCESS_SENSOR)
    assert isinstance(failure, dg.RunStatusSensorDefinition)
    assert isinstance(success, dg.RunStatusSensorDefinition)
    assert failure.default_status == dg.DefaultSensorStatus.RUNNING  # works under the daemon as is
    assert success.default_status == dg.DefaultSensorStatus.RUNNING

    assert SLA_SENSOR not in {s.name for s in defs.sensor_defs}  # no job has an SLA


def test_failure_message_names_the_run_and_its_failed_step(
    project: Path, server: HTTPServer, run_job: RunJob, instance: dg.DagsterInstance
) -> None:
    result = run_job(project, "job_bad", environment="stage")
    assert not result.success

    outcome = evaluate_status_sensor(sensor_of(project, NOTIFY_FAILURE_SENSOR, "stage"), result, instance)

    assert outcome == "notified 1 channel(s)"
    [message] = signed_messages(server)
    assert message["job"] == "job_bad"
    assert message["environment"] == "stage"
    assert message["status"] == "FAILURE"
    assert message["run_id"] == result.run_id
    assert message["duration_seconds"] == pytest.approx(run_duration(instance, result.run_id), abs=0.01)
    assert 0 < message["duration_seconds"] < 120
    assert [failed["step"] for failed in message["failed_steps"]] == [pipeline_op_name("load_bad")]
    assert message["run_url"] == f"{UI}/runs/{result.run_id}"
    assert message["title"] == "[stage] job job_bad FAILURE"


def test_failure_message_gives_the_step_errors_cause_on_one_line(
    project: Path, server: HTTPServer, run_job: RunJob, instance: dg.DagsterInstance
) -> None:
    result = run_job(project, "job_bad")
    assert not result.success

    evaluate_status_sensor(sensor_of(project, NOTIFY_FAILURE_SENSOR), result, instance)

    [message] = signed_messages(server)
    [failed] = message["failed_steps"]
    assert failed["step"] == pipeline_op_name("load_bad")
    error = failed["error"]
    assert len(error.splitlines()) == 1  # as dwh run prints it
    assert error.startswith("pipeline 'load_bad' failed: ")  # what went wrong, as the step raised it
    assert "Parquet magic bytes not found" in error  # and why
    assert "DagsterExecutionStepExecutionError" not in error


def test_success_message(
    project: Path, server: HTTPServer, run_job: RunJob, instance: dg.DagsterInstance
) -> None:
    result = run_job(project, "job_ok")
    assert result.success

    outcome = evaluate_status_sensor(sensor_of(project, NOTIFY_SUCCESS_SENSOR), result, instance)

    assert outcome == "notified 1 channel(s)"
    [message] = signed_messages(server)
    assert message["job"] == "job_ok"
    assert message["environment"] == "dev"
    assert message["status"] == "SUCCESS"
    assert message["run_id"] == result.run_id
    assert message["duration_seconds"] == pytest.approx(run_duration(instance, result.run_id), abs=0.01)
    assert message["failed_steps"] == []
    assert message["run_url"] == f"{UI}/runs/{result.run_id}"


@pytest.mark.slow
def test_a_dead_channel_does_not_stop_the_live_one(
    project: Path,
    server: HTTPServer,
    run_job: RunJob,
    instance: dg.DagsterInstance,
    capfd: pytest.CaptureFixture[str],
) -> None:
    result = run_job(project, "job_bad_dead")
    assert not result.success

    outcome = evaluate_status_sensor(sensor_of(project, NOTIFY_FAILURE_SENSOR), result, instance)

    assert outcome == "notified 1 channel(s); failed: dead"
    [message] = signed_messages(server)
    assert message["job"] == "job_bad_dead" and message["run_id"] == result.run_id
    logged = [line for line in capfd.readouterr().err.splitlines() if "to channel dead failed" in line]
    assert len(logged) == 1 and "ERROR" in logged[0] and "gave up after 3 attempts" in logged[0]


@pytest.mark.slow
def test_failure_sensor_through_its_cursor_like_the_daemon(
    project: Path, server: HTTPServer, run_job: RunJob, instance: dg.DagsterInstance
) -> None:
    """``evaluate_tick`` with the cursor carried over: one message per failed run of a watched job."""
    sensor = sensor_of(project, NOTIFY_FAILURE_SENSOR)
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))  # sets the cursor
    assert requests_to(server, HOOK) == []

    quiet = run_job(project, "job_quiet")  # fails, no channels: not watched
    ok = run_job(project, "job_ok")  # succeeds: not a failure
    bad = run_job(project, "job_bad")
    assert not quiet.success and ok.success and not bad.success

    second = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert [m["run_id"] for m in signed_messages(server)] == [bad.run_id]
    sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=second.cursor))
    assert len(requests_to(server, HOOK)) == 1  # once


# --------------------------------------------------------------------------- SLA


class SlowApi:
    """An API endpoint that answers only once released: holds a run's step while the SLA runs out."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: Request) -> Response:
        self.entered.set()
        self.release.wait(timeout=60)
        return Response(json.dumps([{"id": 1}]), content_type="application/json")


def write_sla_project(write_project: WriteProject, server: HTTPServer, action: str) -> Path:
    files: dict[str, Any] = {
        "sources/api.yaml": {
            "source": {
                "name": "api",
                "type": "rest_api",
                "connection": {
                    "base_url": url_of(server, ""),
                    "timeout": 90,
                    "retry": {"max_attempts": 1, "backoff_factor": 0},
                    "paginator": "single_page",
                },
                "resources": [{"name": "items", "endpoint": "/slow", "primary_key": ["id"]}],
            }
        },
        "destinations/wh.yaml": {
            "destination": {"name": "wh", "type": "duckdb", "connection": {"database": "wh.duckdb"}}
        },
        "pipelines/slow.yaml": {
            "pipeline": {
                "name": "slow",
                "source": {"config_file": "api"},
                "destination": {"config_file": "wh", "dataset_name": "api"},
            }
        },
        "channels/hook.yaml": {
            "channel": {
                "name": "hook",
                "type": "webhook",
                "url": url_of(server, HOOK),
                "hmac_secret_key": "notify_hmac",
                "headers": {"X-Team": "data-platform"},
            }
        },
        "secrets_mapping.yaml": {"secrets": {"notify_hmac": {"env_var": "TEST_NOTIFY_HMAC"}}},
        "jobs/slow_job.yaml": {
            "job": {
                "name": "slow_job",
                "pipelines": [{"name": "slow"}],
                "notifications": {"channels": ["hook"]},
                "sla": {"duration": 1, "action": action},
            }
        },
    }
    return write_project({path: yaml.safe_dump(body, sort_keys=False) for path, body in files.items()})


@pytest.fixture
def slow_api(server: HTTPServer) -> Iterator[SlowApi]:
    api = SlowApi()
    server.expect_request("/slow").respond_with_handler(api)
    server.expect_request(HOOK, method="POST").respond_with_data("ok")
    yield api
    api.release.set()


def test_sla_breach_sends_one_message_per_run_and_tags_it(
    write_project: WriteProject,
    server: HTTPServer,
    slow_api: SlowApi,
    run_job: RunJob,
    instance: dg.DagsterInstance,
) -> None:
    defs_dir = write_sla_project(write_project, server, "alert")
    sensor = sensor_of(defs_dir, SLA_SENSOR)
    results: list[dg.ExecuteInProcessResult] = []
    runner = threading.Thread(target=lambda: results.append(run_job(defs_dir, "slow_job")))
    runner.start()
    try:
        assert slow_api.entered.wait(timeout=60), "the run never called the slow API"
        [run] = instance.get_runs(filters=dg.RunsFilter(job_name="slow_job"))
        assert run.status == dg.DagsterRunStatus.STARTED
        start = instance.get_run_stats(run.run_id).start_time
        assert start is not None
        time.sleep(max(0.0, start + 1.5 - time.time()))  # past sla.duration (1 s)

        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        second = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    finally:
        slow_api.release.set()
        runner.join(timeout=120)

    assert first.skip_message == "1 run(s) breached their SLA"
    assert second.skip_message == "no SLA breached"
    [message] = signed_messages(server)
    assert message["job"] == "slow_job"
    assert message["status"] == "SLA BREACHED"
    assert message["run_id"] == run.run_id
    assert message["run_url"] == f"{UI}/runs/{run.run_id}"
    assert message["title"].startswith("[dev] job slow_job SLA breached: running for ")
    assert message["title"].endswith("limit 1s")
    assert message["duration_seconds"] >= 1
    finished = instance.get_run_by_id(run.run_id)
    assert finished is not None and SLA_TAG in finished.tags
    assert [r.success for r in results] == [True]  # alert only: the run goes on and finishes
    sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert len(requests_to(server, HOOK)) == 1  # a finished run is not reported again


def test_sla_terminate_sets_max_runtime_and_run_monitoring_is_on(
    write_project: WriteProject, server: HTTPServer, dagster_home: Path, instance: dg.DagsterInstance
) -> None:
    terminate = build_definitions(load_project(write_sla_project(write_project, server, "terminate"), "dev"))
    assert terminate.resolve_job_def("slow_job").tags["dagster/max_runtime"] == "1"

    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True
    assert instance.run_monitoring_enabled  # the instance built from the repo's dagster.yaml


def test_sla_alert_job_has_no_max_runtime(write_project: WriteProject, server: HTTPServer) -> None:
    alert = build_definitions(load_project(write_sla_project(write_project, server, "alert"), "dev"))
    assert "dagster/max_runtime" not in alert.resolve_job_def("slow_job").tags

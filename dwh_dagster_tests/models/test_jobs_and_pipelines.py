"""``jobs/*.yaml`` and ``pipelines/*.yaml`` snippets."""

from __future__ import annotations

import pytest

from dwh_dagster.config.models.jobs import Job
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster_tests.models.helpers import assert_error, validate

JOB = """
job:
  name: nightly
  pipelines:
    - name: a
  <body>
"""


def job(body: str = "") -> str:
    """A job snippet; ``body`` starts on line 5."""
    return JOB.replace("<body>", body)


def test_job_defaults() -> None:
    j = validate(job())
    assert isinstance(j, Job)
    assert j.execution.mode == "sequential"
    assert j.execution.max_parallelism == 4
    assert j.execution.continue_on_failure is False
    assert j.retries.max_attempts == 1
    assert j.notifications.on_failure is True
    assert j.notifications.on_success is False
    assert j.notifications.channels == []
    assert j.sla is None
    assert j.tags == {}
    assert j.pipelines[0].enabled is True
    assert j.pipelines[0].order is None
    assert j.pipelines[0].depends_on == []


def test_full_job() -> None:
    text = """
    job:
      name: nightly
      description: all the things
      pipelines:
        - {name: a.yaml, order: 2}
        - {name: b, order: 1, enabled: false}
        - {name: c, depends_on: [a.yaml]}
      execution: {mode: dag, max_parallelism: 2, continue_on_failure: true}
      retries: {max_attempts: 3, retry_delay: 1.5, exponential_backoff: true}
      notifications: {on_success: true, channels: [email, team_slack]}
      sla: {duration: 600, action: terminate}
      tags: [nightly]
    """
    j = validate(text)
    assert [p.name for p in j.pipelines] == ["a.yaml", "b", "c"]
    assert j.pipelines[2].depends_on == ["a.yaml"]
    assert j.execution.mode == "dag"
    assert j.retries.retry_delay == 1.5
    assert j.notifications.channels == ["email", "team_slack"]
    assert j.sla.action == "terminate"
    assert j.tags == ["nightly"]


INVALID_JOBS = [
    (job("execution: {mode: paralel}"), "job.execution.mode", "invalid value 'paralel'", 5, "'parallel'"),
    (job("execution: {max_parallelism: 0}"), "job.execution.max_parallelism", "greater than 0", 5, ""),
    (job("retries: {retry_delay: -1}"), "job.retries.retry_delay", "greater than or equal to 0", 5, ""),
    (job("sla: {action: alert}"), "job.sla.duration", "missing required field 'duration'", 5, ""),
    (job("sla: {duration: 60, action: kill}"), "job.sla.action", "invalid value 'kill'", 5, "'terminate'"),
    (job("notifications: {channels: email}"), "job.notifications.channels", "expected a list", 5, ""),
    (job("notification: {}"), "job.notification", "unknown field", 5, "did you mean 'notifications'?"),
    (job().replace("- name: a", "- a"), "job.pipelines[0]", "expected a mapping of fields, got 'a'", 4, ""),
    (
        job().replace("- name: a", "- {name: a, order: first}"),
        "job.pipelines[0].order",
        "valid integer",
        4,
        "",
    ),
    (job().replace("name: nightly", "name: night-ly"), "job.name", "not a valid name", 2, "night_ly"),
]


@pytest.mark.parametrize(("text", "field", "message", "line", "hint"), INVALID_JOBS)
def test_invalid_jobs(text: str, field: str, message: str, line: int, hint: str) -> None:
    assert_error(text, field, message, line, hint)


PIPELINE = """
pipeline:
  name: p
  source:
    config_file: my_api.yaml
  destination:
    config_file: my_warehouse.yaml
  <body>
"""


def pipeline(body: str = "") -> str:
    """A pipeline snippet; ``body`` starts on line 7."""
    return PIPELINE.replace("<body>", body)


def test_pipeline_defaults() -> None:
    p = validate(pipeline())
    assert isinstance(p, Pipeline)
    assert p.source.resources is None
    assert p.destination.dataset_name is None
    assert p.retry.max_attempts == 1
    assert p.depends_on == []
    assert p.owners == []


def test_full_pipeline() -> None:
    p = validate(
        pipeline(
            "retry: {max_attempts: 3, initial_delay: 60}\n  depends_on: [other]\n"
            "  owners: [a@b]\n  tags: {x: y}"
        )
    )
    assert p.retry.initial_delay == 60
    assert p.depends_on == ["other"]
    assert p.tags == {"x": "y"}


INVALID_PIPELINES = [
    (
        pipeline().replace("my_api.yaml", "my_api.yaml\n    resources: []"),
        "pipeline.source.resources",
        "must not be empty",
        5,
    ),
    (
        pipeline().replace("my_warehouse.yaml", "x\n    dataset_name: my-ds"),
        "pipeline.destination.dataset_name",
        "not a valid name",
        7,
    ),
    (
        pipeline().replace("    config_file: my_api.yaml\n", "    file: my_api.yaml\n"),
        "pipeline.source.file",
        "unknown field 'file'",
        4,
    ),
    (
        pipeline().replace("  destination:\n    config_file: my_warehouse.yaml\n", ""),
        "pipeline.destination",
        "missing required field 'destination'",
        1,
    ),
    (pipeline("retry: {max_attempts: 0}"), "pipeline.retry.max_attempts", "greater than 0", 7),
    (pipeline("depends_on: other"), "pipeline.depends_on", "expected a list", 7),
]


@pytest.mark.parametrize(("text", "field", "message", "line"), INVALID_PIPELINES)
def test_invalid_pipelines(text: str, field: str, message: str, line: int) -> None:
    assert_error(text, field, message, line)

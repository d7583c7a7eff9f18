"""Schedules and sensors from triggers: a registry keyed by trigger ``type``.

``manual`` triggers add nothing: the job is always launchable from the UI and with ``dwh run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from dwh_dagster.automation.common import JobTarget
from dwh_dagster.automation.schedules import build_cron_schedule, build_interval_schedule, interval_as_cron
from dwh_dagster.automation.sensors import (
    build_asset_materialized_sensor,
    build_file_arrived_sensor,
    build_interval_sensor,
    build_job_finished_sensor,
    build_webhook_sensor,
)
from dwh_dagster.jobs import pipeline_asset_keys
from dwh_dagster.models.triggers import (
    AssetMaterializedEvent,
    CronTrigger,
    EventTrigger,
    FileArrivedEvent,
    IntervalTrigger,
    JobFinishedEvent,
    TriggerModel,
    WebhookTrigger,
)
from dwh_dagster.project import Project


@dataclass
class Automation:
    """The schedules and sensors of a project."""

    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    sensors: list[dg.SensorDefinition] = field(default_factory=list)


def _cron(project: Project, trigger: TriggerModel, jobs: Mapping[str, JobTarget], out: Automation) -> None:
    assert isinstance(trigger, CronTrigger)
    out.schedules.append(build_cron_schedule(trigger, jobs[project.job_for(trigger).name]))


def _interval(
    project: Project, trigger: TriggerModel, jobs: Mapping[str, JobTarget], out: Automation
) -> None:
    assert isinstance(trigger, IntervalTrigger)
    target = jobs[project.job_for(trigger).name]
    cron = interval_as_cron(trigger.interval.total_seconds())
    if cron is not None:
        out.schedules.append(build_interval_schedule(trigger, target, cron))
    else:
        out.sensors.append(build_interval_sensor(trigger, target))


def _manual(project: Project, trigger: TriggerModel, jobs: Mapping[str, JobTarget], out: Automation) -> None:
    """Nothing to build: a manual trigger's job is started from the UI or with ``dwh run``."""


def _event(project: Project, trigger: TriggerModel, jobs: Mapping[str, JobTarget], out: Automation) -> None:
    assert isinstance(trigger, EventTrigger)
    target = jobs[project.job_for(trigger).name]
    event = trigger.event
    if isinstance(event, JobFinishedEvent):
        watched = jobs[project.resolve("jobs", event.job)]
        out.sensors.append(build_job_finished_sensor(trigger, event, watched, target))
    elif isinstance(event, AssetMaterializedEvent):
        keys = [
            key
            for ref in event.pipelines
            for key in pipeline_asset_keys(project, project.pipelines[project.resolve("pipelines", ref)])
        ]
        out.sensors.append(build_asset_materialized_sensor(trigger, event, keys, target))
    else:
        assert isinstance(event, FileArrivedEvent)
        pattern = project.local_path(event.path)
        out.sensors.append(build_file_arrived_sensor(trigger, event, pattern, target))


def _webhook(project: Project, trigger: TriggerModel, jobs: Mapping[str, JobTarget], out: Automation) -> None:
    assert isinstance(trigger, WebhookTrigger)
    out.sensors.append(build_webhook_sensor(trigger, jobs[project.job_for(trigger).name], project.root_dir))


TRIGGER_BUILDERS: dict[str, Callable[[Project, TriggerModel, Mapping[str, JobTarget], Automation], None]] = {
    "cron": _cron,
    "interval": _interval,
    "manual": _manual,
    "event": _event,
    "webhook": _webhook,
}


def build_automation(project: Project, jobs: Mapping[str, JobTarget]) -> Automation:
    """Every trigger of the project as a schedule or sensor targeting its job."""
    out = Automation()
    for trigger in project.triggers.values():
        TRIGGER_BUILDERS[trigger.type](project, trigger, jobs, out)
    return out

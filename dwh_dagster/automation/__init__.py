"""Schedules and sensors from triggers: a registry keyed by trigger ``type``.

``manual`` triggers add nothing: the job is always launchable from the UI and with ``dwh run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from dwh_dagster.assets.partitions import build_partitions_def
from dwh_dagster.automation.common import JobTarget, Partitioning
from dwh_dagster.automation.schedules import build_cron_schedule, build_interval_schedule, interval_as_cron
from dwh_dagster.automation.sensors import (
    build_asset_materialized_sensor,
    build_file_arrived_sensor,
    build_interval_sensor,
    build_job_finished_sensor,
    build_webhook_sensor,
)
from dwh_dagster.config.models.triggers import (
    AssetMaterializedEvent,
    CronTrigger,
    EventTrigger,
    FileArrivedEvent,
    IntervalTrigger,
    JobFinishedEvent,
    WebhookTrigger,
)
from dwh_dagster.config.naming import table_asset_key
from dwh_dagster.config.resolved import ResolvedJob, ResolvedProject, ResolvedTrigger
from dwh_dagster.jobs import pipeline_asset_keys


@dataclass
class Automation:
    """The schedules and sensors of a project."""

    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    sensors: list[dg.SensorDefinition] = field(default_factory=list)


def partitioning_of(job: ResolvedJob) -> Partitioning | None:
    """The partitions of a job whose pipelines or transformations are partitioned (each run loads
    and builds one partition, or a range)."""
    found = job.partitions
    if found is None:
        return None
    partitions, backfill = found
    keys = tuple(key for p in job.pipelines if p.partitions is not None for key in pipeline_asset_keys(p))
    keys += tuple(dg.AssetKey(table_asset_key(m.dataset, m.name)) for m in job.partitioned_transformations)
    return Partitioning(build_partitions_def(partitions), backfill, keys)


Builder = Callable[[ResolvedProject, ResolvedTrigger, Mapping[str, JobTarget], Automation], None]


def _cron(
    project: ResolvedProject, resolved: ResolvedTrigger, jobs: Mapping[str, JobTarget], out: Automation
) -> None:
    trigger = resolved.model
    assert isinstance(trigger, CronTrigger)
    out.schedules.append(build_cron_schedule(trigger, jobs[resolved.job.name], partitioning_of(resolved.job)))


def _interval(
    project: ResolvedProject, resolved: ResolvedTrigger, jobs: Mapping[str, JobTarget], out: Automation
) -> None:
    trigger = resolved.model
    assert isinstance(trigger, IntervalTrigger)
    target = jobs[resolved.job.name]
    cron = interval_as_cron(trigger.interval.total_seconds())
    partitioning = partitioning_of(resolved.job)
    if cron is not None:
        out.schedules.append(build_interval_schedule(trigger, target, cron, partitioning))
    else:
        out.sensors.append(build_interval_sensor(trigger, target, partitioning))


def _manual(
    project: ResolvedProject, resolved: ResolvedTrigger, jobs: Mapping[str, JobTarget], out: Automation
) -> None:
    """Nothing to build: a manual trigger's job is started from the UI or with ``dwh run``."""


def _event(
    project: ResolvedProject, resolved: ResolvedTrigger, jobs: Mapping[str, JobTarget], out: Automation
) -> None:
    trigger = resolved.model
    assert isinstance(trigger, EventTrigger)
    target = jobs[resolved.job.name]
    event = trigger.event
    partitioning = partitioning_of(resolved.job)
    if isinstance(event, JobFinishedEvent):
        assert resolved.watched_job is not None
        watched = jobs[resolved.watched_job.name]
        out.sensors.append(build_job_finished_sensor(trigger, event, watched, target, partitioning))
    elif isinstance(event, AssetMaterializedEvent):
        keys = [key for pipeline in resolved.watched_pipelines for key in pipeline_asset_keys(pipeline)]
        keys += [dg.AssetKey(list(k)) for t in resolved.watched_transformations for k in t.asset_keys]
        out.sensors.append(build_asset_materialized_sensor(trigger, event, keys, target, partitioning))
    else:
        assert isinstance(event, FileArrivedEvent)
        pattern = project.local_path(event.path)
        out.sensors.append(build_file_arrived_sensor(trigger, event, pattern, target, partitioning))


def _webhook(
    project: ResolvedProject, resolved: ResolvedTrigger, jobs: Mapping[str, JobTarget], out: Automation
) -> None:
    trigger = resolved.model
    assert isinstance(trigger, WebhookTrigger)
    target = jobs[resolved.job.name]
    out.sensors.append(build_webhook_sensor(trigger, target, project.root_dir, partitioning_of(resolved.job)))


TRIGGER_BUILDERS: dict[str, Builder] = {
    "cron": _cron,
    "interval": _interval,
    "manual": _manual,
    "event": _event,
    "webhook": _webhook,
}


def build_automation(project: ResolvedProject, jobs: Mapping[str, JobTarget]) -> Automation:
    """Every trigger of the project as a schedule or sensor targeting its job."""
    out = Automation()
    for trigger in project.triggers.values():
        TRIGGER_BUILDERS[trigger.model.type](project, trigger, jobs, out)
    return out

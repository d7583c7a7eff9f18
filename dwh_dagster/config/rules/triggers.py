"""Rules of triggers: reserved names, the job they start, and triggers that would start themselves."""

from __future__ import annotations

from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.triggers import AssetMaterializedEvent, EventTrigger, JobFinishedEvent
from dwh_dagster.config.naming import RESERVED_SENSOR_NAMES


def check_triggers(index: ProjectIndex) -> list[ConfigError]:
    """Each trigger names a known job and, for events, known watched jobs and pipelines; no loops."""
    errors: list[ConfigError] = []
    for obj in index.triggers:
        trigger = obj.model
        if obj.name in RESERVED_SENSOR_NAMES:
            errors.append(
                obj.error(("name",), f"'{obj.name}' is reserved for a sensor dwh-dagster adds", "rename it")
            )
        target = index.jobs.resolve(trigger.job, obj, ("job",), errors)
        if not isinstance(trigger, EventTrigger):
            continue
        event = trigger.event
        if isinstance(event, JobFinishedEvent):
            watched = index.jobs.resolve(event.job, obj, ("event", "job"), errors)
            if watched and watched == target and event.type == "job_succeeded":
                errors.append(
                    obj.error(
                        ("event", "job"),
                        f"job '{target}' would start itself after every success, forever",
                        "watch another job, or use a cron or interval trigger",
                    )
                )
        elif isinstance(event, AssetMaterializedEvent):
            target_job = index.jobs.objects[target].model if target else None
            in_target = {
                index.pipelines.lookup(entry.name)
                for entry in (target_job.pipelines if target_job else [])
                if entry.enabled
            }
            for position, pipeline in enumerate(event.pipelines):
                name = index.pipelines.resolve(pipeline, obj, ("event", "pipelines", position), errors)
                if name and name in in_target:
                    errors.append(
                        obj.error(
                            ("event", "pipelines", position),
                            f"job '{target}' loads '{name}' itself: each run would start the next",
                            "watch pipelines that the job does not load",
                        )
                    )
            built_by_target = {
                index.transformations.lookup(entry.name)
                for entry in (target_job.transformations if target_job else [])
                if entry.enabled
            }
            for position, model in enumerate(event.transformations):
                at = ("event", "transformations", position)
                name = index.transformations.resolve(model, obj, at, errors)
                if name and name in built_by_target:
                    errors.append(
                        obj.error(
                            at,
                            f"job '{target}' builds '{name}' itself: each run would start the next",
                            "watch transformations that the job does not build",
                        )
                    )
            if not event.pipelines and not event.transformations:
                errors.append(
                    obj.error(
                        ("event",),
                        "an asset_materialized event watches nothing",
                        "add 'pipelines:' or 'transformations:' with the names to watch",
                        at_key=True,
                    )
                )
    return errors

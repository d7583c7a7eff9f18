"""Rules of jobs: their pipelines, the depends_on of dag jobs, and their notification channels."""

from __future__ import annotations

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.channels import CHANNEL_TYPES
from dwh_dagster.config.models.jobs import Job
from dwh_dagster.config.ordering import find_cycles


def _check_pipeline_entries(
    index: ProjectIndex, obj: LoadedObject[Job], errors: list[ConfigError]
) -> dict[str, int]:
    """Each entry names a known pipeline once; returns the position of each pipeline's entry."""
    in_job: dict[str, int] = {}
    for position, entry in enumerate(obj.model.pipelines):
        name = index.pipelines.resolve(entry.name, obj, ("pipelines", position, "name"), errors)
        if name is None:
            continue
        if name in in_job:
            errors.append(
                obj.error(
                    ("pipelines", position, "name"),
                    f"pipeline '{name}' is listed twice in this job",
                    f"remove the repeat (first at pipelines[{in_job[name]}])",
                )
            )
        else:
            in_job[name] = position
    return in_job


def _check_transformation_entries(
    index: ProjectIndex, obj: LoadedObject[Job], errors: list[ConfigError]
) -> None:
    """Each transformation entry names a known transformation once."""
    in_job: dict[str, int] = {}
    for position, entry in enumerate(obj.model.transformations):
        at = ("transformations", position, "name")
        name = index.transformations.resolve(entry.name, obj, at, errors)
        if name is None:
            continue
        if name in in_job:
            errors.append(
                obj.error(
                    at,
                    f"transformation '{name}' is listed twice in this job",
                    f"remove the repeat (first at transformations[{in_job[name]}])",
                )
            )
        else:
            in_job[name] = position


def _check_depends_on(
    index: ProjectIndex, obj: LoadedObject[Job], in_job: dict[str, int], errors: list[ConfigError]
) -> None:
    """A job's depends_on: dag mode only, other pipelines of the same job, no cycle."""
    job = obj.model
    graph: dict[str, list[str]] = {}
    for position, entry in enumerate(job.pipelines):
        name = index.pipelines.lookup(entry.name)
        if entry.depends_on and job.execution.mode != "dag":
            errors.append(
                obj.error(
                    ("pipelines", position, "depends_on"),
                    f"depends_on only applies in 'dag' mode, this job runs '{job.execution.mode}'",
                    "set execution.mode: dag or remove depends_on",
                    at_key=True,
                )
            )
        deps = []
        for dep_position, dep in enumerate(entry.depends_on):
            target = index.pipelines.lookup(dep)
            at = ("pipelines", position, "depends_on", dep_position)
            if not target or target not in in_job:
                others = [p for p in in_job if p != name]
                if target:
                    message = f"pipeline '{dep}' exists but is not part of this job"
                    hint = "add it to this job's pipelines or remove it from depends_on"
                else:
                    message = f"'{dep}' is not a pipeline of this job"
                    near = did_you_mean(dep, others)
                    valid = (
                        f"other pipelines of this job: {list_choices(others)}"
                        if others
                        else "this job has no other pipeline"
                    )
                    hint = f"{near} {valid}" if near else valid
                errors.append(obj.error(at, message, hint))
            elif target == name:
                errors.append(obj.error(at, "a pipeline cannot depend on itself"))
            else:
                deps.append(target)
        if name:
            graph[name] = deps
    for cycle in find_cycles(graph):
        errors.append(
            obj.error(
                ("pipelines", in_job[cycle[0]], "depends_on"),
                f"depends_on cycle: {' -> '.join(cycle)}",
                "remove one of these dependencies",
                at_key=True,
            )
        )


def _check_channels(index: ProjectIndex, obj: LoadedObject[Job], errors: list[ConfigError]) -> None:
    seen: set[str] = set()
    for position, channel in enumerate(obj.model.notifications.channels):
        at = ("notifications", "channels", position)
        if channel in seen:
            errors.append(obj.error(at, f"channel '{channel}' is listed twice", "remove the repeat"))
            continue
        seen.add(channel)
        index.channels.resolve(channel, obj, at, errors, defaults=CHANNEL_TYPES)


def check_jobs(index: ProjectIndex) -> list[ConfigError]:
    """Pipelines and transformations of each job, dag depends_on, at least one enabled entry, and
    channels."""
    errors: list[ConfigError] = []
    for obj in index.jobs:
        job = obj.model
        in_job = _check_pipeline_entries(index, obj, errors)
        _check_transformation_entries(index, obj, errors)
        _check_depends_on(index, obj, in_job, errors)
        if not job.pipelines and not job.transformations:
            errors.append(
                obj.error(
                    (),
                    "this job has no pipelines and no transformations",
                    "add 'pipelines:' or 'transformations:' with what it runs",
                )
            )
        elif not any(e.enabled for e in job.pipelines) and not any(e.enabled for e in job.transformations):
            what = "pipeline" if not job.transformations else "entry"
            errors.append(
                obj.error(
                    ("pipelines",) if job.pipelines else ("transformations",),
                    f"every {what} of this job is disabled",
                    "enable at least one, or disable the job's triggers",
                    at_key=True,
                )
            )
        _check_channels(index, obj, errors)
    return errors

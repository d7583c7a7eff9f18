"""Rules of ``partitions:``: one spelling per pipeline, a cursor for every table, a destination that
runs SQL, no partitioned rest_api child resource, and jobs whose pipelines are partitioned alike."""

from __future__ import annotations

from typing import Any

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.partitions import Partitions
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.models.sources import (
    FilesystemResource,
    RestApiResource,
    SourceModel,
    SqlDatabaseSource,
    find_resource,
)
from dwh_dagster.config.rest_api import parent_resource
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION


def _resource_path(source: SourceModel, name: str) -> tuple[str | int, ...]:
    names = source.resource_names()
    position = names.index(name)
    return ("tables" if isinstance(source, SqlDatabaseSource) else "resources", position)


def describe(partitions: Partitions | None) -> str:
    """``daily from 2024-01-01 (UTC)`` or ``not partitioned``."""
    if partitions is None:
        return "not partitioned"
    offset = f", end_offset {partitions.end_offset}" if partitions.end_offset else ""
    return f"{partitions.type} from {partitions.start} ({partitions.timezone}{offset})"


def pipeline_partitions(index: ProjectIndex, pipeline: Pipeline) -> Partitions | None:
    """The partitions a pipeline's tables have (its own, else its first resource's), or None."""
    if pipeline.partitions is not None:
        return pipeline.partitions
    source = index.sources.model(pipeline.source.config_file)
    if source is None:
        return None
    loaded = pipeline.source.resources or source.resource_names()
    for name in loaded:
        if name in source.resource_names() and (own := find_resource(source, name).partitions) is not None:
            return own
    return None


def _check_pipeline(index: ProjectIndex, obj: LoadedObject[Pipeline], errors: list[ConfigError]) -> None:
    pipeline = obj.model
    source_name = index.sources.lookup(pipeline.source.config_file)
    if source_name is None:
        return
    source_obj = index.sources.objects[source_name]
    source = source_obj.model
    loaded = [
        r for r in (pipeline.source.resources or source.resource_names()) if r in source.resource_names()
    ]
    partitions = pipeline_partitions(index, pipeline)
    if partitions is None:
        if "backfill" in pipeline.model_fields_set:
            errors.append(
                obj.error(
                    ("backfill",),
                    "backfill: applies to partitioned tables, and this pipeline's are not partitioned",
                    "add partitions: to the pipeline (or to its resources), or remove backfill:",
                )
            )
        return
    at_pipeline = pipeline.partitions is not None
    mismatched: set[str] = set()
    if not at_pipeline:
        for name in loaded:
            own = find_resource(source, name).partitions
            if own != partitions:
                mismatched.add(name)
                errors.append(
                    source_obj.error(
                        (*_resource_path(source, name), "partitions")
                        if own
                        else _resource_path(source, name),
                        f"resource '{name}' is {describe(own)} but pipeline '{pipeline.name}' loads it with "
                        f"resources that are {describe(partitions)}",
                        "a pipeline loads its tables in one step: give them the same partitions: (or set "
                        "partitions: on the pipeline), or load them in separate pipelines",
                        at_key=own is not None,
                    )
                )
    destination_name = index.destinations.lookup(pipeline.destination.config_file)
    if destination_name is not None:
        kind = index.destinations.objects[destination_name].model.type
        if kind not in DIALECT_BY_DESTINATION:
            errors.append(
                obj.error(
                    ("partitions",) if at_pipeline else ("destination",),
                    f"destination '{destination_name}' is a {kind} destination: a partition run replaces "
                    "its window's rows with SQL, which it cannot run",
                    f"partitioned tables need a destination of type {list_choices(DIALECT_BY_DESTINATION)}",
                    at_key=True,
                )
            )
    for name in loaded:
        if name in mismatched:
            continue
        resource = find_resource(source, name)
        where: tuple[Any, LoadedObject[Any], tuple[str | int, ...]] = (
            (pipeline, obj, ("partitions",))
            if at_pipeline
            else (source, source_obj, (*_resource_path(source, name), "partitions"))
        )
        if isinstance(resource, RestApiResource) and parent_resource(resource) is not None:
            errors.append(
                where[1].error(
                    where[2],
                    f"resource '{name}' reads its parent's records: child resources cannot be partitioned",
                    "partition the parent in a pipeline of its own and load the child in another",
                    at_key=True,
                )
            )
            continue
        cursor = partitions.cursor_field
        own = resource.partitions
        if cursor is None and own is not None:
            cursor = own.cursor_field
        if cursor is None and resource.incremental is not None:
            cursor = getattr(resource.incremental, "cursor_field", None)
        if cursor is None:
            errors.append(
                where[1].error(
                    where[2],
                    f"no cursor_field for table '{name}': a partition loads the records whose cursor "
                    "falls in its window",
                    "add cursor_field: (a date or timestamp field of each record) to partitions:"
                    + (
                        ""
                        if isinstance(resource, FilesystemResource)
                        else f", or an incremental: cursor_field to resource '{name}'"
                    ),
                    at_key=True,
                )
            )


def _check_jobs(index: ProjectIndex, errors: list[ConfigError]) -> None:
    for obj in index.jobs:
        seen: list[tuple[int, str, Partitions | None]] = []
        for position, entry in enumerate(obj.model.pipelines):
            name = index.pipelines.lookup(entry.name)
            if name is None:
                continue
            seen.append((position, name, pipeline_partitions(index, index.pipelines.objects[name].model)))
        if not seen or all(p is None for _, _, p in seen):
            continue
        first_position, first_name, first = next(item for item in seen if item[2] is not None)
        for position, name, partitions in seen:
            if partitions == first:
                continue
            errors.append(
                obj.error(
                    ("pipelines", position, "name"),
                    f"pipeline '{name}' is {describe(partitions)}, but '{first_name}' "
                    f"(pipelines[{first_position}]) is {describe(first)}: a run of this job loads one "
                    "partition of all its pipelines",
                    "put pipelines with the same partitions: in one job, and the others in jobs of their own",
                )
            )


def check_partitions(index: ProjectIndex) -> list[ConfigError]:
    """Partitioned pipelines and the jobs that run them."""
    errors: list[ConfigError] = []
    for obj in index.pipelines:
        _check_pipeline(index, obj, errors)
    _check_jobs(index, errors)
    return errors

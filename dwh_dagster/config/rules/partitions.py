"""Rules of ``partitions:``: one spelling per pipeline, a cursor for every table, a destination that
runs SQL, no partitioned rest_api child resource; partitioned models that use their window, are
tables, and map what they read when it is partitioned differently; and jobs whose partitioned
pipelines and models are partitioned alike."""

from __future__ import annotations

from typing import Any

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.lineage import Producer, TableLineage, sql_transformations, table_lineage, upstream_of
from dwh_dagster.config.models.partitions import Partitions
from dwh_dagster.config.models.partitions import describe_partitions as describe
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.models.sources import (
    FilesystemResource,
    RestApiResource,
    SourceModel,
    SqlDatabaseSource,
    find_resource,
)
from dwh_dagster.config.models.transformations import END_TOKEN, START_TOKEN, SqlTransformation
from dwh_dagster.config.rest_api import parent_resource
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION, SqlText


def _resource_path(source: SourceModel, name: str) -> tuple[str | int, ...]:
    names = source.resource_names()
    position = names.index(name)
    return ("tables" if isinstance(source, SqlDatabaseSource) else "resources", position)


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


def _sql_position(text: SqlText, token: str) -> tuple[int, int]:
    """File line and column of the first ``token`` in a model's SQL."""
    before = text.text[: text.text.index(token)]
    return text.locate(before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)


def producer_partitions(index: ProjectIndex, producer: Producer) -> Partitions | None:
    """The partitions of the table a producer writes (a pipeline's, a SQL model's), or None."""
    if producer.kind == "pipeline":
        obj = index.pipelines.objects.get(producer.name)
        return pipeline_partitions(index, obj.model) if obj is not None else None
    if producer.kind == "transformation":
        model = index.transformations.objects[producer.name].model
        return model.partitions if isinstance(model, SqlTransformation) else None
    return None


def _check_window_tokens(
    obj: LoadedObject[SqlTransformation], text: SqlText | None, errors: list[ConfigError]
) -> None:
    model = obj.model
    if text is None:
        return
    used = [token for token in (START_TOKEN, END_TOKEN) if token in text.text]
    if model.partitions is None:
        for token in used:
            line, column = _sql_position(text, token)
            errors.append(
                ConfigError(
                    text.file,
                    f"{token} is a partition's window, and transformation '{model.name}' is not partitioned",
                    line,
                    column,
                    text.field,
                    f"add partitions: (for example {{type: daily, start: '2024-01-01'}}), or remove {token}",
                )
            )
        return
    if not used:
        errors.append(
            obj.error(
                ("partitions",),
                f"transformation '{model.name}' is partitioned but its SQL uses neither {START_TOKEN} "
                f"nor {END_TOKEN}: every partition would hold the same rows",
                f"select the rows of the window, for example 'where created_at >= {START_TOKEN} and "
                f"created_at < {END_TOKEN}'",
                at_key=True,
            )
        )
    for token in used:
        if f"'{token}'" in text.text:
            line, column = _sql_position(text, f"'{token}'")
            errors.append(
                ConfigError(
                    text.file,
                    f"'{token}' is quoted: {token} is already a timestamp literal",
                    line,
                    column,
                    text.field,
                    f"write {token} without quotes (cast({token} as date) for a date)",
                )
            )


def _check_transformation(
    index: ProjectIndex,
    obj: LoadedObject[SqlTransformation],
    lineage: TableLineage,
    errors: list[ConfigError],
) -> None:
    model = obj.model
    partitions = model.partitions
    _check_window_tokens(obj, lineage.sql.get(obj.name), errors)
    if partitions is None:
        if "backfill" in model.model_fields_set:
            errors.append(
                obj.error(
                    ("backfill",),
                    "backfill: applies to partitioned models, and this one is not partitioned",
                    "add partitions: or remove backfill:",
                    at_key=True,
                )
            )
    else:
        if model.materialized != "table":
            errors.append(
                obj.error(
                    ("materialized",),
                    f"a partitioned model is built window by window into a table; it cannot be "
                    f"materialized: {model.materialized}",
                    "remove materialized: (a partition run replaces its window's rows, as an "
                    "incremental model would) or remove partitions:",
                )
            )
        if partitions.cursor_field is not None:
            errors.append(
                obj.error(
                    ("partitions", "cursor_field"),
                    "cursor_field applies to loaded tables: a model selects its window's rows in its SQL",
                    f"remove cursor_field and filter with {START_TOKEN} and {END_TOKEN} in the SQL",
                    at_key=True,
                )
            )
    reads = upstream_of(lineage, obj.name)
    by_table = {
        f"{read.dataset}.{read.table}".lower(): (read, producer)
        for read, producer in reads
        if read.dataset and producer is not None
    }
    mapped = {table.lower() for table in model.partition_mapping}
    for table, how in model.partition_mapping.items():
        found = by_table.get(table.lower())
        if found is None:
            errors.append(
                obj.error(
                    ("partition_mapping", table),
                    f"'{table}' is not a table this model's SQL reads",
                    did_you_mean(table, sorted(by_table))
                    or f"the tables it reads: {list_choices(sorted(by_table))}",
                    at_key=True,
                )
            )
            continue
        upstream = producer_partitions(index, found[1])
        if upstream is None:
            errors.append(
                obj.error(
                    ("partition_mapping", table),
                    f"'{table}' ({found[1].describe()}) is not partitioned: there is nothing to map",
                    "remove it from partition_mapping",
                    at_key=True,
                )
            )
        elif partitions is None and how == "window":
            errors.append(
                obj.error(
                    ("partition_mapping", table),
                    "'window' maps this model's window to the partitions of what it reads, and this "
                    "model is not partitioned",
                    "use 'all' (every partition, the default) or 'latest'",
                )
            )
    if partitions is None:
        return
    reported: set[str] = set()
    for read, producer in reads:
        if producer is None or not read.dataset:
            continue
        table = f"{read.dataset}.{read.table}".lower()
        upstream = producer_partitions(index, producer)
        if (
            upstream is None
            or upstream.windows() == partitions.windows()
            or table in mapped
            or table in reported
        ):
            continue
        reported.add(table)
        errors.append(
            obj.error(
                ("partitions",),
                f"transformation '{model.name}' is {describe(partitions)} but reads '{read.qualified}' "
                f"({producer.describe()}), which is {describe(upstream)}",
                f"say which partitions of it a window reads: partition_mapping: {{{read.qualified}: window}} "
                "(those that overlap the window), 'all' or 'latest'; or give both the same partitions:",
                at_key=True,
            )
        )


def _check_jobs(index: ProjectIndex, errors: list[ConfigError]) -> None:
    for obj in index.jobs:
        seen: list[tuple[str, int, str, Partitions | None]] = []
        for position, entry in enumerate(obj.model.pipelines):
            name = index.pipelines.lookup(entry.name)
            if name is None:
                continue
            pipeline = index.pipelines.objects[name].model
            seen.append(("pipeline", position, name, pipeline_partitions(index, pipeline)))
        for position, job_model in enumerate(obj.model.transformations):
            name = index.transformations.lookup(job_model.name)
            if name is None:
                continue
            model = index.transformations.objects[name].model
            if isinstance(model, SqlTransformation) and model.partitions is not None:
                seen.append(("transformation", position, name, model.partitions))
        if not seen or all(p is None for *_, p in seen):
            continue
        first_kind, first_position, first_name, first = next(item for item in seen if item[3] is not None)
        assert first is not None
        for kind, position, name, partitions in seen:
            if partitions is not None and partitions.windows() == first.windows():
                continue
            errors.append(
                obj.error(
                    (f"{kind}s", position, "name"),
                    f"{kind} '{name}' is {describe(partitions)}, but '{first_name}' "
                    f"({first_kind}s[{first_position}]) is {describe(first)}: a run of this job loads "
                    "and builds one partition (or range) of all its partitioned tables",
                    f"put {kind}s with the same partitions: in one job, and the others in jobs of their own",
                )
            )


def check_partitions(index: ProjectIndex) -> list[ConfigError]:
    """Partitioned pipelines and the jobs that run them."""
    errors: list[ConfigError] = []
    for obj in index.pipelines:
        _check_pipeline(index, obj, errors)
    lineage = table_lineage(index)
    for model_obj in sql_transformations(index):
        _check_transformation(index, model_obj, lineage, errors)
    _check_jobs(index, errors)
    return errors

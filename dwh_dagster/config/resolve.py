"""Resolution: a checked :class:`ProjectIndex` becomes a :class:`ResolvedProject`.

Runs only after every rule passed, so every reference resolves; a reference that does not is a
bug in a rule and fails with ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dwh_dagster.config.dbt_project import profile_name
from dwh_dagster.config.index import ObjectTable, ProjectIndex
from dwh_dagster.config.lineage import (
    TableLineage,
    dbt_transformations,
    sql_transformations,
    table_lineage,
    upstream_of,
)
from dwh_dagster.config.models.channels import CHANNEL_TYPES
from dwh_dagster.config.models.sources import RestApiSource
from dwh_dagster.config.models.triggers import AssetMaterializedEvent, EventTrigger, JobFinishedEvent
from dwh_dagster.config.resolved import (
    AnyTransformation,
    ResolvedDbtNode,
    ResolvedDbtProject,
    ResolvedJob,
    ResolvedJobEntry,
    ResolvedJobTransformation,
    ResolvedPipeline,
    ResolvedProject,
    ResolvedTransformation,
    ResolvedTrigger,
)
from dwh_dagster.config.rest_api import parent_resource
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION


def _name(table: ObjectTable[Any], reference: str) -> str:
    name = table.lookup(reference)
    if name is None:
        raise KeyError(f"unresolved {table.label} reference '{reference}' (a rule should have reported it)")
    return name


def _resolve_pipelines(index: ProjectIndex) -> dict[str, ResolvedPipeline]:
    out: dict[str, ResolvedPipeline] = {}
    for name in sorted(index.pipelines.objects):
        obj = index.pipelines.objects[name]
        pipeline = obj.model
        source = index.sources.objects[_name(index.sources, pipeline.source.config_file)].model
        destination = index.destinations.objects[
            _name(index.destinations, pipeline.destination.config_file)
        ].model
        dataset = pipeline.destination.dataset_name or destination.settings.schema_name
        if dataset is None:
            raise KeyError(f"pipeline '{name}' has no dataset (a rule should have reported it)")
        available = source.resource_names()
        chosen = set(pipeline.source.resources) if pipeline.source.resources is not None else None
        resources = tuple(r for r in available if chosen is None or r in chosen)
        parents: dict[str, str] = {}
        if isinstance(source, RestApiSource):
            for resource in source.resources:
                parent = parent_resource(resource)
                if parent is not None and resource.name in resources:
                    parents[resource.name] = parent
        out[name] = ResolvedPipeline(
            model=pipeline,
            source=source,
            destination=destination,
            dataset=dataset,
            resources=resources,
            parents=parents,
            depends_on=tuple(_name(index.pipelines, ref) for ref in pipeline.depends_on),
            file=obj.file,
        )
    return out


def _partition_mappings(
    lineage: TableLineage, mapping: Mapping[str, str]
) -> tuple[tuple[tuple[str, str], str], ...]:
    """``partition_mapping:`` by the asset key of each table it names (a child table: its parent's)."""
    out = []
    for table, how in mapping.items():
        dataset, _, name = table.partition(".")
        producer = lineage.producer_of(dataset, name)
        if producer is not None:
            out.append(((producer.dataset, producer.table), how))
    return tuple(out)


def _resolve_transformations(index: ProjectIndex) -> dict[str, ResolvedTransformation]:
    lineage = table_lineage(index)
    out: dict[str, ResolvedTransformation] = {}
    for obj in sorted(sql_transformations(index), key=lambda o: o.name):
        name = obj.name
        destination = index.destinations.objects[_name(index.destinations, obj.model.destination)].model
        upstream: list[tuple[str, str]] = []
        transformations: list[str] = []
        external: list[tuple[str, str]] = []
        for read, producer in upstream_of(lineage, name):
            if producer is None:
                external.append((read.dataset, read.table))
                continue
            key = (producer.dataset, producer.table)
            if key not in upstream:
                upstream.append(key)
            if producer.kind == "transformation" and producer.name != name:
                transformations.append(producer.name)
        out[name] = ResolvedTransformation(
            model=obj.model,
            destination=destination,
            dataset=lineage.datasets[name],
            dialect=DIALECT_BY_DESTINATION[destination.type],
            sql=lineage.sql[name],
            upstream=tuple(k for k in upstream if k != (lineage.datasets[name], name)),
            upstream_transformations=tuple(dict.fromkeys(transformations)),
            external=tuple(external),
            file=obj.file,
            partition_mappings=_partition_mappings(lineage, obj.model.partition_mapping),
        )
    return out


def _resolve_dbt_projects(index: ProjectIndex) -> dict[str, ResolvedDbtProject]:
    lineage = table_lineage(index)
    out: dict[str, ResolvedDbtProject] = {}
    for obj in sorted(dbt_transformations(index), key=lambda o: o.name):
        view = lineage.dbt[obj.name]
        sources: list[ResolvedDbtNode] = []
        external: list[tuple[str, str]] = []
        for source in view.manifest.sources:
            producer = lineage.producer_of(source.schema, source.table)
            key = (source.schema, source.table) if producer is None else (producer.dataset, producer.table)
            sources.append(ResolvedDbtNode(source.unique_id, key))
            if producer is None and key not in external:
                external.append(key)
        out[obj.name] = ResolvedDbtProject(
            model=obj.model,
            destination=index.destinations.objects[_name(index.destinations, obj.model.destination)].model,
            dataset=lineage.datasets[obj.name],
            project_dir=view.project_dir,
            manifest_path=view.manifest_path,
            profile=profile_name(view.project_file),
            nodes=tuple(
                ResolvedDbtNode(node.unique_id, (node.schema, node.table))
                for node in view.manifest.nodes
                if node.materialized != "ephemeral"  # inlined by dbt: no relation, no asset
            ),
            sources=tuple(sources),
            external=tuple(external),
            file=obj.file,
        )
    return out


def _resolve_jobs(
    index: ProjectIndex,
    pipelines: dict[str, ResolvedPipeline],
    transformations: Mapping[str, AnyTransformation],
) -> dict[str, ResolvedJob]:
    out: dict[str, ResolvedJob] = {}
    for name in sorted(index.jobs.objects):
        obj = index.jobs.objects[name]
        job = obj.model
        entries = tuple(
            ResolvedJobEntry(
                model=entry,
                pipeline=pipelines[_name(index.pipelines, entry.name)],
                depends_on=tuple(_name(index.pipelines, ref) for ref in entry.depends_on),
            )
            for entry in job.entries_in_run_order(include_disabled=True)
        )
        channels = tuple(
            index.channels.lookup(ref) or ref  # a type name without a file: that type's default channel
            for ref in job.notifications.channels
        )
        models = tuple(
            ResolvedJobTransformation(
                model=entry, transformation=transformations[_name(index.transformations, entry.name)]
            )
            for entry in job.transformations_in_order()
        )
        out[name] = ResolvedJob(
            model=job,
            all_entries=entries,
            all_transformation_entries=models,
            channels=channels,
            file=obj.file,
        )
    return out


def _resolve_triggers(
    index: ProjectIndex,
    jobs: dict[str, ResolvedJob],
    pipelines: dict[str, ResolvedPipeline],
    transformations: Mapping[str, AnyTransformation],
) -> dict[str, ResolvedTrigger]:
    out: dict[str, ResolvedTrigger] = {}
    for name in sorted(index.triggers.objects):
        obj = index.triggers.objects[name]
        trigger = obj.model
        watched_job = None
        watched: tuple[ResolvedPipeline, ...] = ()
        watched_models: tuple[AnyTransformation, ...] = ()
        if isinstance(trigger, EventTrigger):
            event = trigger.event
            if isinstance(event, JobFinishedEvent):
                watched_job = jobs[_name(index.jobs, event.job)]
            elif isinstance(event, AssetMaterializedEvent):
                watched = tuple(pipelines[_name(index.pipelines, ref)] for ref in event.pipelines)
                watched_models = tuple(
                    transformations[_name(index.transformations, ref)] for ref in event.transformations
                )
        out[name] = ResolvedTrigger(
            model=trigger,
            job=jobs[_name(index.jobs, trigger.job)],
            watched_job=watched_job,
            watched_pipelines=watched,
            watched_transformations=watched_models,
            file=obj.file,
        )
    return out


def resolve_project(index: ProjectIndex) -> ResolvedProject:
    """The resolved project of an index that passed every rule."""
    pipelines = _resolve_pipelines(index)
    transformations = _resolve_transformations(index)
    dbt_projects = _resolve_dbt_projects(index)
    named: dict[str, AnyTransformation] = {**transformations, **dbt_projects}
    jobs = _resolve_jobs(index, pipelines, named)
    default_channels = frozenset(
        channel
        for job in jobs.values()
        for channel in job.channels
        if channel in CHANNEL_TYPES and channel not in index.channels.objects
    )
    files = {(table.kind.kind, obj.name): obj.file for table in index.tables() for obj in table}
    return ResolvedProject(
        defs_dir=index.root,
        environment=index.environment,
        sources={name: index.sources.objects[name].model for name in sorted(index.sources.objects)},
        destinations={
            name: index.destinations.objects[name].model for name in sorted(index.destinations.objects)
        },
        pipelines=pipelines,
        jobs=jobs,
        triggers=_resolve_triggers(index, jobs, pipelines, named),
        channels={name: index.channels.objects[name].model for name in sorted(index.channels.objects)},
        transformations=transformations,
        dbt_projects=dbt_projects,
        default_channels=default_channels,
        secrets=dict(sorted(index.secrets.items())),
        files=files,
    )

"""Pure factories from the models to Dagster ``AssetSpec``s: no dlt, no I/O."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dwh_dagster.assets.freshness import build_freshness_policy
from dwh_dagster.config.models.sources import (
    FilesystemResource,
    FilesystemSource,
    RestApiResource,
    RestApiSource,
    SourceModel,
    SqlDatabaseSource,
    find_resource,
    incremental_cursor,
)
from dwh_dagster.config.naming import source_asset_key, table_asset_key
from dwh_dagster.config.resolved import ResolvedPipeline, ResolvedProject
from dwh_dagster.tags import yaml_tags


def _primary_key(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def resource_metadata(source: SourceModel, resource_name: str) -> dict[str, Any]:
    """What the UI shows about where a table comes from: endpoint or table, disposition, key, cursor."""
    resource = find_resource(source, resource_name)
    meta: dict[str, Any] = {"dwh/source": source.name, "dwh/source_type": source.type}
    if isinstance(source, RestApiSource):
        assert isinstance(resource, RestApiResource)
        base = source.connection.base_url.rstrip("/")
        meta["dwh/endpoint"] = f"{resource.endpoint.method} {base}{resource.endpoint.path}"
    elif isinstance(source, SqlDatabaseSource):
        schema = f"{source.connection.schema_name}." if source.connection.schema_name else ""
        meta["dwh/source_table"] = f"{schema}{resource.name}"
    elif isinstance(source, FilesystemSource):
        assert isinstance(resource, FilesystemResource)
        meta["dwh/files"] = (
            f"{source.connection.bucket_url.rstrip('/')}/{resource.file_glob} ({resource.format})"
        )
    meta["dwh/write_disposition"] = resource.write_disposition
    meta["dwh/primary_key"] = ", ".join(_primary_key(resource.primary_key)) or "-"
    meta["dwh/incremental_cursor"] = incremental_cursor(resource) or "-"
    return meta


def build_pipeline_asset_specs(project: ResolvedProject, pipeline: ResolvedPipeline) -> list[dg.AssetSpec]:
    """One ``AssetSpec`` per table a pipeline loads, keyed ``<dataset>/<resource>``."""
    source, destination, dataset = pipeline.source, pipeline.destination, pipeline.dataset
    upstream: list[dg.AssetKey] = [dg.AssetKey(source_asset_key(source.name))]
    for dependency in pipeline.depends_on:
        other = project.pipelines[dependency]
        upstream += [dg.AssetKey(table_asset_key(other.dataset, r)) for r in other.resources]
    loaded = pipeline.resources
    specs = []
    for resource in loaded:
        model = pipeline.resource(resource)
        parent = pipeline.parents.get(resource)
        parent_keys = [dg.AssetKey(table_asset_key(dataset, parent))] if parent in loaded else []
        specs.append(
            dg.AssetSpec(
                key=table_asset_key(dataset, resource),
                deps=[*upstream, *parent_keys],
                description=model.description or pipeline.model.description,
                group_name=pipeline.name,
                kinds={source.type, destination.type},
                owners=list(pipeline.model.owners) or None,
                tags=yaml_tags(pipeline.model.tags),
                metadata={
                    **resource_metadata(source, resource),
                    "dwh/pipeline": pipeline.name,
                    "dwh/destination": destination.name,
                    "dwh/dataset": dataset,
                    "dagster/table_name": f"{dataset}.{resource}",
                },
                skippable=True,
                freshness_policy=build_freshness_policy(pipeline.model.freshness_of(resource)),
            )
        )
    return specs


def build_source_asset_spec(source: SourceModel) -> dg.AssetSpec:
    """The external source system: not materializable, shown upstream of its tables."""
    return dg.AssetSpec(
        key=source_asset_key(source.name),
        description=source.description or f"{source.type} source '{source.name}'",
        group_name="sources",
        kinds={source.type},
        metadata={"dwh/source_type": source.type},
    )

"""What one pipeline step loads: the models it needs, gathered when definitions load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dwh_dagster.config.models.destinations import DestinationModel
from dwh_dagster.config.models.partitions import Partitions
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.models.sources import SourceModel
from dwh_dagster.config.naming import table_asset_key
from dwh_dagster.config.resolved import ResolvedPipeline, ResolvedProject, resolve_local_path


@dataclass(frozen=True)
class LoadPlan:
    """Everything a run needs to load one pipeline, as plain models (no runtime objects)."""

    pipeline: Pipeline
    source: SourceModel
    destination: DestinationModel
    dataset: str
    resources: tuple[str, ...]
    project_root: Path
    environment: str
    secrets: Mapping[str, SecretEntry]
    partitions: Partitions | None = None
    """How the tables are partitioned (None: not partitioned)."""
    partition_cursors: Mapping[str, str] = field(default_factory=dict)
    """Per resource, the field that places a record in a partition."""

    def asset_key(self, resource: str) -> list[str]:
        """Asset key of one resource's table."""
        return table_asset_key(self.dataset, resource)

    def local_path(self, value: str) -> str:
        """A local path made absolute against the project root; URLs unchanged."""
        return resolve_local_path(self.project_root, value)


def build_load_plan(project: ResolvedProject, pipeline: ResolvedPipeline) -> LoadPlan:
    """The plan of one pipeline of a loaded project."""
    return LoadPlan(
        pipeline=pipeline.model,
        source=pipeline.source,
        destination=pipeline.destination,
        dataset=pipeline.dataset,
        resources=pipeline.resources,
        project_root=project.root_dir,
        environment=project.environment,
        secrets=project.secrets,
        partitions=pipeline.partitions,
        partition_cursors={
            r: cursor for r in pipeline.resources if (cursor := pipeline.partition_cursor(r)) is not None
        },
    )

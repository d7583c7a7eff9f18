"""What one transformation step builds: the models of one destination, gathered when definitions load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dwh_dagster.checks.evaluate import CheckPlan, check_plans
from dwh_dagster.config.models.destinations import DestinationModel
from dwh_dagster.config.models.partitions import Partitions
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.naming import transformation_op_name
from dwh_dagster.config.ordering import topological_order
from dwh_dagster.config.resolved import ResolvedProject, ResolvedTransformation, resolve_local_path
from dwh_dagster.config.sql import SqlText


@dataclass(frozen=True)
class ModelPlan:
    """One model: what it writes, how, and the SQL that computes it (plain data)."""

    name: str
    dataset: str
    materialized: str
    sql: SqlText
    dialect: str
    unique_key: tuple[str, ...]
    incremental_filter: str | None
    reads_models: tuple[str, ...]
    """Models of this destination it reads: they are built first in a step that builds both."""
    checks: tuple[CheckPlan, ...] = ()
    """Its data-quality checks, run right after it is built."""

    @property
    def asset_key(self) -> list[str]:
        """``<dataset>/<name>``."""
        return [self.dataset, self.name]

    @property
    def qualified(self) -> str:
        """``dataset.name``, for messages."""
        return f"{self.dataset}.{self.name}"


@dataclass(frozen=True)
class TransformPlan:
    """Every model of one destination, in build order, and what a run needs to connect."""

    destination: DestinationModel
    models: tuple[ModelPlan, ...]
    project_root: Path
    environment: str
    secrets: Mapping[str, SecretEntry]
    op_name: str = ""
    """The step's name: ``transform_<destination>``, and a suffix for each partitions spelling."""
    partitions: Partitions | None = None
    """The partitions its models share (a destination's models split by spelling)."""
    backfill: str = "single_run"

    def local_path(self, value: str) -> str:
        """A local path made absolute against the project root; URLs unchanged."""
        return resolve_local_path(self.project_root, value)


def build_model_plan(model: ResolvedTransformation) -> ModelPlan:
    """The plan of one resolved transformation."""
    return ModelPlan(
        name=model.name,
        dataset=model.dataset,
        materialized=model.model.materialized,
        sql=model.sql,
        dialect=model.dialect,
        unique_key=tuple(model.model.unique_key or ()),
        incremental_filter=model.model.incremental_filter,
        reads_models=model.upstream_transformations,
        checks=check_plans(model.model.checks),
    )


ModelGroup = tuple[Partitions | None, str, list[ResolvedTransformation]]


def _groups(models: list[ResolvedTransformation]) -> list[ModelGroup]:
    """The models of one destination split by partitions spelling and backfill policy
    (one Dagster multi-asset holds one partitions definition); unpartitioned ones first."""
    groups: dict[tuple[Partitions | None, str], list[ResolvedTransformation]] = {}
    for model in models:
        backfill = model.model.backfill if model.partitions is not None else "single_run"
        groups.setdefault((model.partitions, backfill), []).append(model)
    order = sorted(groups, key=lambda k: (k[0] is not None, repr(k[0]), k[1]))
    return [(partitions, backfill, groups[(partitions, backfill)]) for partitions, backfill in order]


def build_transform_plans(project: ResolvedProject) -> list[TransformPlan]:
    """One plan per destination that has transformations (one per partitions spelling), its models
    in build order."""
    by_destination: dict[str, list[ResolvedTransformation]] = {}
    for model in project.transformations.values():
        by_destination.setdefault(model.destination_name, []).append(model)
    plans = []
    for destination in sorted(by_destination):
        seen_types: dict[str, int] = {}
        for partitions, backfill, group in _groups(by_destination[destination]):
            models = {m.name: m for m in group}
            order = topological_order(
                {name: [u for u in m.upstream_transformations if u in models] for name, m in models.items()},
                sorted(models),
            )
            op_name = transformation_op_name(destination)
            if partitions is not None:
                seen_types[partitions.type] = seen_types.get(partitions.type, 0) + 1
                count = seen_types[partitions.type]
                op_name += f"__{partitions.type}" + (f"_{count}" if count > 1 else "")
            plans.append(
                TransformPlan(
                    destination=project.destinations[destination],
                    models=tuple(build_model_plan(models[name]) for name in order),
                    project_root=project.root_dir,
                    environment=project.environment,
                    secrets=project.secrets,
                    op_name=op_name,
                    partitions=partitions,
                    backfill=backfill,
                )
            )
    return plans

"""The resolved project: every object of one environment with its references followed.

A pipeline carries its source, destination, dataset, resources and the parent of each resource;
a job carries its entries with their pipelines; a trigger carries the job it starts. The Dagster
factories take this and nothing else: they never look a name up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dwh_dagster.config.models.channels import ChannelModel
from dwh_dagster.config.models.destinations import DestinationModel
from dwh_dagster.config.models.jobs import Job, JobPipeline, JobTransformation
from dwh_dagster.config.models.partitions import Partitions
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.models.sources import ResourceModel, SourceModel, find_resource
from dwh_dagster.config.models.transformations import DbtTransformation, SqlTransformation
from dwh_dagster.config.models.triggers import TriggerModel
from dwh_dagster.config.ordering import run_order_constraints, topological_order
from dwh_dagster.config.paths import is_local_path
from dwh_dagster.config.secrets import SecretResolver
from dwh_dagster.config.sql import SqlText


def resolve_local_path(root: Path, value: str) -> str:
    """``value`` made absolute against ``root`` when it is a local path; URLs (and MotherDuck,
    ``:memory:``) are returned unchanged."""
    if not is_local_path(value):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


@dataclass(frozen=True)
class ResolvedPipeline:
    """A pipeline with what it reads and where it writes."""

    model: Pipeline
    source: SourceModel
    destination: DestinationModel
    dataset: str
    resources: tuple[str, ...]
    """The resources it loads, in source order."""
    parents: Mapping[str, str]
    """For each loaded rest_api child resource, the resource it reads its parent records from."""
    depends_on: tuple[str, ...]
    """Names of the pipelines it depends on (its own ``depends_on``: lineage)."""
    file: Path

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.model.name

    def resource(self, name: str) -> ResourceModel:
        """The source's model of one resource (or table)."""
        return find_resource(self.source, name)

    @property
    def partitions(self) -> Partitions | None:
        """The pipeline's ``partitions:``, else the one its resources share (validation makes sure
        that they do), else None."""
        if self.model.partitions is not None:
            return self.model.partitions
        return next((p for r in self.resources if (p := self.resource(r).partitions) is not None), None)

    def partition_cursor(self, resource: str) -> str | None:
        """The field whose value places a record of ``resource`` in a partition."""
        partitions = self.partitions
        if partitions is None:
            return None
        if partitions.cursor_field:
            return partitions.cursor_field
        own = self.resource(resource).partitions
        if own is not None and own.cursor_field:
            return own.cursor_field
        incremental = self.resource(resource).incremental
        return getattr(incremental, "cursor_field", None)


@dataclass(frozen=True)
class ResolvedTransformation:
    """A SQL model with the destination it runs in, its dataset, and the tables it reads."""

    model: SqlTransformation
    destination: DestinationModel
    dataset: str
    dialect: str
    """The sqlglot dialect of its destination."""
    sql: SqlText
    """Its SQL and where that stands (the YAML block or the ``sql_file``)."""
    upstream: tuple[tuple[str, str], ...]
    """Asset keys of the tables it reads that the project produces (a dlt child table's parent)."""
    upstream_transformations: tuple[str, ...]
    """Names of the transformations it reads."""
    external: tuple[tuple[str, str], ...]
    """``(dataset, table)`` of the tables it reads that are listed under ``external_tables``."""
    file: Path
    partition_mappings: tuple[tuple[tuple[str, str], str], ...] = ()
    """``partition_mapping:`` by the asset key of each table it names: ``(key, "window")``."""

    @property
    def name(self) -> str:
        """The transformation's name: also the table or view it writes."""
        return self.model.name

    @property
    def partitions(self) -> Partitions | None:
        """Its ``partitions:``, if any."""
        return self.model.partitions

    @property
    def destination_name(self) -> str:
        """Name of the destination it runs in."""
        return self.destination.name

    @property
    def asset_keys(self) -> tuple[tuple[str, str], ...]:
        """Its one asset: ``(dataset, name)``."""
        return ((self.dataset, self.name),)


@dataclass(frozen=True)
class ResolvedDbtNode:
    """A model, seed or snapshot of a dbt project, as its asset."""

    unique_id: str
    asset_key: tuple[str, str]
    """``(schema, relation)``, as for every table."""


@dataclass(frozen=True)
class ResolvedDbtProject:
    """A dbt project with the destination it builds in and the manifest that describes it."""

    model: DbtTransformation
    destination: DestinationModel
    dataset: str
    """The profile's schema."""
    project_dir: Path
    manifest_path: Path
    profile: str
    """The profile name ``dbt_project.yml`` asks for: the generated profile has that name."""
    nodes: tuple[ResolvedDbtNode, ...]
    sources: tuple[ResolvedDbtNode, ...]
    """Its ``source()`` tables, keyed as the table's producer keys them (``demo/orders``)."""
    external: tuple[tuple[str, str], ...]
    """Asset keys of its sources that nothing in this project writes."""
    file: Path

    @property
    def name(self) -> str:
        """The transformation's name."""
        return self.model.name

    @property
    def destination_name(self) -> str:
        """Name of the destination it builds in."""
        return self.destination.name

    @property
    def asset_keys(self) -> tuple[tuple[str, str], ...]:
        """The assets of its models, seeds and snapshots."""
        return tuple(node.asset_key for node in self.nodes)


AnyTransformation = ResolvedTransformation | ResolvedDbtProject
"""A SQL model or a dbt project: what a job entry or a trigger names."""


@dataclass(frozen=True)
class ResolvedJobTransformation:
    """One transformation entry of a job."""

    model: JobTransformation
    transformation: AnyTransformation

    @property
    def enabled(self) -> bool:
        """Whether the transformation runs as part of the job."""
        return self.model.enabled


@dataclass(frozen=True)
class ResolvedJobEntry:
    """One pipeline entry of a job."""

    model: JobPipeline
    pipeline: ResolvedPipeline
    depends_on: tuple[str, ...]
    """Names of the pipelines this entry waits for (``dag`` jobs)."""

    @property
    def enabled(self) -> bool:
        """Whether the pipeline runs as part of the job."""
        return self.model.enabled


@dataclass(frozen=True)
class ResolvedJob:
    """A job with its entries, in run order."""

    model: Job
    all_entries: tuple[ResolvedJobEntry, ...]
    """Every entry, disabled ones too, in run order."""
    all_transformation_entries: tuple[ResolvedJobTransformation, ...]
    """Every transformation entry, disabled ones too, by ``order`` then file position."""
    channels: tuple[str, ...]
    """Its notification channels by name (a default channel is named by its type)."""
    file: Path

    @property
    def name(self) -> str:
        """The job's name."""
        return self.model.name

    @property
    def mode(self) -> str:
        """Its execution mode: ``sequential``, ``parallel`` or ``dag``."""
        return self.model.execution.mode

    @property
    def entries(self) -> tuple[ResolvedJobEntry, ...]:
        """The enabled entries, in run order."""
        return tuple(entry for entry in self.all_entries if entry.enabled)

    @property
    def pipelines(self) -> tuple[ResolvedPipeline, ...]:
        """The pipelines of the enabled entries, in run order."""
        return tuple(entry.pipeline for entry in self.entries)

    @property
    def transformations(self) -> tuple[AnyTransformation, ...]:
        """The enabled transformations, by ``order`` then file position."""
        return tuple(e.transformation for e in self.all_transformation_entries if e.enabled)

    @property
    def partitioned_pipeline(self) -> ResolvedPipeline | None:
        """The first enabled pipeline with partitions (validation makes all of them alike), if any."""
        return next((p for p in self.pipelines if p.partitions is not None), None)

    @property
    def partitioned_transformations(self) -> tuple[ResolvedTransformation, ...]:
        """The enabled SQL transformations with partitions."""
        return tuple(
            t
            for t in self.transformations
            if isinstance(t, ResolvedTransformation) and t.partitions is not None
        )

    @property
    def partitions(self) -> tuple[Partitions, str] | None:
        """The partitions its runs take (those of its pipelines, else of its transformations;
        validation makes them alike) and their ``backfill:`` policy, or None."""
        pipeline = self.partitioned_pipeline
        if pipeline is not None and pipeline.partitions is not None:
            return pipeline.partitions, pipeline.model.backfill
        for model in self.partitioned_transformations:
            if model.partitions is not None:
                return model.partitions, model.model.backfill
        return None


@dataclass(frozen=True)
class ResolvedTrigger:
    """A trigger with the job it starts and, for events, what it watches."""

    model: TriggerModel
    job: ResolvedJob
    watched_job: ResolvedJob | None = None
    """The job whose runs a ``job_succeeded`` / ``job_failed`` event watches."""
    watched_pipelines: tuple[ResolvedPipeline, ...] = ()
    """The pipelines whose tables an ``asset_materialized`` event watches."""
    watched_transformations: tuple[AnyTransformation, ...] = ()
    """The transformations an ``asset_materialized`` event watches."""
    file: Path | None = None

    @property
    def name(self) -> str:
        """The trigger's name."""
        return self.model.name


@dataclass(frozen=True)
class ResolvedProject:
    """Every config of one defs directory in one environment, cross-checked and resolved."""

    defs_dir: Path
    environment: str
    sources: Mapping[str, SourceModel]
    destinations: Mapping[str, DestinationModel]
    pipelines: Mapping[str, ResolvedPipeline]
    jobs: Mapping[str, ResolvedJob]
    triggers: Mapping[str, ResolvedTrigger]
    channels: Mapping[str, ChannelModel]
    transformations: Mapping[str, ResolvedTransformation]
    """The SQL models."""
    dbt_projects: Mapping[str, ResolvedDbtProject]
    default_channels: frozenset[str]
    """Channel types used by a job without a file of their own (configured by env vars)."""
    secrets: Mapping[str, SecretEntry]
    files: Mapping[tuple[str, str], Path] = field(repr=False)
    """The file of each object, by ``(kind, name)``: ``("sources", "my_api")``."""

    @property
    def root_dir(self) -> Path:
        """The project root: relative paths in configs are relative to it."""
        return self.defs_dir.parent

    def local_path(self, value: str) -> str:
        """A local path made absolute against the project root; fsspec URLs (``s3://``) unchanged."""
        return resolve_local_path(self.root_dir, value)

    def run_order_constraints(self, jobs: Sequence[ResolvedJob] | None = None) -> dict[str, list[str]]:
        """For each pipeline, the pipelines that run before it: its ``depends_on``, the ``depends_on``
        of dag jobs, and the order of the given sequential jobs (all of them by default)."""
        sequential = [j for j in (self.jobs.values() if jobs is None else jobs) if j.mode == "sequential"]
        return run_order_constraints(
            {name: p.depends_on for name, p in self.pipelines.items()},
            [
                {e.pipeline.name: e.depends_on for e in job.all_entries}
                for job in self.jobs.values()
                if job.mode == "dag"
            ],
            [[p.name for p in job.pipelines] for job in sequential],
        )

    def run_order(self) -> list[str]:
        """Every pipeline in one order that satisfies every dependency and every sequential job."""
        return topological_order(self.run_order_constraints(), sorted(self.pipelines))

    def secret_resolver(self) -> SecretResolver:
        """Reads this project's secrets from the environment, at run time."""
        return SecretResolver(self.secrets, self.environment)

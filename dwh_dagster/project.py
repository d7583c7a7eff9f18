"""The loaded project: every model of the current environment, with references resolved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from dwh_dagster.models.channels import ChannelModel
from dwh_dagster.models.destinations import DestinationModel
from dwh_dagster.models.jobs import Job, JobPipeline
from dwh_dagster.models.pipelines import Pipeline
from dwh_dagster.models.secrets import SecretEntry
from dwh_dagster.models.sources import SourceModel
from dwh_dagster.models.triggers import TriggerModel
from dwh_dagster.ordering import topological_order
from dwh_dagster.secrets import SecretResolver


def resolve_local_path(root: Path, value: str) -> str:
    """``value`` made absolute against ``root`` when it is a local path; URLs are returned unchanged."""
    if "://" in value or value.startswith("md:"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


@dataclass(frozen=True)
class Project:
    """Every config of one defs directory in one environment, cross-checked.

    References (``config_file: my_api.yaml``, ``job: daily_ingestion.yaml``, pipeline and channel
    names) are resolved through :meth:`resolve`; after a successful load they always resolve.
    """

    defs_dir: Path
    environment: str
    sources: Mapping[str, SourceModel]
    destinations: Mapping[str, DestinationModel]
    pipelines: Mapping[str, Pipeline]
    jobs: Mapping[str, Job]
    triggers: Mapping[str, TriggerModel]
    channels: Mapping[str, ChannelModel]
    default_channels: frozenset[str]
    secrets: Mapping[str, SecretEntry]
    files: Mapping[tuple[str, str], Path]
    references: Mapping[str, Mapping[str, str]] = field(repr=False)

    @property
    def root_dir(self) -> Path:
        """The project root: relative paths in configs are relative to it."""
        return self.defs_dir.parent

    def local_path(self, value: str) -> str:
        """A local path made absolute against the project root; fsspec URLs (``s3://``) unchanged."""
        return resolve_local_path(self.root_dir, value)

    def resolve(self, kind: str, reference: str) -> str:
        """The name of the ``kind`` object that ``reference`` (a name or file name) points at."""
        return self.references[kind][reference]

    def source_for(self, pipeline: Pipeline) -> SourceModel:
        """The source a pipeline reads."""
        return self.sources[self.resolve("sources", pipeline.source.config_file)]

    def destination_for(self, pipeline: Pipeline) -> DestinationModel:
        """The destination a pipeline writes."""
        return self.destinations[self.resolve("destinations", pipeline.destination.config_file)]

    def dataset_for(self, pipeline: Pipeline) -> str:
        """The dataset (schema) a pipeline's tables land in."""
        dataset = pipeline.destination.dataset_name or self.destination_for(pipeline).settings.schema_name
        assert dataset is not None, "checked at load time"
        return dataset

    def resources_for(self, pipeline: Pipeline) -> list[str]:
        """Names of the source resources a pipeline loads, in source order."""
        names = self.source_for(pipeline).resource_names()
        if pipeline.source.resources is None:
            return names
        chosen = set(pipeline.source.resources)
        return [n for n in names if n in chosen]

    def pipeline_dependencies(self, pipeline: Pipeline) -> list[str]:
        """Names of the pipelines a pipeline depends on."""
        return [self.resolve("pipelines", ref) for ref in pipeline.depends_on]

    def run_order_constraints(self, jobs: list[Job] | None = None) -> dict[str, list[str]]:
        """For each pipeline, the pipelines that run before it: its ``depends_on``, the ``depends_on``
        of dag jobs, and the order of the given sequential jobs (all of them by default)."""
        before = {name: self.pipeline_dependencies(p) for name, p in self.pipelines.items()}
        for job in self.jobs.values():
            if job.execution.mode != "dag":
                continue
            for entry in job.pipelines:
                name = self.resolve("pipelines", entry.name)
                for ref in entry.depends_on:
                    earlier = self.resolve("pipelines", ref)
                    if earlier not in before[name]:
                        before[name] = [*before[name], earlier]
        for job in self.jobs.values() if jobs is None else jobs:
            if job.execution.mode != "sequential":
                continue
            names = [p.name for _, p in self.job_pipelines(job)]
            for earlier, later in pairwise(names):
                if earlier not in before[later]:
                    before[later] = [*before[later], earlier]
        return before

    def run_order(self) -> list[str]:
        """Every pipeline in one order that satisfies every dependency and every sequential job."""
        return topological_order(self.run_order_constraints(), sorted(self.pipelines))

    def job_for(self, trigger: TriggerModel) -> Job:
        """The job a trigger starts."""
        return self.jobs[self.resolve("jobs", trigger.job)]

    def job_pipelines(
        self, job: Job, *, include_disabled: bool = False
    ) -> list[tuple[JobPipeline, Pipeline]]:
        """A job's pipeline entries with their pipelines, in run order (``order``, then file order)."""
        indexed = list(enumerate(job.pipelines))
        indexed.sort(key=lambda item: (item[1].order if item[1].order is not None else item[0], item[0]))
        return [
            (entry, self.pipelines[self.resolve("pipelines", entry.name)])
            for _, entry in indexed
            if include_disabled or entry.enabled
        ]

    def job_channels(self, job: Job) -> list[str]:
        """Names of a job's notification channels (a default channel is named by its type)."""
        return [self.resolve("channels", ref) for ref in job.notifications.channels]

    def secret_resolver(self) -> SecretResolver:
        """Reads this project's secrets from the environment, at run time."""
        return SecretResolver(self.secrets, self.environment)

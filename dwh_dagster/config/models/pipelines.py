"""``pipelines/*.yaml``: which resources of a source go to which dataset of a destination."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveInt

from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    Name,
    StrictModel,
    Tags,
    environments_field,
)
from dwh_dagster.config.models.checks import Check
from dwh_dagster.config.models.freshness import Freshness, PipelineFreshness, freshness_field
from dwh_dagster.config.models.partitions import (
    BackfillPolicyName,
    Partitions,
    backfill_field,
    partitions_field,
)


class PipelineSourceRef(StrictModel):
    """The source a pipeline reads."""

    config_file: str = Field(description="Source file name (`my_api.yaml`) or source name (`my_api`).")
    resources: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Resources (tables) to load; all of the source's when omitted.",
    )


class PipelineDestinationRef(StrictModel):
    """The destination a pipeline writes."""

    config_file: str = Field(
        description="Destination file name (`my_warehouse.yaml`) or destination name (`my_warehouse`)."
    )
    dataset_name: Name | None = Field(
        default=None,
        description="Dataset (schema) the tables land in; the destination's `settings.schema` when omitted.",
    )


class PipelineRetry(StrictModel):
    """Retries of a failed pipeline step."""

    max_attempts: PositiveInt = Field(default=1, description="Attempts in all, the first included.")
    initial_delay: NonNegativeFloat = Field(
        default=0, description="Seconds before the first retry; doubled for each further retry."
    )


class Pipeline(StrictModel):
    """Source resources loaded into one destination dataset."""

    name: Name = Field(description="Unique pipeline name; the asset group in Dagster.")
    description: str | None = Field(default=None, description="What this pipeline loads.")
    source: PipelineSourceRef = Field(description="Source file and resources.")
    destination: PipelineDestinationRef = Field(description="Destination file and dataset.")
    retry: PipelineRetry = Field(default_factory=PipelineRetry, description="Retry policy of each step.")
    depends_on: list[str] = Field(
        default_factory=list, description="Pipelines whose tables must be loaded before this one's."
    )
    owners: list[str] = Field(
        default_factory=list, description="Owners (emails or `team:name`) of the assets."
    )
    tags: Tags = Field(default_factory=dict, description="Tags on the assets of this pipeline.")
    checks: dict[str, list[Check]] = Field(
        default_factory=dict,
        description="Data-quality checks by resource (table) name, each a Dagster asset check run "
        "right after the table loads.",
    )
    partitions: Partitions | None = partitions_field(
        "Load the tables in time windows (`{type: daily, start: '2024-01-01'}`): each window is a "
        "Dagster partition that loads only its records and replaces them in the table."
    )
    backfill: BackfillPolicyName = backfill_field()
    freshness: PipelineFreshness | None = freshness_field(
        "How old the tables may get (`{warn_after: 2h, fail_after: 6h}`), for all of them, or by "
        "resource name (`{issues: {fail_after: 6h}}`); Dagster's daemon marks a table past "
        "`fail_after` stale and its jobs' failure channels get one message per breach."
    )
    environments: EnvironmentOverlays | None = environments_field()

    def freshness_of(self, resource: str) -> Freshness | None:
        """The freshness of one table: the pipeline's, or the one given for ``resource``."""
        if self.freshness is None or isinstance(self.freshness, Freshness):
            return self.freshness
        return self.freshness.get(resource)


class PipelineFile(StrictModel):
    """A file under ``pipelines/``."""

    pipeline: Pipeline = Field(description="The pipeline defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()

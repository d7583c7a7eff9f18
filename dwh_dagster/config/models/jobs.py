"""``jobs/*.yaml``: batches of pipelines and transformations with execution mode, retries,
notifications and SLA."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveInt

from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    Name,
    StrictModel,
    Tags,
    environments_field,
)


class JobPipeline(StrictModel):
    """One pipeline of a job."""

    name: str = Field(description="Pipeline name (`my_pipeline`) or file name (`my_pipeline.yaml`).")
    order: int | None = Field(
        default=None, description="Position in `sequential` mode (lower runs first); file order when omitted."
    )
    enabled: bool = Field(default=True, description="Whether this pipeline runs as part of the job.")
    depends_on: list[str] = Field(
        default_factory=list, description="Pipelines of this job that must finish first (`dag` mode)."
    )


class JobTransformation(StrictModel):
    """One transformation of a job."""

    name: str = Field(description="Transformation name (`my_model`) or file name (`my_model.yaml`).")
    order: int | None = Field(
        default=None,
        description="Position among the job's transformations (lower first, where their reads allow); "
        "file order when omitted.",
    )
    enabled: bool = Field(default=True, description="Whether this transformation runs as part of the job.")


class JobExecution(StrictModel):
    """How the job's pipelines run."""

    mode: Literal["sequential", "parallel", "dag"] = Field(
        default="sequential", description="`sequential` (by order), `parallel`, or `dag` (by depends_on)."
    )
    max_parallelism: PositiveInt = Field(
        default=4, description="Pipelines running at once in `parallel` and `dag` modes."
    )
    continue_on_failure: bool = Field(
        default=False, description="In `sequential` mode, run the remaining pipelines after a failure."
    )


class JobRetries(StrictModel):
    """Retries of failed steps."""

    max_attempts: PositiveInt = Field(default=1, description="Attempts in all, the first included.")
    retry_delay: NonNegativeFloat = Field(default=0, description="Seconds before a retry.")
    exponential_backoff: bool = Field(default=False, description="Double the delay after each retry.")


class JobNotifications(StrictModel):
    """Who hears about the job's runs."""

    on_failure: bool = Field(default=True, description="Notify when a run fails.")
    on_success: bool = Field(default=False, description="Notify when a run succeeds.")
    channels: list[str] = Field(
        default_factory=list,
        description="Channel names or files; a type name (`email`, `slack`, `msteams`, `webhook`) "
        "without a file of its own means that type's default channel.",
    )


class JobSla(StrictModel):
    """A limit on how long a run may take."""

    duration: PositiveInt = Field(description="Seconds a run may take before the SLA is breached.")
    action: Literal["alert", "terminate"] = Field(
        default="alert", description="`alert` notifies the failure channels; `terminate` also stops the run."
    )


class Job(StrictModel):
    """A batch of pipelines and transformations run together."""

    name: Name = Field(description="Unique job name; the Dagster job name.")
    description: str | None = Field(default=None, description="What this job does.")
    pipelines: list[JobPipeline] = Field(
        default_factory=list,
        description="Pipelines of this job (a job has pipelines, transformations or both).",
    )
    transformations: list[JobTransformation] = Field(
        default_factory=list,
        description="Transformations of this job; each runs after the tables it reads that the run loads.",
    )
    execution: JobExecution = Field(default_factory=JobExecution, description="Execution mode.")
    retries: JobRetries = Field(default_factory=JobRetries, description="Retry policy of failed steps.")
    notifications: JobNotifications = Field(
        default_factory=JobNotifications, description="Notifications on failure and success."
    )
    sla: JobSla | None = Field(default=None, description="Maximum run duration and what to do on breach.")
    tags: Tags = Field(default_factory=dict, description="Tags on the job and its runs.")
    environments: EnvironmentOverlays | None = environments_field()

    def entries_in_run_order(self, *, include_disabled: bool = False) -> list[JobPipeline]:
        """The pipeline entries in run order: by ``order``, then by position in the file."""
        indexed = list(enumerate(self.pipelines))
        indexed.sort(key=lambda item: (item[1].order if item[1].order is not None else item[0], item[0]))
        return [entry for _, entry in indexed if include_disabled or entry.enabled]

    def transformations_in_order(self) -> list[JobTransformation]:
        """Every transformation entry, disabled ones too: by ``order``, then by position in the file."""
        indexed = list(enumerate(self.transformations))
        indexed.sort(key=lambda item: (item[1].order if item[1].order is not None else item[0], item[0]))
        return [entry for _, entry in indexed]


class JobFile(StrictModel):
    """A file under ``jobs/``."""

    job: Job = Field(description="The job defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()

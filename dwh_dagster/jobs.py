"""Dagster asset jobs from job models."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dwh_dagster.models.jobs import Job
from dwh_dagster.models.pipelines import Pipeline
from dwh_dagster.naming import table_asset_key
from dwh_dagster.project import Project
from dwh_dagster.tags import yaml_tags


def pipeline_asset_keys(project: Project, pipeline: Pipeline) -> list[dg.AssetKey]:
    """The tables a pipeline loads."""
    dataset = project.dataset_for(pipeline)
    return [dg.AssetKey(table_asset_key(dataset, r)) for r in project.resources_for(pipeline)]


def job_asset_keys(project: Project, job: Job) -> list[dg.AssetKey]:
    """The tables of a job's enabled pipelines."""
    return [
        key for _, pipeline in project.job_pipelines(job) for key in pipeline_asset_keys(project, pipeline)
    ]


def build_executor(job: Job) -> dg.ExecutorDefinition:
    """How a job's steps run.

    ``sequential``: one step at a time in this process, in the shared run order (op priorities).
    ``parallel`` and ``dag``: one process per step, at most ``max_parallelism`` at a time (a dag
    step waits for its depends_on inside the step; the shared run order starts them first).
    Retries are done by the steps themselves (see ``assets/pipeline_assets.py``).
    """
    if job.execution.mode == "sequential":
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": job.execution.max_parallelism})


def build_job(project: Project, job: Job) -> UnresolvedAssetJobDefinition:
    """An asset job over the assets of the job's enabled pipelines, run as its execution mode says."""
    return dg.define_asset_job(
        name=job.name,
        selection=dg.AssetSelection.assets(*job_asset_keys(project, job)),
        description=job.description,
        tags={
            **yaml_tags(job.tags),
            "dwh/job": job.name,
            "dwh/execution_mode": job.execution.mode,
            # with run monitoring on (dagster.yaml), Dagster terminates runs that outlive this
            **(
                {"dagster/max_runtime": str(job.sla.duration)}
                if job.sla and job.sla.action == "terminate"
                else {}
            ),
        },
        executor_def=build_executor(job),
    )

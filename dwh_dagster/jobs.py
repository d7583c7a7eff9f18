"""Dagster asset jobs from job models."""

from __future__ import annotations

import dagster as dg

from dwh_dagster.models.jobs import Job
from dwh_dagster.models.pipelines import Pipeline
from dwh_dagster.naming import table_asset_key
from dwh_dagster.narrow_jobs import NarrowAssetJobDefinition, narrow
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


def job_step_count(project: Project, job: Job) -> int:
    """Steps in a run of the whole job: one per enabled pipeline (a pipeline is one multi-asset op)."""
    return len({pipeline.name for _, pipeline in project.job_pipelines(job)})


def build_executor(project: Project, job: Job) -> dg.ExecutorDefinition:
    """How a job's steps run.

    ``sequential``: one step at a time in this process, in the shared run order (op priorities).
    ``parallel`` and ``dag``: one process per step, at most ``max_parallelism`` at a time (a dag
    step waits for its depends_on inside the step; the shared run order starts them first).
    Retries are done by the steps themselves (see ``assets/pipeline_assets.py``).

    A job of one step runs it in the run's process whatever its mode: a step process would only
    add a second Python start and code load (about a second of CPU, more on a busy machine;
    ``benchmarks/run_overhead.py``) and nothing would run beside it. The step keeps its mode's
    policy (retries through Dagster for ``parallel`` and ``dag``), which the in-process executor
    honours too.
    """
    if job.execution.mode == "sequential" or job_step_count(project, job) == 1:
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": job.execution.max_parallelism})


def build_job(project: Project, job: Job) -> NarrowAssetJobDefinition:
    """An asset job over the assets of the job's enabled pipelines, run as its execution mode says."""
    asset_job = dg.define_asset_job(
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
        executor_def=build_executor(project, job),
    )
    return narrow(asset_job)

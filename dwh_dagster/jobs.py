"""Dagster asset jobs from job models."""

from __future__ import annotations

import dagster as dg

from dwh_dagster.assets.pipeline_assets import job_retry_policy
from dwh_dagster.config.naming import table_asset_key
from dwh_dagster.config.resolved import ResolvedDbtProject, ResolvedJob, ResolvedPipeline
from dwh_dagster.narrow_jobs import NarrowAssetJobDefinition, narrow
from dwh_dagster.tags import yaml_tags


def pipeline_asset_keys(pipeline: ResolvedPipeline) -> list[dg.AssetKey]:
    """The tables a pipeline loads."""
    return [dg.AssetKey(table_asset_key(pipeline.dataset, r)) for r in pipeline.resources]


def job_asset_keys(job: ResolvedJob) -> list[dg.AssetKey]:
    """The tables of a job's enabled pipelines and transformations."""
    return [
        *(key for pipeline in job.pipelines for key in pipeline_asset_keys(pipeline)),
        *(dg.AssetKey(list(key)) for t in job.transformations for key in t.asset_keys),
    ]


def job_step_count(job: ResolvedJob) -> int:
    """Steps in a run of the whole job: one per enabled pipeline (a pipeline is one multi-asset op)
    one per destination its SQL models are built in, and one per dbt project."""
    steps = {
        t.name if isinstance(t, ResolvedDbtProject) else f"sql:{t.destination_name}"
        for t in job.transformations
    }
    return len({p.name for p in job.pipelines}) + len(steps)


def build_executor(job: ResolvedJob) -> dg.ExecutorDefinition:
    """How a job's steps run.

    ``sequential``: one step at a time in this process, in the shared run order (op priorities).
    ``parallel`` and ``dag``: one process per step, at most ``max_parallelism`` at a time (a dag
    step waits for its depends_on inside the step; the shared run order starts them first).
    Retries: the job's ``RetryPolicy`` or the steps themselves (see ``assets/pipeline_assets.py``).

    A job of one step runs it in the run's process whatever its mode: a step process would only
    add a second Python start and code load (about a second of CPU, more on a busy machine;
    ``benchmarks/run_overhead.py``) and nothing would run beside it. The step keeps its mode's
    policy (retries through Dagster for ``parallel`` and ``dag``), which the in-process executor
    honours too.
    """
    if job.mode == "sequential" or job_step_count(job) == 1:
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": job.model.execution.max_parallelism})


def build_job(resolved: ResolvedJob) -> NarrowAssetJobDefinition:
    """An asset job over the assets of the job's enabled pipelines, run as its execution mode says."""
    job = resolved.model
    asset_job = dg.define_asset_job(
        name=job.name,
        selection=dg.AssetSelection.assets(*job_asset_keys(resolved)),
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
        executor_def=build_executor(resolved),
        op_retry_policy=job_retry_policy(resolved),
    )
    return narrow(asset_job)

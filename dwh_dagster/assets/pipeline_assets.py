"""One subsettable multi-asset per pipeline; the dlt work happens only when a run executes it."""

from collections.abc import Iterator

import dagster as dg
from dagster import AssetExecutionContext

from dwh_dagster.assets.specs import build_pipeline_asset_specs, destination_pool
from dwh_dagster.ingestion.plan import build_load_plan
from dwh_dagster.models.pipelines import Pipeline
from dwh_dagster.naming import pipeline_op_name
from dwh_dagster.project import Project


def build_retry_policy(pipeline: Pipeline) -> dg.RetryPolicy | None:
    """The pipeline's ``retry`` as a Dagster retry policy with exponential backoff."""
    if pipeline.retry.max_attempts <= 1:
        return None
    return dg.RetryPolicy(
        max_retries=pipeline.retry.max_attempts - 1,
        delay=pipeline.retry.initial_delay or None,
        backoff=dg.Backoff.EXPONENTIAL if pipeline.retry.initial_delay else None,
    )


def failed_steps(context: AssetExecutionContext) -> list[str]:
    """Steps of the current run that have failed for good (retries exhausted)."""
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records
    return sorted({r.event_log_entry.step_key for r in records if r.event_log_entry.step_key})


def build_pipeline_assets(
    project: Project, pipeline: Pipeline, priority: int = 0, fail_fast_jobs: frozenset[str] = frozenset()
) -> dg.AssetsDefinition:
    """The assets of one pipeline: each table can be materialized on its own.

    ``priority`` places the step in the one run order all jobs share (higher runs first).
    In the jobs named in ``fail_fast_jobs`` (sequential, ``continue_on_failure: false``) the step
    does not load anything once another step of the run has failed.
    """
    plan = build_load_plan(project, pipeline)

    @dg.multi_asset(
        name=pipeline_op_name(pipeline.name),
        specs=build_pipeline_asset_specs(project, pipeline),
        can_subset=True,
        retry_policy=build_retry_policy(pipeline),
        pool=destination_pool(project, plan.destination),
        description=pipeline.description,
        op_tags={"dagster/priority": str(priority)},
    )
    def _load(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        if context.job_name in fail_fast_jobs:
            failed = failed_steps(context)
            if failed:
                context.log.warning(
                    f"pipeline {pipeline.name} not run: {', '.join(failed)} failed earlier in this run and "
                    f"job {context.job_name} stops at the first failure (continue_on_failure: false)"
                )
                return
        from dwh_dagster.ingestion.runner import run_pipeline

        yield from run_pipeline(context, plan)

    return _load


def build_all_pipeline_assets(project: Project) -> list[dg.AssetsDefinition]:
    """One multi-asset per pipeline, with priorities from the shared run order."""
    order = project.run_order()
    fail_fast: dict[str, set[str]] = {name: set() for name in project.pipelines}
    for job in project.jobs.values():
        if job.execution.mode == "sequential" and not job.execution.continue_on_failure:
            for _, member in project.job_pipelines(job):
                fail_fast[member.name].add(job.name)
    return [
        build_pipeline_assets(
            project, project.pipelines[name], len(order) - index, frozenset(fail_fast[name])
        )
        for index, name in enumerate(order)
    ]

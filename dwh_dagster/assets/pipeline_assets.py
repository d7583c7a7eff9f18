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


def build_pipeline_assets(project: Project, pipeline: Pipeline) -> dg.AssetsDefinition:
    """The assets of one pipeline: each table can be materialized on its own."""
    plan = build_load_plan(project, pipeline)

    @dg.multi_asset(
        name=pipeline_op_name(pipeline.name),
        specs=build_pipeline_asset_specs(project, pipeline),
        can_subset=True,
        retry_policy=build_retry_policy(pipeline),
        pool=destination_pool(project, plan.destination),
        description=pipeline.description,
    )
    def _load(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        from dwh_dagster.ingestion.runner import run_pipeline

        yield from run_pipeline(context, plan)

    return _load

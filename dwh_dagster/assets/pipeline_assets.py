"""One subsettable multi-asset per pipeline; the dlt work happens only when a run executes it.

What a step does around the load depends on the job that runs it (a :class:`StepPolicy`):
``sequential`` jobs retry inside the step (so the one-step-at-a-time executor never moves on to a
later pipeline while an earlier one waits for its retry) and stop after a failure unless
``continue_on_failure``; ``dag`` jobs wait inside the step for the pipelines a job entry
``depends_on`` and skip when one of them did not load; ``parallel`` and ``dag`` jobs retry through
Dagster, visible as retries in the UI: with the job's ``RetryPolicy`` (``op_retry_policy``, see
:func:`job_retry_policy`) where the delay is constant, and with ``RetryRequested`` from the step
where it doubles (Dagster's exponential backoff waits d, 3d, 7d, ... where the YAML promises d,
2d, 4d, ...).
"""

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import dagster as dg
from dagster import AssetExecutionContext

from dwh_dagster.assets.partitions import build_backfill_policy, build_partitions_def
from dwh_dagster.assets.specs import build_pipeline_asset_specs
from dwh_dagster.checks.evaluate import TableChecks, check_plans, check_specs
from dwh_dagster.config.models.destinations import DestinationModel, DuckDbDestination
from dwh_dagster.config.naming import duckdb_writer_pool, pipeline_op_name, table_asset_key
from dwh_dagster.config.resolved import ResolvedJob, ResolvedPipeline, ResolvedProject
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION
from dwh_dagster.ingestion.plan import LoadPlan, build_load_plan

WAIT_POLL_SECONDS = 1.0
TERMINAL_STEP_EVENTS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}


@dataclass(frozen=True)
class RetrySettings:
    """How often and how patiently a failed load is tried again."""

    max_attempts: int = 1
    delay: float = 0.0
    exponential: bool = False

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (2 is the first retry); doubles when exponential."""
        return self.delay * (2 ** (attempt - 2) if self.exponential else 1)


@dataclass(frozen=True)
class StepPolicy:
    """What a pipeline's step does in one job."""

    mode: str = "parallel"
    retry: RetrySettings = RetrySettings()
    fail_fast: bool = False
    wait_for: tuple[str, ...] = ()
    job_retry_policy: bool = False  # the job's RetryPolicy retries this step (retry is then 1 attempt)


def retry_settings(pipeline: ResolvedPipeline, job: ResolvedJob | None) -> RetrySettings:
    """The pipeline's own ``retry`` when it asks for retries (exponential), else the job's ``retries``."""
    own = pipeline.model.retry
    if own.max_attempts > 1 or job is None:
        return RetrySettings(own.max_attempts, own.initial_delay, exponential=True)
    retries = job.model.retries
    return RetrySettings(retries.max_attempts, retries.retry_delay, retries.exponential_backoff)


def job_retry_policy(job: ResolvedJob) -> dg.RetryPolicy | None:
    """The Dagster retry policy of a job's steps, where it keeps what the job's ``retries`` says.

    Only ``parallel`` and ``dag`` jobs (``sequential`` ones retry inside the step, so that the
    one-step-at-a-time executor never moves on while a retry is pending) and only a constant
    delay (Dagster's exponential backoff is not the doubling that ``exponential_backoff``
    promises). A pipeline with its own ``retry`` overrides the job's and retries from the step.
    """
    retries = job.model.retries
    if job.mode == "sequential" or retries.max_attempts <= 1 or retries.exponential_backoff:
        return None
    return dg.RetryPolicy(max_retries=retries.max_attempts - 1, delay=retries.retry_delay)


def all_step_policies(project: ResolvedProject) -> dict[str, dict[str, StepPolicy]]:
    """For each pipeline run by a job, its step policy in each job that runs it (one pass over the jobs)."""
    policies: dict[str, dict[str, StepPolicy]] = {}
    for job in project.jobs.values():
        execution = job.model.execution
        has_policy = job_retry_policy(job) is not None
        for entry in job.entries:
            wait_for: tuple[str, ...] = ()
            if job.mode == "dag":
                wait_for = tuple(pipeline_op_name(name) for name in entry.depends_on)
            retry = retry_settings(entry.pipeline, job)
            by_policy = has_policy and entry.pipeline.model.retry.max_attempts <= 1
            policies.setdefault(entry.pipeline.name, {})[job.name] = StepPolicy(
                mode=job.mode,
                retry=RetrySettings() if by_policy else retry,
                fail_fast=job.mode == "sequential" and not execution.continue_on_failure,
                wait_for=wait_for,
                job_retry_policy=has_policy,
            )
    return policies


def _step_outcomes(context: AssetExecutionContext) -> dict[str, dg.DagsterEventType]:
    """The final event of each finished step of this run."""
    outcomes = {}
    for event_type in TERMINAL_STEP_EVENTS:
        records = context.instance.get_records_for_run(run_id=context.run.run_id, of_type=event_type).records
        for record in records:
            if record.event_log_entry.step_key:
                outcomes[record.event_log_entry.step_key] = event_type
    return outcomes


def _loaded_in_run(context: AssetExecutionContext, step_key: str) -> bool:
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return any(r.event_log_entry.step_key == step_key for r in records)


def _wait_for_dependencies(context: AssetExecutionContext, policy: StepPolicy) -> list[str]:
    """Wait until the dag dependencies in this run finished; return those that did not load."""
    planned = set(context.run.step_keys_to_execute or [])
    pending = [key for key in policy.wait_for if not planned or key in planned]
    announced = False
    while True:
        outcomes = _step_outcomes(context)
        if all(key in outcomes for key in pending):
            return [
                key
                for key in pending
                if outcomes[key] != dg.DagsterEventType.STEP_SUCCESS or not _loaded_in_run(context, key)
            ]
        if not announced:
            context.log.info(f"waiting for {', '.join(k for k in pending if k not in outcomes)} (depends_on)")
            announced = True
        time.sleep(WAIT_POLL_SECONDS)


def failed_steps(context: AssetExecutionContext) -> list[str]:
    """Keys of the steps of this run that failed so far."""
    outcomes = _step_outcomes(context)
    return sorted(key for key, outcome in outcomes.items() if outcome == dg.DagsterEventType.STEP_FAILURE)


def _load_with_retries(
    context: AssetExecutionContext, load: "LoadFn", policy: StepPolicy
) -> Iterator[dg.MaterializeResult]:
    retry = policy.retry
    if policy.mode == "sequential":
        for attempt in range(1, retry.max_attempts + 1):
            try:
                results = list(load(context))
            except Exception as exc:
                if attempt == retry.max_attempts:
                    raise dg.Failure(description=str(exc), allow_retries=False) from None
                wait = retry.delay_before(attempt + 1)
                context.log.warning(
                    f"attempt {attempt} of {retry.max_attempts} failed; retrying in {wait:g} s: "
                    f"{str(exc).splitlines()[0]}"
                )
                time.sleep(wait)
                continue
            yield from results
            return
    try:
        yield from list(load(context))
    except Exception as exc:
        attempt = context.retry_number + 1
        if attempt < retry.max_attempts:
            raise dg.RetryRequested(
                max_retries=retry.max_attempts - 1, seconds_to_wait=retry.delay_before(attempt + 1)
            ) from None
        if policy.job_retry_policy and retry.max_attempts > 1:
            # the pipeline's own retries are spent: the job's RetryPolicy must not start more
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        raise


class LoadFn:
    """Runs the load of one pipeline (dlt imported on first call)."""

    def __init__(self, plan: LoadPlan):
        self.plan = plan

    def __call__(self, context: AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        from dwh_dagster.ingestion.runner import run_pipeline

        return run_pipeline(context, self.plan)


def writer_pool(destination: DestinationModel, local_path: Callable[[str], str]) -> str | None:
    """The pool of the DuckDB file a step writes (None for other destinations): loads and
    transformations of one file share it.

    dagster.yaml sets ``concurrency: pools: granularity: run``: the run queue starts a run only when
    each of its pools has a free slot, and steps never wait for a pool inside a run (with ``op``
    granularity they would, and a sequential job would move on to a later pipeline meanwhile).
    """
    if not isinstance(destination, DuckDbDestination):
        return None
    return duckdb_writer_pool(local_path(destination.connection.database))


def build_pipeline_assets(
    project: ResolvedProject, pipeline: ResolvedPipeline, priority: int, policies: Mapping[str, StepPolicy]
) -> dg.AssetsDefinition:
    """The assets of one pipeline: each table can be materialized on its own.

    ``priority`` places the step in the one run order all jobs share (higher runs first).
    """
    load = LoadFn(build_load_plan(project, pipeline))
    description = pipeline.model.description
    default = StepPolicy(retry=retry_settings(pipeline, None))
    table_checks = pipeline_table_checks(pipeline)
    partitions = pipeline.partitions

    @dg.multi_asset(
        name=pipeline_op_name(pipeline.name),
        specs=build_pipeline_asset_specs(project, pipeline),
        check_specs=[spec for t in table_checks for spec in check_specs(t.asset_key, t.plans)],
        can_subset=True,
        description=description,
        op_tags={"dagster/priority": str(priority)},
        pool=writer_pool(load.plan.destination, load.plan.local_path),
        partitions_def=build_partitions_def(partitions) if partitions is not None else None,
        backfill_policy=build_backfill_policy(pipeline.model.backfill) if partitions is not None else None,
    )
    def _load(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        policy = policies.get(context.job_name, default)
        if policy.wait_for:
            missing = _wait_for_dependencies(context, policy)
            if missing:
                context.log.warning(
                    f"pipeline {pipeline.name} not run: {', '.join(missing)} did not load in this run"
                )
                return
        if policy.fail_fast:
            failed = failed_steps(context)
            if failed:
                context.log.warning(
                    f"pipeline {pipeline.name} not run: {', '.join(failed)} failed earlier in this run and "
                    f"job {context.job_name} stops at the first failure (continue_on_failure: false)"
                )
                return
        if not table_checks:
            yield from _load_with_retries(context, load, policy)
            return
        loads = any(
            dg.AssetKey(load.plan.asset_key(r)) in context.selected_asset_keys for r in load.plan.resources
        )
        results = list(_load_with_retries(context, load, policy)) if loads else []
        yield from _with_checks(context, load.plan, table_checks, results)

    return _load


def pipeline_table_checks(pipeline: ResolvedPipeline) -> list[TableChecks]:
    """The checks of each table a pipeline loads."""
    return [
        TableChecks(
            dg.AssetKey(table_asset_key(pipeline.dataset, resource)),
            pipeline.dataset,
            resource,
            check_plans(pipeline.model.checks[resource]),
        )
        for resource in pipeline.resources
        if pipeline.model.checks.get(resource)
    ]


def _with_checks(
    context: AssetExecutionContext,
    plan: LoadPlan,
    table_checks: list[TableChecks],
    results: list[dg.MaterializeResult],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The load's results with the checks of the tables it loaded, and the checks that run alone
    (the selected checks only)."""
    from dwh_dagster.checks.evaluate import check_result
    from dwh_dagster.checks.runner import run_table_checks, with_check_results

    loaded = {r.asset_key for r in results}
    selected = context.selected_asset_check_keys
    to_run = []
    for table in table_checks:
        if table.asset_key not in loaded and table.asset_key in context.selected_asset_keys:
            continue  # selected but not loaded (nothing new): no check of it
        # a table loaded now, or one whose checks alone run (Execute checks, `dwh check`)
        plans = tuple(p for p in table.plans if dg.AssetCheckKey(table.asset_key, p.name) in selected)
        if plans:
            to_run.append(TableChecks(table.asset_key, table.dataset, table.table, plans))
    if not to_run:
        yield from results
        return
    outcomes = run_table_checks(
        plan.destination,
        DIALECT_BY_DESTINATION[plan.destination.type],
        to_run,
        local_path=plan.local_path,
        secrets=plan.secrets,
        environment=plan.environment,
        log=context.log.info,
    )
    for result in results:
        yield with_check_results(result, outcomes)
    for key, found in outcomes.items():
        if key not in loaded:
            yield from (check_result(o, key) for o in found)


def build_all_pipeline_assets(project: ResolvedProject) -> list[dg.AssetsDefinition]:
    """One multi-asset per pipeline, with priorities from the shared run order."""
    order = project.run_order()
    policies = all_step_policies(project)
    return [
        build_pipeline_assets(project, project.pipelines[name], len(order) - index, policies.get(name, {}))
        for index, name in enumerate(order)
    ]

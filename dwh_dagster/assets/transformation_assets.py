"""One subsettable multi-asset per destination with transformations: its models, built in order.

The models of one destination run as one step (as dagster-dbt runs a dbt project): one
connection and, for DuckDB, one hold of the file's writer lock for the whole chain, instead of a
process start, a connection and a lock per model. Dagster orders the step after the steps that
load the tables it reads in the same run; within the step, models are built after the models
they read. What the step does around the build depends on the job (a ``StepPolicy``, as for
loads): ``sequential`` jobs retry failed models inside the step and skip the step after an earlier
failure unless ``continue_on_failure``; ``parallel`` and ``dag`` jobs retry through Dagster.
"""

import time
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg
from dagster import AssetExecutionContext

from dwh_dagster.assets.freshness import build_freshness_policy
from dwh_dagster.assets.partitions import build_backfill_policy, build_partitions_def
from dwh_dagster.assets.pipeline_assets import (
    RetrySettings,
    StepPolicy,
    failed_steps,
    job_retry_policy,
    writer_pool,
)
from dwh_dagster.checks.evaluate import TableChecks, check_specs
from dwh_dagster.config.models.partitions import describe_partitions
from dwh_dagster.config.naming import EAGER_AUTOMATION_SENSOR, table_asset_key
from dwh_dagster.config.ordering import topological_order
from dwh_dagster.config.resolved import ResolvedProject, ResolvedTransformation
from dwh_dagster.tags import yaml_tags
from dwh_dagster.transform.plan import ModelPlan, TransformPlan, build_transform_plans
from dwh_dagster.transform.statements import Window

DEFAULT_GROUP = "transformations"


def eager_condition() -> dg.AutomationCondition:
    """``automation: eager``: Dagster's ``AutomationCondition.eager()`` without its reset on the
    first evaluation.

    Dagster's eager condition forgets, on its first evaluation, what happened before it: a model
    over a table loaded before the daemon's first tick would wait for the next load. Here a
    missing model whose tables are there is requested on the first tick. What stays Dagster's: a
    request or a materialization of the model resets it (so a failed build is not retried every
    tick), which also forgets a load that lands between the model's request and the next tick.
    """
    c = dg.AutomationCondition
    handled = (c.newly_requested() | c.newly_updated()).with_label("handled")
    return (
        c.in_latest_time_window()
        & (c.newly_missing() | c.any_deps_updated()).since(handled)
        & ~c.any_deps_missing()
        & ~c.any_deps_in_progress()
        & ~c.in_progress()
    ).with_label("eager")


def transformation_asset_key(model: ResolvedTransformation) -> dg.AssetKey:
    """``<dataset_name>/<name>``."""
    return dg.AssetKey(table_asset_key(model.dataset, model.name))


def _sql_metadata(model: ResolvedTransformation) -> dict[str, object]:
    sql = model.sql
    fence = "````" if "```" in sql.text else "```"
    line = sql.line if sql.in_yaml else 1
    return {
        "dwh/sql": dg.MetadataValue.md(f"{fence}sql\n{sql.text.rstrip()}\n{fence}"),
        "dwh/sql_file": dg.MetadataValue.path(f"{sql.file}:{line}"),
    }


def build_partition_mapping(name: str) -> dg.PartitionMapping:
    """``window``, ``all`` or ``latest`` as Dagster's partition mapping."""
    if name == "window":
        return dg.TimeWindowPartitionMapping()
    if name == "all":
        return dg.AllPartitionMapping()
    return dg.LastPartitionMapping()


def _deps(model: ResolvedTransformation) -> list[dg.AssetDep]:
    mappings = dict(model.partition_mappings)
    return [
        dg.AssetDep(
            dg.AssetKey(list(key)),
            partition_mapping=build_partition_mapping(mappings[key]) if key in mappings else None,
        )
        for key in (*model.upstream, *model.external)
    ]


def build_transformation_spec(model: ResolvedTransformation) -> dg.AssetSpec:
    """The asset of one model: its reads as deps, its SQL and file as metadata."""
    definition = model.model
    return dg.AssetSpec(
        key=transformation_asset_key(model),
        deps=_deps(model),
        description=definition.description,
        group_name=definition.group or DEFAULT_GROUP,
        kinds={"sql", model.destination.type},
        owners=list(definition.owners) or None,
        tags=yaml_tags(definition.tags),
        metadata={
            **_sql_metadata(model),
            "dwh/transformation": model.name,
            "dwh/materialized": definition.materialized,
            "dwh/destination": model.destination_name,
            "dwh/dataset": model.dataset,
            "dagster/table_name": f"{model.dataset}.{model.name}",
            **({"dwh/unique_key": ", ".join(definition.unique_key)} if definition.unique_key else {}),
            **(
                {"dwh/partitions": describe_partitions(definition.partitions)}
                if definition.partitions is not None
                else {}
            ),
        },
        automation_condition=eager_condition() if definition.automation == "eager" else None,
        skippable=True,
        freshness_policy=build_freshness_policy(definition.freshness),
    )


def build_external_table_specs(project: ResolvedProject) -> list[dg.AssetsDefinition]:
    """One external asset per table listed under ``external_tables`` (another tool writes it)."""
    keys = sorted(
        {key for model in project.transformations.values() for key in model.external}
        | {key for dbt in project.dbt_projects.values() for key in dbt.external}
    )
    return [
        dg.AssetsDefinition(
            specs=[
                dg.AssetSpec(
                    key=list(key),
                    group_name="external",
                    description=f"{key[0]}.{key[1]}: read by transformations, written outside this project",
                    metadata={"dagster/table_name": f"{key[0]}.{key[1]}"},
                )
            ]
        )
        for key in keys
    ]


def transformation_step_policies(project: ResolvedProject) -> dict[str, StepPolicy]:
    """The policy of the transformation steps in each job that builds transformations."""
    policies: dict[str, StepPolicy] = {}
    for job in project.jobs.values():
        if not job.transformations:
            continue
        retries = job.model.retries
        by_policy = job_retry_policy(job) is not None
        policies[job.name] = StepPolicy(
            mode=job.mode,
            retry=RetrySettings()
            if by_policy
            else RetrySettings(retries.max_attempts, retries.retry_delay, retries.exponential_backoff),
            fail_fast=job.mode == "sequential" and not job.model.execution.continue_on_failure,
            job_retry_policy=by_policy,
        )
    return policies


def partition_windows(context: AssetExecutionContext, plan: TransformPlan) -> list[Window]:
    """The partitions a run of a partitioned step builds (one, or a backfill's range), each with
    its window; none for an unpartitioned step."""
    if plan.partitions is None:
        return []
    if not context.has_partition_key and not context.has_partition_key_range:
        raise dg.Failure(
            f"transformations {', '.join(m.qualified for m in plan.models)} are partitioned "
            f"({describe_partitions(plan.partitions)}): run them for a partition (dwh run JOB "
            "--partition KEY, dwh backfill, or the UI's partition picker)"
        )
    partitions_def = build_partitions_def(plan.partitions)
    windows = []
    for key in context.partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        windows.append(Window(key, window.start, window.end))
    return windows


def _build_in_step(
    context: AssetExecutionContext, plan: TransformPlan, models: list[ModelPlan], policy: StepPolicy
) -> Iterator[dg.MaterializeResult]:
    from dwh_dagster.transform.runner import TransformationError, run_transformations

    retry = policy.retry
    in_step_attempts = retry.max_attempts if policy.mode == "sequential" else 1
    pending = models
    windows = partition_windows(context, plan)
    for attempt in range(1, in_step_attempts + 1):
        report = run_transformations(context, plan, pending, windows)
        yield from report.results
        if report.error is None:
            return
        if attempt < in_step_attempts:
            wait = retry.delay_before(attempt + 1)
            context.log.warning(
                f"attempt {attempt} of {in_step_attempts} failed; retrying "
                f"{', '.join(m.qualified for m in report.unbuilt)} in {wait:g} s"
            )
            time.sleep(wait)
            pending = list(report.unbuilt)
            continue
        if policy.mode != "sequential" and context.retry_number + 1 < retry.max_attempts:
            raise dg.RetryRequested(
                max_retries=retry.max_attempts - 1,
                seconds_to_wait=retry.delay_before(context.retry_number + 2),
            )
        raise TransformationError(report.error)


def built_in_run(context: AssetExecutionContext, step_key: str) -> set[dg.AssetKey]:
    """Assets the step ``step_key`` materialized earlier in this run (attempts before this one)."""
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    keys = set()
    for record in records:
        event = record.event_log_entry.dagster_event
        if record.event_log_entry.step_key == step_key and event is not None and event.asset_key is not None:
            keys.add(event.asset_key)
    return keys


def _checks_alone(
    context: AssetExecutionContext, plan: TransformPlan, tables: list[TableChecks]
) -> Iterator[dg.AssetCheckResult]:
    from dwh_dagster.checks.evaluate import check_result
    from dwh_dagster.checks.runner import run_table_checks

    outcomes = run_table_checks(
        plan.destination,
        plan.models[0].dialect,
        tables,
        local_path=plan.local_path,
        secrets=plan.secrets,
        environment=plan.environment,
        log=context.log.info,
    )
    for key, found in outcomes.items():
        yield from (check_result(o, key) for o in found)


def build_order(plan: TransformPlan, selected: set[str], job_order: Sequence[str]) -> list[ModelPlan]:
    """The selected models in build order: after the models they read, else in the job's
    ``order`` (its transformations' order), else in the plan's order."""
    models = {m.name: m for m in plan.models if m.name in selected}
    position = {name: index for index, name in enumerate(job_order)}
    plan_position = {m.name: index for index, m in enumerate(plan.models)}
    names = sorted(models, key=lambda n: (position.get(n, len(position)), plan_position[n]))
    order = topological_order({n: [r for r in models[n].reads_models if r in models] for n in names}, names)
    return [models[name] for name in order]


def build_transformation_assets(
    project: ResolvedProject, plan: TransformPlan, policies: Mapping[str, StepPolicy]
) -> dg.AssetsDefinition:
    """The models of one destination as one subsettable multi-asset."""
    models = [project.transformations[m.name] for m in plan.models]
    by_key = {dg.AssetKey(m.asset_key): m for m in plan.models}
    default = StepPolicy()
    job_orders = {
        job.name: tuple(t.name for t in job.transformations)
        for job in project.jobs.values()
        if any(t.destination_name == plan.destination.name for t in job.transformations)
    }

    partitioned = plan.partitions is not None

    @dg.multi_asset(
        name=plan.op_name,
        specs=[build_transformation_spec(m) for m in models],
        check_specs=[spec for m in plan.models for spec in check_specs(dg.AssetKey(m.asset_key), m.checks)],
        can_subset=True,
        op_tags={"dagster/priority": "0"},
        pool=writer_pool(plan.destination, plan.local_path),
        partitions_def=build_partitions_def(plan.partitions) if plan.partitions is not None else None,
        backfill_policy=build_backfill_policy(plan.backfill) if partitioned else None,
    )
    def _transform(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        policy = policies.get(context.job_name, default)
        if policy.fail_fast:
            failed = failed_steps(context)
            if failed:
                context.log.warning(
                    f"transformations not built: {', '.join(failed)} failed earlier in this run and "
                    f"job {context.job_name} stops at the first failure (continue_on_failure: false)"
                )
                return
        selected = {m.name for key, m in by_key.items() if key in context.selected_asset_keys}
        if context.retry_number > 0:  # Dagster retries the step: keep what the failed attempt built
            earlier = built_in_run(context, plan.op_name)
            built = {m.name for key, m in by_key.items() if key in earlier}
            if built & selected:
                context.log.info(
                    f"attempt {context.retry_number + 1}: {', '.join(sorted(built & selected))} "
                    "built by an earlier attempt of this run; not built again"
                )
            selected -= built
        ordered = build_order(plan, selected, job_orders.get(context.job_name, ()))
        if ordered:
            yield from _build_in_step(context, plan, ordered, policy)
        alone = [
            TableChecks(key, m.dataset, m.name, checks)
            for key, m in by_key.items()
            if key not in context.selected_asset_keys
            and (
                checks := tuple(
                    c for c in m.checks if dg.AssetCheckKey(key, c.name) in context.selected_asset_check_keys
                )
            )
        ]
        if alone:  # checks run without building their model: Execute checks, `dwh check`
            yield from _checks_alone(context, plan, alone)

    return _transform


def build_eager_automation_sensor(project: ResolvedProject) -> dg.SensorDefinition | None:
    """The automation sensor of the models with ``automation: eager``, running from the start.

    Dagster's own default automation sensor would cover them too, but it starts stopped; a YAML
    user who writes ``automation: eager`` means it to run once the daemon does.
    """
    keys = [transformation_asset_key(m) for m in project.transformations.values() if m.model.automation]
    keys += [
        dg.AssetKey(list(key))
        for dbt in project.dbt_projects.values()
        if dbt.model.automation
        for key in dbt.asset_keys
    ]
    if not keys:
        return None
    return dg.AutomationConditionSensorDefinition(
        EAGER_AUTOMATION_SENSOR,
        target=dg.AssetSelection.assets(*keys),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Rebuilds the transformations with `automation: eager` after what they read changes.",
    )


def build_all_transformation_assets(project: ResolvedProject) -> list[dg.AssetsDefinition]:
    """One multi-asset per destination with SQL models, one per dbt project, and the external
    tables they read."""
    policies = transformation_step_policies(project)
    assets = [build_transformation_assets(project, plan, policies) for plan in build_transform_plans(project)]
    if project.dbt_projects:
        from dwh_dagster.assets.dbt_assets import build_all_dbt_assets  # imports dbt: only when needed

        assets += build_all_dbt_assets(project, policies)
    return [*assets, *build_external_table_specs(project)]

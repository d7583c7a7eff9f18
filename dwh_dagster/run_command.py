"""``dwh run JOB``: execute a job in this process and report what landed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import dagster as dg

from dwh_dagster.config.errors import did_you_mean, list_choices
from dwh_dagster.config.ordering import topological_order
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.console import console_run_config, failure_summary, with_console
from dwh_dagster.instance import describe_instance, instance_for_runs, run_url
from dwh_dagster.notifications.sensors import notify, summarize_run
from dwh_dagster.preflight import preflight, touched_by
from dwh_dagster.tags import FULL_REFRESH_TAG


class UnknownJobError(ValueError):
    """``dwh run`` was given a job name the project does not define."""


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def known_job(project: ResolvedProject, job_name: str) -> None:
    """Raise :class:`UnknownJobError` (with the near miss) when the project has no such job."""
    if job_name not in project.jobs:
        hint = did_you_mean(job_name, project.jobs)
        raise UnknownJobError(
            f"unknown job '{job_name}'"
            + (f"; {hint}" if hint else "")
            + f" known jobs: {list_choices(project.jobs)}"
        )


SELECTION_JOB = "dwh_run_selection"
"""The job ``dwh run --select`` runs when no job is named: the selection, in one process."""


def _job_and_keys(
    project: ResolvedProject, job_name: str | None, select: str | None
) -> tuple[dg.JobDefinition, list[dg.AssetKey] | None]:
    from dwh_dagster.definitions import build_definitions
    from dwh_dagster.selection import SelectionError, parse_selection

    if job_name is not None:
        known_job(project, job_name)
    defs = build_definitions(project)
    if select is None:
        assert job_name is not None
        return defs.resolve_job_def(job_name), None
    selection = parse_selection(select, project)
    graph = defs.resolve_asset_graph()
    executable = {key for key in selection.resolve(graph) if graph.get(key).is_materializable}
    if job_name is not None:
        job = defs.resolve_job_def(job_name)
        in_job = executable & set(job.asset_layer.selected_asset_keys)
        if not in_job:
            raise SelectionError(f"--select '{select}' selects nothing of job '{job_name}'")
        return job, sorted(in_job)
    if not executable:
        raise SelectionError(f"--select '{select}' selects no asset that can be materialized")
    adhoc = dg.define_asset_job(
        SELECTION_JOB, selection=dg.AssetSelection.assets(*executable), executor_def=dg.in_process_executor
    )
    merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[adhoc]))
    return merged.resolve_job_def(SELECTION_JOB), None


def _partition_to_run(project: ResolvedProject, job_name: str | None, partition: str | None) -> str | None:
    """The partition ``dwh run`` loads: ``--partition``, else the latest one of a partitioned job."""
    from datetime import UTC, datetime

    from dwh_dagster.backfill_command import PartitionError, check_partition_key, job_partitioning

    if job_name is None:
        if partition is not None:
            raise PartitionError("--partition needs a JOB whose pipelines or transformations are partitioned")
        return None
    if partition is None and project.jobs[job_name].partitions is None:
        return None
    partitioning = job_partitioning(project, job_name)
    if partition is not None:
        check_partition_key(partitioning, partition, "--partition")
        return partition
    latest = partitioning.latest(datetime.now(UTC))
    if latest is None:
        raise PartitionError(f"job '{job_name}' has no complete partition yet")
    print(f"partition {latest} (the latest; --partition KEY loads another, dwh backfill a range)")
    return latest


def plan_lines(
    job: dg.JobDefinition, keys: Sequence[dg.AssetKey] | None, label: str, environment: str
) -> list[str]:
    """``--dry-run``: the steps a run would execute, in order, each with its tables."""
    graph = job.asset_layer.asset_graph
    selected = set(keys) if keys else set(job.asset_layer.selected_asset_keys)
    step_of = {key: graph.get(key).assets_def.node_def.name for key in selected}
    tables: dict[str, list[str]] = {}
    after: dict[str, set[str]] = {}
    for key, step in step_of.items():
        tables.setdefault(step, []).append(key.to_user_string())
        upstream = {step_of[parent] for parent in graph.get(key).parent_keys if parent in step_of}
        after.setdefault(step, set()).update(upstream - {step})
    order = topological_order({step: sorted(before) for step, before in after.items()}, sorted(tables))
    lines = [
        f"dry run of {label} (environment {environment}): {len(order)} step(s), "
        f"{len(selected)} table(s), in this order:"
    ]
    for position, step in enumerate(order, 1):
        before = f" (after {', '.join(sorted(after[step]))})" if after[step] else ""
        lines.append(f"  {position}. {step}: {', '.join(sorted(tables[step]))}{before}")
    return lines


def where_to_see(project: ResolvedProject, run_id: str, ephemeral: bool) -> str:
    """The line that says where a run can be seen: its UI link and its instance."""
    if ephemeral:
        return "the run was kept in memory only (--ephemeral): it does not show in the UI"
    return f"in the UI: {run_url(run_id)} (runs are kept in {describe_instance(project.root_dir)})"


def run_job(
    project: ResolvedProject,
    job_name: str | None,
    log_level: str = "INFO",
    select: str | None = None,
    partition: str | None = None,
    ephemeral: bool = False,
    verbose: bool = False,
    dry_run: bool = False,
    full_refresh: bool = False,
) -> int:
    """Run ``job_name`` (or the ``select``-ed assets, or both: the selection within the job)
    in-process on the project's instance (the UI's; ``ephemeral``: in memory); print each table
    with its row counts; 0 on success, 1 on failure. A partitioned job loads ``partition``
    (default: the latest complete one)."""
    job, keys = _job_and_keys(project, job_name, select)
    job = with_console(job)
    pipelines, models = touched_by(project, [k.path for k in (keys or job.asset_layer.selected_asset_keys)])
    problems = preflight(project, pipelines, models)
    if dry_run:
        for line in plan_lines(job, keys, job_name or SELECTION_JOB, project.environment):
            print(line)
    if problems:
        for problem in problems:
            print(problem.headline(), file=sys.stderr)
        print(f"run not started: {len(problems)} problem(s) to fix first", file=sys.stderr)
        return 2
    partition_key = _partition_to_run(project, job_name, partition)
    if dry_run:
        print(("partition " + partition_key + "; " if partition_key else "") + "nothing was run (--dry-run)")
        return 0
    with instance_for_runs(project.root_dir, ephemeral=ephemeral) as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=console_run_config(log_level, verbose),
            tags={
                "dwh/launched_by": "dwh run",
                **({"dwh/select": select} if select else {}),
                **({FULL_REFRESH_TAG: "true"} if full_refresh else {}),
            },
            asset_selection=keys,
            partition_key=partition_key,
        )
        notified = notify_channels(project, job_name, instance, result.run_id, result.success)
    rows = []
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        meta = materialization.metadata
        rows.append(
            (
                materialization.asset_key.to_user_string(),
                _value(meta.get("rows_loaded", meta.get("dwh/rows_inserted", "-"))),
                _value(meta.get("dagster/row_count", "-")),
            )
        )
    print()
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'table':<{width}}  {'rows written':>12}  {'rows in table':>13}")
        for table, loaded, total in sorted(rows):
            print(f"{table:<{width}}  {loaded!s:>12}  {total!s:>13}")
    print_checks(result)
    for line in failure_summary([result]):
        print(line, file=sys.stderr)
    status = "succeeded" if result.success else "failed"
    label = job_name or SELECTION_JOB
    print(f"job {label} {status} (run {result.run_id}, environment {project.environment})")
    for line in notified:
        print(line, file=sys.stdout if line.startswith("notified") else sys.stderr)
    print(where_to_see(project, result.run_id, ephemeral))
    return 0 if result.success else 1


def notify_channels(
    project: ResolvedProject, job_name: str | None, instance: dg.DagsterInstance, run_id: str, success: bool
) -> list[str]:
    """Send a run's summary to its job's channels, as the daemon's sensors do for launched runs:
    Dagster's run-status sensors never see a run of ``execute_in_process``, which belongs to no code
    location. One line per channel: notified, or why it failed."""
    job = project.jobs.get(job_name) if job_name else None
    if job is None or not job.channels:
        return []
    notifications = job.model.notifications
    if not (notifications.on_success if success else notifications.on_failure):
        return []
    run = instance.get_run_by_id(run_id)
    if run is None:
        return []
    summary = summarize_run(instance, run, project.environment, "SUCCESS" if success else "FAILURE")
    return [
        f"notified channel {name}" if problem is None else f"notification to channel {name} failed: {problem}"
        for name, problem in notify(project, job, summary).items()
    ]


def print_checks(*results: dg.ExecuteInProcessResult) -> None:
    """Each check of runs with ``pass``, ``warn`` or ``FAIL`` and its failing rows."""
    checks = []
    for event in (e for result in results for e in result.all_events):
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            if evaluation.passed:
                state = "pass"
            else:
                state = "warn" if evaluation.severity == dg.AssetCheckSeverity.WARN else "FAIL"
            failing_value = evaluation.metadata.get("dwh/failing_rows")
            detail_value = evaluation.metadata.get("dwh/detail")
            checks.append(
                (
                    f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}",
                    state,
                    "-" if failing_value is None else str(_value(failing_value)),
                    "" if detail_value is None else str(_value(detail_value)),
                )
            )
    if checks:
        width = max(len(c[0]) for c in checks)
        print(f"\n{'check':<{width}}  {'result':>6}  {'failing rows':>12}")
        for name, state, failing_rows, note in sorted(checks):
            print(f"{name:<{width}}  {state:>6}  {failing_rows:>12}" + (f"  {note}" if note else ""))


def check_job(
    project: ResolvedProject,
    job_name: str | None,
    log_level: str = "INFO",
    select: str | None = None,
    ephemeral: bool = False,
    verbose: bool = False,
) -> int:
    """``dwh check``: run only the checks of a job's tables (or of the ``select``-ed ones) on the
    data as it is, in-process; print them; 0 when no blocking check failed, else 1."""
    job, keys = _job_and_keys(project, job_name, select)
    job = with_console(job)
    assets = set(keys) if keys else set(job.asset_layer.selected_asset_keys)
    checks = {key for key in job.asset_layer.asset_graph.asset_check_keys if key.asset_key in assets}
    label = job_name or SELECTION_JOB
    if not checks:
        print(f"no checks on the tables of {label}")
        return 0
    # one run per step: a failed blocking check of a load must not keep the checks of the models
    # over it from running (a run of all would skip the steps after the failed one)
    graph = job.asset_layer.asset_graph
    by_step: dict[str, set[dg.AssetCheckKey]] = {}
    for key in checks:
        by_step.setdefault(graph.get(key.asset_key).assets_def.node_def.name, set()).add(key)
    results = []
    with instance_for_runs(project.root_dir, ephemeral=ephemeral) as instance:
        for step in sorted(by_step):
            subset = job.get_subset(asset_selection=set(), asset_check_selection=by_step[step])
            results.append(
                subset.execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    run_config=console_run_config(log_level, verbose),
                    tags={"dwh/launched_by": "dwh check", **({"dwh/select": select} if select else {})},
                )
            )
    print_checks(*results)
    for line in failure_summary(results):
        print(line, file=sys.stderr)
    success = all(r.success for r in results)
    runs = ", ".join(r.run_id for r in results)
    print(f"checks of {label} {'passed' if success else 'failed'} (runs {runs})")
    return 0 if success else 1

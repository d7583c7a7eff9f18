"""The stale-table sensor: one message per freshness breach to the failure channels of the jobs
that build the table.

Dagster's daemon evaluates each table's freshness policy and records when its state changes;
this sensor reads those records. A table whose state turned FAIL after the last breach it
reported (kept in the sensor's cursor) gets one message; the next message needs the table to be
fresh again and then stale again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState

from dwh_dagster.config.models.freshness import Freshness
from dwh_dagster.config.naming import STALE_TABLE_SENSOR, table_asset_key
from dwh_dagster.config.resolved import ResolvedJob, ResolvedProject
from dwh_dagster.notifications.channels import deliver
from dwh_dagster.notifications.messages import RunSummary, StaleTable, ui_url

INTERVAL_VAR = "DWH_FRESHNESS_SENSOR_INTERVAL"
DEFAULT_INTERVAL_SECONDS = 30


def job_table_keys(job: ResolvedJob) -> set[dg.AssetKey]:
    """The tables a job loads or builds."""
    keys = {
        dg.AssetKey(table_asset_key(pipeline.dataset, resource))
        for pipeline in job.pipelines
        for resource in pipeline.resources
    }
    keys |= {dg.AssetKey(list(key)) for model in job.transformations for key in model.asset_keys}
    return keys


def stale_table_watchers(
    project: ResolvedProject, freshness: Mapping[dg.AssetKey, Freshness]
) -> dict[dg.AssetKey, tuple[ResolvedJob, ...]]:
    """Per table with a freshness policy: the jobs building it that notify on failure."""
    notifying = [job for job in project.jobs.values() if job.channels and job.model.notifications.on_failure]
    tables = {job.name: job_table_keys(job) for job in notifying}
    watchers = {key: tuple(job for job in notifying if key in tables[job.name]) for key in freshness}
    return {key: jobs for key, jobs in watchers.items() if jobs}


def _interval() -> int:
    value = os.environ.get(INTERVAL_VAR, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_INTERVAL_SECONDS


def stale_table(instance: dg.DagsterInstance, key: dg.AssetKey, freshness: Freshness) -> StaleTable:
    """What the message says about one stale table: its age and the limit it broke."""
    event = instance.get_latest_materialization_event(key)
    return StaleTable(
        asset=key.to_user_string(),
        fail_after=str(freshness.fail_after),
        age_seconds=None if event is None else time.time() - event.timestamp,
        last_run_id=None if event is None else event.run_id,
    )


def notify_stale(
    project: ResolvedProject,
    jobs: tuple[ResolvedJob, ...],
    table: StaleTable,
    log: logging.Logger | None = None,
) -> dict[str, str | None]:
    """Send one 'stale table' message to each channel of ``jobs``; per channel, None or the problem."""
    names = ", ".join(job.name for job in jobs)
    summary = RunSummary(
        job=names,
        environment=project.environment,
        status="STALE",
        run_id="",
        duration_seconds=None,
        stale_tables=[table],
        ui_url=ui_url(None),
        headline=f"[{project.environment}] table {table.asset} is stale (job {names})",
    )
    outcome: dict[str, str | None] = {}
    for job in jobs:
        for channel in job.channels:
            if channel in outcome:
                continue
            problem = deliver(channel, project.channels.get(channel), summary, project.secret_resolver())
            outcome[channel] = problem
            if log is not None:
                if problem:
                    log.error(f"stale table {table.asset}: notifying channel {channel} failed: {problem}")
                else:
                    log.info(f"stale table {table.asset}: notified channel {channel}")
    return outcome


def build_stale_table_sensor(
    project: ResolvedProject, freshness: Mapping[dg.AssetKey, Freshness]
) -> dg.SensorDefinition | None:
    """The sensor that reports freshness breaches; None when no stale table would notify anyone."""
    watchers = stale_table_watchers(project, freshness)
    if not watchers:
        return None

    @dg.sensor(
        name=STALE_TABLE_SENSOR,
        minimum_interval_seconds=_interval(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="sends one 'stale table' message per freshness breach to the failure channels "
        "of the jobs that build the table",
    )
    def _stale(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        reported: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
        records = context.instance.get_freshness_state_records(list(watchers))
        sent = []
        for key, record in records.items():
            name = key.to_user_string()
            changed = record.updated_at.timestamp()
            if record.freshness_state != FreshnessState.FAIL or reported.get(name, 0) >= changed:
                continue
            table = stale_table(context.instance, key, freshness[key])
            notify_stale(project, watchers[key], table, context.log)
            reported[name] = changed
            sent.append(name)
        context.update_cursor(json.dumps(reported, sort_keys=True))
        return dg.SkipReason(f"stale: {', '.join(sent)}" if sent else "no new freshness breach")

    return _stale

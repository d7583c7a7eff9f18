"""Sensors that notify: on failure, on success, and when a run breaches its job's SLA.

They run under Dagster's daemon like any sensor; a channel that cannot deliver is retried,
logged, and never fails a job (the job has already finished when they run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dagster as dg

from dwh_dagster.automation.common import JobTarget
from dwh_dagster.causes import one_line_cause
from dwh_dagster.config.naming import NOTIFY_FAILURE_SENSOR, NOTIFY_SUCCESS_SENSOR, SLA_SENSOR
from dwh_dagster.config.resolved import ResolvedJob, ResolvedProject
from dwh_dagster.notifications.channels import deliver
from dwh_dagster.notifications.messages import (
    FailedCheck,
    FailedStep,
    RunSummary,
    format_duration,
    ui_url,
)

SLA_TAG = "dwh/sla_breached"


def summarize_run(
    instance: dg.DagsterInstance, run: dg.DagsterRun, environment: str, status: str, headline: str = ""
) -> RunSummary:
    """A run's summary: status, duration, and the failed steps with the first lines of their errors."""
    stats = instance.get_run_stats(run.run_id)
    start = stats.start_time
    end = stats.end_time or time.time()
    failed = []
    for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        # the cause on one line, as `dwh run` prints it (dwh_dagster/causes.py)
        failed.append(FailedStep(record.event_log_entry.step_key or "?", one_line_cause(error)))
    checks = []
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    for record in records.records:
        evaluation = getattr(record.event_log_entry.dagster_event, "event_specific_data", None)
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue
        failing = evaluation.metadata.get("dwh/failing_rows")
        detail = evaluation.metadata.get("dwh/detail")
        checks.append(
            FailedCheck(
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                severity="warn" if evaluation.severity == dg.AssetCheckSeverity.WARN else "error",
                failing_rows=None if failing is None else int(failing.value),  # type: ignore[arg-type]
                detail="" if detail is None else str(detail.value),
            )
        )
    return RunSummary(
        job=run.job_name,
        environment=environment,
        status=status,
        run_id=run.run_id,
        duration_seconds=(end - start) if start else None,
        failed_steps=failed,
        failed_checks=checks,
        ui_url=ui_url(None),
        headline=headline,
    )


def notify(
    project: ResolvedProject, job: ResolvedJob, summary: RunSummary, log: logging.Logger | None = None
) -> dict[str, str | None]:
    """Send ``summary`` to every channel of ``job``; returns, per channel, None or why it failed."""
    outcome: dict[str, str | None] = {}
    for name in job.channels:
        problem = deliver(name, project.channels.get(name), summary, project.secret_resolver())
        outcome[name] = problem
        if log is not None:
            if problem:
                log.error(f"notification of run {summary.run_id} to channel {name} failed: {problem}")
            else:
                log.info(f"notified channel {name} of run {summary.run_id} ({summary.status})")
    return outcome


def _status_sensor(
    project: ResolvedProject, name: str, status: dg.DagsterRunStatus, monitored: Sequence[JobTarget]
) -> dg.SensorDefinition:
    label = "SUCCESS" if status == dg.DagsterRunStatus.SUCCESS else "FAILURE"

    @dg.run_status_sensor(
        run_status=status,
        name=name,
        monitored_jobs=list(monitored),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"sends {label.lower()} notifications to the channels of the jobs that ask for them",
    )
    def _notify(context: dg.RunStatusSensorContext) -> dg.SkipReason:
        run = context.dagster_run
        job = project.jobs.get(run.job_name)
        if job is None:
            return dg.SkipReason(f"{run.job_name} is not a YAML job")
        summary = summarize_run(context.instance, run, project.environment, label)
        outcome = notify(project, job, summary, context.log)
        failed = [channel for channel, problem in outcome.items() if problem]
        return dg.SkipReason(
            f"notified {len(outcome) - len(failed)} channel(s)"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )

    return _notify


def build_sla_sensor(project: ResolvedProject, jobs_with_sla: Sequence[ResolvedJob]) -> dg.SensorDefinition:
    """Every 30 s: runs of jobs with an SLA still going after ``sla.duration`` get one message each."""

    @dg.sensor(
        name=SLA_SENSOR,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="sends one 'SLA breached' message per run that outlives its job's sla.duration",
    )
    def _sla(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        breached = 0
        for job in jobs_with_sla:
            sla = job.model.sla
            assert sla is not None
            runs = context.instance.get_runs(
                filters=dg.RunsFilter(job_name=job.name, statuses=[dg.DagsterRunStatus.STARTED])
            )
            for run in runs:
                if SLA_TAG in run.tags:
                    continue
                start = context.instance.get_run_stats(run.run_id).start_time
                if start is None or time.time() - start <= sla.duration:
                    continue
                headline = (
                    f"[{project.environment}] job {job.name} SLA breached: running for "
                    f"{format_duration(time.time() - start)}, limit {format_duration(sla.duration)}"
                    + (" (the run is being terminated)" if sla.action == "terminate" else "")
                )
                summary = summarize_run(context.instance, run, project.environment, "SLA BREACHED", headline)
                context.instance.add_run_tags(run.run_id, {SLA_TAG: datetime.now(UTC).isoformat()})
                notify(project, job, summary, context.log)
                breached += 1
        return dg.SkipReason(f"{breached} run(s) breached their SLA" if breached else "no SLA breached")

    return _sla


def build_notification_sensors(
    project: ResolvedProject, jobs: Mapping[str, JobTarget]
) -> list[dg.SensorDefinition]:
    """The failure, success and SLA sensors the project's jobs need (none when nobody asks)."""
    with_channels = [job for job in project.jobs.values() if job.channels]
    sensors = []
    on_failure = [jobs[job.name] for job in with_channels if job.model.notifications.on_failure]
    if on_failure:
        sensors.append(
            _status_sensor(project, NOTIFY_FAILURE_SENSOR, dg.DagsterRunStatus.FAILURE, on_failure)
        )
    on_success = [jobs[job.name] for job in with_channels if job.model.notifications.on_success]
    if on_success:
        sensors.append(
            _status_sensor(project, NOTIFY_SUCCESS_SENSOR, dg.DagsterRunStatus.SUCCESS, on_success)
        )
    with_sla = [job for job in with_channels if job.model.sla is not None]
    if with_sla:
        sensors.append(build_sla_sensor(project, with_sla))
    return sensors

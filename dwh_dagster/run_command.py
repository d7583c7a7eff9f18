"""``dwh run JOB``: execute a job in this process and report what landed."""

from __future__ import annotations

import os
import sys
from typing import Any

import dagster as dg

from dwh_dagster.config.errors import did_you_mean, list_choices
from dwh_dagster.config.resolved import ResolvedProject


class UnknownJobError(ValueError):
    """``dwh run`` was given a job name the project does not define."""


def _instance() -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME when set (runs show in the UI), else an ephemeral one."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def run_job(project: ResolvedProject, job_name: str, log_level: str = "INFO") -> int:
    """Run ``job_name`` in-process; print each table with its row counts; 0 on success, 1 on failure."""
    from dwh_dagster.definitions import build_definitions

    if job_name not in project.jobs:
        hint = did_you_mean(job_name, project.jobs)
        raise UnknownJobError(
            f"unknown job '{job_name}'"
            + (f"; {hint}" if hint else "")
            + f" known jobs: {list_choices(project.jobs)}"
        )
    job = build_definitions(project).resolve_job_def(job_name)
    with _instance() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags={"dwh/launched_by": "dwh run"},
        )
    rows = []
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        meta = materialization.metadata
        rows.append(
            (
                materialization.asset_key.to_user_string(),
                _value(meta.get("rows_loaded", 0)),
                _value(meta.get("dagster/row_count", "-")),
            )
        )
    print()
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'table':<{width}}  {'rows loaded':>11}  {'rows in table':>13}")
        for table, loaded, total in sorted(rows):
            print(f"{table:<{width}}  {loaded!s:>11}  {total!s:>13}")
    failures = [e for e in result.all_events if e.is_step_failure]
    for failure in failures:
        error = failure.event_specific_data.error  # type: ignore[union-attr]
        message = error.message.strip() if error else "unknown error"
        print(f"FAILED {failure.step_key}: {message}", file=sys.stderr)
    status = "succeeded" if result.success else "failed"
    print(f"job {job_name} {status} (run {result.run_id}, environment {project.environment})")
    return 0 if result.success else 1

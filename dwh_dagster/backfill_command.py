"""``dwh backfill JOB --from KEY --to KEY``: load a range of partitions of a partitioned job.

The runs execute in this process on the instance of DAGSTER_HOME (they show in the UI like any
other run), as the job's ``backfill:`` says: ``single_run`` loads each range of partitions still
to load in one run (one dlt run for the whole range), ``per_partition`` runs one partition at a
time and goes on after a failure. Partitions already loaded for every table of the job are
skipped unless ``--all``, so a backfill that stopped can be re-run to finish it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg

from dwh_dagster.automation import partitioning_of
from dwh_dagster.automation.common import Partitioning
from dwh_dagster.automation.schedules import RANGE_END_TAG, RANGE_START_TAG, contiguous_ranges
from dwh_dagster.config.errors import did_you_mean
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.console import console_run_config, failure_summary, with_console
from dwh_dagster.instance import describe_instance, instance_for_runs, ui_url
from dwh_dagster.run_command import known_job

BACKFILL_TAG = "dwh/backfill"
RANGE_RUN_SETTINGS = {
    # one "materialization planned" event per asset for a range run, instead of one per partition
    # of each asset (Dagster writes them before the run starts: 2.5 s for 365 partitions on SQLite,
    # benchmarks/README.md); what it costs: a failed range run shows its partitions as missing
    # rather than failed in the UI (this command prints them as FAILED and retries them)
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    # the per-partition materializations of a range written in batches (Dagster's PostgreSQL
    # storage writes a batch in one statement; SQLite writes them one by one either way)
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
}
"""Instance settings of the runs ``dwh backfill`` starts, unless the environment sets them."""


@contextmanager
def range_run_settings() -> Iterator[None]:
    """:data:`RANGE_RUN_SETTINGS` in the environment (those it does not set) while the block runs."""
    added = [name for name in RANGE_RUN_SETTINGS if name not in os.environ]
    os.environ.update({name: RANGE_RUN_SETTINGS[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class PartitionError(ValueError):
    """A partition key that the job does not have, or a job that has no partitions."""


def job_partitioning(project: ResolvedProject, job_name: str) -> Partitioning:
    """The partitions of ``job_name``; a :class:`PartitionError` when it has none."""
    known_job(project, job_name)
    partitioning = partitioning_of(project.jobs[job_name])
    if partitioning is None:
        raise PartitionError(
            f"job '{job_name}' has no partitioned pipeline or transformation, so it has no "
            f"partitions: run it whole with 'dwh run {job_name}', or add partitions: to its pipelines"
        )
    return partitioning


def check_partition_key(partitioning: Partitioning, key: str, option: str) -> None:
    """Raise a :class:`PartitionError` naming the valid range when ``key`` is not a partition."""
    keys = partitioning.keys_until(datetime.now(UTC))
    if key in keys:
        return
    span = f"'{keys[0]}' to '{keys[-1]}'" if keys else "none yet"
    near = did_you_mean(key, keys[-400:])
    raise PartitionError(
        f"{option} '{key}' is not a partition of this job"
        + (f"; {near}" if near else "")
        + f" (partitions: {span})"
    )


def materialized_everywhere(instance: dg.DagsterInstance, partitioning: Partitioning) -> set[str]:
    """Partitions that every partitioned table of the job has."""
    done: set[str] | None = None
    for key in partitioning.asset_keys:
        found = instance.get_materialized_partitions(key)
        done = found if done is None else done & found
    return done or set()


def backfill_job(
    project: ResolvedProject,
    job_name: str,
    first: str,
    last: str,
    reload_all: bool = False,
    log_level: str = "WARNING",
    ephemeral: bool = False,
    verbose: bool = False,
) -> int:
    """Load the partitions ``first`` to ``last`` of ``job_name``; print one line per partition;
    0 when all of them are loaded, 1 when one failed (re-run the same command to retry those)."""
    from dwh_dagster.definitions import build_definitions

    partitioning = job_partitioning(project, job_name)
    check_partition_key(partitioning, first, "--from")
    check_partition_key(partitioning, last, "--to")
    keys = partitioning.keys_until(datetime.now(UTC))
    if keys.index(first) > keys.index(last):
        raise PartitionError(f"--from '{first}' comes after --to '{last}'")
    wanted = keys[keys.index(first) : keys.index(last) + 1]
    job = build_definitions(project).resolve_job_def(job_name)
    backfill_id = uuid.uuid4().hex[:12]
    job = with_console(job)
    run_config = console_run_config(log_level, verbose)
    failed: list[str] = []
    with range_run_settings(), instance_for_runs(project.root_dir, ephemeral=ephemeral) as instance:
        done = set() if reload_all else materialized_everywhere(instance, partitioning)
        todo = [key for key in wanted if key not in done]
        skipped = len(wanted) - len(todo)
        print(
            f"backfill {backfill_id} of job {job_name}: {len(wanted)} partitions {first} .. {last}, "
            f"{len(todo)} to load"
            + (f", {skipped} already loaded (--all reloads them)" if skipped else "")
            + f", {partitioning.backfill.replace('_', ' ')}"
        )
        if partitioning.backfill == "per_partition":
            batches = [(key, key) for key in todo]
        else:
            batches = contiguous_ranges(todo, keys)
        for position, (start, end) in enumerate(batches, 1):
            tags = {BACKFILL_TAG: backfill_id, "dwh/launched_by": "dwh backfill"}
            if start != end:
                tags |= {RANGE_START_TAG: start, RANGE_END_TAG: end}
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config=run_config,
                tags=tags,
                partition_key=start if start == end else None,
            )
            batch = keys[keys.index(start) : keys.index(end) + 1]
            state = "loaded" if result.success else "FAILED"
            for key in batch:
                print(f"  {key}  {state}  (run {result.run_id}, {position}/{len(batches)})")
            if not result.success:
                failed += batch
                for line in failure_summary([result]):
                    print(f"    {line}", file=sys.stderr)
    if ephemeral:
        print("the runs were kept in memory only (--ephemeral): they do not show in the UI")
    else:
        print(
            f"in the UI: {ui_url('runs')}, tag {BACKFILL_TAG}={backfill_id} "
            f"(runs are kept in {describe_instance(project.root_dir)})"
        )
    if failed:
        print(f"backfill {backfill_id}: {len(failed)} partitions failed; the same command retries them")
        return 1
    print(f"backfill {backfill_id}: done")
    return 0

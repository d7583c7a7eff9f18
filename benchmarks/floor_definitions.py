"""The "Dagster floor" of the definitions benchmark: the same Dagster objects, written by hand.

For each of ``$DWH_BENCH_PIPELINES`` pipelines: the external source (an ``AssetSpec`` in a
definition of its own, as ``dwh_dagster.definitions`` builds it), one asset for its table (key
``<dataset>/<resource>``, depending on the source), one asset job selecting it (in-process
executor, like a ``sequential`` YAML job) and one cron schedule; all in one ``Definitions``. No
YAML, no validation, no metadata, tags or descriptions: what a Dagster user would write by hand,
so the distance between it and ``dwh_dagster.definitions`` is what the YAML layer costs.

With ``DWH_BENCH_FLOOR_BARE_SPECS=1`` the source specs are passed to ``Definitions`` as bare
``AssetSpec`` s instead. Dagster then merges them into one definition that every job's asset graph
holds whole, so loading takes time and memory quadratic in the number of pipelines (the benchmark's
``--bare-specs-floor`` measures this variant for reference).

With ``DWH_BENCH_FLOOR_NARROW_JOBS=1`` each asset job is resolved as ``dwh_dagster.jobs`` resolves
ours (``dwh_dagster.narrow_jobs``, which imports only Dagster): against the definitions it touches
instead of the whole location, which Dagster does for every job, N x N in all. The benchmark's
``--narrow-jobs-floor`` measures this variant: the same Dagster objects loaded the same way, so
what ours costs beyond it is the YAML layer alone.

Names, crons and timezones follow ``write_project`` in ``benchmarks/definitions.py`` (kept in step
by hand; the benchmark checks that both define the same asset keys, jobs and schedules).
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

PIPELINES_VAR = "DWH_BENCH_PIPELINES"
BARE_SPECS_VAR = "DWH_BENCH_FLOOR_BARE_SPECS"
NARROW_JOBS_VAR = "DWH_BENCH_FLOOR_NARROW_JOBS"
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York")


def _pipeline_defs(i: int) -> tuple[dg.AssetSpec, dg.AssetsDefinition, UnresolvedAssetJobDefinition]:
    source_key = dg.AssetKey(["sources", f"api_{i:05d}"])
    table_key = dg.AssetKey([f"raw_{i:05d}", "items"])
    source = dg.AssetSpec(key=source_key, group_name="sources")

    @dg.multi_asset(name=f"load_p_{i:05d}", specs=[dg.AssetSpec(key=table_key, deps=[source_key])])
    def _load() -> None:
        """The load would run here."""

    job = dg.define_asset_job(
        name=f"job_{i:05d}",
        selection=dg.AssetSelection.assets(table_key),
        executor_def=dg.in_process_executor,
    )
    return source, _load, job


def build_floor_definitions(
    count: int, bare_specs: bool = False, narrow_jobs: bool = False
) -> dg.Definitions:
    """The hand-written equivalent of a generated project of ``count`` pipelines."""
    if narrow_jobs:
        from dwh_dagster.narrow_jobs import narrow

    assets: list[dg.AssetSpec | dg.AssetsDefinition] = []
    jobs = []
    schedules = []
    for i in range(1, count + 1):
        source, table, job = _pipeline_defs(i)
        if narrow_jobs:
            job = narrow(job)
        assets += [source if bare_specs else dg.AssetsDefinition(specs=[source]), table]
        jobs.append(job)
        schedules.append(
            dg.ScheduleDefinition(
                name=f"t_{i:05d}",
                cron_schedule=f"{i % 60} {(i // 60) % 24} * * *",
                execution_timezone=TIMEZONES[i % len(TIMEZONES)],
                job=job,
            )
        )
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)


defs = build_floor_definitions(
    int(os.environ.get(PIPELINES_VAR, "1")),
    bare_specs=os.environ.get(BARE_SPECS_VAR) == "1",
    narrow_jobs=os.environ.get(NARROW_JOBS_VAR) == "1",
)

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

With ``DWH_BENCH_TRANSFORMATIONS=N`` (the benchmark's ``--transformations``) it also defines N
SQL transformations as a dbt-style Dagster user would: one ``multi_asset`` with ``can_subset=True``
for the destination (``transform_warehouse``), holding one ``AssetSpec`` per model with key
``analytics/t_<i>``, the tables its SQL reads as deps (written out by hand here, where ours parses
the SQL), group ``transformations``, kinds ``sql`` and ``duckdb``, and the same metadata as ours:
the SQL as a markdown snippet, where it is written and what it writes.

With ``DWH_BENCH_CHECKS=1`` (the benchmark's ``--checks``) each pipeline's multi-asset also
carries the five data-quality checks of its table as a Dagster user would declare them:
``check_specs=[dg.AssetCheckSpec(name, asset=<table key>, blocking=True), ...]`` with the names
ours derives (``not_null_id``, ``unique_id``, ``accepted_values_id``, ``row_count``,
``expression``), all blocking (``severity: error``, the default). No description or metadata:
those are ours' additions (``dwh/check_type``, ``dwh/severity``) and not part of the comparison.

Names, crons, timezones, SQL and check names follow ``write_project`` and ``transformation_sql`` in
``benchmarks/definitions.py`` (kept in step by hand; the benchmark checks that both define the same
asset keys, deps, jobs and schedules, and the same op, groups, kinds, metadata keys and SQL for the
transformations, and the same asset checks: keys, blocking flags and the checks of each job).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

PIPELINES_VAR = "DWH_BENCH_PIPELINES"
BARE_SPECS_VAR = "DWH_BENCH_FLOOR_BARE_SPECS"
NARROW_JOBS_VAR = "DWH_BENCH_FLOOR_NARROW_JOBS"
TRANSFORMATIONS_VAR = "DWH_BENCH_TRANSFORMATIONS"
CHECKS_VAR = "DWH_BENCH_CHECKS"
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York")
TRANSFORM_DATASET = "analytics"
CHAIN_EVERY = 10
DESTINATION = "warehouse"
# the checks of every table with --checks, as ours names them (all severity error: blocking)
CHECK_NAMES = ("not_null_id", "unique_id", "accepted_values_id", "row_count", "expression")


def _table(i: int, table_key: dg.AssetKey, source_key: dg.AssetKey) -> dg.AssetsDefinition:
    @dg.multi_asset(name=f"load_p_{i:05d}", specs=[dg.AssetSpec(key=table_key, deps=[source_key])])
    def _load() -> None:
        """The load would run here."""

    return _load


def _checked_table(i: int, table_key: dg.AssetKey, source_key: dg.AssetKey) -> dg.AssetsDefinition:
    """The table's multi-asset with its five blocking checks (``--checks``)."""

    @dg.multi_asset(
        name=f"load_p_{i:05d}",
        specs=[dg.AssetSpec(key=table_key, deps=[source_key])],
        check_specs=[dg.AssetCheckSpec(name, asset=table_key, blocking=True) for name in CHECK_NAMES],
    )
    def _load():  # type: ignore[no-untyped-def]
        # (no annotation: under ``from __future__ import annotations`` Dagster sees a string)
        yield dg.MaterializeResult(asset_key=table_key)  # the load would run here, then the checks
        for name in CHECK_NAMES:
            yield dg.AssetCheckResult(asset_key=table_key, check_name=name, passed=True)

    return _load


def _pipeline_defs(
    i: int, checks: bool = False
) -> tuple[dg.AssetSpec, dg.AssetsDefinition, UnresolvedAssetJobDefinition]:
    source_key = dg.AssetKey(["sources", f"api_{i:05d}"])
    table_key = dg.AssetKey([f"raw_{i:05d}", "items"])
    source = dg.AssetSpec(key=source_key, group_name="sources")
    table = _checked_table(i, table_key, source_key) if checks else _table(i, table_key, source_key)
    job = dg.define_asset_job(
        name=f"job_{i:05d}",
        selection=dg.AssetSelection.assets(table_key),
        executor_def=dg.in_process_executor,
    )
    return source, table, job


def _transformation_spec(i: int) -> dg.AssetSpec:
    """Model ``t_<i>``: a filter over pipeline ``i``'s table; every 10th also joins an earlier model."""
    n = f"{i:05d}"
    table = dg.AssetKey([f"raw_{n}", "items"])
    if i % CHAIN_EVERY == 0:
        previous = f"t_{max(i - CHAIN_EVERY, 1):05d}"
        sql = (
            f"select t.*\nfrom {TRANSFORM_DATASET}.{previous} t\n"
            f"join raw_{n}.items i on i.id = t.id\nwhere t.id > 0"
        )
        deps = [dg.AssetKey([TRANSFORM_DATASET, previous]), table]
    else:
        sql = f"select *\nfrom raw_{n}.items\nwhere id > 0"
        deps = [table]
    name = f"t_{n}"
    return dg.AssetSpec(
        key=dg.AssetKey([TRANSFORM_DATASET, name]),
        deps=deps,
        group_name="transformations",
        kinds={"sql", "duckdb"},
        skippable=True,
        metadata={
            "dwh/sql": dg.MetadataValue.md(f"```sql\n{sql}\n```"),
            "dwh/sql_file": dg.MetadataValue.path(f"transformations/{name}.yaml:7"),
            "dwh/transformation": name,
            "dwh/materialized": "table",
            "dwh/destination": DESTINATION,
            "dwh/dataset": TRANSFORM_DATASET,
            "dagster/table_name": f"{TRANSFORM_DATASET}.{name}",
        },
    )


def _transformations_defs(count: int) -> dg.AssetsDefinition:
    """The ``count`` models of the destination as one subsettable multi-asset."""

    @dg.multi_asset(
        name=f"transform_{DESTINATION}",
        specs=[_transformation_spec(i) for i in range(1, count + 1)],
        can_subset=True,
    )
    def _transform(context) -> Iterator[dg.MaterializeResult]:  # type: ignore[no-untyped-def]
        # (no annotation: under ``from __future__ import annotations`` Dagster sees a string)
        for key in sorted(context.selected_asset_keys):  # the SQL would run here, in dependency order
            yield dg.MaterializeResult(asset_key=key)

    return _transform


def build_floor_definitions(
    count: int,
    bare_specs: bool = False,
    narrow_jobs: bool = False,
    transformations: int = 0,
    checks: bool = False,
) -> dg.Definitions:
    """The hand-written equivalent of a generated project of ``count`` pipelines and
    ``transformations`` transformations (at most ``count``); with ``checks``, five blocking asset
    checks on each pipeline's table."""
    if narrow_jobs:
        from dwh_dagster.narrow_jobs import narrow

    assets: list[dg.AssetSpec | dg.AssetsDefinition] = []
    jobs = []
    schedules = []
    for i in range(1, count + 1):
        source, table, job = _pipeline_defs(i, checks)
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
    if transformations:
        assets.append(_transformations_defs(min(transformations, count)))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)


defs = build_floor_definitions(
    int(os.environ.get(PIPELINES_VAR, "1")),
    bare_specs=os.environ.get(BARE_SPECS_VAR) == "1",
    narrow_jobs=os.environ.get(NARROW_JOBS_VAR) == "1",
    transformations=int(os.environ.get(TRANSFORMATIONS_VAR, "0")),
    checks=os.environ.get(CHECKS_VAR) == "1",
)

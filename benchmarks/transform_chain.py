"""transform_chain: a chain of 20 SQL models built by our code location, against the same SQL run directly.

A DuckDB file is seeded with one table, ``raw.events`` (``--rows``, 200,000 by default: id,
customer, category, amount, quantity, timestamp, flag). Twenty models each read the one before
(``analytics.m01`` reads ``raw.events``, ``m02`` reads ``m01``, ...): filters, projections, one
aggregate (``m10``, per customer) and one join back (``m11``: ``m09`` joined with ``m10``). Both
contenders build all 20 as tables, in one Dagster run, in-process, on an ephemeral instance, each
run in a fresh process on a fresh copy of the seeded file:

* ours: a YAML project with the 20 transformations and a job ``chain_job`` listing them; the run
  is ``chain_job`` executed in-process (as ``dwh run chain_job`` does), whose one step is the
  ``transform_wh`` multi-asset: 20 materializations with row count and column schema, under the
  DuckDB file lock;
* direct: one hand-written ``@dg.asset`` that opens the file with the ``duckdb`` package and runs
  ``create or replace table analytics.<model> as <sql>`` for each of the same 20 SQL statements,
  in an asset job (``define_asset_job``), executed in-process the same way.

``--per-model-reference`` adds, for reference (no target uses it), ``direct_models``: the same
direct SQL in a hand-written ``multi_asset`` of 20 specs (``analytics/<model>``, with the tables
each reads as deps, as ours) that yields one materialization per model with its row count and
column schema, as ours does. Ours against it is
what our runner costs; it against ``direct`` is what Dagster costs for 20 assets instead of one.

Figures, medians of ``--repeats`` runs alternating ours / direct (after one warm-up run of each):
the step (STEP_START -> STEP_SUCCESS in the run's event log), the run (``execute_in_process`` wall
time; RUN_START -> RUN_SUCCESS too), loading (imports and definitions) and the whole process (wall
time, CPU, peak RSS). Target: ours at most 1.3x the direct one, for the step and for the run. The
20 tables of both are compared afterwards: columns with their types, row count, a hash of all rows.

    uv run python benchmarks/transform_chain.py [--rows N] [--repeats N] [--smoke]
        [--per-model-reference] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine
from machine import load_average, run_in_work_folder
from machine import machine_info as shared_machine_info

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "transform_chain.json"
ROWS = 200_000
SMOKE_ROWS = 10_000
REPEATS = 5
TARGET_RATIO = 1.3
CHILD_TIMEOUT = 600  # seconds for one contender's process

DATABASE = "wh.duckdb"  # relative to the run's root (the project root for ours)
DESTINATION = "wh"
DATASET = "analytics"
JOB = "chain_job"
CONTENDERS = ("ours", "direct")
REFERENCE = "direct_models"  # --per-model-reference
STEP_KEYS = {"ours": f"transform_{DESTINATION}", "direct": "chain", REFERENCE: "direct_models"}
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}  # as `dwh run` sets it

SEED_SQL = """
create schema if not exists raw;
create or replace table raw.events as
select
    i as id,
    (i * 7919) % 500 as customer_id,
    'c' || (i % 12) as category,
    round(((i * 37) % 10000) / 100.0, 2) as amount,
    1 + (i % 9) as quantity,
    timestamp '2026-01-01' + to_seconds((i * 7907) % (90 * 86400)) as created_at,
    i % 5 <> 0 as active
from range(1, {rows} + 1) t(i)
"""

# (name, sql): each reads the one before; m11 joins m09 back to the aggregate m10
MODELS: tuple[tuple[str, str], ...] = (
    ("m01", "select * from raw.events where active"),
    (
        "m02",
        "select id, customer_id, category, amount, quantity, created_at, amount * quantity as total\n"
        "from analytics.m01",
    ),
    ("m03", "select * from analytics.m02 where total > 10"),
    (
        "m04",
        "select *, cast(created_at as date) as day, upper(category) as category_code\nfrom analytics.m03",
    ),
    ("m05", "select * from analytics.m04 where category_code <> 'C3'"),
    (
        "m06",
        "select id, customer_id, category_code, day, quantity, total, round(total * 0.19, 2) as tax\n"
        "from analytics.m05",
    ),
    ("m07", "select * from analytics.m06 where quantity between 2 and 8"),
    ("m08", "select *, total + tax as gross from analytics.m07"),
    ("m09", "select * from analytics.m08 where id % 7 <> 0"),
    (
        "m10",
        "select customer_id, count(*) as orders, sum(gross) as revenue, max(day) as last_day\n"
        "from analytics.m09\n"
        "group by customer_id",
    ),
    (
        "m11",
        "select e.*, c.orders, c.revenue, c.last_day\n"
        "from analytics.m09 e\n"
        "join analytics.m10 c on c.customer_id = e.customer_id",
    ),
    ("m12", "select *, gross / revenue as share from analytics.m11"),
    ("m13", "select * from analytics.m12 where gross > revenue / orders"),
    ("m14", "select id, customer_id, category_code, day, gross, share, orders from analytics.m13"),
    ("m15", "select * from analytics.m14 where day >= date '2026-01-15'"),
    ("m16", "select *, dayofweek(day) as weekday from analytics.m15"),
    ("m17", "select * from analytics.m16 where weekday between 1 and 5"),
    (
        "m18",
        "select id, customer_id, category_code, day, weekday, round(gross, 2) as gross,\n"
        "    round(share, 6) as share\n"
        "from analytics.m17",
    ),
    ("m19", "select * from analytics.m18 where weekday <> 3"),
    ("m20", "select *, gross * 100 as gross_cents from analytics.m19"),
)


MODEL_READS = {
    name: ["raw.events"] if number == 0 else [f"{DATASET}.{MODELS[number - 1][0]}"]
    for number, (name, _) in enumerate(MODELS)
}
MODEL_READS["m11"] = [f"{DATASET}.m09", f"{DATASET}.m10"]
"""The tables each model reads, written out by hand: the deps of the reference's specs."""


class BenchmarkError(machine.BenchmarkError):
    """A contender failed or the two built different tables: the benchmark stops with the detail."""


# --- the project ----------------------------------------------------------------------------------


def seed(database: Path, rows: int) -> None:
    """Create ``raw.events`` with ``rows`` rows in ``database``."""
    import duckdb

    with duckdb.connect(str(database)) as connection:
        connection.execute(SEED_SQL.format(rows=rows))


def _indented(sql: str) -> str:
    return "".join(f"    {line}\n" for line in sql.splitlines())


def write_project(root: Path) -> Path:
    """The YAML project of ours under ``root``: the destination, the 20 models and ``chain_job``."""
    defs = root / "yaml_defs"
    (defs / "destinations").mkdir(parents=True)
    (defs / "transformations").mkdir()
    (defs / "jobs").mkdir()
    (defs / "destinations" / f"{DESTINATION}.yaml").write_text(
        "destination:\n"
        f"  name: {DESTINATION}\n"
        "  type: duckdb\n"
        f"  connection: {{database: {DATABASE}}}\n"
        f"  settings: {{schema: {DATASET}}}\n"
    )
    for number, (name, sql) in enumerate(MODELS, start=1):
        external = "  external_tables: [raw.events]\n" if number == 1 else ""
        (defs / "transformations" / f"{name}.yaml").write_text(
            "transformation:\n"
            f"  name: {name}\n"
            f"  description: 'Model {number} of {len(MODELS)} of the chain'\n"
            f"  destination: {DESTINATION}\n"
            "  materialized: table\n"
            f"{external}"
            "  sql: |\n"
            f"{_indented(sql)}"
        )
    (defs / "jobs" / f"{JOB}.yaml").write_text(
        "job:\n"
        f"  name: {JOB}\n"
        "  transformations:\n"
        + "".join(f"    - name: {name}\n" for name, _ in MODELS)
        + "  execution: {mode: sequential}\n"
    )
    return defs


# --- one contender, in its own process ------------------------------------------------------------


def _event_times(instance: Any, run_id: str) -> dict[str, Any]:
    """First timestamp of each event type of the run, and the keys of its steps."""
    first: dict[str, float] = {}
    steps: list[str] = []
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event_type
        if kind is None:
            continue
        first.setdefault(kind.name, entry.timestamp)  # the name: RUN_START's value is PIPELINE_START
        if kind.name == "STEP_START" and entry.step_key:
            steps.append(entry.step_key)
    return {"first": first, "steps": steps}


def _span(first: dict[str, float], start: str, end: str) -> float | None:
    a, b = first.get(start), first.get(end)
    return None if a is None or b is None else round(b - a, 4)


def _ours_job(root: Path) -> Any:
    """``chain_job`` of our code location over the project in ``root``."""
    from dwh_dagster.config.loader import load_project
    from dwh_dagster.definitions import build_definitions

    defs = build_definitions(load_project(root / "yaml_defs", "dev"))
    return defs.resolve_job_def(JOB)


def _direct_job(database: Path) -> Any:
    """One hand-written asset running the 20 statements with the duckdb package, in an asset job."""
    import dagster as dg

    @dg.asset(name="chain")
    def chain() -> None:
        """The 20 models, each a ``create or replace table`` over the one before."""
        import duckdb

        connection = duckdb.connect(str(database))
        try:
            connection.execute(f"create schema if not exists {DATASET}")
            for name, sql in MODELS:
                connection.execute(f"create or replace table {DATASET}.{name} as\n{sql}")
        finally:
            connection.close()

    defs = dg.Definitions(assets=[chain], jobs=[dg.define_asset_job("direct_job", selection=[chain])])
    return defs.resolve_job_def("direct_job")


def _direct_models_job(database: Path) -> Any:
    """The same statements in a multi-asset of one spec per model, each materialized with its row
    count and column schema (the reference contender)."""
    import dagster as dg

    specs = [
        dg.AssetSpec(
            key=[DATASET, name], deps=[k.split(".") for k in MODEL_READS[name]], kinds={"sql", "duckdb"}
        )
        for name, _ in MODELS
    ]

    @dg.multi_asset(name="direct_models", specs=specs)
    def direct_models() -> Iterator[Any]:  # (dg is not a module global: Dagster reads the hint)
        import duckdb

        connection = duckdb.connect(str(database))
        try:
            connection.execute(f"create schema if not exists {DATASET}")
            for name, sql in MODELS:
                connection.execute(f"create or replace table {DATASET}.{name} as\n{sql}")
                (rows,) = connection.execute(f"select count(*) from {DATASET}.{name}").fetchone() or (0,)
                columns = connection.execute(f"describe {DATASET}.{name}").fetchall()
                schema = dg.TableSchema(columns=[dg.TableColumn(name=c[0], type=str(c[1])) for c in columns])
                yield dg.MaterializeResult(
                    asset_key=[DATASET, name],
                    metadata={"dagster/row_count": int(rows), "dagster/column_schema": schema},
                )
        finally:
            connection.close()

    job = dg.define_asset_job("direct_models_job", selection=[direct_models])
    return dg.Definitions(assets=[direct_models], jobs=[job]).resolve_job_def("direct_models_job")


def child(contender: str, root: Path) -> dict[str, Any]:
    """Run one contender once in this process; its figures (seconds) as plain data."""
    started = time.perf_counter()
    import dagster as dg

    if contender == "ours":
        job = _ours_job(root)
    elif contender == REFERENCE:
        job = _direct_models_job(root / DATABASE)
    else:
        job = _direct_job(root / DATABASE)
    loaded = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        run_started = time.perf_counter()
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=RUN_CONFIG)
        run_seconds = time.perf_counter() - run_started
        events = _event_times(instance, result.run_id)
        materialized = len(result.get_asset_materialization_events())
        if not result.success:
            failures = [e for e in result.all_events if e.is_step_failure]
            detail = [str(getattr(e.event_specific_data, "error", None)) for e in failures]
            raise BenchmarkError(f"{contender}: run {result.run_id} failed:\n" + "\n".join(detail))
    first = events["first"]
    return {
        "contender": contender,
        "load": round(loaded - started, 4),
        "run": round(run_seconds, 4),
        "run_events": _span(first, "RUN_START", "RUN_SUCCESS"),
        "step": _span(first, "STEP_START", "STEP_SUCCESS"),
        "steps": events["steps"],
        "materializations": materialized,
    }


# --- the parent -----------------------------------------------------------------------------------


def _maxrss_mb(ru_maxrss: int) -> float:
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def _child_env(root: Path) -> dict[str, str]:
    """The caller's environment without Dagster or dwh settings (an ephemeral instance is used)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "DAGSTER_")) and k != "ENVIRONMENT"
    }
    env.update({"ENVIRONMENT": "dev", "DWH_DEFS_DIR": str(root / "yaml_defs"), "PYTHONUNBUFFERED": "1"})
    return env


def run_contender(contender: str, template: Path, work: Path) -> dict[str, Any]:
    """A fresh copy of the seeded project, one fresh process of ``contender`` on it; its figures."""
    root = Path(tempfile.mkdtemp(prefix=f"{contender}-", dir=work))
    shutil.copytree(template, root, dirs_exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", contender, "--root", str(root)]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=_child_env(root), cwd=REPO_ROOT, stdout=output, stderr=output)
        deadline = started + CHILD_TIMEOUT
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                raise BenchmarkError(f"{contender} did not finish in {CHILD_TIMEOUT} s")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise BenchmarkError(f"{contender} failed with exit code {proc.returncode}:\n{text[-6000:]}")
    marker = [line for line in text.splitlines() if line.startswith(RESULT_PREFIX)]
    if not marker:
        raise BenchmarkError(f"{contender} printed no result:\n{text[-6000:]}")
    figures: dict[str, Any] = json.loads(marker[-1][len(RESULT_PREFIX) :])
    figures.update(
        {
            "process": round(seconds, 4),
            "cpu": round(usage.ru_utime + usage.ru_stime, 4),
            "peak_mb": round(_maxrss_mb(usage.ru_maxrss), 1),
            "tables": table_fingerprints(root / DATABASE),
        }
    )
    shutil.rmtree(root, ignore_errors=True)
    return figures


RESULT_PREFIX = "TRANSFORM_CHAIN_RESULT "


def table_fingerprints(database: Path) -> dict[str, list[Any]]:
    """Of each model's table: row count, the sum of every row's hash, and the columns with their
    types (``[None, None, []]`` when it is missing)."""
    import duckdb

    out: dict[str, list[Any]] = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        for name, _ in MODELS:
            columns = connection.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [DATASET, name],
            ).fetchall()
            if not columns:
                out[name] = [None, None, []]
                continue
            count, digest = connection.execute(
                f"select count(*), sum(hash(t)) from {DATASET}.{name} t"
            ).fetchone() or (None, None)
            out[name] = [count, None if digest is None else str(digest), [list(c) for c in columns]]
    return out


FIGURES = ("step", "run", "run_events", "load", "process", "cpu", "peak_mb")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and min of each figure."""
    out: dict[str, Any] = {}
    for figure in FIGURES:
        values = [r[figure] for r in runs if r[figure] is not None]
        out[figure] = {
            "median": round(statistics.median(values), 4) if values else None,
            "min": round(min(values), 4) if values else None,
        }
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def machine_info() -> dict[str, Any]:
    """Where and with what the figures were taken."""
    return shared_machine_info(("dagster", "duckdb", "sqlglot"))


def benchmark(rows: int, repeats: int, warm_up: bool, work: Path, reference: bool = False) -> dict[str, Any]:
    """Seed, run every contender ``repeats`` times (after a warm-up), compare their tables."""
    contenders = (*CONTENDERS, REFERENCE) if reference else CONTENDERS
    machine = machine_info()
    template = work / "template"
    write_project(template)
    started = time.perf_counter()
    seed(template / DATABASE, rows)
    print(f"seeded {rows:,} rows in {time.perf_counter() - started:.2f} s; work dir {work}", file=sys.stderr)
    if warm_up:  # compiled bytecode and disk caches, once
        for contender in contenders:
            warm = run_contender(contender, template, work)
            print(
                f"warm-up {contender:<6} step {warm['step']:.3f} s, run {warm['run']:.3f} s", file=sys.stderr
            )
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    for repeat in range(repeats):
        for contender in contenders:
            figures = run_contender(contender, template, work)
            runs[contender].append(figures)
            print(
                f"run {repeat + 1}/{repeats} {contender:<6} step {figures['step']:.3f} s, "
                f"run {figures['run']:.3f} s, load {figures['load']:.3f} s, "
                f"process {figures['process']:.3f} s, {figures['peak_mb']:.0f} MB",
                file=sys.stderr,
            )
    ours_tables = runs["ours"][0]["tables"]
    missing = [name for name, (count, _, _) in ours_tables.items() if count is None]
    if missing:
        raise BenchmarkError(f"ours did not build {', '.join(missing)}")
    for contender in contenders:
        for run in runs[contender]:
            tables = run["tables"]
            different = [name for name in ours_tables if tables[name] != ours_tables[name]]
            if different:
                raise BenchmarkError(
                    f"ours and {contender} built different tables: {', '.join(different)}\n"
                    + "\n".join(f"  {n}: ours {ours_tables[n]}, {contender} {tables[n]}" for n in different)
                )
            if run["steps"] != [STEP_KEYS[contender]]:
                raise BenchmarkError(
                    f"{contender} ran steps {run['steps']}, expected [{STEP_KEYS[contender]}]"
                )
    summary = {c: summarize(runs[c]) for c in contenders}

    def ratios_of(a: str, b: str) -> dict[str, float | None]:
        return {f: _ratio(summary[a][f]["median"], summary[b][f]["median"]) for f in FIGURES}

    ratios = ratios_of("ours", "direct")
    reference_ratios = (
        {"ours_to_it": ratios_of("ours", REFERENCE), "it_to_direct": ratios_of(REFERENCE, "direct")}
        if reference
        else None
    )
    targets = []
    for figure in ("step", "run"):
        value = ratios[figure]
        targets.append(
            {
                "target": f"ours' {figure} <= {TARGET_RATIO}x the direct one's",
                "value": value,
                "passed": value <= TARGET_RATIO if value is not None else None,
            }
        )
    return {
        "benchmark": "transform_chain",
        "machine": {**machine, "load_average_end": load_average()},
        "rows": rows,
        "models": len(MODELS),
        "repeats": repeats,
        "warm_up": warm_up,
        "contenders": list(contenders),
        "figures": summary,
        "ratio": ratios,
        "reference_ratios": reference_ratios,
        "targets": targets,
        "tables": {name: {"rows": ours_tables[name][0]} for name in ours_tables},
        "same_tables": True,
        "runs": {c: [{k: v for k, v in r.items() if k != "tables"} for r in runs[c]] for c in contenders},
    }


def render(report: dict[str, Any]) -> str:
    """The figures as a text table, then the parity check and the targets."""
    labels = {
        "step": "step (STEP_START -> STEP_SUCCESS)",
        "run": "run (execute_in_process)",
        "run_events": "run (RUN_START -> RUN_SUCCESS)",
        "load": "imports + definitions",
        "process": "whole process",
        "cpu": "process CPU (user + system)",
        "peak_mb": "process peak RSS (MB)",
    }
    reference = report["reference_ratios"]
    header = f"{'median of ' + str(report['repeats']) + ' (s)':<40}{'ours':>10}{'direct':>10}{'ratio':>8}"
    if reference:
        header += f"{'per-model':>11}{'ours/it':>9}{'it/direct':>10}"
    lines = [header, "-" * len(header)]
    for figure in FIGURES:
        ours, direct = report["figures"]["ours"][figure], report["figures"]["direct"][figure]
        line = f"{labels[figure]:<40}{_fmt(ours['median']):>10}{_fmt(direct['median']):>10}"
        line += f"{_fmt(report['ratio'][figure]):>8}"
        if reference:
            it = report["figures"][REFERENCE][figure]["median"]
            line += f"{_fmt(it):>11}{_fmt(reference['ours_to_it'][figure]):>9}"
            line += f"{_fmt(reference['it_to_direct'][figure]):>10}"
        lines.append(line)
    machine = report["machine"]
    last = report["tables"][MODELS[-1][0]]["rows"]
    lines.append("")
    if reference:
        lines.append(
            f"per-model: reference {REFERENCE}, the direct SQL as a multi-asset of {len(MODELS)} specs, "
            "each materialized with row count and column schema"
        )
    lines += [
        f"{report['models']} models over {report['rows']:,} seeded rows ({MODELS[-1][0]}: {last:,} rows); "
        f"all built the same tables (columns, row counts, row hashes): {report['same_tables']}",
        f"each run in a fresh process on an ephemeral instance and a fresh copy of the seeded file; "
        f"{machine['cpu_count']} CPUs, load average {machine['load_average']} at start, "
        f"{machine['load_average_end']} at the end",
    ]
    for t in report["targets"]:
        state = {True: "PASS", False: "FAIL", None: "n/a "}[t["passed"]]
        lines.append(f"[{state}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=ROWS, help=f"rows of raw.events (default {ROWS:,})")
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help=f"runs of each (median; default {REPEATS})"
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_ROWS:,} rows, 1 repeat, no warm-up (for CI)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--per-model-reference",
        action="store_true",
        help=f"also measure {REFERENCE}: the direct SQL as one asset per model (see the docstring)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (seeded file, project)")
    parser.add_argument(
        "--child", choices=(*CONTENDERS, REFERENCE), help=argparse.SUPPRESS
    )  # one run, in this process
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = SMOKE_ROWS, 1
    if args.repeats < 1 or args.rows < 1:
        parser.error("--repeats and --rows must be at least 1")
    if args.child and not args.root:
        parser.error("--child needs --root")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(RESULT_PREFIX + json.dumps(child(args.child, args.root)), flush=True)
        return 0
    return run_in_work_folder(
        "dwh-transform-chain-",
        args.keep,
        lambda work: benchmark(
            args.rows, args.repeats, warm_up=not args.smoke, work=work, reference=args.per_model_reference
        ),
        render,
        args.out,
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: how long and how much memory loading our definitions takes, against the Dagster floor.

For each size N it writes a YAML project of N pipelines (N rest_api sources of one resource each,
one DuckDB destination, N pipelines, N sequential jobs of one pipeline, N cron triggers) and
measures, each run in a fresh process:

* ``dagster definitions validate -m dwh_dagster.definitions`` on that project (ours);
* ``dagster definitions validate -m benchmarks.floor_definitions``: the same Dagster objects
  written by hand in Python (the floor; see ``benchmarks/floor_definitions.py``);
* ``dwh validate`` on that project.

Wall time, CPU time (user + system) and peak RSS, each of the process and every descendant it
waited for, are the medians of ``--repeats`` runs; CPU time is shown too because it is far less
sensitive than wall time to other work on the machine. The targets (issue "Performance") use wall
time and peak RSS. It also checks, in a fresh process, that importing ``dwh_dagster.definitions``
imports no ``dlt`` / ``dagster_dlt`` module, and that ours and the floor define the same asset
keys, jobs and schedules. Results are printed and written as JSON (``--out``).

Two variants of the floor can be measured beside it, for reference (no target uses them):
``--bare-specs-floor``, the floor written with bare source ``AssetSpec`` s, which Dagster loads in
time and memory quadratic in the number of pipelines; ``--narrow-jobs-floor``, the floor with its
asset jobs resolved as ours are (``dwh_dagster.narrow_jobs``), which shows what our YAML layer
costs on top of the same Dagster objects (see the floor module).

With ``--transformations`` the project of size N also has N SQL transformations in one dataset
(``analytics``) of the destination: transformation ``i`` selects from pipeline ``i``'s table
(``select * from raw_<i>.items where id > 0``), and every 10th one joins that table with an
earlier transformation, which chains ``t_00001 -> t_00010 -> t_00020 -> ...``. Ours parses each
SQL with sqlglot to find its reads and builds one subsettable multi-asset for the destination;
the floor defines the same multi-asset by hand (same keys, deps, group, kinds and metadata, the
SQL included as markdown). The probe then checks deps, groups, kinds and metadata keys of the
transformation assets too. The JSON goes to ``results/definitions_transformations.json`` unless
``--out`` says otherwise, so the pipeline-only figures stay apart.

With ``--checks`` every pipeline file of the project also declares five data-quality checks on
its table (``checks: {items: [...]}``): ``not_null`` and ``unique`` on ``id``, ``accepted_values``
of ``id``, ``row_count`` with ``min: 1`` and an ``expression`` (``id >= 0``), all ``severity:
error``. ``id`` is the one column the generated ``rest_api`` resource declares (its primary key);
nothing is ever fetched or checked, the checks are only defined. Ours turns each into a blocking
``AssetCheckSpec`` on the table's asset, in the pipeline's multi-asset; the floor
(``DWH_BENCH_CHECKS=1``) declares the same five specs by hand, by name, on its multi-assets. The
probe then also compares the check keys (count and names), which of them are blocking and the
checks each job runs, and the benchmark stops when they differ or when there are not 5 per
pipeline. The JSON goes to ``results/definitions_checks.json`` (with ``--transformations`` too:
``results/definitions_transformations_checks.json``) unless ``--out`` says otherwise.

    uv run python benchmarks/definitions.py [--sizes 1,100,1000,2000] [--repeats N] [--smoke]
        [--transformations] [--checks] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import load_average, publish
from machine import machine_info as shared_machine_info

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "definitions.json"
DEFAULT_OUT_TRANSFORMATIONS = REPO_ROOT / "benchmarks" / "results" / "definitions_transformations.json"
DEFAULT_OUT_CHECKS = REPO_ROOT / "benchmarks" / "results" / "definitions_checks.json"
OURS_MODULE = "dwh_dagster.definitions"
FLOOR_MODULE = "benchmarks.floor_definitions"
PIPELINES_VAR = "DWH_BENCH_PIPELINES"  # read by the floor module
BARE_SPECS_VAR = "DWH_BENCH_FLOOR_BARE_SPECS"  # read by the floor module
NARROW_JOBS_VAR = "DWH_BENCH_FLOOR_NARROW_JOBS"  # read by the floor module
TRANSFORMATIONS_VAR = "DWH_BENCH_TRANSFORMATIONS"  # read by the floor module
CHECKS_VAR = "DWH_BENCH_CHECKS"  # read by the floor module
# reference variants of the floor: name -> (env var the floor module reads, what it is)
FLOOR_VARIANTS = {
    "bare_specs": (
        BARE_SPECS_VAR,
        "the floor with bare source AssetSpecs (Dagster merges them into one definition: quadratic)",
    ),
    "narrow_jobs": (
        NARROW_JOBS_VAR,
        "the floor with its asset jobs resolved as ours are (dwh_dagster.narrow_jobs)",
    ),
}
DEFS_DIR_VAR = "DWH_DEFS_DIR"
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York")  # as in floor_definitions.py
TRANSFORM_DATASET = "analytics"  # as in floor_definitions.py
CHAIN_EVERY = 10  # every 10th transformation also reads an earlier one; as in floor_definitions.py
# the checks of each pipeline's table with --checks (YAML flow mappings, severity error: blocking);
# floor_definitions.CHECK_NAMES holds the names ours derives from them
PIPELINE_CHECKS = (
    "{type: not_null, columns: [id]}",
    "{type: unique, columns: [id]}",
    "{type: accepted_values, column: id, values: [1, 2, 3]}",
    "{type: row_count, min: 1}",
    '{type: expression, expression: "id >= 0"}',
)

TIME_RATIO_LIMIT = 1.3
MEMORY_RATIO_LIMIT = 1.3
TARGET_SIZE = 1000
SCALING_SIZE = 2000
SCALING_LIMIT = 2.2

# ---------------------------------------------------------------------------------------- project


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def transformation_sql(i: int) -> str:
    """The SQL of transformation ``i``: a filter over pipeline ``i``'s table, and for every 10th one
    a join with an earlier transformation (``t_00001 -> t_00010 -> t_00020 -> ...``).

    ``floor_definitions.py`` writes the same text (kept in step by hand; the probe compares them).
    """
    n = f"{i:05d}"
    if i % CHAIN_EVERY == 0:
        previous = f"{max(i - CHAIN_EVERY, 1):05d}"
        return (
            "select t.*\n"
            f"from {TRANSFORM_DATASET}.t_{previous} t\n"
            f"join raw_{n}.items i on i.id = t.id\n"
            "where t.id > 0\n"
        )
    return f"select *\nfrom raw_{n}.items\nwhere id > 0\n"


def _transformation_yaml(i: int) -> str:
    body = "".join(f"    {line}\n" for line in transformation_sql(i).splitlines())
    return (
        "transformation:\n"
        f"  name: t_{i:05d}\n"
        "  destination: warehouse\n"
        f"  dataset_name: {TRANSFORM_DATASET}\n"
        "  materialized: table\n"
        "  sql: |\n"
        f"{body}"
    )


def _checks_yaml() -> str:
    """The ``checks:`` block of a pipeline file: the ``PIPELINE_CHECKS`` of its ``items`` table."""
    return "\n  checks:\n    items:\n" + "".join(f"      - {check}\n" for check in PIPELINE_CHECKS)


def write_project(defs: Path, count: int, transformations: int = 0, checks: bool = False) -> Path:
    """Write a YAML project of ``count`` pipelines and ``transformations`` SQL transformations (at
    most ``count``) under ``defs``, one file per object; with ``checks``, each pipeline declares the
    ``PIPELINE_CHECKS`` on its table. Return ``defs``."""
    _write(
        defs / "secrets_mapping.yaml",
        "secrets:\n"
        "  bench_api_token:\n"
        '    env_var: "BENCH_API_TOKEN"\n'
        '    description: "Token of the benchmark APIs (never used: nothing is contacted)"\n'
        "    required: false\n",
    )
    _write(
        defs / "destinations" / "warehouse.yaml",
        "destination:\n"
        "  name: warehouse\n"
        "  type: duckdb\n"
        '  description: "Local DuckDB warehouse"\n'
        "\n"
        "  connection:\n"
        '    database: "./data/bench_warehouse.duckdb"\n'
        "\n"
        "  settings:\n"
        '    schema: "raw_data"\n',
    )
    for i in range(1, count + 1):
        n = f"{i:05d}"
        _write(
            defs / "sources" / f"api_{n}.yaml",
            "source:\n"
            f"  name: api_{n}\n"
            "  type: rest_api\n"
            f'  description: "Benchmark API number {i}"\n'
            "\n"
            "  connection:\n"
            f'    base_url: "http://127.0.0.1:9/api/{n}"\n'
            "    timeout: 30\n"
            "    retry:\n"
            "      max_attempts: 3\n"
            "      backoff_factor: 2\n"
            "\n"
            "  resources:\n"
            "    - name: items\n"
            '      endpoint: "/items"\n'
            "      paginator: single_page\n"
            '      primary_key: ["id"]\n'
            '      write_disposition: "replace"\n',
        )
        _write(
            defs / "pipelines" / f"p_{n}.yaml",
            "pipeline:\n"
            f"  name: p_{n}\n"
            f'  description: "Items of API {i} into DuckDB"\n'
            "\n"
            "  source:\n"
            f'    config_file: "api_{n}.yaml"\n'
            "    resources:\n"
            "      - items\n"
            "\n"
            "  destination:\n"
            '    config_file: "warehouse.yaml"\n'
            f'    dataset_name: "raw_{n}"\n'
            "\n"
            "  retry:\n"
            "    max_attempts: 2\n"
            "    initial_delay: 10\n" + (_checks_yaml() if checks else ""),
        )
        _write(
            defs / "jobs" / f"job_{n}.yaml",
            "job:\n"
            f"  name: job_{n}\n"
            f'  description: "Pipeline p_{n} on its own"\n'
            "\n"
            "  pipelines:\n"
            f"    - name: p_{n}\n"
            "      order: 1\n"
            "      enabled: true\n"
            "\n"
            "  execution:\n"
            "    mode: sequential\n"
            "    continue_on_failure: false\n"
            "\n"
            "  retries:\n"
            "    max_attempts: 1\n",
        )
        _write(
            defs / "triggers" / f"t_{n}.yaml",
            "trigger:\n"
            f"  name: t_{n}\n"
            "  type: cron\n"
            "  enabled: true\n"
            f"  job: job_{n}.yaml\n"
            f'  description: "Job job_{n} once a day"\n'
            "\n"
            "  schedule:\n"
            f'    cron: "{i % 60} {(i // 60) % 24} * * *"\n'
            f'    timezone: "{TIMEZONES[i % len(TIMEZONES)]}"\n'
            "    catchup: false\n"
            "\n"
            "  tags:\n"
            "    - daily\n",
        )
    for i in range(1, min(transformations, count) + 1):
        _write(defs / "transformations" / f"t_{i:05d}.yaml", _transformation_yaml(i))
    return defs


# ---------------------------------------------------------------------------------------- measuring


class BenchmarkError(RuntimeError):
    """A measured command failed: the benchmark stops with its output."""


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    cpu_seconds: float  # user + system time of the process and its descendants
    peak_mb: float


def _set_child_subreaper() -> bool:
    """Make descendants that outlive their parent ours (Linux), so their memory is counted too."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0


def _maxrss_mb(ru_maxrss: int) -> float:
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def measure(command: list[str], env: dict[str, str], label: str) -> Run:
    """Run ``command`` in a fresh process: its wall time and the peak RSS of it and its descendants.

    ``os.wait4`` gives the peak RSS of the child and of every descendant it waited for; descendants
    it did not wait for are reparented to us (child subreaper) and reaped and counted here.
    """
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = usage.ru_maxrss
        cpu = usage.ru_utime + usage.ru_stime
        while True:  # orphaned grandchildren (none expected: validate loads in process)
            try:
                orphan, _, orphan_usage = os.wait4(-1, 0)
            except ChildProcessError:
                break
            print(f"  note: {label} left process {orphan} behind; its memory is counted", file=sys.stderr)
            peak = max(peak, orphan_usage.ru_maxrss)
            cpu += orphan_usage.ru_utime + orphan_usage.ru_stime
        if proc.returncode != 0:
            output.seek(0)
            text = output.read().decode("utf-8", "replace")
            raise BenchmarkError(
                f"{label} failed with exit code {proc.returncode}:\n$ {' '.join(command)}\n{text}"
            )
    return Run(seconds, cpu, _maxrss_mb(peak))


def _summary(runs: list[Run]) -> dict[str, Any]:
    return {
        "seconds": round(statistics.median(r.seconds for r in runs), 3),
        "cpu_seconds": round(statistics.median(r.cpu_seconds for r in runs), 3),
        "peak_mb": round(statistics.median(r.peak_mb for r in runs), 1),
        "runs": [
            {
                "seconds": round(r.seconds, 3),
                "cpu_seconds": round(r.cpu_seconds, 3),
                "peak_mb": round(r.peak_mb, 1),
            }
            for r in runs
        ],
    }


_PROBE = """
import json, sys
import dwh_dagster.definitions as ours
dlt_modules = sorted(
    m for m in sys.modules
    if m in ("dlt", "dagster_dlt") or m.startswith(("dlt.", "dagster_dlt."))
)
import benchmarks.floor_definitions as floor

KIND = "dagster/kind/"

def check_id(key):
    return f"{key.asset_key.to_user_string()}:{key.name}"

def job_checks(defs):  # the checks each job runs; resolves every job, so only with --checks
    found = {}
    for job in defs.jobs or []:
        layer = defs.resolve_job_def(job.name).asset_layer
        keys = set().union(*(data.assets_def.check_keys for data in layer.data))
        found[job.name] = sorted(check_id(k) for k in keys)
    return found

def shape(defs):
    graph = defs.resolve_asset_graph()
    check_keys = sorted(graph.asset_check_keys, key=check_id)
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    models = {}
    for key in keys:
        if key.path[0] != DATASET:
            continue
        node = graph.get(key)
        assets_def = graph.assets_def_for_key(key)
        sql = node.metadata.get("dwh/sql")
        models[key.to_user_string()] = {
            "op": assets_def.node_def.name,
            "can_subset": assets_def.can_subset,
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "metadata": sorted(node.metadata),
            "sql": getattr(sql, "value", None),
        }
    return {
        "assets": [key.to_user_string() for key in keys],
        "deps": {
            key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
            for key in keys
        },
        "transformations": models,
        "checks": [check_id(k) for k in check_keys],
        "blocking_checks": [check_id(k) for k in check_keys if graph.get_check_spec(k).blocking],
        "job_checks": job_checks(defs) if CHECKS else {},
        "jobs": sorted(job.name for job in defs.jobs or []),
        "schedules": sorted(
            (s.name, s.cron_schedule, s.execution_timezone, s.job_name) for s in defs.schedules or []
        ),
    }

a, b = shape(ours.defs()), shape(floor.defs)
print(json.dumps({
    "dlt_modules": dlt_modules,
    "same_shape": a == b,
    "differences": [part for part in a if a[part] != b[part]],
    "transformations": len(a["transformations"]),
    "transformation_deps": sum(len(a["deps"][k]) for k in a["transformations"]),
    "checks": len(a["checks"]),
    "floor_checks": len(b["checks"]),
    "blocking_checks": len(a["blocking_checks"]),
    "check_names": sorted({key.rsplit(":", 1)[1] for key in a["checks"]}),
    "jobs_with_checks": sum(1 for keys in a["job_checks"].values() if keys),
}))
"""


def probe(env: dict[str, str], checks: bool = False) -> dict[str, Any]:
    """In a fresh process: dlt modules imported by our definitions; whether ours and the floor match.

    With ``checks`` it also compares the checks each job runs (which resolves every job).
    """
    code = f"DATASET = {TRANSFORM_DATASET!r}\nCHECKS = {checks!r}\n{_PROBE}"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchmarkError(f"the import probe failed:\n{result.stdout}{result.stderr}")
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


# ---------------------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    """Where and with what the figures were taken."""
    return shared_machine_info(("dagster", "dagster-dlt", "dlt", "pyyaml", "pydantic"))


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf")


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """From each size to the next: how many times the time and memory of each command grew."""
    steps = []
    for small, big in pairwise(results):
        step: dict[str, Any] = {"from": small["pipelines"], "to": big["pipelines"]}
        for key in ("ours", "floor", *(f"floor_{v}" for v in FLOOR_VARIANTS), "dwh_validate"):
            if key in small:
                step[key] = {
                    "time": _ratio(big[key]["seconds"], small[key]["seconds"]),
                    "cpu": _ratio(big[key]["cpu_seconds"], small[key]["cpu_seconds"]),
                    "memory": _ratio(big[key]["peak_mb"], small[key]["peak_mb"]),
                }
        steps.append(step)
    return steps


def _size_label(size: int, transformations: bool, checks: bool = False) -> str:
    label = f"{size} pipelines"
    if checks:
        label += f" with {len(PIPELINE_CHECKS)} checks each"
    return f"{label} + {size} transformations" if transformations else label


def evaluate_targets(
    results: list[dict[str, Any]],
    dlt_modules: list[str],
    transformations: bool = False,
    checks: bool = False,
) -> list[dict[str, Any]]:
    """The issue's targets; ``passed`` is None when the sizes needed were not measured."""
    by_size = {r["pipelines"]: r for r in results}
    at = by_size.get(TARGET_SIZE)
    big = by_size.get(SCALING_SIZE)
    target_size = _size_label(TARGET_SIZE, transformations, checks)
    targets = [
        {
            "target": f"time ratio at {target_size} <= {TIME_RATIO_LIMIT}",
            "value": at["time_ratio"] if at else None,
            "passed": at["time_ratio"] <= TIME_RATIO_LIMIT if at else None,
        },
        {
            "target": f"memory ratio at {target_size} <= {MEMORY_RATIO_LIMIT}",
            "value": at["memory_ratio"] if at else None,
            "passed": at["memory_ratio"] <= MEMORY_RATIO_LIMIT if at else None,
        },
    ]
    for what, field in (("time", "seconds"), ("memory", "peak_mb")):
        growth = _ratio(big["ours"][field], at["ours"][field]) if at and big else None
        targets.append(
            {
                "target": f"ours {what} at {SCALING_SIZE} <= {SCALING_LIMIT}x ours at {TARGET_SIZE}",
                "value": growth,
                "passed": growth <= SCALING_LIMIT if growth is not None else None,
            }
        )
    targets.append(
        {
            "target": "dlt not imported while definitions load",
            "value": dlt_modules,
            "passed": not dlt_modules,
        }
    )
    return targets


def render(report: dict[str, Any]) -> str:
    """The results as a text table, then the targets."""
    header = (
        f"{'pipelines':>9} | {'ours s':>7} {'floor s':>7} {'ratio':>5} | {'ours cpu':>8} {'floor cpu':>9} "
        f"{'ratio':>5} | {'ours MB':>7} {'floor MB':>8} {'ratio':>5} | {'dwh validate':>17}"
    )
    lines = [header, "-" * len(header)]
    for r in report["results"]:
        ours, floor, dwh = r["ours"], r["floor"], r["dwh_validate"]
        lines.append(
            f"{r['pipelines']:>9} | "
            f"{ours['seconds']:>7.2f} {floor['seconds']:>7.2f} {r['time_ratio']:>5.2f} | "
            f"{ours['cpu_seconds']:>8.2f} {floor['cpu_seconds']:>9.2f} {r['cpu_ratio']:>5.2f} | "
            f"{ours['peak_mb']:>7.1f} {floor['peak_mb']:>8.1f} {r['memory_ratio']:>5.2f} | "
            f"{dwh['seconds']:>7.2f} s {dwh['peak_mb']:>6.1f} MB"
        )
    for variant, (_, what) in FLOOR_VARIANTS.items():
        rows = [r for r in report["results"] if f"floor_{variant}" in r]
        if rows:
            lines += ["", f"reference: {what}"]
        for r in rows:
            figures = r[f"floor_{variant}"]
            lines.append(
                f"{r['pipelines']:>9} | {figures['seconds']:>7.2f} s "
                f"(ours/it {r[f'time_ratio_{variant}']:.2f}) | "
                f"{figures['cpu_seconds']:>7.2f} cpu | {figures['peak_mb']:>7.1f} MB "
                f"(ours/it {r[f'memory_ratio_{variant}']:.2f})"
            )
    if report["growth"]:
        lines.append("")
        for step in report["growth"]:
            parts = [
                f"{key} x{step[key]['time']:.2f} time, x{step[key]['memory']:.2f} memory"
                for key in ("ours", "floor", *(f"floor_{v}" for v in FLOOR_VARIANTS))
                if key in step
            ]
            lines.append(f"growth {step['from']} -> {step['to']} pipelines: " + "; ".join(parts))
    load = report["machine"]["load_average"]
    lines += [
        "",
        f"s: wall seconds; cpu: user+system seconds; MB: peak RSS. Median of {report['repeats']} run(s), "
        f"each in a fresh process; {report['machine']['cpu_count']} CPUs, load average {load} at start, "
        f"{report['machine']['load_average_end']} at the end",
    ]
    if report.get("transformations"):
        checked = report["transformations_checked"]
        lines += [
            f"each size N: N pipelines and N SQL transformations in one multi-asset "
            f"(one in {CHAIN_EVERY} also reads an earlier transformation)",
            f"ours and floor define the same assets, deps, jobs and schedules, and the same op, groups, "
            f"kinds, metadata keys and SQL for the {checked['transformations']} transformations "
            f"({checked['transformation_deps']} deps) of the first size: {report['same_shape']}",
        ]
    else:
        lines.append(f"ours and floor define the same assets, jobs and schedules: {report['same_shape']}")
    if report.get("checks"):
        checked = report["checks_checked"]
        lines.append(
            f"each pipeline's table has {len(PIPELINE_CHECKS)} blocking asset checks; ours and floor "
            f"define the same {checked['checks']} check keys ({', '.join(checked['check_names'])}), "
            f"{checked['blocking_checks']} blocking, and the same checks in each of the "
            f"{checked['jobs_with_checks']} jobs, at the first size: {report['same_shape']}"
        )
    for t in report["targets"]:
        state = {True: "PASS", False: "FAIL", None: "n/a "}[t["passed"]]
        value = "not measured" if t["value"] is None else t["value"]
        lines.append(f"[{state}] {t['target']}: {value}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- main


def _command(*args: str) -> list[str]:
    return [sys.executable, *args]


def run_benchmark(
    sizes: list[int],
    repeats: int,
    warm_up: bool,
    floor_variants: tuple[str, ...] = (),
    transformations: bool = False,
    checks: bool = False,
) -> dict[str, Any]:
    """Measure every size, and the named ``FLOOR_VARIANTS``; the report as plain data (see ``render``).

    With ``transformations`` each size N has N transformations besides its N pipelines; with
    ``checks`` each pipeline's table has the ``PIPELINE_CHECKS``.
    """
    _set_child_subreaper()
    machine = machine_info()  # the load average before this benchmark adds its own
    results = []
    dlt_modules: list[str] | None = None
    same_shape: bool | None = None
    checked: dict[str, int] = {}
    checks_checked: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dwh-bench-") as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        ours_vars = (DEFS_DIR_VAR, PIPELINES_VAR, TRANSFORMATIONS_VAR, CHECKS_VAR)
        base_env = {k: v for k, v in os.environ.items() if k not in ours_vars}
        base_env.update({"DAGSTER_HOME": str(home), "ENVIRONMENT": "dev", "PYTHONUNBUFFERED": "1"})
        for size in sizes:
            models = size if transformations else 0
            defs = write_project(Path(tmp) / f"project_{size}" / "yaml_defs", size, models, checks)
            counts = {PIPELINES_VAR: str(size), TRANSFORMATIONS_VAR: str(models)}
            if checks:
                counts[CHECKS_VAR] = "1"
            ours_env = {**base_env, DEFS_DIR_VAR: str(defs), **counts}
            floor_env = {**base_env, **counts}
            variant_envs = {v: {**floor_env, FLOOR_VARIANTS[v][0]: "1"} for v in floor_variants}
            ours_cmd = _command("-m", "dagster", "definitions", "validate", "-m", OURS_MODULE)
            floor_cmd = _command("-m", "dagster", "definitions", "validate", "-m", FLOOR_MODULE)
            dwh_cmd = _command("-m", "dwh_dagster.cli", "validate", "--no-snippet")
            print(f"{_size_label(size, transformations, checks)}: project in {defs}", file=sys.stderr)
            measure(dwh_cmd, ours_env, f"dwh validate ({size} pipelines)")  # the project must be valid
            if dlt_modules is None:
                found = probe(ours_env, checks)
                dlt_modules, same_shape = found["dlt_modules"], found["same_shape"]
                checked = {k: found[k] for k in ("transformations", "transformation_deps")}
                check_fields = (
                    "checks",
                    "floor_checks",
                    "blocking_checks",
                    "check_names",
                    "jobs_with_checks",
                )
                checks_checked = {"pipelines": size, **{k: found[k] for k in check_fields}}
                if not same_shape:
                    raise BenchmarkError(
                        "ours and the floor do not define the same assets, checks, jobs, schedules; "
                        f"they differ in: {', '.join(found['differences'])} "
                        f"(check keys: ours {found['checks']}, floor {found['floor_checks']})"
                    )
                expected = size * len(PIPELINE_CHECKS) if checks else 0
                if found["checks"] != expected or found["blocking_checks"] != expected:
                    raise BenchmarkError(
                        f"{found['checks']} asset checks ({found['blocking_checks']} blocking) defined, "
                        f"{expected} expected"
                    )
                if checks and found["jobs_with_checks"] != size:
                    raise BenchmarkError(f"{found['jobs_with_checks']} jobs run checks, {size} expected")
                if transformations and found["transformations"] != models:
                    raise BenchmarkError(
                        f"{found['transformations']} transformation assets checked, {models} expected"
                    )
            if warm_up and size == sizes[0]:  # compiled bytecode and disk caches, once
                measure(ours_cmd, ours_env, "warm-up")
                measure(floor_cmd, floor_env, "warm-up")
            runs: dict[str, list[Run]] = {"ours": [], "floor": [], "dwh_validate": []}
            runs.update({f"floor_{v}": [] for v in floor_variants})
            for repeat in range(repeats):
                runs["ours"].append(measure(ours_cmd, ours_env, f"ours ({size} pipelines)"))
                runs["floor"].append(measure(floor_cmd, floor_env, f"floor ({size} pipelines)"))
                runs["dwh_validate"].append(measure(dwh_cmd, ours_env, f"dwh validate ({size} pipelines)"))
                for variant, variant_env in variant_envs.items():
                    label = f"floor with {variant} ({size} pipelines)"
                    runs[f"floor_{variant}"].append(measure(floor_cmd, variant_env, label))
                last = {k: f"{v[-1].seconds:.2f}s/{v[-1].peak_mb:.0f}MB" for k, v in runs.items()}
                print(f"  run {repeat + 1}/{repeats}: {last}", file=sys.stderr)
            row: dict[str, Any] = {
                "pipelines": size,
                "transformations": models,
                "checks": size * len(PIPELINE_CHECKS) if checks else 0,
            }
            row.update({k: _summary(v) for k, v in runs.items()})
            row["time_ratio"] = _ratio(row["ours"]["seconds"], row["floor"]["seconds"])
            row["cpu_ratio"] = _ratio(row["ours"]["cpu_seconds"], row["floor"]["cpu_seconds"])
            row["memory_ratio"] = _ratio(row["ours"]["peak_mb"], row["floor"]["peak_mb"])
            for variant in floor_variants:
                figures = row[f"floor_{variant}"]
                row[f"time_ratio_{variant}"] = _ratio(row["ours"]["seconds"], figures["seconds"])
                row[f"memory_ratio_{variant}"] = _ratio(row["ours"]["peak_mb"], figures["peak_mb"])
            results.append(row)
    assert dlt_modules is not None
    return {
        "benchmark": "definitions",
        "machine": {**machine, "load_average_end": load_average()},
        "repeats": repeats,
        "sizes": sizes,
        "transformations": transformations,
        "transformations_checked": checked,
        "checks": checks,
        "checks_per_pipeline": len(PIPELINE_CHECKS) if checks else 0,
        "checks_checked": checks_checked,
        "results": results,
        "dlt_imported": bool(dlt_modules),
        "dlt_modules": dlt_modules,
        "same_shape": same_shape,
        "growth": growth(results),
        "targets": evaluate_targets(results, dlt_modules, transformations, checks),
    }


def default_out(transformations: bool, checks: bool) -> Path:
    """``results/definitions[_transformations][_checks].json``."""
    if transformations and checks:
        return DEFAULT_OUT.with_name("definitions_transformations_checks.json")
    if checks:
        return DEFAULT_OUT_CHECKS
    return DEFAULT_OUT_TRANSFORMATIONS if transformations else DEFAULT_OUT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1,100,1000,2000", help="pipeline counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size and command (median kept)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"size 1 ({CHAIN_EVERY} with --transformations: the smallest with a chain), 1 repeat, "
        "no warm-up (for CI)",
    )
    parser.add_argument(
        "--transformations",
        action="store_true",
        help="size N also has N SQL transformations (one multi-asset); see the module docstring",
    )
    parser.add_argument(
        "--checks",
        action="store_true",
        help=f"each pipeline's table has {len(PIPELINE_CHECKS)} data-quality checks "
        "(see the module docstring)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"JSON output (default: {DEFAULT_OUT}; {DEFAULT_OUT_TRANSFORMATIONS.name} with "
        f"--transformations, {DEFAULT_OUT_CHECKS.name} with --checks, "
        "definitions_transformations_checks.json with both)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a measured target is missed")
    for variant, (_, what) in FLOOR_VARIANTS.items():  # --bare-specs-floor, --narrow-jobs-floor
        flag = f"--{variant.replace('_', '-')}-floor"
        parser.add_argument(flag, action="store_true", help=f"also measure {what}")
    parser.add_argument(
        "--write-project", metavar="DIR", type=Path, help="only write a project of --sizes' first size"
    )
    args = parser.parse_args(argv)
    smoke_size = CHAIN_EVERY if args.transformations else 1
    sizes = [smoke_size] if args.smoke else [int(s) for s in args.sizes.split(",") if s.strip()]
    repeats = 1 if args.smoke else args.repeats
    out: Path = args.out or default_out(args.transformations, args.checks)
    if args.write_project:
        models = sizes[0] if args.transformations else 0
        print(write_project(args.write_project, sizes[0], models, args.checks))
        return 0
    try:
        variants = tuple(v for v in FLOOR_VARIANTS if getattr(args, f"{v}_floor"))
        report = run_benchmark(
            sizes,
            repeats,
            warm_up=not args.smoke,
            floor_variants=variants,
            transformations=args.transformations,
            checks=args.checks,
        )
    except BenchmarkError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 2
    return publish(report, render(report), out, args.strict)


if __name__ == "__main__":
    sys.exit(main())

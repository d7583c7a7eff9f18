"""partition_backfill: a 365-partition single-run backfill against one unpartitioned full load.

A local dated API (a threaded HTTP server on 127.0.0.1, in this process) serves ``--records``
records (365,000 by default, 1,000 a day) spread evenly over the 365 days 2024-01-01 to
2024-12-30: ``GET /events?since=..&until=..`` answers the records whose ``updated_at`` lies in
[since, until) (both optional), in pages of ``--page-size`` (offset paginator,
``{"data": [...], "total": T}``; ``--page-size 0``: one JSON list, dlt's ``single_page``). The
responses are joined from records serialized once, before serving.

Both contenders load the same records, with the same source file (rest_api resource ``events``,
``primary_key: id``, ``write_disposition: merge``, ``incremental`` on ``updated_at`` with
``param: since`` and ``end_param: until``), into the same kind of DuckDB destination, each run in
a fresh process (``python -m dwh_dagster.cli``) on a fresh project folder, DAGSTER_HOME (the
repo's dagster.yaml without its storage paths) and DuckDB file:

* full_load (A): the pipeline unpartitioned; ``dwh run events_job``, one full load;
* backfill (B): the pipeline with ``partitions: {type: daily, start: '2024-01-01'}`` and
  ``backfill: single_run``; ``dwh backfill events_job --from 2024-01-01 --to 2024-12-30``: 365
  partitions (``--to`` is the last partition loaded), one run, one dlt load of the whole range.

Timed: the whole command (wall clock of the process, with its CPU and peak RSS), and from the
run's event log RUN_START -> RUN_SUCCESS and STEP_START -> STEP_SUCCESS; medians of ``--repeats``
runs alternating A and B (after one warm-up run of each, unless ``--smoke``). Target (issue 13):
the backfill takes at most 1.5x the time of the full load. After every run the table must hold
exactly the records served (every column compared with the records, ids distinct), with the same
column names and types in A and B; B's rows must carry their day in ``_dwh_partition`` and its one
run must have materialized the 365 partitions. The benchmark stops (exit 2) when any of that fails.

    uv run python benchmarks/partition_backfill.py [--records N] [--page-size N] [--repeats N]
        [--no-warm-up] [--smoke] [--out PATH] [--strict] [--keep]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine
from machine import load_average, run_in_work_folder
from machine import machine_info as shared_machine_info

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "partition_backfill.json"
DAYS = 365
RECORDS = DAYS * 1000
SMOKE_RECORDS = DAYS * 20
PAGE_SIZE = 1000
REPEATS = 3
TARGET_RATIO = 1.5
CHILD_TIMEOUT = 1800  # seconds for one contender's process

START = datetime(2024, 1, 1, tzinfo=UTC)
FIRST, LAST = "2024-01-01", "2024-12-30"  # the 365 days served; 2024 is a leap year
STAMP = "%Y-%m-%dT%H:%M:%SZ"
JOB, PIPELINE, TABLE, DATASET = "events_job", "load_events", "events", "api"
DATABASE = "wh.duckdb"  # relative to the project root (the defs folder's parent)
LOG_LEVEL = "warning"  # both commands log the same (dwh backfill's default)
CONTENDERS = ("full_load", "backfill")
LABELS = {
    "full_load": "A full load (dwh run, unpartitioned)",
    "backfill": f"B backfill ({DAYS} daily partitions, 1 run)",
}
RECORD_COLUMNS = ("id", "updated_at", "customer", "amount", "quantity", "active")
PARTITION_COLUMN = "_dwh_partition"
STORAGE_KEYS = ("storage", "local_artifact_storage", "compute_logs")


class BenchmarkError(machine.BenchmarkError):
    """A contender failed or loaded other rows than served: the benchmark stops with the detail."""


# --- the records and the API ----------------------------------------------------------------------


def record(i: int, count: int) -> dict[str, Any]:
    """Record ``i`` of ``count``: evenly spread over the 365 days, ``count / 365`` a day."""
    moment = START + timedelta(seconds=i * DAYS * 86400 // count)
    return {
        "id": i + 1,
        "updated_at": moment.strftime(STAMP),
        "customer": f"customer {i * 7 % 997}",
        "amount": round((i * 7919 % 100_000) / 100, 2) + 0.5,
        "quantity": i % 17,
        "active": i % 3 != 0,
    }


def expected_table(count: int) -> Any:
    """The served records as an Arrow table (``updated_at`` as text, as the API writes it)."""
    import pyarrow as pa

    rows = [record(i, count) for i in range(count)]
    return pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.int64()),
            "updated_at": pa.array([r["updated_at"] for r in rows], pa.string()),
            "customer": pa.array([r["customer"] for r in rows], pa.string()),
            "amount": pa.array([r["amount"] for r in rows], pa.float64()),
            "quantity": pa.array([r["quantity"] for r in rows], pa.int64()),
            "active": pa.array([r["active"] for r in rows], pa.bool_()),
        }
    )


def _stamp(value: str) -> str:
    """A query's ISO time as the records write it (UTC, seconds), for comparing as text."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(STAMP)


class DatedApi:
    """``GET /events?since=..&until=..[&offset=..&limit=..]`` over ``count`` dated records.

    Records are in ``updated_at`` order, so a window is a slice found by bisection; each record is
    serialized once, a response joins the slice's bytes.
    """

    def __init__(self, count: int) -> None:
        import orjson

        rows = [record(i, count) for i in range(count)]
        self.stamps = [r["updated_at"] for r in rows]
        self.bodies = [orjson.dumps(r) for r in rows]
        self.requests = 0
        self.lock = threading.Lock()

    def body(self, query: dict[str, list[str]]) -> bytes:
        since, until = query.get("since", [None])[0], query.get("until", [None])[0]
        low = bisect_left(self.stamps, _stamp(since)) if since else 0
        high = bisect_left(self.stamps, _stamp(until)) if until else len(self.stamps)
        high = max(low, high)
        if "limit" not in query:
            return b"[" + b",".join(self.bodies[low:high]) + b"]"
        offset, limit = int(query.get("offset", ["0"])[0]), int(query["limit"][0])
        page = self.bodies[min(low + offset, high) : min(low + offset + limit, high)]
        return b'{"data":[' + b",".join(page) + b'],"total":' + str(high - low).encode() + b"}"

    def server(self) -> ThreadingHTTPServer:
        """A threaded server on 127.0.0.1 (a free port); call ``serve_forever`` in a thread."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real APIs answer

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != f"/{TABLE}":
                    self.send_error(404)
                    return
                try:
                    body = api.body(parse_qs(url.query))
                except ValueError as exc:
                    self.send_error(400, str(exc))
                    return
                with api.lock:
                    api.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.daemon_threads = True
        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


# --- the projects ---------------------------------------------------------------------------------


def write_project(root: Path, base_url: str, page_size: int, partitioned: bool) -> Path:
    """The YAML project of one contender under ``root``; the source file is the same for both."""
    if page_size:
        endpoint = (
            f"{{path: /{TABLE}, data_selector: data, "
            f"paginator: {{type: offset, limit: {page_size}, total_path: total}}}}"
        )
    else:
        endpoint = f"{{path: /{TABLE}, paginator: single_page}}"
    partitions = (
        f"  partitions: {{type: daily, start: '{FIRST}'}}\n  backfill: single_run\n" if partitioned else ""
    )
    files = {
        "sources/api.yaml": (
            "source:\n"
            "  name: api\n"
            "  type: rest_api\n"
            f'  connection: {{base_url: "{base_url}"}}\n'
            "  resources:\n"
            f"    - name: {TABLE}\n"
            f"      endpoint: {endpoint}\n"
            "      primary_key: id\n"
            "      write_disposition: merge\n"
            "      incremental:\n"
            "        cursor_field: updated_at\n"
            f'        initial_value: "{FIRST}T00:00:00Z"\n'
            "        param: since\n"
            "        end_param: until\n"
        ),
        "destinations/wh.yaml": (
            f"destination: {{name: wh, type: duckdb, connection: {{database: {DATABASE}}}}}\n"
        ),
        f"pipelines/{PIPELINE}.yaml": (
            "pipeline:\n"
            f"  name: {PIPELINE}\n"
            "  source: {config_file: api}\n"
            f"  destination: {{config_file: wh, dataset_name: {DATASET}}}\n" + partitions
        ),
        f"jobs/{JOB}.yaml": f"job: {{name: {JOB}, pipelines: [{{name: {PIPELINE}}}]}}\n",
    }
    defs = root / "yaml_defs"
    for name, text in files.items():
        path = defs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return defs


def instance_settings_yaml(instance: str) -> str:
    """``sqlite``: the repo's dagster.yaml without its ``.dagster_home/`` storage (storage stays in
    DAGSTER_HOME); ``postgres``: deploy/dagster.postgres.yaml, the production instance."""
    import yaml

    if instance == "postgres":
        return (REPO_ROOT / "deploy" / "dagster.postgres.yaml").read_text()
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    return yaml.safe_dump({k: v for k, v in settings.items() if k not in STORAGE_KEYS})


PG_USER = os.environ.get("PGUSER") or getpass.getuser()
PRODUCTION_SETTINGS = {"DAGSTER_EVENT_BATCH_SIZE": "1000"}
"""What the deployment files (deploy/) set for a PostgreSQL instance, for both contenders."""


def _pg_admin(statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=5432, dbname="postgres", user=PG_USER)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextmanager
def instance_env(instance: str, name: str) -> Iterator[dict[str, str]]:
    """The environment a contender's instance needs; ``postgres``: a database of its own on the
    local PostgreSQL (127.0.0.1:5432, trust auth), dropped afterwards."""
    if instance != "postgres":
        yield {}
        return
    database = f"dwh_bench_{name}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{database}"')
    try:
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": "5432",
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": "",
            **PRODUCTION_SETTINGS,
        }
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def command_of(contender: str, defs: Path) -> list[str]:
    """The ``dwh`` command a contender runs."""
    args = ["run", JOB] if contender == "full_load" else ["backfill", JOB, "--from", FIRST, "--to", LAST]
    return [sys.executable, "-m", "dwh_dagster.cli", *args, "--defs", str(defs), "--log-level", LOG_LEVEL]


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DWH_", "DAGSTER_")) and k != "ENVIRONMENT"
    }
    env.update(
        extra,
        DAGSTER_HOME=str(home),
        ENVIRONMENT="dev",
        RUNTIME__DLTHUB_TELEMETRY="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        DO_NOT_TRACK="1",
    )
    return env


def _maxrss_mb(ru_maxrss: int) -> float:
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def run_process(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``command`` through the launcher (below); its wall seconds, CPU seconds, peak RSS, output.

    The launcher, a small process, starts the command and reads its resource usage: a process
    started straight from this one, which holds the served records, would report this one's peak
    RSS (Linux keeps the peak of the memory a process had before its exec).
    """
    with tempfile.TemporaryFile() as output, tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "usage.json"
        launcher = [sys.executable, str(Path(__file__).resolve()), LAUNCH, str(result), "--", *command]
        proc = subprocess.Popen(
            launcher, env=env, cwd=cwd, stdout=output, stderr=output, start_new_session=True
        )
        try:
            proc.wait(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise BenchmarkError(f"{' '.join(command)} did not finish in {CHILD_TIMEOUT} s") from None
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
        if proc.returncode != 0 or not result.exists():
            raise BenchmarkError(f"the launcher of {' '.join(command)} failed:\n{text[-6000:]}")
        usage: dict[str, Any] = json.loads(result.read_text())
    return {**usage, "output": text}


LAUNCH = "--launch"


def launch(result: Path, command: list[str]) -> int:
    """Run ``command`` (same output, environment and folder); write its wall seconds, CPU seconds,
    peak RSS and exit code to ``result``."""
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    figures = {
        "process": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": _maxrss_mb(usage.ru_maxrss),
        "returncode": os.waitstatus_to_exitcode(status),
    }
    result.write_text(json.dumps(figures))
    return 0


def run_events(home: Path, extra: dict[str, str]) -> dict[str, Any]:
    """The runs in ``home``'s instance: their count, the last one's spans and materializations."""
    import dagster as dg

    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)  # the instance's connection settings
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            return _run_events(instance)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_events(instance: Any) -> dict[str, Any]:
    runs = instance.get_runs()
    if not runs:
        return {"runs": 0}
    run = runs[0]
    first: dict[str, float] = {}
    steps: list[str] = []
    partitions: set[str] = set()
    for entry in instance.all_logs(run.run_id):
        kind = entry.dagster_event_type
        if kind is None:
            continue
        first.setdefault(kind.name, entry.timestamp)  # the name: RUN_START's value is PIPELINE_START
        if kind.name == "STEP_START" and entry.step_key:
            steps.append(entry.step_key)
        if kind.name == "ASSET_MATERIALIZATION" and entry.dagster_event is not None:
            partition = entry.dagster_event.partition
            if partition is not None:
                partitions.add(partition)
    return {
        "runs": len(runs),
        "status": run.status.value,
        "range": [
            run.tags.get("dagster/asset_partition_range_start"),
            run.tags.get("dagster/asset_partition_range_end"),
        ],
        "steps": steps,
        "run_events": _span(first, "RUN_START", "RUN_SUCCESS"),
        "step": _span(first, "STEP_START", "STEP_SUCCESS"),
        "planned": _span(first, "ASSET_MATERIALIZATION_PLANNED", "RUN_START"),
        "load": _span(first, "STEP_START", "STEP_OUTPUT"),
        "materializations": _span(first, "STEP_OUTPUT", "STEP_SUCCESS"),
        "materialized_partitions": len(partitions),
    }


def _span(first: dict[str, float], start: str, end: str) -> float | None:
    a, b = first.get(start), first.get(end)
    return None if a is None or b is None else b - a


# --- checking what landed -------------------------------------------------------------------------


def check_table(database: Path, expected: Any, partitioned: bool) -> dict[str, Any]:
    """Row counts, columns, and the rows compared with the served records (both ways)."""
    import duckdb

    if not database.exists():
        raise BenchmarkError(f"{database} was not written")
    with duckdb.connect(str(database), read_only=True) as con:
        con.register("expected", expected)
        columns = [
            (str(name), str(kind))
            for name, kind in con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by column_name",
                [DATASET, TABLE],
            ).fetchall()
        ]
        if not columns:
            raise BenchmarkError(f"{database}: no table {DATASET}.{TABLE}")
        table = f"{DATASET}.{TABLE}"
        rows, ids = con.execute(f"select count(*), count(distinct id) from {table}").fetchone() or (0, 0)
        loaded = (
            f"select id, strftime(updated_at at time zone 'UTC', '{STAMP}') as updated_at, customer, amount, "
            f"quantity, active from {table}"
        )
        missing = con.execute(f"select count(*) from (from expected except all {loaded})").fetchone()
        extra = con.execute(f"select count(*) from ({loaded} except all from expected)").fetchone()
        out: dict[str, Any] = {
            "rows": int(rows),
            "distinct_ids": int(ids),
            "missing": int(missing[0]) if missing else None,
            "extra": int(extra[0]) if extra else None,
            "columns": columns,
        }
        if partitioned:
            wrong, keys = con.execute(
                f"select count(*) filter (where {PARTITION_COLUMN} is distinct from "
                f"strftime(updated_at at time zone 'UTC', '%Y-%m-%d')), count(distinct {PARTITION_COLUMN}) "
                f"from {table}"
            ).fetchone() or (None, None)
            out |= {"wrong_partition_keys": wrong, "partition_keys": keys}
    return out


def verify(contender: str, table: dict[str, Any], events: dict[str, Any], records: int) -> None:
    """Stop the benchmark when a run loaded anything but the served records exactly once."""
    problems = []
    if table["rows"] != records or table["distinct_ids"] != records:
        problems.append(f"{table['rows']} rows, {table['distinct_ids']} distinct ids, expected {records}")
    if table["missing"] or table["extra"]:
        problems.append(f"{table['missing']} served records missing, {table['extra']} rows not served")
    names = {name for name, _ in table["columns"]}
    if not set(RECORD_COLUMNS) <= names:
        problems.append(f"columns {sorted(names)} lack some of {RECORD_COLUMNS}")
    if events.get("runs") != 1 or events.get("status") != "SUCCESS":
        problems.append(f"{events.get('runs')} runs (expected 1), last one {events.get('status')}")
    if contender == "backfill":
        if table.get("wrong_partition_keys") or table.get("partition_keys") != DAYS:
            problems.append(
                f"{table.get('partition_keys')} partition keys (expected {DAYS}), "
                f"{table.get('wrong_partition_keys')} rows with a key that is not their day"
            )
        if events.get("range") != [FIRST, LAST] or events.get("materialized_partitions") != DAYS:
            problems.append(
                f"run range {events.get('range')}, {events.get('materialized_partitions')} partitions "
                f"materialized (expected {FIRST}..{LAST}, {DAYS})"
            )
    elif PARTITION_COLUMN in names:
        problems.append(f"the unpartitioned table has {PARTITION_COLUMN}")
    if problems:
        raise BenchmarkError(f"{contender}: " + "; ".join(problems))


# --- the benchmark --------------------------------------------------------------------------------


def run_contender(
    contender: str,
    work: Path,
    base_url: str,
    page_size: int,
    attempt: str,
    api: DatedApi,
    expected: Any,
    instance: str = "sqlite",
) -> dict[str, Any]:
    """One fresh project, DAGSTER_HOME (and database) and DuckDB file; one ``dwh`` process; its
    checked figures."""
    root = work / f"{contender}_{attempt}"
    defs = write_project(root, base_url, page_size, partitioned=contender == "backfill")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_settings_yaml(instance))
    with instance_env(instance, contender) as extra:
        requests_before = api.requests
        done = run_process(command_of(contender, defs), _env(home, extra), cwd=root)
        requests = api.requests - requests_before
        output = done.pop("output")
        if done["returncode"] != 0:
            raise BenchmarkError(f"{contender} exited {done['returncode']}:\n{output[-6000:]}")
        if contender == "backfill":
            header = f"{DAYS} partitions {FIRST} .. {LAST}, {DAYS} to load"
            loaded = sum(1 for line in output.splitlines() if "  loaded  (run " in line)
            if header not in output or loaded != DAYS:
                raise BenchmarkError(f"backfill printed {loaded} loaded partitions:\n{output[-3000:]}")
        events = run_events(home, extra)
    table = check_table(root / DATABASE, expected, partitioned=contender == "backfill")
    verify(contender, table, events, expected.num_rows)
    planned = events["planned"] or 0.0
    outside = done["process"] - events["run_events"] - planned if events["run_events"] is not None else None
    return {**done, **events, "outside": outside, "requests": requests, "table": table, "root": str(root)}


FIGURES = (
    "process",
    "run_events",
    "step",
    "cpu",
    "peak_mb",
    "planned",
    "load",
    "materializations",
    "outside",
)


def summarize(runs: list[dict[str, Any]], records: int) -> dict[str, Any]:
    """Median, min and all values of each figure; rows per second of the medians."""
    out: dict[str, Any] = {}
    for figure in FIGURES:
        values = [r[figure] for r in runs if r.get(figure) is not None]
        out[figure] = {
            "median": round(statistics.median(values), 3) if values else None,
            "min": round(min(values), 3) if values else None,
            "all": [round(v, 3) for v in values],
        }
    for figure in ("process", "step"):
        median = out[figure]["median"]
        out[f"{figure}_rows_per_second"] = round(records / median) if median else None
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def benchmark(
    records: int,
    page_size: int,
    repeats: int,
    warm_up: bool,
    work: Path,
    keep: bool = False,
    instance: str = "sqlite",
) -> dict[str, Any]:
    """Serve the records, run both contenders ``repeats`` times (alternating), check every table."""
    machine = shared_machine_info(("dagster", "dlt", "dagster-dlt", "duckdb", "pyarrow", "orjson"))
    started = time.perf_counter()
    api = DatedApi(records)
    expected = expected_table(records)
    server = api.server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    print(
        f"serving {records:,} records at {base_url} (ready in {time.perf_counter() - started:.2f} s); "
        f"work dir {work}",
        file=sys.stderr,
    )
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    try:
        attempts = (["warm-up"] if warm_up else []) + [str(n) for n in range(1, repeats + 1)]
        for attempt in attempts:
            for contender in CONTENDERS:  # alternating, so a busy moment hits both
                figures = run_contender(
                    contender, work, base_url, page_size, attempt, api, expected, instance
                )
                print(
                    f"{attempt}/{repeats} {contender:<9} command {figures['process']:.2f} s, "
                    f"run {figures['run_events']:.2f} s, step {figures['step']:.2f} s, "
                    f"cpu {figures['cpu']:.2f} s, {figures['peak_mb']:.0f} MB, "
                    f"{figures['requests']} requests, {figures['table']['rows']:,} rows checked",
                    file=sys.stderr,
                )
                root = figures.pop("root")
                if not keep:
                    shutil.rmtree(root, ignore_errors=True)
                if attempt != "warm-up":
                    runs[contender].append(figures)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    columns = {c: [col for col in runs[c][0]["table"]["columns"] if col[0] != PARTITION_COLUMN] for c in runs}
    if columns["full_load"] != columns["backfill"]:
        raise BenchmarkError(
            f"different columns: full load {columns['full_load']}, backfill {columns['backfill']}"
        )
    summary = {c: summarize(runs[c], records) for c in CONTENDERS}
    ratio = {f: _ratio(summary["backfill"][f]["median"], summary["full_load"][f]["median"]) for f in FIGURES}
    targets = []
    for figure, what in (("process", "the whole command"), ("step", "the load step")):
        value = ratio[figure]
        targets.append(
            {
                "target": f"backfill {what} <= {TARGET_RATIO}x the full load's",
                "figure": figure,
                "value": value,
                "passed": value <= TARGET_RATIO if value is not None else None,
            }
        )
    return {
        "benchmark": "partition_backfill",
        "machine": {**machine, "load_average_end": load_average()},
        "records": records,
        "days": DAYS,
        "partitions": DAYS,
        "range": [FIRST, LAST],
        "page_size": page_size,
        "instance": instance,
        "instance_settings": PRODUCTION_SETTINGS if instance == "postgres" else {},
        "repeats": repeats,
        "warm_up": warm_up,
        "contenders": list(CONTENDERS),
        "commands": {c: " ".join(["dwh", *command_of(c, Path("yaml_defs"))[3:]]) for c in CONTENDERS},
        "figures": summary,
        "ratio": ratio,
        "targets": targets,
        "rows": records,
        "columns": columns["full_load"],
        "same_rows": True,  # every run's table equals the served records (verify), so A's equal B's
        "requests": {c: runs[c][0]["requests"] for c in CONTENDERS},
        "runs": {c: [{k: v for k, v in r.items() if k != "table"} for r in runs[c]] for c in CONTENDERS},
        "tables": {c: runs[c][0]["table"] for c in CONTENDERS},
    }


PHASES = {
    "outside": "process start, definitions, before the run",
    "planned": "run created: materialization planned events",
    "load": "step: dlt load (STEP_START -> STEP_OUTPUT)",
    "materializations": "step: materialization events",
}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(report: dict[str, Any]) -> str:
    """The figures as text tables, then the checks and the targets."""
    pages = f"pages of {report['page_size']:,}" if report["page_size"] else "one page"
    settings = " ".join(f"{k}={v}" for k, v in report["instance_settings"].items())
    lines = [
        f"partition_backfill: {report['records']:,} records over {report['days']} days, {pages}, "
        f"median of {report['repeats']}; {report['instance']} instance"
        + (f" ({settings})" if settings else ""),
        "",
    ]
    header = (
        f"{'contender':<42}{'command s':>10}{'rows/s':>10}{'run s':>8}{'step s':>8}"
        f"{'step rows/s':>12}{'cpu s':>8}{'peak MB':>9}"
    )
    lines += [header, "-" * len(header)]
    for contender in CONTENDERS:
        f = report["figures"][contender]
        lines.append(
            f"{LABELS[contender]:<42}{_fmt(f['process']['median']):>10}"
            f"{f['process_rows_per_second'] or 0:>10,}{_fmt(f['run_events']['median']):>8}"
            f"{_fmt(f['step']['median']):>8}{f['step_rows_per_second'] or 0:>12,}"
            f"{_fmt(f['cpu']['median']):>8}{_fmt(f['peak_mb']['median'], 0):>9}"
        )
    r = report["ratio"]
    lines.append(
        f"{'ratio B/A':<42}{_fmt(r['process'], 3):>10}{'':>10}{_fmt(r['run_events'], 3):>8}"
        f"{_fmt(r['step'], 3):>8}{'':>12}{_fmt(r['cpu'], 3):>8}{_fmt(r['peak_mb'], 3):>9}"
    )
    lines += ["", "where the time goes (medians, s):", f"{'':<42}{'A':>10}{'B':>10}{'B - A':>10}"]
    for figure, label in PHASES.items():
        a, b = (report["figures"][c][figure]["median"] for c in CONTENDERS)
        lines.append(
            f"{label:<42}{_fmt(a):>10}{_fmt(b):>10}{_fmt(None if a is None or b is None else b - a):>10}"
        )
    machine = report["machine"]
    lines += [
        "",
        *(f"{c}: {report['commands'][c]}  ({report['requests'][c]} requests)" for c in CONTENDERS),
        f"every run's table holds the {report['rows']:,} served records exactly once (all columns "
        f"compared), the backfill's with {report['partitions']} partition keys: {report['same_rows']}",
        f"{machine['cpu_count']} CPUs, load average {machine['load_average']} at start, "
        f"{machine['load_average_end']} at the end",
    ]
    for t in report["targets"]:
        state = {True: "PASS", False: "FAIL", None: "n/a "}[t["passed"]]
        lines.append(f"[{state}] {t['target']}: {_fmt(t['value'], 3)}x")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--records", type=int, default=RECORDS, help=f"records served, over {DAYS} days (default {RECORDS:,})"
    )
    parser.add_argument(
        "--page-size", type=int, default=PAGE_SIZE, help=f"records a page (default {PAGE_SIZE}; 0: one page)"
    )
    parser.add_argument(
        "--repeats", "--repeat", type=int, default=REPEATS, help=f"runs of each (median; default {REPEATS})"
    )
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="no warm-up run of each")
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_RECORDS:,} records, 1 repeat, no warm-up (for CI)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"JSON output (default: {DEFAULT_OUT}; partition_backfill_postgres.json with --instance "
        "postgres)",
    )
    parser.add_argument(
        "--instance",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the Dagster instance of both contenders: sqlite (dagster.yaml, local) or postgres "
        "(deploy/dagster.postgres.yaml on the local PostgreSQL, a fresh database per run, with the "
        "deployment's DAGSTER_EVENT_BATCH_SIZE)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = DEFAULT_OUT.with_name(
            f"partition_backfill{'_postgres' if args.instance == 'postgres' else ''}.json"
        )
    if args.smoke:
        args.records, args.repeats, args.warm_up = SMOKE_RECORDS, 1, False
    if args.repeats < 1 or args.records < DAYS or args.page_size < 0:
        parser.error(f"--repeats must be at least 1, --records at least {DAYS}, --page-size at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [LAUNCH] and argv[2:3] == ["--"]:
        return launch(Path(argv[1]), argv[3:])
    args = parse_args(argv)
    return run_in_work_folder(
        "dwh-partition-backfill-",
        args.keep,
        lambda work: benchmark(
            args.records, args.page_size, args.repeats, args.warm_up, work, args.keep, args.instance
        ),
        render,
        args.out,
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())

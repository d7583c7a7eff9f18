"""run_overhead: launch-to-success time of a one-pipeline dwh job next to a one-asset no-op Dagster job.

Both jobs run the way production runs them: a ``dagster-webserver`` and a ``dagster-daemon`` on one
DAGSTER_HOME (the repo's ``dagster.yaml``: run queue, run monitoring, ...; storage in a temp dir),
a workspace with two ``python_module`` code locations (``dwh_dagster.definitions`` over a generated
project with one filesystem -> DuckDB pipeline of 10 csv rows and one job over it, and
``benchmarks/floor_noop.py``), each run launched over GraphQL (``launchRun``), queued, dequeued by
the daemon and executed by a run worker of the code location's server.

For each job: one warm-up run, then ``--runs`` runs alternating ours / floor. A run's time is the
wall time from sending the mutation to seeing SUCCESS (polled every 0.1 s); the run record's
create -> end and start -> end and the events' phases (queue wait, worker start and code load,
step, ...) are recorded too. Target: median launch-to-success of ours <= 1.2 x the floor's.

    uv run python benchmarks/run_overhead.py [--runs N] [--smoke] [--out PATH]

Everything listens on 127.0.0.1 only; every process runs in its own process group and the whole
group is stopped on exit, also on error or Ctrl-C; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

from dwh_dagster_tests.processes import free_port, running, tail

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "results" / "run_overhead.json"
HOST = "127.0.0.1"
REPOSITORY = "__repository__"
LOCAL_STORAGE_KEYS = ("storage", "local_artifact_storage", "compute_logs")

OURS = {"label": "dwh", "location": "dwh_dagster", "job": "bench_job"}
FLOOR = {"label": "floor", "location": "floor_noop", "job": "noop_job"}
TARGET_RATIO = 1.2
CSV_ROWS = 10

POLL_SECONDS = 0.1
START_TIMEOUT = 180  # webserver answering, both code locations loaded, daemon healthy
HTTP_TIMEOUT = 30

# the run worker's engine event once its process runs (before it loads the code location)
WORKER_STARTED = "WORKER_STARTED"
WORKER_STARTED_MESSAGE = "Started process for run"
# first occurrence of each, in the order a run goes through them
PHASE_EVENTS = (
    "RUN_ENQUEUED",
    "RUN_STARTING",
    WORKER_STARTED,
    "RUN_START",
    "STEP_WORKER_STARTING",
    "STEP_WORKER_STARTED",
    "STEP_START",
    "STEP_SUCCESS",
    "RUN_SUCCESS",
)

LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on Error { message } }
}
"""

RUN_RECORD = """
query Record($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status creationTime startTime endTime }
    ... on Error { message }
  }
}
"""

RUN_EVENTS = """
query Events($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { eventType timestamp stepKey level message }
        ... on ErrorEvent { error { message stack } }
      }
    }
    ... on PythonError { message }
    ... on RunNotFoundError { message }
  }
}
"""

WORKSPACE = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
    ... on PythonError { message }
  }
}
"""

DAEMON_HEALTH = """
query { instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }
"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class BenchmarkError(Exception):
    """The benchmark could not measure: a server did not come up, a run failed or timed out."""


# --- the temp setup -------------------------------------------------------------------------------


def instance_settings_yaml() -> str:
    """The repo's dagster.yaml without its ``.dagster_home/`` storage: storage stays in DAGSTER_HOME."""
    import yaml

    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    return str(yaml.safe_dump({k: v for k, v in settings.items() if k not in LOCAL_STORAGE_KEYS}))


def write_project(project_root: Path, mode: str | None) -> Path:
    """A dwh project with one csv -> DuckDB pipeline and one job over it; returns its defs dir."""
    drop = project_root / "drop"
    drop.mkdir(parents=True)
    lines = ["id,name,amount"] + [f"{i},item {i},{i * 1.5}" for i in range(1, CSV_ROWS + 1)]
    (drop / "items_1.csv").write_text("\n".join(lines) + "\n")
    execution = f"\n              execution: {{mode: {mode}}}" if mode else ""
    files = {
        "sources/bench_files.yaml": """
            source:
              name: bench_files
              type: filesystem
              connection: {bucket_url: drop}
              resources:
                - {name: items, file_glob: "items*.csv", format: csv, write_disposition: replace}
        """,
        "destinations/bench_duckdb.yaml": """
            destination: {name: bench_duckdb, type: duckdb, connection: {database: warehouse.duckdb}}
        """,
        "pipelines/bench_load.yaml": """
            pipeline:
              name: bench_load
              source: {config_file: bench_files, resources: [items]}
              destination: {config_file: bench_duckdb, dataset_name: bench}
        """,
        "jobs/bench_job.yaml": f"""
            job:
              name: bench_job
              pipelines: [{{name: bench_load}}]{execution}
        """,
    }
    defs = project_root / "yaml_defs"
    for rel, text in files.items():
        target = defs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    return defs


def write_workspace(path: Path) -> None:
    path.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: dwh_dagster.definitions\n"
        f"      location_name: {OURS['location']}\n"
        "  - python_module:\n"
        "      module_name: floor_noop\n"
        f"      working_directory: {BENCH_DIR}\n"
        f"      location_name: {FLOOR['location']}\n"
    )


def process_env(dagster_home: Path, defs_dir: Path) -> dict[str, str]:
    """The caller's environment without secrets, ENVIRONMENT, DWH_* or DAGSTER_* settings, plus ours.

    The webserver and the daemon pass it on to their code servers, and those to their run workers.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_DEV", "_STAGE", "_PROD"))
        and "SECRET" not in k
        and k != "ENVIRONMENT"
        and not k.startswith(("DWH_", "DAGSTER_"))
    }
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "DWH_DEFS_DIR": str(defs_dir),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
    )
    return env


# --- processes ------------------------------------------------------------------------------------


class Servers:
    """The webserver and daemon processes with their logs, to check on while waiting."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def check_alive(self, what: str) -> None:
        for name, (process, log) in self.processes.items():
            if process.poll() is not None:
                raise BenchmarkError(f"{name} exited ({process.returncode}) while {what}:\n{tail(log)}")

    def logs(self) -> str:
        return "\n".join(f"--- {name}:\n{tail(log)}" for name, (_, log) in self.processes.items())

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str, interval: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_alive(f"waiting for {what}")
            if time.monotonic() > deadline:
                raise BenchmarkError(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")
            time.sleep(interval)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://{HOST}:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise BenchmarkError(f"GraphQL errors: {json.dumps(answer['errors'])[:3000]}")
        data: dict[str, Any] = answer["data"]
        return data


def init_storage(env: dict[str, str], cwd: Path) -> None:
    """Create the instance's storage first: a webserver and a daemon starting on a fresh DAGSTER_HOME
    at once may both create its SQLite tables and one of them then fails ("table ... already exists").
    """
    command = [sys.executable, "-m", "dagster", "instance", "migrate"]
    try:
        done = subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=START_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"'dagster instance migrate' did not finish in {START_TIMEOUT} s") from exc
    if done.returncode != 0:
        raise BenchmarkError(f"'dagster instance migrate' failed:\n{(done.stdout + done.stderr)[-3000:]}")


def webserver_answers(servers: Servers) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{servers.port}/server_info", timeout=5) as response:
            json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return True


def locations_loaded(servers: Servers) -> bool:
    """True when both code locations loaded; raises when one failed to load."""
    workspace = servers.graphql(WORKSPACE)["workspaceOrError"]
    if workspace["__typename"] != "Workspace":
        raise BenchmarkError(f"workspace: {workspace}")
    entries = {e["name"]: e for e in workspace["locationEntries"]}
    for name in (OURS["location"], FLOOR["location"]):
        entry = entries.get(name)
        if entry is None or entry["loadStatus"] != "LOADED" or entry["locationOrLoadError"] is None:
            return False
        loaded = entry["locationOrLoadError"]
        if loaded["__typename"] == "PythonError":
            raise BenchmarkError(
                f"code location {name} failed to load:\n{loaded['message']}{loaded['stack']}"
            )
    return True


def daemon_healthy(servers: Servers) -> bool:
    statuses = servers.graphql(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return any(s["daemonType"] == "QUEUED_RUN_COORDINATOR" and s["healthy"] for s in statuses)


# --- one run --------------------------------------------------------------------------------------


def run_events(servers: Servers, run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):  # pages; a run here has a few dozen events
        page = servers.graphql(RUN_EVENTS, {"runId": run_id, "after": cursor})["logsForRun"]
        if page["__typename"] != "EventConnection":
            raise BenchmarkError(f"events of run {run_id}: {page}")
        events.extend(page["events"])
        cursor = page["cursor"]
        if not page["hasMore"]:
            break
    return events


def failure_report(events: list[dict[str, Any]]) -> str:
    lines = []
    for event in events:
        if event.get("level") in ("ERROR", "CRITICAL") or event.get("error"):
            lines.append(f"[{event.get('eventType')}] {event.get('message')}")
            error = event.get("error")
            if error:
                lines.append(error["message"] + "".join(error.get("stack") or []))
    return "\n".join(lines) or "(no error events)"


def span_between(first: dict[str, float], start: str | float, end: str | float) -> float | None:
    """Seconds from ``start`` to ``end`` (event names or timestamps); None when an event is missing."""
    a = first.get(start) if isinstance(start, str) else start
    b = first.get(end) if isinstance(end, str) else end
    return None if a is None or b is None else round(b - a, 4)


def phases(first: dict[str, float], launched_at: float, seen_at: float) -> dict[str, float | None]:
    """Seconds between the run's events (None when an event is missing, e.g. no step worker)."""

    def span(start: str | float, end: str | float) -> float | None:
        return span_between(first, start, end)

    return {
        "submit": span(launched_at, "RUN_ENQUEUED"),  # launchRun handled, run stored as queued
        "queue_wait": span("RUN_ENQUEUED", "RUN_STARTING"),  # until the daemon's next dequeue pass
        "worker_process_start": span("RUN_STARTING", WORKER_STARTED),  # run worker up, dagster imported
        "code_load": span(WORKER_STARTED, "RUN_START"),  # code location imported, run set up
        "run_start_to_step": span("RUN_START", "STEP_START"),  # executor (+ step process if multiprocess)
        "step_process_start": span("STEP_WORKER_STARTING", "STEP_START"),  # multiprocess only
        "step": span("STEP_START", "STEP_SUCCESS"),
        "step_to_run_success": span("STEP_SUCCESS", "RUN_SUCCESS"),
        "seen": span("RUN_SUCCESS", seen_at),  # until the poll saw SUCCESS
    }


def measure_run(servers: Servers, spec: dict[str, str], timeout: float) -> dict[str, Any]:
    """Launch ``spec``'s job, wait for SUCCESS and return its timings; raise on failure or timeout."""
    selector = {
        "repositoryLocationName": spec["location"],
        "repositoryName": REPOSITORY,
        "jobName": spec["job"],
    }
    launched_at = time.time()
    started = time.monotonic()
    launch = servers.graphql(LAUNCH_RUN, {"executionParams": {"selector": selector}})["launchRun"]
    if launch["__typename"] != "LaunchRunSuccess":
        raise BenchmarkError(f"launching {spec['job']} failed: {json.dumps(launch)[:3000]}")
    run_id = launch["run"]["runId"]
    deadline = started + timeout
    while True:
        status = servers.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        if status.get("status") in FINISHED:
            break
        servers.check_alive(f"run {run_id} of {spec['job']} was running")
        if time.monotonic() > deadline:
            raise BenchmarkError(f"run {run_id} of {spec['job']} not finished after {timeout:g} s")
        time.sleep(POLL_SECONDS)
    wall = time.monotonic() - started
    seen_at = time.time()
    events = run_events(servers, run_id)
    if status["status"] != "SUCCESS":
        raise BenchmarkError(
            f"run {run_id} of {spec['job']} ended {status['status']}:\n{failure_report(events)}"
        )
    record = servers.graphql(RUN_RECORD, {"runId": run_id})["runOrError"]
    first: dict[str, float] = {}
    for event in events:
        kind = event.get("eventType")
        if kind == "ENGINE_EVENT" and (event.get("message") or "").startswith(WORKER_STARTED_MESSAGE):
            kind = WORKER_STARTED
        if kind in PHASE_EVENTS and kind not in first:
            first[kind] = int(event["timestamp"]) / 1000
    create, start, end = record["creationTime"], record["startTime"], record["endTime"]
    spans = phases(first, launched_at, seen_at)
    return {
        "run_id": run_id,
        "launch_to_success": round(wall, 4),
        "create_to_end": round(end - create, 4) if end else None,
        "start_to_end": round(end - start, 4) if end and start else None,
        "starting_to_success": span_between(first, "RUN_STARTING", "RUN_SUCCESS"),
        "step": spans["step"],
        "phases": spans,
        "events_since_launch": {kind: round(ts - launched_at, 4) for kind, ts in first.items()},
    }


# --- summary --------------------------------------------------------------------------------------

FIGURES = ("launch_to_success", "create_to_end", "start_to_end", "starting_to_success", "step")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(runs)}
    for figure in FIGURES:
        values = [r[figure] for r in runs if r[figure] is not None]
        out[figure] = {
            "median": round(statistics.median(values), 4) if values else None,
            "min": round(min(values), 4) if values else None,
        }
    names = runs[0]["phases"].keys() if runs else ()
    medians = {}
    for name in names:
        values = [r["phases"][name] for r in runs if r["phases"][name] is not None]
        medians[name] = round(statistics.median(values), 4) if values else None
    out["phase_medians"] = medians
    return out


def ratio(ours: dict[str, Any], floor: dict[str, Any], figure: str) -> float | None:
    a, b = ours[figure]["median"], floor[figure]["median"]
    return round(a / b, 3) if a is not None and b else None


def machine_info() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("dagster", "dagster-webserver", "dagster-graphql", "dagster-dlt", "dlt", "duckdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


COLUMNS = (
    ("launch_to_success", "median", "l2s med"),
    ("launch_to_success", "min", "l2s min"),
    ("starting_to_success", "median", "x-queue"),
    ("create_to_end", "median", "c2e med"),
    ("start_to_end", "median", "s2e med"),
    ("step", "median", "step med"),
)


def print_table(result: dict[str, Any]) -> None:
    jobs = result["jobs"]
    header = f"{'job':<20}{'runs':>5}" + "".join(f"{title:>10}" for _, _, title in COLUMNS)
    print()
    print(header)
    print("-" * len(header))
    for key, spec in (("ours", OURS), ("floor", FLOOR)):
        figures = jobs[key]
        name = f"{spec['label']} ({spec['job']})"
        print(f"{name:<20}{figures['runs']:>5}" + "".join(f"{fmt(figures[f][s]):>10}" for f, s, _ in COLUMNS))
    print(
        "(seconds; l2s: launch to SUCCESS seen, x-queue: RUN_STARTING -> RUN_SUCCESS (no queue wait),\n"
        " c2e / s2e: run record created / started -> ended, step: STEP_START -> STEP_SUCCESS)"
    )
    print()
    print(f"{'phase medians (s)':<24}{'ours':>10}{'floor':>10}")
    for phase, value in jobs["ours"]["phase_medians"].items():
        print(f"{phase:<24}{fmt(value):>10}{fmt(jobs['floor']['phase_medians'][phase]):>10}")
    print()
    ratios = result["ratio"]
    verdict = "met" if result["target_met"] else "NOT met"
    print(
        f"ratio ours/floor, median launch-to-success: {fmt(ratios['launch_to_success'])} "
        f"(target <= {TARGET_RATIO}: {verdict})"
    )
    print(f"ratio ours/floor, median without queue wait: {fmt(ratios['starting_to_success'])}")
    machine = result["machine"]
    print(
        f"load average: {machine['loadavg_at_start']} -> {machine['loadavg_at_end']} "
        f"({machine['cpu_count']} cpus)"
    )


# --- main -----------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_settings_yaml())
    defs_dir = write_project(work / "project", args.mode)
    workspace = work / "workspace.yaml"
    write_workspace(workspace)
    env = process_env(home, defs_dir)
    port = free_port()
    servers = Servers(port)
    web = [sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", HOST, "-p", str(port)]
    daemon = [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)]
    logs = {name: work / f"{name}.log" for name in ("webserver", "daemon")}
    info = machine_info()
    t0 = time.monotonic()
    init_storage(env, work)
    with ExitStack() as stack:
        servers.processes["webserver"] = (
            stack.enter_context(running(web, env, logs["webserver"], cwd=work)),
            logs["webserver"],
        )
        servers.processes["daemon"] = (
            stack.enter_context(running(daemon, env, logs["daemon"], cwd=work, stop_signal=signal.SIGINT)),
            logs["daemon"],
        )
        servers.wait_for(lambda: webserver_answers(servers), args.start_timeout, "the webserver", 0.5)
        servers.wait_for(lambda: locations_loaded(servers), args.start_timeout, "both code locations", 0.5)
        servers.wait_for(lambda: daemon_healthy(servers), args.start_timeout, "the daemon", 0.5)
        print(f"servers up in {time.monotonic() - t0:.1f} s (webserver on {HOST}:{port}); workdir {work}")

        for spec in (OURS, FLOOR):
            warm = measure_run(servers, spec, args.run_timeout)
            print(f"warm-up {spec['label']:<6} {warm['launch_to_success']:.3f} s  (run {warm['run_id']})")
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": []}
        for i in range(args.runs):
            for key, spec in (("ours", OURS), ("floor", FLOOR)):
                run = measure_run(servers, spec, args.run_timeout)
                runs[key].append(run)
                phase = run["phases"]
                print(
                    f"run {i + 1}/{args.runs} {spec['label']:<6} {run['launch_to_success']:.3f} s "
                    f"(queue {fmt(phase['queue_wait'])}, worker {fmt(phase['worker_process_start'])}, "
                    f"load {fmt(phase['code_load'])}, "
                    f"step {fmt(phase['step'])})"
                )
    summary = {key: summarize(value) for key, value in runs.items()}
    ratios = {figure: ratio(summary["ours"], summary["floor"], figure) for figure in FIGURES}
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "benchmark": "run_overhead",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "settings": {
            "runs": args.runs,
            "smoke": args.smoke,
            "poll_seconds": POLL_SECONDS,
            "csv_rows": CSV_ROWS,
            "ours": {**OURS, "execution_mode": args.mode or "default (sequential)"},
            "floor": {**FLOOR, "module": "benchmarks/floor_noop.py"},
            "instance": "repo dagster.yaml (run queue, run monitoring, ...), storage in a temp DAGSTER_HOME",
        },
        "jobs": summary,
        "ratio": ratios,
        "target": {"ratio_max": TARGET_RATIO, "figure": "launch_to_success median"},
        "target_met": ratios["launch_to_success"] is not None and ratios["launch_to_success"] <= TARGET_RATIO,
        "runs": runs,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each job (default 5)")
    parser.add_argument("--smoke", action="store_true", help="one measured run of each job (CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON result (default {DEFAULT_OUT})")
    parser.add_argument(
        "--mode",
        choices=("sequential", "parallel", "dag"),
        help="execution mode of the dwh job (default: none in the job file, i.e. sequential)",
    )
    parser.add_argument("--run-timeout", type=float, default=180, help="seconds per run (default 180)")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT, help="seconds for the servers")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, storage)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs = 1
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # stop the servers on `kill` too, and on Ctrl-C even when started with SIGINT ignored (`cmd &`)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    work = Path(tempfile.mkdtemp(prefix="dwh-run-overhead-"))
    try:
        result = benchmark(args, work)
    except (BenchmarkError, OSError) as exc:  # OSError: the webserver stopped answering
        print(f"run_overhead failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run_overhead interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

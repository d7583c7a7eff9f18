"""A deployment as in production: code server, webserver and daemon, each its own process.

``dagster api grpc`` serves ``dwh_dagster.definitions`` for a small filesystem -> DuckDB project;
``dagster-webserver`` and ``dagster-daemon`` load it through a workspace that points at that gRPC
server. A run launched through the webserver's GraphQL API is queued (the instance's default
QueuedRunCoordinator), dequeued by the daemon, executed by a run worker of the code server and
loads the rows into DuckDB. The asset graph the webserver shows comes from the same server.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject, drop_project_files, duckdb_rows
from dwh_dagster_tests.deployment.support import (
    answers,
    clean_env,
    daemon_command,
    grpc_healthy,
    grpc_server_command,
    http_json,
)
from dwh_dagster_tests.processes import HOST, free_port, running, tail, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

LOCATION = "dwh"
REPOSITORY = "__repository__"
START_TIMEOUT = 90  # seconds for each server to answer
LOAD_TIMEOUT = 60  # seconds for the webserver to show the code location
RUN_TIMEOUT = 180  # seconds from launch to a finished run

PROJECT = {
    **drop_project_files({"t_events": "events*.jsonl"}),
    "jobs/load_events_job.yaml": """
        job:
          name: load_events_job
          description: loads the dropped events
          pipelines: [{name: load_events}]
    """,
}

LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status jobName } }
    ... on Error { message }
    ... on PythonError { stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status jobName tags { key value } }
    ... on Error { message }
  }
}
"""

ASSET_NODES = """
query {
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    isMaterializable
    groupName
    jobNames
    repository { name location { name } }
  }
}
"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = http_json(f"http://{HOST}:{port}/graphql", {"query": query, "variables": variables or {}})
    assert not answer.get("errors"), json.dumps(answer["errors"], indent=1)[:3000]
    data: dict[str, Any] = answer["data"]
    return data


def write_events(drop: Path) -> None:
    drop.mkdir(parents=True, exist_ok=True)
    with (drop / "events_1.jsonl").open("w") as out:
        for i in range(7):
            out.write(json.dumps({"id": i, "kind": "click" if i % 2 else "view", "payload": {"n": i}}) + "\n")


def test_run_launched_through_webserver_graphql_loads_duckdb(
    write_project: WriteProject, tmp_path: Path
) -> None:
    defs_dir = write_project(PROJECT)
    write_events(defs_dir.parent / "drop")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = clean_env(home, DWH_DEFS_DIR=str(defs_dir))

    grpc_port, web_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - grpc_server:\n"
        f"      host: {HOST}\n"
        f"      port: {grpc_port}\n"
        f"      location_name: {LOCATION}\n"
    )
    web_command = [sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", HOST]
    web_command += ["-p", str(web_port)]
    logs = {name: tmp_path / f"{name}.log" for name in ("grpc", "webserver", "daemon")}

    with running(grpc_server_command(grpc_port), env, logs["grpc"]) as grpc:
        processes = {"code server": (grpc, logs["grpc"])}
        wait_for(lambda: grpc_healthy(grpc_port), START_TIMEOUT, "the code server", processes)
        with (
            running(web_command, env, logs["webserver"]) as web,
            running(daemon_command(workspace), env, logs["daemon"], stop_signal=signal.SIGINT) as daemon,
        ):
            processes |= {"webserver": (web, logs["webserver"]), "daemon": (daemon, logs["daemon"])}
            server_info = f"http://{HOST}:{web_port}/server_info"
            wait_for(lambda: answers(server_info), START_TIMEOUT, "the webserver", processes)
            assert "dagster_webserver_version" in http_json(server_info)

            # the code location as the webserver shows it
            nodes: list[dict[str, Any]] = []

            def asset_nodes_loaded() -> bool:
                nodes[:] = graphql(web_port, ASSET_NODES)["assetNodes"]
                return bool(nodes)

            wait_for(asset_nodes_loaded, LOAD_TIMEOUT, "the asset nodes of the code location", processes)
            by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
            assert set(by_key) == {"ds_events/t_events", "sources/drop"}
            table, source = by_key["ds_events/t_events"], by_key["sources/drop"]
            assert table["dependencyKeys"] == [{"path": ["sources", "drop"]}]
            assert table["isMaterializable"] and not source["isMaterializable"]
            assert table["groupName"] == "load_events"
            assert "load_events_job" in table["jobNames"]
            assert source["dependencyKeys"] == []
            assert table["repository"] == {"name": REPOSITORY, "location": {"name": LOCATION}}

            # launch through GraphQL: queued, dequeued by the daemon, run by the code server
            selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
            launch = graphql(
                web_port,
                LAUNCH_RUN,
                {"executionParams": {"selector": {**selector, "jobName": "load_events_job"}}},
            )["launchRun"]
            assert launch["__typename"] == "LaunchRunSuccess", launch
            run_id = launch["run"]["runId"]
            assert launch["run"]["jobName"] == "load_events_job"
            assert launch["run"]["status"] == "QUEUED"  # the daemon's run queue starts it

            status: dict[str, Any] = {}

            def run_finished() -> bool:
                status.update(graphql(web_port, RUN_STATUS, {"runId": run_id})["runOrError"])
                return status.get("status") in FINISHED

            wait_for(run_finished, RUN_TIMEOUT, f"run {run_id} to finish", processes, interval=2)
            assert status["__typename"] == "Run"
            assert status["status"] == "SUCCESS", f"run {run_id}: {status}\n{tail(logs['grpc'])}"
            assert status["jobName"] == "load_events_job"

    rows = duckdb_rows(tmp_path / "wh.duckdb", "SELECT id, kind FROM ds_events.t_events ORDER BY id")
    assert rows == [(i, "click" if i % 2 else "view") for i in range(7)]
    nested = duckdb_rows(tmp_path / "wh.duckdb", "SELECT payload__n FROM ds_events.t_events ORDER BY id")
    assert nested == [(i,) for i in range(7)]

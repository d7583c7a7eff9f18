"""The UI's Backfill dialog, end to end: the webserver's GraphQL ``launchPartitionBackfill`` (what
the dialog sends) for a range of days of a partitioned pipeline and the partitioned model over it;
the real ``dagster-daemon`` runs the backfill as one run (``backfill: single_run``), which loads
and builds exactly those days."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster_tests.automation.test_daemon import daemon_command
from dwh_dagster_tests.conftest import WriteProject, duckdb_rows
from dwh_dagster_tests.deployment.support import answers, clean_env, module_workspace
from dwh_dagster_tests.deployment.test_grpc_webserver import graphql
from dwh_dagster_tests.partitions.support import (
    DatedApi,
    daily_amounts_rows,
    day_keys,
    expected_daily_amounts,
    expected_rows,
    table_rows,
    write_models_project,
)
from dwh_dagster_tests.processes import HOST, free_port, running, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

START_TIMEOUT = 90  # seconds for the webserver to answer and show the code location
BACKFILL_TIMEOUT = 240  # seconds from launch to the finished run

LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionKeysNotFoundError { message }
  }
}
"""

BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""

ASSET_PARTITIONS = """
query {
  assetNodes { assetKey { path } partitionKeys }
}
"""


def test_a_backfill_from_the_ui_loads_and_builds_the_range_in_one_run(
    write_project: WriteProject, server: HTTPServer, api: DatedApi, dagster_home: Path, tmp_path: Path
) -> None:
    defs_dir = write_models_project(write_project, server)
    days = day_keys("2024-01-03", 10)
    workspace = module_workspace(tmp_path / "workspace.yaml")
    env = clean_env(dagster_home, DWH_DEFS_DIR=str(defs_dir))
    port = free_port()
    web_command = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-w",
        str(workspace),
        "-h",
        HOST,
        "-p",
        str(port),
    ]
    logs = {name: tmp_path / f"{name}.log" for name in ("webserver", "daemon")}
    keys = [["api", "events"], ["marts", "daily_amounts"]]

    with (
        running(web_command, env, logs["webserver"]) as web,
        running(daemon_command(workspace), env, logs["daemon"], stop_signal=signal.SIGINT) as daemon,
    ):
        processes = {"webserver": (web, logs["webserver"]), "daemon": (daemon, logs["daemon"])}
        wait_for(
            lambda: answers(f"http://{HOST}:{port}/server_info"), START_TIMEOUT, "the webserver", processes
        )

        nodes: dict[tuple[str, ...], list[str]] = {}

        def partitions_shown() -> bool:
            data = graphql(port, ASSET_PARTITIONS)
            nodes.update({tuple(n["assetKey"]["path"]): n["partitionKeys"] for n in data["assetNodes"]})
            return all(tuple(k) in nodes for k in keys)

        wait_for(partitions_shown, START_TIMEOUT, "the partitioned assets in the UI", processes)
        assert nodes[("marts", "daily_amounts")][:2] == ["2024-01-01", "2024-01-02"]

        params: dict[str, Any] = {
            "partitionNames": days,
            "assetSelection": [{"path": k} for k in keys],
            "fromFailure": False,
            "title": "reload ten days",
        }
        launched = graphql(port, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def backfill_runs() -> list[dg.DagsterRun]:
            with dg.DagsterInstance.get() as instance:
                return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})))

        def finished() -> bool:
            runs = backfill_runs()
            failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
            assert not failed, logs["daemon"].read_text()[-3000:]
            status = graphql(port, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            done = status.get("status") == "COMPLETED_SUCCESS"
            return done and bool(runs) and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)

        wait_for(finished, BACKFILL_TIMEOUT, "the backfill's runs", processes)

    runs = backfill_runs()
    assert len(runs) == 1  # single_run: the whole range in one run
    assert runs[0].tags["dagster/asset_partition_range_start"] == days[0]
    assert runs[0].tags["dagster/asset_partition_range_end"] == days[-1]
    assert table_rows(defs_dir) == expected_rows(api, days)
    assert daily_amounts_rows(defs_dir) == expected_daily_amounts(api, days)
    assert duckdb_rows(defs_dir.parent / "wh.duckdb", "select count(*) from marts.daily_amounts") == [(10,)]

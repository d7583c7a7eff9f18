"""Under the real ``dagster-daemon``, a table past its ``fail_after`` turns stale and its job's
failure channel gets exactly one message.

A real run loads the table; then the daemon (its freshness daemon every 2 s, the stale-table
sensor every 2 s) runs on the same DAGSTER_HOME. ``fail_after: 1m`` is Dagster's smallest window,
so the table turns stale a minute after the load; the test then watches several more ticks to
see that the breach is not reported again.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState
from pytest_httpserver import HTTPServer

from dwh_dagster.notifications.stale import INTERVAL_VAR
from dwh_dagster_tests.automation.test_daemon import clean_env, daemon_command
from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.deployment.support import module_workspace
from dwh_dagster_tests.notifications.conftest import json_posts, url_of
from dwh_dagster_tests.processes import running, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

HOOK = "/stale"
KEY = dg.AssetKey(["ds_events", "events"])
STALE_TIMEOUT = 150  # seconds: the 1-minute window, then the daemon's and the sensor's ticks
QUIET_TICKS = 10  # seconds after the message in which no second one may come (5 sensor ticks)


def test_a_table_turns_stale_under_the_daemon_and_is_reported_once(
    write_project: WriteProject, server: HTTPServer, run_job: RunJob, dagster_home: Path, tmp_path: Path
) -> None:
    server.expect_request(HOOK, method="POST").respond_with_data("ok")
    defs_dir = write_project(
        {
            "sources/drop.yaml": """
                source:
                  name: drop
                  type: filesystem
                  connection: {bucket_url: drop}
                  resources:
                    - {name: events, file_glob: "events.jsonl", format: jsonl}
            """,
            "destinations/wh.yaml": (
                "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n"
            ),
            "pipelines/load_events.yaml": """
                pipeline:
                  name: load_events
                  source: {config_file: drop}
                  destination: {config_file: wh, dataset_name: ds_events}
                  freshness: {fail_after: 1m}
            """,
            "channels/hook.yaml": f'channel: {{name: hook, type: webhook, url: "{url_of(server, HOOK)}"}}\n',
            "jobs/hourly.yaml": """
                job:
                  name: hourly
                  pipelines: [{name: load_events}]
                  notifications: {on_failure: true, channels: [hook]}
            """,
        }
    )
    (defs_dir.parent / "drop").mkdir()
    (defs_dir.parent / "drop" / "events.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    result = run_job(defs_dir, "hourly")
    assert result.success
    loaded_at = time.time()

    workspace = module_workspace(tmp_path / "workspace.yaml")
    env = clean_env(dagster_home, defs_dir)
    env.update({"FRESHNESS_DAEMON_INTERVAL_SECONDS": "2", INTERVAL_VAR: "2"})
    log = tmp_path / "daemon.log"
    with running(daemon_command(workspace), env, log, stop_signal=signal.SIGINT) as daemon:
        wait_for(
            lambda: len(json_posts(server, HOOK)) >= 1,
            STALE_TIMEOUT,
            "a 'stale table' message",
            {"the daemon": (daemon, log)},
        )
        reported_at = time.time()
        time.sleep(QUIET_TICKS)
        assert daemon.poll() is None, log.read_text()[-3000:]

    [message] = json_posts(server, HOOK)  # one breach, one message
    assert reported_at - loaded_at >= 60  # not before the window ran out
    assert message["status"] == "STALE"
    assert message["title"] == "[dev] table ds_events/events is stale (job hourly)"
    [stale] = message["stale_tables"]
    assert stale["asset"] == "ds_events/events"
    assert stale["fail_after"] == "1m"
    assert stale["last_run_id"] == result.run_id
    assert 60 <= stale["age_seconds"] < STALE_TIMEOUT + 30

    with dg.DagsterInstance.get() as instance:
        record = instance.get_freshness_state_records([KEY])[KEY]
        assert record.freshness_state == FreshnessState.FAIL  # what the UI shows
        assert record.updated_at.timestamp() >= loaded_at + 60

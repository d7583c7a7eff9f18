"""``freshness:``: Dagster freshness policies on the tables, and one 'stale table' message per breach.

The policies are read from the built definitions. The stale-table sensor is evaluated on a real
instance after a real run, against freshness state records written the way Dagster's freshness
daemon writes them, and messages go to a real HTTP server on 127.0.0.1. The test under the real
``dagster-daemon`` is in ``test_freshness_daemon.py``.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from pytest_httpserver import HTTPServer

from dwh_dagster.config.loader import load_project
from dwh_dagster.config.models.freshness import duration_seconds
from dwh_dagster.config.naming import STALE_TABLE_SENSOR
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import RunJob, WriteProject, drop_project_files
from dwh_dagster_tests.notifications.conftest import json_posts, url_of

HOOK = "/stale"
ORDERS = dg.AssetKey(["ds_orders", "t_orders"])
ITEMS = dg.AssetKey(["ds_orders", "t_items"])
CUSTOMERS = dg.AssetKey(["ds_customers", "t_customers"])
REVENUE = dg.AssetKey(["analytics", "revenue"])


def write_fresh_project(write_project: WriteProject, server: HTTPServer | None) -> Path:
    """Orders and items (per-table freshness), customers (pipeline-wide), a SQL model over orders;
    ``nightly`` loads and builds all of them and notifies ``hook`` on failure; ``quiet`` has none."""
    files = drop_project_files({"t_orders": "orders.jsonl", "t_customers": "customers.jsonl"})
    files["sources/drop.yaml"] = files["sources/drop.yaml"].replace(
        "                - {name: t_customers",
        '                - {name: t_items, file_glob: "items.jsonl", format: jsonl}\n'
        "                - {name: t_customers",
    )
    files["pipelines/load_orders.yaml"] = """
        pipeline:
          name: load_orders
          source: {config_file: drop, resources: [t_orders, t_items]}
          destination: {config_file: wh, dataset_name: ds_orders}
          freshness:
            t_orders: {warn_after: 2h, fail_after: 6h}
            t_items: {fail_after: 1d}
    """
    files["pipelines/load_customers.yaml"] = """
        pipeline:
          name: load_customers
          source: {config_file: drop, resources: [t_customers]}
          destination: {config_file: wh, dataset_name: ds_customers}
          freshness: {fail_after: 90m}
    """
    files["transformations/revenue.yaml"] = """
        transformation:
          name: revenue
          destination: wh
          dataset_name: analytics
          sql: select count(*) as orders from ds_orders.t_orders
          freshness: {warn_after: 1h, fail_after: 2h}
    """
    files["jobs/quiet.yaml"] = "job: {name: quiet, pipelines: [{name: load_customers}]}\n"
    if server is not None:
        files["channels/hook.yaml"] = f"""
            channel: {{name: hook, type: webhook, url: "{url_of(server, HOOK)}"}}
        """
        files["jobs/nightly.yaml"] = """
            job:
              name: nightly
              pipelines: [{name: load_orders}, {name: load_customers}]
              transformations: [{name: revenue}]
              notifications: {on_failure: true, channels: [hook]}
        """
    defs_dir = write_project(files)
    drop = defs_dir.parent / "drop"
    drop.mkdir()
    for name in ("orders", "items", "customers"):
        (drop / f"{name}.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(3)))
    return defs_dir


def _policies(defs: dg.Definitions) -> dict[dg.AssetKey, Any]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get(key).freshness_policy for key in graph.get_all_asset_keys()}


def test_freshness_becomes_the_time_window_policy_of_each_table(
    write_project: WriteProject, server: HTTPServer
) -> None:
    defs = build_definitions(load_project(write_fresh_project(write_project, server)))
    policies = _policies(defs)

    assert policies[ORDERS] == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=6), warn_window=timedelta(hours=2)
    )
    assert policies[ITEMS] == dg.FreshnessPolicy.time_window(fail_window=timedelta(days=1))
    assert policies[CUSTOMERS] == dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=90))
    assert policies[REVENUE] == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=2), warn_window=timedelta(hours=1)
    )
    sensor = defs.get_repository_def().get_sensor_def(STALE_TABLE_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_no_stale_table_sensor_when_no_job_would_be_told(write_project: WriteProject) -> None:
    defs = build_definitions(load_project(write_fresh_project(write_project, None)))
    assert _policies(defs)[CUSTOMERS] is not None
    assert STALE_TABLE_SENSOR not in {s.name for s in defs.get_repository_def().sensor_defs}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), ("1w", 604800)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def _record_state(instance: dg.DagsterInstance, key: dg.AssetKey, previous: str, new: str) -> None:
    """What Dagster's freshness daemon writes when a table's freshness state changes."""
    instance._report_runless_asset_event(  # the daemon records a change this way
        FreshnessStateChange(
            key=key,
            previous_state=FreshnessState(previous),
            new_state=FreshnessState(new),
            state_change_timestamp=time.time(),
        )
    )


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> tuple[str, str]:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    outcome = sensor(context)
    assert isinstance(outcome, dg.SkipReason)
    assert context.cursor is not None
    return outcome.skip_message or "", context.cursor


def test_a_stale_table_is_reported_once_per_breach(
    write_project: WriteProject, server: HTTPServer, run_job: RunJob, dagster_home: Path
) -> None:
    server.expect_request(HOOK, method="POST").respond_with_data("ok")
    defs_dir = write_fresh_project(write_project, server)
    result = run_job(defs_dir, "nightly")
    assert result.success
    sensor = build_definitions(load_project(defs_dir)).get_repository_def().get_sensor_def(STALE_TABLE_SENSOR)

    with dg.DagsterInstance.get() as instance:
        message, cursor = _tick(sensor, instance, None)
        assert message == "no new freshness breach"  # nothing evaluated yet
        _record_state(instance, ORDERS, "UNKNOWN", "PASS")
        _record_state(instance, CUSTOMERS, "PASS", "WARN")
        message, cursor = _tick(sensor, instance, cursor)
        assert message == "no new freshness breach"  # fresh, or only late
        assert json_posts(server, HOOK) == []

        _record_state(instance, ORDERS, "PASS", "FAIL")
        message, cursor = _tick(sensor, instance, cursor)
        assert message == "stale: ds_orders/t_orders"
        [sent] = json_posts(server, HOOK)
        assert sent["status"] == "STALE"
        assert sent["title"] == "[dev] table ds_orders/t_orders is stale (job nightly)"
        assert sent["run_id"] == "" and sent["run_url"] is None
        [stale] = sent["stale_tables"]
        assert stale["asset"] == "ds_orders/t_orders"
        assert stale["fail_after"] == "6h"
        assert stale["last_run_id"] == result.run_id
        assert 0 < stale["age_seconds"] < 600

        for _ in range(3):  # the breach goes on: no more messages
            message, cursor = _tick(sensor, instance, cursor)
            assert message == "no new freshness breach"
        assert len(json_posts(server, HOOK)) == 1

        _record_state(instance, ORDERS, "FAIL", "PASS")  # reloaded: fresh again
        assert _tick(sensor, instance, cursor)[0] == "no new freshness breach"
        _record_state(instance, ORDERS, "PASS", "FAIL")  # and stale again: a new breach
        _record_state(instance, REVENUE, "WARN", "FAIL")
        message, cursor = _tick(sensor, instance, cursor)
        assert message == "stale: analytics/revenue, ds_orders/t_orders" or message == (
            "stale: ds_orders/t_orders, analytics/revenue"
        )
        assert sorted(m["stale_tables"][0]["asset"] for m in json_posts(server, HOOK)[1:]) == [
            "analytics/revenue",
            "ds_orders/t_orders",
        ]
        assert duration_seconds(json_posts(server, HOOK)[1]["stale_tables"][0]["fail_after"]) >= 3600


def test_a_stale_table_of_a_job_without_failure_notifications_sends_nothing(
    write_project: WriteProject, server: HTTPServer, run_job: RunJob, dagster_home: Path
) -> None:
    """``quiet`` loads customers too, but only ``nightly`` notifies: one message, to nightly's channel."""
    server.expect_request(HOOK, method="POST").respond_with_data("ok")
    defs_dir = write_fresh_project(write_project, server)
    assert run_job(defs_dir, "quiet").success
    sensor = build_definitions(load_project(defs_dir)).get_repository_def().get_sensor_def(STALE_TABLE_SENSOR)
    with dg.DagsterInstance.get() as instance:
        _record_state(instance, CUSTOMERS, "PASS", "FAIL")
        message, _ = _tick(sensor, instance, None)
    assert message == "stale: ds_customers/t_customers"
    [sent] = json_posts(server, HOOK)
    assert sent["title"] == "[dev] table ds_customers/t_customers is stale (job nightly)"
    assert sent["stale_tables"][0]["fail_after"] == "90m"


def test_dwh_list_shows_the_freshness_of_each_table(write_project: WriteProject) -> None:
    from dwh_dagster.listing import render_listing

    lines = render_listing(load_project(write_fresh_project(write_project, None))).splitlines()
    assert "    Freshness of t_orders: warn after 2h, stale after 6h" in lines
    assert "    Freshness of t_items: stale after 1d" in lines
    assert "    Freshness of t_customers: stale after 90m" in lines
    assert "    Freshness: warn after 1h, stale after 2h" in lines

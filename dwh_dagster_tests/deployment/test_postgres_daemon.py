"""The production instance (deploy/dagster.postgres.yaml) with the real daemon.

DAGSTER_HOME holds deploy/dagster.postgres.yaml, its connection settings come from DAGSTER_PG_*
(the local PostgreSQL with trust auth, so DAGSTER_PG_PASSWORD is empty) and point at a fresh
database of its own, dropped afterwards. ``dagster-daemon`` loads ``dwh_dagster.definitions``
for a small filesystem -> DuckDB project whose interval trigger cron cannot express (450
seconds) and so is a sensor: its first tick requests a run, the QueuedRunCoordinator queues it,
the daemon's run queue dequeues and launches it, and the rows land in DuckDB. Runs, events and
sensor ticks are stored in PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dwh_dagster_tests.automation.support import definitions, sensor_of
from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject, drop_project_files, duckdb_rows
from dwh_dagster_tests.deployment.support import clean_env, daemon_command, module_workspace
from dwh_dagster_tests.postgres_support import PG_CONNECT, PG_USER, pg_query
from dwh_dagster_tests.processes import running, tail, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

RUN_TIMEOUT = 180  # seconds from the daemon's start to the sensor's run finishing
INTERVAL = 450  # seconds: not a whole number of minutes, so no cron expresses it

PROJECT = {
    **drop_project_files({"t_orders": "orders*.jsonl"}),
    "jobs/orders_job.yaml": """
        job:
          name: orders_job
          pipelines: [{name: load_orders}]
    """,
    "triggers/every_450s.yaml": f"""
        trigger:
          name: every_450s
          type: interval
          enabled: true
          job: orders_job
          interval: {{seconds: {INTERVAL}}}
          tags: {{team: data}}
    """,
}


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named database on the local PostgreSQL, dropped (connections and all) after."""
    name = f"dwh_e2e_{uuid.uuid4().hex[:16]}"
    pg_query(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        pg_query(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_rows(database: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg2

    connection = psycopg2.connect(**{**PG_CONNECT, "dbname": database}, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        connection.close()


def test_daemon_on_postgres_instance_runs_the_interval_sensor(
    write_project: WriteProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_database: str
) -> None:
    defs_dir = write_project(PROJECT)
    drop = defs_dir.parent / "drop"
    drop.mkdir()
    with (drop / "orders_1.jsonl").open("w") as out:
        for i in range(12):
            out.write(json.dumps({"id": i, "amount": i * 10}) + "\n")

    defs = definitions(defs_dir)
    sensor = sensor_of(defs, "every_450s")  # cron cannot express it: a sensor, not a schedule
    assert sensor.minimum_interval_seconds == INTERVAL
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert not any(s.name == "every_450s" for s in defs.get_repository_def().schedule_defs)

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    pg_env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": pg_database,
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "",  # trust auth; the variable must be set, an empty value works
    }
    env = clean_env(home, DWH_DEFS_DIR=str(defs_dir), **pg_env)
    for key, value in {"DAGSTER_HOME": str(home), **pg_env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DWH_STATE_DIR", raising=False)

    with dg.DagsterInstance.get() as instance:  # creates the schema before the daemon uses it
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    tables = {t for (t,) in pg_rows(pg_database, "SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables

    workspace = module_workspace(tmp_path / "workspace.yaml")
    log = tmp_path / "daemon.log"

    def sensor_runs() -> list[dg.DagsterRun]:
        with dg.DagsterInstance.get() as instance:
            return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "every_450s"})))

    def sensor_run_finished() -> bool:
        runs = sensor_runs()
        return bool(runs) and all(r.is_finished for r in runs)

    with running(daemon_command(workspace), env, log, stop_signal=signal.SIGINT) as daemon:
        wait_for(sensor_run_finished, RUN_TIMEOUT, "the interval sensor's run", {"daemon": (daemon, log)}, 2)

    [run] = sensor_runs()
    assert run.status == dg.DagsterRunStatus.SUCCESS, f"{run.status}\n{tail(log)}"
    assert run.job_name == "orders_job"
    assert run.tags["dwh/trigger"] == "every_450s"
    assert run.tags["team"] == "data"
    assert run.tags["dagster/run_key"].startswith("every_450s@")
    assert int(run.tags["dagster/run_key"].split("@")[1]) % INTERVAL == 0

    with dg.DagsterInstance.get() as instance:
        events = [
            record.event_log_entry.dagster_event_type
            for record in instance.get_records_for_run(run.run_id, limit=1000).records
        ]
    # the queue path: enqueued by the coordinator, then started by the daemon's run queue
    queued = dg.DagsterEventType.RUN_ENQUEUED
    assert queued in events and dg.DagsterEventType.RUN_STARTING in events, events
    assert events.index(queued) < events.index(dg.DagsterEventType.RUN_STARTING)
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in events

    # the run, its events and the sensor's ticks are in PostgreSQL
    assert pg_rows(pg_database, "SELECT run_id, status FROM runs") == [(run.run_id, "SUCCESS")]
    [(materializations,)] = pg_rows(
        pg_database,
        "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        f" AND run_id = '{run.run_id}'",
    )
    assert materializations == 1
    [(ticks,)] = pg_rows(pg_database, "SELECT count(*) FROM job_ticks WHERE status = 'SUCCESS'")
    assert ticks >= 1

    rows = duckdb_rows(tmp_path / "wh.duckdb", "SELECT id, amount FROM ds_orders.t_orders ORDER BY id")
    assert rows == [(i, i * 10) for i in range(12)]

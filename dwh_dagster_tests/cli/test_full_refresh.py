"""``dwh run --full-refresh``: the loaded tables and their incremental state are dropped and
everything is loaded again; incremental models are rebuilt from their whole query."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import WriteProject, duckdb_rows
from dwh_dagster_tests.partitions.support import DatedApi, serve, write_events_project

MODEL = """
    transformation:
      name: amounts
      destination: wh
      dataset_name: marts
      materialized: incremental
      unique_key: [id]
      incremental_filter: "id > (select coalesce(max(id), 0) from {this})"
      sql: select id, amount from api.events
"""


def _rows(defs: Path, sql: str) -> list[tuple[object, ...]]:
    return duckdb_rows(defs.parent / "wh.duckdb", sql)


def test_full_refresh_reloads_what_the_incremental_cursor_skips(
    write_project: WriteProject, server: HTTPServer, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = DatedApi()
    api.fill(10)
    serve(server, api)
    defs = write_events_project(write_project, server, partitions=None)
    write_project(
        {
            "transformations/amounts.yaml": MODEL,
            "jobs/events_job.yaml": (
                "job: {name: events_job, pipelines: [{name: load_events}], "
                "transformations: [{name: amounts}]}\n"
            ),
        }
    )
    run = ["run", "events_job", "--defs", str(defs)]
    assert main(run) == 0
    assert _rows(defs, "select count(*) from api.events") == [(40,)]
    with api.lock:  # an old record changes without a newer cursor, another one goes away
        api.records[3]["amount"] = 999
        del api.records[5]
    assert main(run) == 0  # the moving cursor does not see either
    assert _rows(defs, "select amount from api.events where id = 3") == [(20,)]
    assert _rows(defs, "select count(*) from marts.amounts") == [(40,)]
    capsys.readouterr()

    assert main([*run, "--full-refresh"]) == 0
    err = capsys.readouterr().err
    assert "full refresh (dwh/full_refresh): events dropped and reloaded" in err
    expected = sorted((r["id"], r["amount"]) for r in api.records.values())
    assert _rows(defs, "select id, amount from api.events order by id") == expected
    assert _rows(defs, "select id, amount from marts.amounts order by id") == expected  # rebuilt
    assert api.requests[-1]["since"] == "2024-01-01T00:00:00Z"  # from the initial value again

"""A long load reports its progress at least every 5 s in the step's log, and a warning dlt
repeats for every page is written once, with its count."""

from __future__ import annotations

import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import WriteProject

PAGES = 16
PAGE_SECONDS = 0.45  # 16 pages: about 7 s, more than one progress period


def _serve_slow_pages(server: HTTPServer) -> None:
    def handle(request: Request) -> Response:
        offset = int(request.args.get("offset", 0))
        time.sleep(PAGE_SECONDS)
        rows = [
            {"id": i, "name": f"n{i}", "score": i * 1.5} for i in range(offset, min(offset + 10, PAGES * 10))
        ]
        return Response(json.dumps({"data": rows, "total": PAGES * 10}), content_type="application/json")

    server.expect_request("/items").respond_with_handler(handle)


@pytest.mark.slow
def test_a_long_load_reports_progress_and_collapses_repeated_warnings(
    write_project: WriteProject, server: HTTPServer, capfd: pytest.CaptureFixture[str]
) -> None:
    _serve_slow_pages(server)
    defs = write_project(
        {
            "sources/api.yaml": f"""
                source:
                  name: api
                  type: rest_api
                  connection: {{base_url: "http://127.0.0.1:{server.port}"}}
                  resources:
                    - name: items
                      primary_key: id
                      write_disposition: merge
                      endpoint:
                        path: /items
                        data_selector: data
                        paginator: {{type: offset, limit: 10, total_path: total}}
            """,
            "destinations/wh.yaml": (
                "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n"
            ),
            "pipelines/load_items.yaml": (
                "pipeline:\n  name: load_items\n  source: {config_file: api}\n"
                "  destination: {config_file: wh, dataset_name: api}\n"
            ),
            "jobs/items_job.yaml": "job: {name: items_job, pipelines: [{name: load_items}]}\n",
        }
    )
    assert main(["run", "items_job", "--defs", str(defs), "--ephemeral"]) == 0
    err = capfd.readouterr().err
    progress = [line for line in err.splitlines() if "Extract api" in line]
    assert progress, err[-3000:]  # at least one progress message while the pages came in
    assert any(line.startswith("items: ") for line in err.splitlines()), err[-3000:]
    hints = [line for line in err.splitlines() if "several column hints were different" in line]
    # dlt warns for each of the 16 pages: its own handler writes the first one (to the stderr it
    # was set up with, which in a long test session may be an earlier test's), the step the count
    counted = [line for line in hints if "repeated" in line]
    assert len(counted) == 1 and len(hints) <= 2, hints
    assert "load_load_items: warning repeated 15 more time(s): In resource: items" in counted[0]

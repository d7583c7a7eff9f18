"""What ``dwh run`` prints when a run fails: a short log, then one line per failed step with its
cause (the innermost error's message); tracebacks only with ``--verbose``."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import WriteProject


def _project(write_project: WriteProject, server: HTTPServer) -> str:
    defs = write_project(
        {
            "sources/api.yaml": f"""
                source:
                  name: api
                  type: rest_api
                  connection: {{base_url: "http://127.0.0.1:{server.port}"}}
                  resources:
                    - name: events
                      endpoint: {{path: /events, paginator: single_page}}
            """,
            "destinations/wh.yaml": (
                "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n"
            ),
            "pipelines/load_events.yaml": (
                "pipeline:\n  name: load_events\n  source: {config_file: api}\n"
                "  destination: {config_file: wh, dataset_name: api}\n"
            ),
            "jobs/events_job.yaml": "job: {name: events_job, pipelines: [{name: load_events}]}\n",
        }
    )
    server.expect_request("/events").respond_with_data("no such thing", status=404)
    return str(defs)


def test_a_failing_api_gives_a_short_summary_with_its_cause(
    write_project: WriteProject, server: HTTPServer, capfd: pytest.CaptureFixture[str]
) -> None:
    defs = _project(write_project, server)
    assert main(["run", "events_job", "--defs", defs, "--ephemeral"]) == 1
    captured = capfd.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) <= 15, "\n".join(lines)
    failed = [line for line in lines if line.startswith("FAILED ")]
    assert len(failed) == 1, lines
    assert failed[0].startswith("FAILED load_load_events: pipeline 'load_events' failed: HTTPError: 404")
    assert "/events" in failed[0]
    assert "Traceback" not in captured.out + captured.err
    assert "Stack Trace" not in captured.out + captured.err
    assert captured.out.splitlines()[-2].startswith("job events_job failed (run ")


def test_verbose_prints_the_tracebacks(
    write_project: WriteProject, server: HTTPServer, capfd: pytest.CaptureFixture[str]
) -> None:
    defs = _project(write_project, server)
    assert main(["run", "events_job", "--defs", defs, "--ephemeral", "--verbose"]) == 1
    captured = capfd.readouterr()
    assert "Traceback" in captured.err
    assert "FAILED load_load_events: pipeline 'load_events' failed: HTTPError: 404" in captured.err

"""``dwh doctor``: one report, real checks (files, env vars, a local HTTP server, the local PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import YAML_DEFS, WriteProject
from dwh_dagster_tests.postgres_support import PG_USER


def _project(write_project: WriteProject, api_url: str, database: str, scheduled: bool = True) -> Path:
    """Source ``api`` (its token in DOCTOR_API_TOKEN) loaded by ``items_job`` into ``wh``; the
    ``nightly`` trigger starts the job when ``scheduled``."""
    return write_project(
        {
            "sources/api.yaml": f"""
                source:
                  name: api
                  type: rest_api
                  connection:
                    base_url: "{api_url}"
                    auth: {{type: bearer, credentials_secret_key: api_token}}
                  resources: [{{name: items, endpoint: /items}}]
            """,
            "destinations/wh.yaml": f"""
                destination: {{name: wh, type: duckdb, connection: {{database: "{database}"}}}}
            """,
            "destinations/pg.yaml": f"""
                destination:
                  name: pg
                  type: postgres
                  connection: {{host: 127.0.0.1, database: test, username: {PG_USER}}}
            """,
            "secrets_mapping.yaml": "secrets:\n  api_token: {env_var: DOCTOR_API_TOKEN}\n",
            "pipelines/load_items.yaml": (
                "pipeline:\n  name: load_items\n  source: {config_file: api}\n"
                "  destination: {config_file: wh, dataset_name: api}\n"
            ),
            "jobs/items_job.yaml": "job: {name: items_job, pipelines: [{name: load_items}]}\n",
            "triggers/nightly.yaml": (
                f"trigger: {{name: nightly, type: cron, enabled: {'true' if scheduled else 'false'}, "
                "job: items_job, schedule: {cron: '0 2 * * *'}}\n"
            ),
        }
    )


def test_doctor_reports_missing_secrets_and_fails(
    write_project: WriteProject, capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    defs = _project(write_project, httpserver.url_for("/"), "wh.duckdb")
    assert main(["doctor", "--defs", str(defs)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  secret" in out and "api_token: DOCTOR_API_TOKEN is not set (read by source api)" in out
    assert "secrets checked for items_job" in out
    assert "ok    definitions" in out and "wh.duckdb is writable" in out
    assert "1 check(s) failed" in out


def test_doctor_skips_the_secrets_no_self_starting_job_reads(
    write_project: WriteProject, capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    defs = _project(write_project, httpserver.url_for("/"), "wh.duckdb", scheduled=False)
    assert main(["doctor", "--defs", str(defs)]) == 0
    out = capsys.readouterr().out
    assert "skip  secret       api_token: DOCTOR_API_TOKEN not set; not read by the jobs checked" in out
    assert "secrets checked for no job" in out
    # a job named on the command line is checked whatever starts it
    assert main(["doctor", "items_job", "--defs", str(defs)]) == 1
    assert "api_token: DOCTOR_API_TOKEN is not set (read by source api)" in capsys.readouterr().out
    assert main(["doctor", "item_job", "--defs", str(defs)]) == 1
    assert "unknown job(s) item_job; known jobs: items_job" in capsys.readouterr().out


def test_doctor_passes_on_the_shipped_project_without_any_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dwh_dagster.config.loader import load_project

    for entry in load_project(YAML_DEFS, "dev").secrets.values():
        for env_var in (entry.env_var_for("dev"), entry.env_var):
            if env_var:
                monkeypatch.delenv(env_var, raising=False)
    assert main(["doctor", "--defs", str(YAML_DEFS)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "secrets checked for demo_job" in out
    assert "FAIL" not in out


def test_doctor_with_network_probes_sources_and_destinations(
    write_project: WriteProject,
    capsys: pytest.CaptureFixture[str],
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCTOR_API_TOKEN", "t0ken-value")
    httpserver.expect_request("/").respond_with_json({"ok": True})
    defs = _project(write_project, httpserver.url_for("/"), "wh.duckdb")
    assert main(["doctor", "--network", "--defs", str(defs)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "answered HTTP 200" in out
    assert "ok    destination  pg: connected" in out
    assert "t0ken-value" not in out


def test_doctor_flags_a_duckdb_file_it_cannot_create(
    write_project: WriteProject, capsys: pytest.CaptureFixture[str], httpserver: HTTPServer, tmp_path: Path
) -> None:
    (tmp_path / "not_a_folder").write_text("a file where the database folder should be")
    defs = _project(write_project, httpserver.url_for("/"), str(tmp_path / "not_a_folder" / "wh.duckdb"))
    assert main(["doctor", "--defs", str(defs)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  duckdb" in out and "cannot create" in out

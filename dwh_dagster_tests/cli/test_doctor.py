"""``dwh doctor``: one report, real checks (files, env vars, a local HTTP server, the local PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.postgres_support import PG_USER


def _project(write_project: WriteProject, api_url: str, database: str) -> Path:
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
        }
    )


def test_doctor_reports_missing_secrets_and_fails(
    write_project: WriteProject, capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    defs = _project(write_project, httpserver.url_for("/"), "wh.duckdb")
    assert main(["doctor", "--defs", str(defs)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  secret" in out and "api_token: DOCTOR_API_TOKEN is not set" in out
    assert "ok    definitions" in out and "wh.duckdb is writable" in out
    assert "1 check(s) failed" in out


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

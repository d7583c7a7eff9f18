"""Helpers of the rest_api tests: a project writer, a local HTTP server and leak checks.

Nothing here replaces project code: the tests run real jobs on a real Dagster instance against a
real HTTP server on 127.0.0.1 and load real DuckDB files.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

from dwh_dagster_tests.conftest import WriteProject, duckdb_rows

SOURCE = "test_api"
PIPELINE = "api_to_duckdb"
JOB = "api_job"
DATASET = "api"
WAREHOUSE = "warehouse.duckdb"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of the fake API."""
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def base_url(server: HTTPServer) -> str:
    """The server's base URL, without a trailing slash."""
    return f"http://127.0.0.1:{server.port}"


def write_rest_project(
    write_project: WriteProject,
    server: HTTPServer,
    resources: list[dict[str, Any]],
    *,
    connection: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    pipeline_resources: list[str] | None = None,
) -> Path:
    """A project with one rest_api source on ``server``, a DuckDB destination, a pipeline and a job.

    ``secrets`` maps secret keys to the env var that holds each one (``secrets_mapping.yaml``).
    Every request is bounded: 5 s timeout and one attempt unless ``connection`` says otherwise.
    """
    source_connection: dict[str, Any] = {
        "base_url": base_url(server),
        "timeout": 5,
        "retry": {"max_attempts": 1, "backoff_factor": 0},
        **(connection or {}),
    }
    pipeline_source: dict[str, Any] = {"config_file": f"{SOURCE}.yaml"}
    if pipeline_resources:
        pipeline_source["resources"] = pipeline_resources
    files: dict[str, Any] = {
        f"sources/{SOURCE}.yaml": {
            "source": {
                "name": SOURCE,
                "type": "rest_api",
                "connection": source_connection,
                "resources": resources,
            }
        },
        "destinations/warehouse.yaml": {
            "destination": {"name": "warehouse", "type": "duckdb", "connection": {"database": WAREHOUSE}}
        },
        f"pipelines/{PIPELINE}.yaml": {
            "pipeline": {
                "name": PIPELINE,
                "source": pipeline_source,
                "destination": {"config_file": "warehouse.yaml", "dataset_name": DATASET},
                "retry": {"max_attempts": 1},
            }
        },
        f"jobs/{JOB}.yaml": {
            "job": {"name": JOB, "pipelines": [{"name": PIPELINE}], "retries": {"max_attempts": 1}}
        },
    }
    if secrets:
        files["secrets_mapping.yaml"] = {
            "secrets": {key: {"env_var": env_var, "required": True} for key, env_var in secrets.items()}
        }
    return write_project({path: yaml.safe_dump(body, sort_keys=False) for path, body in files.items()})


def warehouse(defs_dir: Path) -> Path:
    """The DuckDB file of a project written by :func:`write_rest_project`."""
    return defs_dir.parent / WAREHOUSE


def tables(defs_dir: Path, schema: str = DATASET) -> set[str]:
    """Tables of a dataset; empty when the warehouse file does not exist."""
    database = warehouse(defs_dir)
    if not database.exists():
        return set()
    rows = duckdb_rows(
        database, f"select table_name from information_schema.tables where table_schema = '{schema}'"
    )
    return {str(r[0]) for r in rows}


def rows(defs_dir: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query against the project's warehouse."""
    return duckdb_rows(warehouse(defs_dir), sql)


def step_failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The error message of the (single) failed step, cause chain included."""
    failures = result.get_step_failure_events()
    assert failures, "expected a failed step"
    error = failures[0].step_failure_data.error
    assert error is not None
    return error.to_string()


def _error_texts(error: Any) -> Iterator[str]:
    while error is not None:
        yield str(error.message)
        yield "".join(error.stack)
        yield from _error_texts(getattr(error, "context", None))
        error = error.cause


def event_log_texts(run_id: str) -> list[str]:
    """Every text of a run's event log: records, messages and error infos (stack and cause included)."""
    texts: list[str] = []
    with dg.DagsterInstance.get() as instance:
        for entry in instance.all_logs(run_id):
            texts += [str(entry), entry.message or "", entry.user_message or ""]
            dagster_event = entry.dagster_event
            if dagster_event is None:
                continue
            texts.append(str(dagster_event.message or ""))
            data = dagster_event.event_specific_data
            for attribute in ("error", "step_failure_data"):
                error = getattr(data, attribute, None)
                if error is not None and hasattr(error, "message"):
                    texts += list(_error_texts(error))
    return texts


def secret_forms(secret: str) -> set[str]:
    """A secret and its URL-encoded forms: how it would appear in text or in a URL."""
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}


def files_containing(root: Path, needles: set[str]) -> list[str]:
    """Files under ``root`` (DuckDB files excluded) whose bytes contain any of ``needles``."""
    found = []
    encoded = [n.encode() for n in needles]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if ".duckdb" in path.name:
            continue
        data = path.read_bytes()
        if any(n in data for n in encoded):
            found.append(str(path.relative_to(root)))
    return found


def request_args(server: HTTPServer, path: str) -> list[dict[str, str]]:
    """Query parameters of every request the server received on ``path``, in order."""
    return [dict(request.args) for request, _ in server.log if request.path == path]

"""Helpers of the deployment tests: Dagster's own servers and daemon as separate processes.

The processes themselves are started, watched and stopped by :mod:`dwh_dagster_tests.processes`.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dwh_dagster_tests.conftest import REPO_ROOT
from dwh_dagster_tests.processes import HOST


def clean_env(dagster_home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without secrets, ENVIRONMENT, DWH_* or DAGSTER_PG_* settings.

    Nothing of the caller's own project, instance or credentials leaks into the processes; ``extra``
    (``DWH_DEFS_DIR``, ``ENVIRONMENT``, ``DAGSTER_PG_*``, ...) is added on top.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_DEV", "_STAGE", "_PROD"))
        and "SECRET" not in k
        and k != "ENVIRONMENT"
        and not k.startswith(("DWH_", "DAGSTER_"))
    }
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            **extra,
        }
    )
    return env


def dagster(*args: str) -> list[str]:
    """The command line of ``python -m dagster ...`` in this interpreter."""
    return [sys.executable, "-m", "dagster", *args]


def grpc_server_command(port: int) -> list[str]:
    return dagster("api", "grpc", "-m", "dwh_dagster.definitions", "-h", HOST, "-p", str(port))


def grpc_healthy(port: int) -> bool:
    """The code server on ``port`` answers a ping."""
    from dagster._grpc.client import DagsterGrpcClient

    try:
        return DagsterGrpcClient(port=port, host=HOST).ping("ok")["echo"] == "ok"
    except Exception:
        return False


def module_workspace(path: Path, location: str = "dwh_dagster") -> Path:
    """Write at ``path`` a workspace.yaml loading ``dwh_dagster.definitions`` from the repo as the
    code location ``location``; returns ``path``."""
    path.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: dwh_dagster.definitions\n"
        f"      working_directory: {REPO_ROOT}\n"
        f"      location_name: {location}\n"
    )
    return path


def daemon_command(workspace: Path) -> list[str]:
    return [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)]


def http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """GET (or POST ``payload`` as JSON) and return the decoded JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def answers(url: str) -> bool:
    try:
        http_json(url, timeout=5)
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return True

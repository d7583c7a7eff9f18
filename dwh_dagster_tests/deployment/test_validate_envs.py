"""The shipped yaml_defs served by ``dagster api grpc`` in dev, stage and prod, without any secret.

``dagster definitions validate`` per environment is covered in assets/test_definitions.py; here
each environment gets its own code server (started together, with a clean environment: no
``*_DEV``/``*_STAGE``/``*_PROD`` or ``SECRET`` variable, no DWH_DEFS_DIR, so ``./yaml_defs`` of
the working directory), which must answer quickly and serve exactly what the definitions built
in-process for that environment contain: the environment reaches the server process.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS
from dwh_dagster_tests.deployment.support import clean_env, grpc_healthy, grpc_server_command
from dwh_dagster_tests.processes import HOST, free_port, running, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

ENVIRONMENTS = ("dev", "stage", "prod")
START_TIMEOUT = 90  # seconds for all three servers (each loads in a few seconds when alone)


def summary(snap: Any) -> dict[str, Any]:
    """What a RepositorySnap says about assets, jobs, schedules and sensors, comparable with ==."""
    return {
        "assets": {
            node.asset_key.to_user_string(): (
                node.group_name,
                node.is_materializable,
                sorted(edge.parent_asset_key.to_user_string() for edge in node.parent_edges),
                sorted(node.job_names),
                dict(node.metadata),
                dict(node.tags or {}),
            )
            for node in snap.asset_nodes
        },
        "jobs": {job.name: dict(job.job.tags) for job in snap.job_datas or []},
        "schedules": {
            s.name: (s.cron_schedule, s.execution_timezone, s.job_name, s.default_status)
            for s in snap.schedules
        },
        "sensors": {
            s.name: (s.default_status, sorted(s.target_dict), s.min_interval, s.sensor_type, dict(s.tags))
            for s in snap.sensors
        },
    }


def served_snapshot(port: int) -> Any:
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._serdes import deserialize_value

    origin = RemoteRepositoryOrigin(
        GrpcServerCodeLocationOrigin(host=HOST, port=port, location_name="dwh"), "__repository__"
    )
    return deserialize_value(DagsterGrpcClient(port=port, host=HOST).external_repository(origin))


@pytest.mark.filterwarnings("ignore:Property `ScheduleDefinition.environment_vars` is deprecated")
def test_shipped_yaml_defs_served_by_grpc_in_each_environment(tmp_path: Path) -> None:
    from dagster._core.remote_representation.external_data import RepositorySnap

    ports = {environment: free_port() for environment in ENVIRONMENTS}
    servers = {}
    with (
        running(*_server(tmp_path, "dev", ports["dev"])) as dev,
        running(*_server(tmp_path, "stage", ports["stage"])) as stage,
        running(*_server(tmp_path, "prod", ports["prod"])) as prod,
    ):
        for environment, process in zip(ENVIRONMENTS, (dev, stage, prod), strict=True):
            servers[environment] = (process, tmp_path / f"grpc_{environment}.log")
        wait_for(
            lambda: all(grpc_healthy(port) for port in ports.values()),
            START_TIMEOUT,
            "the code servers of dev, stage and prod",
            servers,
        )
        served = {environment: summary(served_snapshot(ports[environment])) for environment in ENVIRONMENTS}

    for environment in ENVIRONMENTS:
        repo = build_definitions(load_project(YAML_DEFS, environment)).get_repository_def()
        assert served[environment] == summary(RepositorySnap.from_def(repo)), environment

    # the environments differ where the YAML says so: the overrides reached each server
    running_status = dg.DefaultScheduleStatus.RUNNING
    assert served["dev"]["schedules"]["daily_ingestion"][3] != running_status
    assert served["prod"]["schedules"]["daily_ingestion"][3] == running_status
    assert served["dev"]["sensors"]["demo_files_arrived"][0] == dg.DefaultSensorStatus.RUNNING
    assert served["prod"]["sensors"]["demo_files_arrived"][0] != dg.DefaultSensorStatus.RUNNING
    assert set(served["dev"]["assets"]) == set(served["stage"]["assets"]) == set(served["prod"]["assets"])


def _server(tmp_path: Path, environment: str, port: int) -> tuple[list[str], dict[str, str], Path]:
    home = tmp_path / f"home_{environment}"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = clean_env(home, ENVIRONMENT=environment)
    assert not any(k.endswith(("_DEV", "_STAGE", "_PROD")) or "SECRET" in k for k in env)
    return grpc_server_command(port), env, tmp_path / f"grpc_{environment}.log"

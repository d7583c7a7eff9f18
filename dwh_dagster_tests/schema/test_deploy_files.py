"""The deployment files agree with the code: module name, workspace, instance config, secrets."""

from __future__ import annotations

import yaml

from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS

DEPLOY = REPO_ROOT / "deploy"


def test_instance_configs_parse_and_keep_telemetry_off() -> None:
    for path in (REPO_ROOT / "dagster.yaml", DEPLOY / "dagster.postgres.yaml"):
        config = yaml.safe_load(path.read_text())
        assert config["telemetry"]["enabled"] is False, path
        assert config["run_monitoring"]["enabled"] is True, path
    postgres = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())["storage"]["postgres"][
        "postgres_db"
    ]
    assert {k: v["env"] for k, v in postgres.items() if k != "scheme"} == {
        "hostname": "DAGSTER_PG_HOST",
        "port": "DAGSTER_PG_PORT",
        "db_name": "DAGSTER_PG_DB",
        "username": "DAGSTER_PG_USER",
        "password": "DAGSTER_PG_PASSWORD",
    }


def test_workspaces_and_units_point_at_the_code_location() -> None:
    local = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    assert local["load_from"][0]["python_module"]["module_name"] == "dwh_dagster.definitions"
    grpc = yaml.safe_load((DEPLOY / "workspace.grpc.yaml").read_text())
    assert grpc["load_from"][0]["grpc_server"]["port"] == 4000
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").glob("*.service")}
    assert set(units) == {"dwh-code-server.service", "dwh-daemon.service", "dwh-webserver.service"}
    assert (
        "dagster api grpc -m dwh_dagster.definitions -h 127.0.0.1 -p 4000" in units["dwh-code-server.service"]
    )
    for name in ("dwh-daemon.service", "dwh-webserver.service"):
        assert "deploy/workspace.grpc.yaml" in units[name]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile and "USER dwh" in dockerfile
    assert '"-m", "dwh_dagster.definitions"' in dockerfile and "COPY yaml_defs" in dockerfile


def test_helm_values_feed_every_prod_secret_from_a_kubernetes_secret() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "dwh_dagster.definitions"]
    assert deployment["envSecrets"] == [{"name": "dwh-secrets"}]
    assert {"name": "ENVIRONMENT", "value": "prod"} in deployment["env"]
    example = (DEPLOY / "systemd" / "dwh.env.example").read_text()
    project = load_project(YAML_DEFS, "prod")
    for key, entry in project.secrets.items():
        env_var = entry.env_var_for("prod")
        assert env_var, key
        if entry.required:
            assert f"{env_var}=" in example, f"{env_var} missing from deploy/systemd/dwh.env.example"

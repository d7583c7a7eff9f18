"""The Dagster definitions built from yaml_defs/: a reviewed snapshot, and a cheap offline load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.assets.pipeline_assets import RetrySettings, retry_settings
from dwh_dagster.config.loader import load_project
from dwh_dagster.config.naming import duckdb_writer_pool
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS, WriteProject, instance_settings_yaml
from dwh_dagster_tests.processes import free_port, running, wait_for

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("DWH_UPDATE_SNAPSHOTS") == "1"


def definitions_snapshot(defs: dg.Definitions) -> str:
    """Sorted assets with group, kinds and deps; jobs with selections; schedules; sensors."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    lines = ["# assets"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ", ".join(sorted(k.to_user_string() for k in node.parent_keys)) or "-"
        kinds = ",".join(sorted(node.kinds)) or "-"
        kind = "materializable" if node.is_materializable else "external"
        lines.append(f"{key.to_user_string()}  group={node.group_name}  kinds={kinds}  {kind}  deps=[{deps}]")
    lines.append("# jobs")
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        keys = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        lines.append(f"{job.name}: {', '.join(keys)}")
    lines.append("# schedules")
    for schedule in sorted(repo.schedule_defs, key=lambda s: s.name):
        lines.append(
            f"{schedule.name}: {schedule.cron_schedule} {schedule.execution_timezone} -> {schedule.job_name}"
            f" ({schedule.default_status.value.lower()})"
        )
    lines.append("# sensors")
    for sensor in sorted(repo.sensor_defs, key=lambda s: s.name):
        targets = ", ".join(sorted(t.job_name for t in sensor.targets))
        lines.append(f"{sensor.name}: -> {targets} ({sensor.default_status.value.lower()})")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_yaml_defs_snapshot(environment: str) -> None:
    text = definitions_snapshot(build_definitions(load_project(YAML_DEFS, environment)))
    snapshot = SNAPSHOTS / f"yaml_defs_{environment}.txt"
    if UPDATE or not snapshot.exists():
        snapshot.write_text(text)
    assert text == snapshot.read_text(), "definitions changed: review, then rerun with DWH_UPDATE_SNAPSHOTS=1"


def test_each_resource_is_its_own_asset_with_yaml_metadata() -> None:
    defs = build_definitions(load_project(YAML_DEFS, "dev"))
    graph = defs.get_repository_def().asset_graph
    issues = graph.get(dg.AssetKey(["github", "issues"]))
    assert issues.group_name == "github_to_duckdb"
    assert issues.kinds == {"rest_api", "duckdb"}
    assert issues.owners == ["team:data-platform"]
    assert issues.tags["domain"] == "engineering"
    meta = issues.metadata
    assert meta["dwh/endpoint"] == "GET https://api.github.com/repos/dlt-hub/dlt/issues"
    assert meta["dwh/write_disposition"] == "merge"
    assert meta["dwh/primary_key"] == "id"
    assert meta["dwh/incremental_cursor"] == "updated_at"
    assert dg.AssetKey(["sources", "github_api"]) in issues.parent_keys
    assert not graph.get(dg.AssetKey(["sources", "github_api"])).is_materializable


def test_pipeline_depends_on_becomes_asset_deps_and_retry_settings(write_project: WriteProject) -> None:
    files = {
        "sources/files.yaml": """
            source:
              name: files
              type: filesystem
              connection: {bucket_url: data}
              resources:
                - {name: a, file_glob: "a*.csv", format: csv}
                - {name: b, file_glob: "b*.csv", format: csv}
        """,
        "destinations/wh.yaml": """
            destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}
        """,
        "pipelines/first.yaml": """
            pipeline:
              name: first
              source: {config_file: files, resources: [a]}
              destination: {config_file: wh, dataset_name: raw}
        """,
        "pipelines/second.yaml": """
            pipeline:
              name: second
              source: {config_file: files, resources: [b]}
              destination: {config_file: wh, dataset_name: staged}
              depends_on: [first]
              retry: {max_attempts: 4, initial_delay: 10}
        """,
    }
    defs = build_definitions(load_project(write_project(files), "dev"))
    graph = defs.get_repository_def().asset_graph
    assert dg.AssetKey(["raw", "a"]) in graph.get(dg.AssetKey(["staged", "b"])).parent_keys
    node = graph.get(dg.AssetKey(["staged", "b"])).assets_def.node_def
    first = graph.get(dg.AssetKey(["raw", "a"])).assets_def.node_def
    assert int(first.tags["dagster/priority"]) > int(node.tags["dagster/priority"])  # runs first
    project = load_project(write_project(files), "dev")
    # both write wh.duckdb: one pool, whose runs the queue starts one at a time (dagster.yaml)
    assert node.pool == first.pool == duckdb_writer_pool(str(project.root_dir / "wh.duckdb"))
    assert retry_settings(project.pipelines["second"], None) == RetrySettings(4, 10, exponential=True)
    assert [RetrySettings(4, 10, exponential=True).delay_before(n) for n in (2, 3, 4)] == [10, 20, 40]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_DEV", "_STAGE", "_PROD")) and "SECRET" not in k
    }
    env.update({"DAGSTER_HOME": str(tmp_path), **extra})
    (tmp_path / "dagster.yaml").write_text(instance_settings_yaml())
    return env


@pytest.mark.parametrize("environment", ["dev", "stage", "prod"])
@pytest.mark.slow
def test_dagster_definitions_validate_offline_without_secrets(tmp_path: Path, environment: str) -> None:
    env = _clean_env(tmp_path, ENVIRONMENT=environment)
    result = _run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "dwh_dagster.definitions"], env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


@pytest.mark.slow
def test_definitions_validate_shows_our_messages(tmp_path: Path, write_project: WriteProject) -> None:
    defs_dir = write_project(
        {"destinations/wh.yaml": "destination:\n  name: wh\n  type: duckdbb\n"},
    )
    env = _clean_env(tmp_path, DWH_DEFS_DIR=str(defs_dir))
    result = _run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "dwh_dagster.definitions"], env
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "wh.yaml:3:9: destination.type: unknown type 'duckdbb'; did you mean 'duckdb'?" in output


def test_loading_definitions_does_not_import_dlt(tmp_path: Path) -> None:
    code = (
        "import sys, dwh_dagster.definitions as d; "
        "assert d.defs().resolve_all_asset_keys(); "
        "print(sorted(m for m in sys.modules if m == 'dlt' or m.startswith(('dlt.', 'dagster_dlt'))))"
    )
    result = _run([sys.executable, "-c", code], _clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_grpc_code_location_serves_the_definitions(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    port = free_port()
    server_command = [sys.executable, "-m", "dagster", "api", "grpc", "-m", "dwh_dagster.definitions"]
    health_check = [sys.executable, "-m", "dagster", "api", "grpc-health-check"]
    address = ["-h", "127.0.0.1", "-p", str(port)]
    log = tmp_path / "grpc.log"
    with running([*server_command, *address], env, log) as server:
        wait_for(
            lambda: _run([*health_check, *address], env).returncode == 0,
            90,
            "a healthy gRPC server",
            {"dagster api grpc": (server, log)},
        )
        from dagster._grpc.client import DagsterGrpcClient

        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        assert client.ping("hello")["echo"] == "hello"
        from dagster._serdes import deserialize_value

        response = deserialize_value(client.list_repositories())
        assert type(response).__name__ == "ListRepositoriesResponse", response
        assert [s.repository_name for s in response.repository_symbols] == ["__repository__"]


def test_the_code_location_is_built_once_per_project_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A code server calls ``defs()`` twice while it starts: an unchanged project is built once."""
    import shutil

    import dwh_dagster.definitions as d

    defs_dir = tmp_path / "yaml_defs"
    shutil.copytree(YAML_DEFS, defs_dir)
    monkeypatch.setenv("DWH_DEFS_DIR", str(defs_dir))
    first = d.defs()
    assert d.defs() is first
    job = defs_dir / "jobs" / "demo_job.yaml"
    job.write_text(job.read_text() + "# an edit that changes nothing but the file\n")
    changed = d.defs()
    assert changed is not first, "a changed file must be loaded again"
    monkeypatch.setenv("ENVIRONMENT", "prod")
    assert d.defs() is not changed, "another environment is another project"

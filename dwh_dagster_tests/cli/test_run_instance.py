"""``dwh run`` keeps its runs where the UI finds them: the instance of ``dagster dev`` in the
project root (the project's ``dagster.yaml``), or ``DAGSTER_HOME``; ``--ephemeral`` keeps them in
memory. A run started from another folder is found through the webserver's GraphQL."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import REPO_ROOT, WriteProject, drop_project_files
from dwh_dagster_tests.deployment.support import answers, clean_env, module_workspace
from dwh_dagster_tests.deployment.test_grpc_webserver import graphql
from dwh_dagster_tests.processes import HOST, free_port, running, wait_for

START_TIMEOUT = 90  # seconds for the webserver to answer and load the code location

PROJECT = {
    **drop_project_files({"t_events": "events*.jsonl"}),
    "jobs/events_job.yaml": "job: {name: events_job, pipelines: [{name: load_events}]}\n",
}

RUNS = """
query {
  runsOrError {
    __typename
    ... on Runs { results { runId status jobName } }
  }
}
"""

MATERIALIZATIONS = """
query Asset($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations(limit: 5) { runId } }
  }
}
"""


def _project(write_project: WriteProject, *, with_instance_file: bool = True) -> Path:
    defs = write_project(PROJECT)
    drop = defs.parent / "drop"
    drop.mkdir()
    (drop / "events_1.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(3)))
    if with_instance_file:
        shutil.copy(REPO_ROOT / "dagster.yaml", defs.parent / "dagster.yaml")
    return defs


def _run(defs: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str]:
    assert main(["run", "events_job", "--defs", str(defs), *extra]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("job events_job succeeded"))
    run_id = line.split("(run ")[1].split(",")[0]
    return run_id, out


def _stored_runs(instance_dir: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
        return [run.run_id for run in instance.get_runs()]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DAGSTER_HOME, and a working folder that is not the project root."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.slow
def test_a_run_from_the_shell_shows_in_the_ui_of_the_project_root(
    write_project: WriteProject, elsewhere: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    defs = _project(write_project)
    root = defs.parent
    run_id, out = _run(defs, capsys)
    assert f"in the UI: http://127.0.0.1:3000/runs/{run_id}" in out
    assert f"the instance of {root / 'dagster.yaml'}" in out
    assert (root / ".dagster_home" / "storage").is_dir()  # where the project's dagster.yaml says
    assert not (elsewhere / ".dagster_home").exists()  # not relative to the working folder

    workspace = module_workspace(root / "workspace.yaml")
    port = free_port()
    command = [sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", HOST, "-p", str(port)]
    env = clean_env(tmp_path / "unused", DWH_DEFS_DIR=str(defs))
    env.pop("DAGSTER_HOME")  # as `dagster dev` in the project root: its dagster.yaml
    log = tmp_path / "webserver.log"
    with running(command, env, log, cwd=root) as web:
        processes = {"webserver": (web, log)}
        info = f"http://{HOST}:{port}/server_info"
        wait_for(lambda: answers(info), START_TIMEOUT, "the webserver", processes)
        runs: list[dict[str, Any]] = graphql(port, RUNS)["runsOrError"]["results"]
        assert [(r["runId"], r["status"], r["jobName"]) for r in runs] == [(run_id, "SUCCESS", "events_job")]
        found: dict[str, Any] = {}

        def asset_shown() -> bool:
            answer = graphql(port, MATERIALIZATIONS, {"key": {"path": ["ds_events", "t_events"]}})
            found.update(answer["assetOrError"])
            return found.get("__typename") == "Asset"

        wait_for(asset_shown, START_TIMEOUT, "the asset in the UI", processes)
        assert [m["runId"] for m in found["assetMaterializations"]] == [run_id]


def test_ephemeral_runs_are_not_kept(
    write_project: WriteProject, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defs = _project(write_project)
    _, out = _run(defs, capsys, "--ephemeral")
    assert "kept in memory only (--ephemeral)" in out
    assert not (defs.parent / ".dagster_home").exists()


def test_a_project_without_dagster_yaml_keeps_runs_in_its_dagster_home_folder(
    write_project: WriteProject, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defs = _project(write_project, with_instance_file=False)
    home = defs.parent / ".dagster_home"
    first, _ = _run(defs, capsys)
    second, out = _run(defs, capsys)
    assert f"runs are kept in {home}" in out
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == {"telemetry": {"enabled": False}}
    assert (home / ".nux" / "nux.yaml").read_text() == "seen: 1\n"  # no first-start dialog in the UI
    assert sorted(_stored_runs(home)) == sorted([first, second])


def test_dagster_home_without_a_config_file_gets_the_project_settings_and_no_warning(
    write_project: WriteProject,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    defs = _project(write_project)
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["run", "events_job", "--defs", str(defs)]) == 0
    captured = capfd.readouterr()
    assert "No dagster instance configuration file" not in captured.out + captured.err
    assert "usage statistics" not in captured.out + captured.err
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": False}
    assert not {"storage", "local_artifact_storage", "compute_logs"} & set(settings)  # kept in home
    assert settings["run_coordinator"]["class"] == "QueuedRunCoordinator"  # the project's settings
    assert len(_stored_runs(home)) == 1

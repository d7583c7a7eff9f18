"""The real ``dagster-daemon`` launches runs on its own from a ``file_arrived`` trigger.

The daemon runs in a subprocess on a temporary DAGSTER_HOME (the repo's dagster.yaml), with a
workspace that loads ``dwh_dagster.definitions`` for a small filesystem -> DuckDB project. Each
dropped file must start exactly one run of the target job, tagged with the file's path, also
after the daemon was stopped and started again.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.automation.sensors import FILE_TAG
from dwh_dagster_tests.automation.support import write_small_project
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.deployment.support import module_workspace
from dwh_dagster_tests.processes import running, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

RUN_TIMEOUT = 120  # seconds for the daemon to notice a file and its run to finish

FILE_TRIGGER = """
    trigger:
      name: on_file
      type: event
      enabled: true
      job: job_a
      event: {type: file_arrived, path: "incoming/*.csv"}
      poll_interval: 5
      tags: [upload]
"""


def clean_env(dagster_home: Path, defs_dir: Path) -> dict[str, str]:
    """The caller's environment without secrets or an ENVIRONMENT, on our instance and project."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_DEV", "_STAGE", "_PROD")) and "SECRET" not in k and k != "ENVIRONMENT"
    }
    env.pop("DWH_STATE_DIR", None)
    env.update({"DAGSTER_HOME": str(dagster_home), "DWH_DEFS_DIR": str(defs_dir)})
    return env


def daemon_command(workspace: Path) -> list[str]:
    """``dagster-daemon run`` on ``workspace``: SIGINT stops it and its code server."""
    return [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)]


def runs_for_file(path: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags={FILE_TAG: path})))


def all_runs() -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs())


def succeeded(path: str) -> Callable[[], bool]:
    def check() -> bool:
        runs = runs_for_file(path)
        failed = [r for r in runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
        assert not failed, f"the run for {path} ended {failed[0].status}"
        return any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)

    return check


def drop(folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("id,value\n1,2\n")
    return str(path)


def test_daemon_starts_one_run_per_file_across_restarts(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    defs_dir = write_small_project(write_project, {"on_file": FILE_TRIGGER})
    incoming = tmp_path / "incoming"
    workspace = module_workspace(tmp_path / "workspace.yaml")
    env = clean_env(dagster_home, defs_dir)
    log = tmp_path / "daemon.log"
    with dg.DagsterInstance.get():
        pass  # create the instance's storage before the daemon and its runs use it

    with running(daemon_command(workspace), env, log, stop_signal=signal.SIGINT) as daemon:
        first = drop(incoming, "first.csv")
        wait_for(
            succeeded(first), RUN_TIMEOUT, f"a successful run for {first}", {"the daemon": (daemon, log)}
        )

    [first_run] = runs_for_file(first)
    assert first_run.job_name == "job_a"
    assert first_run.tags["dwh/trigger"] == "on_file"
    assert first_run.tags["upload"] == ""
    assert first_run.tags["dagster/sensor_name"] == "on_file"
    assert first_run.tags["dagster/run_key"] == first

    with running(daemon_command(workspace), env, log, stop_signal=signal.SIGINT) as daemon:
        time.sleep(1)  # the second file is clearly newer than the first
        second = drop(incoming, "second.csv")
        wait_for(
            succeeded(second), RUN_TIMEOUT, f"a successful run for {second}", {"the daemon": (daemon, log)}
        )
        time.sleep(8)  # at least one more sensor tick (poll_interval 5) sees both files

    assert len(runs_for_file(second)) == 1
    assert [r.run_id for r in runs_for_file(first)] == [first_run.run_id], "the first file ran twice"
    runs = all_runs()
    assert len(runs) == 2, [(r.job_name, r.tags.get(FILE_TAG)) for r in runs]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)

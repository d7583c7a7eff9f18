"""``dwh dev`` stops within 10 s on SIGTERM, and takes its webserver, daemon and code servers with
it, when started as a background job of a non-interactive shell (SIGINT inherited as ignored,
which made ``dagster dev`` ignore SIGTERM too: README, "Stopping dagster dev")."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS
from dwh_dagster_tests.deployment.support import answers, clean_env
from dwh_dagster_tests.deployment.test_grpc_webserver import graphql
from dwh_dagster_tests.processes import HOST, free_port, tail, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

START_TIMEOUT = 120  # seconds for the webserver to answer, and for the demo run to end
RUNS = "query { runsOrError { ... on Runs { results { runId status } } } }"
STOP_WITHIN = 10.0  # seconds from SIGTERM to no process of the group left


def _group_alive(pgid: int) -> bool:
    """Whether a live process (not a zombie waiting for its parent) is in the process group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def test_dwh_dev_stops_on_sigterm_in_the_background(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(YAML_DEFS, root / "yaml_defs")
    shutil.copytree(REPO_ROOT / "sample_data", root / "sample_data")
    shutil.copy(REPO_ROOT / "dagster.yaml", root / "dagster.yaml")
    shutil.copy(REPO_ROOT / "workspace.yaml", root / "workspace.yaml")
    env = clean_env(tmp_path / "unused")
    env.pop("DAGSTER_HOME")  # as on a laptop: the project's dagster.yaml
    port = free_port()
    log = tmp_path / "dev.log"
    command = [sys.executable, "-m", "dwh_dagster.cli", "dev", "--defs", str(root / "yaml_defs")]
    command += ["-h", HOST, "-p", str(port)]

    def as_a_background_job() -> None:  # what `cmd &` in a non-interactive shell does
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=as_a_background_job,
        )
    try:
        info = f"http://{HOST}:{port}/server_info"
        watched = {"dwh dev": (process, log)}
        wait_for(lambda: answers(info), START_TIMEOUT, "the webserver of dwh dev", watched)

        def demo_run_done() -> bool:  # the demo sensor's run: a run worker of its own, not stopped
            runs = graphql(port, RUNS)["runsOrError"]["results"]
            return bool(runs) and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)

        wait_for(demo_run_done, START_TIMEOUT, "the demo run to end", watched)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        while _group_alive(process.pid) and time.monotonic() - sent < STOP_WITHIN + 20:
            time.sleep(0.2)
        took = time.monotonic() - sent
        assert process.poll() is not None, tail(log)
        assert not _group_alive(process.pid), "a process of dwh dev outlived it"
        assert took <= STOP_WITHIN, f"stopped after {took:.1f} s\n{tail(log)}"
        assert "Dagster services shut down." in log.read_text()
    finally:
        if _group_alive(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

"""README "Your first pipeline", followed step by step: every ``bash`` block of the section runs as
written in a fresh copy of the project (``uv run dwh`` is this interpreter's ``dwh``), every
``text`` block after it must match what the commands printed, and the last step's ``uv run dwh dev``
serves the UI, asked through its GraphQL for the run, the assets and the schedule the steps made."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS
from dwh_dagster_tests.deployment.support import answers, clean_env
from dwh_dagster_tests.deployment.test_grpc_webserver import graphql
from dwh_dagster_tests.processes import HOST, free_port, running, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

SECTION = "## Your first pipeline"
DWH = f"{shlex.quote(sys.executable)} -m dwh_dagster.cli"
START_TIMEOUT = 120
COMMAND_TIMEOUT = 180


@dataclass
class Block:
    """A fenced block of the walkthrough: its info string and its lines."""

    info: str
    lines: list[str]


def walkthrough_blocks(readme: str) -> list[Block]:
    """The fenced blocks of the README's walkthrough section, in order."""
    start = readme.index(f"\n{SECTION}\n")
    end = readme.index("\n## ", start + 1)
    blocks: list[Block] = []
    current: Block | None = None
    for line in readme[start:end].splitlines():
        if line.startswith("```"):
            if current is None:
                current = Block(line[3:].strip(), [])
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, "an unclosed code block in the walkthrough"
    return blocks


def expect_lines(expected: list[str], printed: str) -> None:
    """Every expected line printed, in order; ``...`` stands for anything."""
    lines = printed.splitlines()
    position = 0
    for want in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")) + "$")
        for number in range(position, len(lines)):
            if pattern.match(lines[number].rstrip()):
                position = number + 1
                break
        else:
            raise AssertionError(f"the walkthrough shows {want!r}, the commands printed:\n{printed}")


ASSETS = """
query { assetsOrError { ... on AssetConnection { nodes { key { path }
  assetMaterializations(limit: 1) { runId } } } } }
"""
RUNS = "query { runsOrError { ... on Runs { results { runId jobName status } } } }"
SCHEDULES = """
query { repositoriesOrError { ... on RepositoryConnection { nodes {
  schedules { name cronSchedule scheduleState { status } } } } } }
"""


def check_ui(port: int, run_id: str) -> None:
    """What step 8 says the UI shows: the shell's run, the assets it materialized, the schedule."""
    runs = graphql(port, RUNS)["runsOrError"]["results"]
    assert {"runId": run_id, "jobName": "products_job", "status": "SUCCESS"} in runs
    nodes = graphql(port, ASSETS)["assetsOrError"]["nodes"]
    materialized = {"/".join(n["key"]["path"]): n["assetMaterializations"] for n in nodes}
    for key in ("shop/products", "analytics/cheap_products"):
        assert materialized[key] == [{"runId": run_id}], key
    assert "sources/products" in materialized  # the external source upstream of the table
    schedules = {
        s["name"]: s
        for repo in graphql(port, SCHEDULES)["repositoriesOrError"]["nodes"]
        for s in repo["schedules"]
    }
    nightly = schedules["products_nightly"]
    assert nightly["cronSchedule"] == "0 2 * * *"
    assert nightly["scheduleState"]["status"] == "RUNNING"


def test_readme_walkthrough_as_written(tmp_path: Path) -> None:
    blocks = walkthrough_blocks((REPO_ROOT / "README.md").read_text())
    assert [b.info for b in blocks].count("bash") >= 7
    root = tmp_path / "project"
    shutil.copytree(YAML_DEFS, root / "yaml_defs")
    shutil.copytree(REPO_ROOT / "sample_data", root / "sample_data")
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    env = clean_env(tmp_path / "unused")
    env.pop("DAGSTER_HOME")  # as on a laptop: the project's dagster.yaml
    printed = ""
    run_id = ""
    served = False
    for block in blocks:
        if block.info == "text":
            expect_lines(block.lines, printed)
            continue
        assert block.info == "bash", f"a block the test cannot follow: {block.info!r}"
        printed = ""
        for command in block.lines:
            if not command.strip() or command.lstrip().startswith("#"):
                continue
            if command == "uv run dwh dev":
                port = free_port()
                dev = [sys.executable, "-m", "dwh_dagster.cli", "dev", "-h", HOST, "-p", str(port)]
                log = tmp_path / "dev.log"
                with running(dev, env, log, cwd=root) as process:
                    ready = functools.partial(answers, f"http://{HOST}:{port}/server_info")
                    wait_for(ready, START_TIMEOUT, "the UI", {"dwh dev": (process, log)})
                    check_ui(port, run_id)
                served = True
                continue
            shell = command.replace("uv run dwh ", f"{DWH} ")
            done = subprocess.run(
                ["bash", "-c", shell],
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            printed += done.stdout
            found = re.search(r"job products_job succeeded \(run ([0-9a-f-]{36})", done.stdout)
            run_id = found.group(1) if found else run_id
    assert served and run_id, "the walkthrough ends in the UI, after a run"

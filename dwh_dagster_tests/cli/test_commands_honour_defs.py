"""Every ``dwh`` command reads the project of ``--defs`` in the environment of ``--env``.

Each runs from a folder whose own ``./yaml_defs`` is broken, so reading the wrong project shows.
The project given with ``--defs`` is valid in dev and broken only by a prod overlay.
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

from dwh_dagster.cli import main

WRONG_PROJECT = "unknown folder 'srcs/'"
PROD_ONLY = "unknown type 'duckdbb'"

GOOD_FILES = {
    "sources/files.yaml": """
        source:
          name: files
          type: filesystem
          connection: {bucket_url: data}
          resources:
            - {name: orders, file_glob: "*.csv", format: csv}
        """,
    "destinations/wh.yaml": """
        destination:
          name: wh
          type: duckdb
          connection: {database: wh.duckdb}
          environments:
            prod: {type: duckdbb}
        """,
    "pipelines/load.yaml": """
        pipeline:
          name: load
          source: {config_file: files.yaml}
          destination: {config_file: wh.yaml, dataset_name: raw}
        """,
    "jobs/load_files.yaml": """
        job:
          name: load_files
          pipelines: [{name: load}]
        """,
}


@pytest.fixture
def good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The valid project, elsewhere; the working directory holds a broken ./yaml_defs."""
    defs = tmp_path / "elsewhere" / "defs"
    for rel, text in GOOD_FILES.items():
        (defs / rel).parent.mkdir(parents=True, exist_ok=True)
        (defs / rel).write_text(textwrap.dedent(text).lstrip())
    here = tmp_path / "here"
    (here / "yaml_defs" / "srcs").mkdir(parents=True)
    (here / "yaml_defs" / "srcs" / "api.yaml").write_text("source: {name: api}\n")
    monkeypatch.chdir(here)
    monkeypatch.setenv("DWH_WEBHOOK_STORE", str(tmp_path / "webhooks.sqlite"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["validate"]) == 1  # the working directory's own project is broken
    return defs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize(
    ("command", "dev_code", "dev_says"),
    [
        (["validate"], 0, "OK: 1 source, 1 destination, 1 pipeline, 1 job"),
        (["list"], 0, "load_files"),
        (["secrets"], 0, "Secrets for environment dev"),
        (["doctor"], None, "environment dev)"),
        (["run", "no_such_job"], 2, "known jobs: 'load_files'"),
    ],
)
def test_command_reads_defs_dir_and_environment(
    good: Path, capsys: pytest.CaptureFixture[str], command: list[str], dev_code: int | None, dev_says: str
) -> None:
    capsys.readouterr()
    code, output = run(capsys, *command, "--defs", str(good))
    assert WRONG_PROJECT not in output and PROD_ONLY not in output, output
    assert dev_says in output, output
    if dev_code is not None:
        assert code == dev_code, output
    code, output = run(capsys, *command, "--defs", str(good), "--env", "prod")
    assert code == 1, output
    assert WRONG_PROJECT not in output
    assert PROD_ONLY in output or "FAIL  yaml" in output, output


def test_webhook_serve_reads_defs_dir_and_environment(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, output = run(capsys, "webhook", "serve", "--defs", str(good), "--env", "prod")
    assert code == 1 and PROD_ONLY in output and WRONG_PROJECT not in output, output
    with socket.socket() as taken:  # the receiver loads the project, then fails to bind and exits
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(SystemExit):
            main(["webhook", "serve", "--defs", str(good), "--host", "127.0.0.1", "--port", port])
    output = "".join(capsys.readouterr())
    assert "storing webhook events in" in output and WRONG_PROJECT not in output, output


@pytest.mark.parametrize(
    ("command", "written"), [("schema", ".vscode/schemas"), ("docs", "docs/config-reference.md")]
)
def test_writers_use_the_defs_dir_and_check_the_environment(
    good: Path, capsys: pytest.CaptureFixture[str], command: str, written: str
) -> None:
    code, output = run(capsys, command, "--defs", str(good), "--env", "prod")
    assert code == 0, output
    assert (good.parent / written).exists()
    assert not (Path.cwd() / written).exists()
    code, output = run(capsys, command, "--defs", str(good), "--env", "production")
    assert code == 2 and "is not a known environment" in output, output

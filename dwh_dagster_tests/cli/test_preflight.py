"""``dwh run`` checks what the selected steps need before it creates a run: a missing secret or a
DuckDB file held open by another process stops it with one located line each and exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.cli import main
from dwh_dagster_tests.conftest import YAML_DEFS, WriteProject, drop_project_files

SECRET_SOURCE = """
    source:
      name: api
      type: rest_api
      connection:
        base_url: "http://127.0.0.1:9"
        auth: {type: bearer, credentials_secret_key: api_token_secret_key}
      resources:
        - name: events
          endpoint: {path: /events, paginator: single_page}
"""

PROJECT = {
    **drop_project_files({"t_files": "files*.jsonl"}),
    "sources/api.yaml": SECRET_SOURCE,
    "pipelines/load_api.yaml": (
        "pipeline:\n  name: load_api\n  source: {config_file: api}\n"
        "  destination: {config_file: wh, dataset_name: api}\n"
    ),
    "secrets_mapping.yaml": "secrets:\n  api_token: {env_var_dev: PREFLIGHT_TOKEN_DEV, required: true}\n",
    "jobs/api_job.yaml": "job: {name: api_job, pipelines: [{name: load_api}]}\n",
    "jobs/files_job.yaml": "job: {name: files_job, pipelines: [{name: load_files}]}\n",
}


@pytest.fixture
def project(write_project: WriteProject, monkeypatch: pytest.MonkeyPatch, dagster_home: Path) -> Path:
    monkeypatch.delenv("PREFLIGHT_TOKEN_DEV", raising=False)
    defs = write_project(PROJECT)
    (defs.parent / "drop").mkdir()
    (defs.parent / "drop" / "files_1.jsonl").write_text('{"id": 1}\n')
    return defs


def _runs() -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs())


def test_a_missing_secret_stops_the_run_before_it_starts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "api_job", "--defs", str(project)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    source = project / "sources" / "api.yaml"
    line = source.read_text().splitlines()[5]
    column = line.index("api_token_secret_key}") + 1
    assert err == [
        f"{source}:6:{column}: source.connection.auth.credentials_secret_key: "
        "secret 'api_token_secret_key' is not set: export PREFLIGHT_TOKEN_DEV (environment 'dev'); "
        "then run again",
        "run not started: 1 problem(s) to fix first",
    ]
    assert _runs() == []  # no run was created


def test_a_job_that_does_not_read_the_source_runs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "files_job", "--defs", str(project)]) == 0  # api's token is not its business
    assert len(_runs()) == 1


def test_a_duckdb_file_held_open_elsewhere_stops_the_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "files_job", "--defs", str(project)]) == 0
    database = project.parent / "wh.duckdb"
    hold = f"import duckdb, time; c = duckdb.connect({str(database)!r}); print('open', flush=True); "
    holder = subprocess.Popen(
        [sys.executable, "-c", hold + "time.sleep(60)"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        capsys.readouterr()
        assert main(["run", "files_job", "--defs", str(project)]) == 2
        err = capsys.readouterr().err
        assert f"{project / 'destinations' / 'wh.yaml'}:1:" in err
        assert "destination.connection.database" in err
        assert "is open in another process" in err
        assert len(_runs()) == 1  # the second run was not created
    finally:
        holder.kill()
        holder.wait(timeout=10)
    time.sleep(0.1)
    assert main(["run", "files_job", "--defs", str(project)]) == 0  # free again


def test_dry_run_prints_the_steps_in_order_and_runs_nothing(
    demo_defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "demo_job", "--dry-run", "--defs", str(demo_defs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "dry run of demo_job (environment dev): 2 step(s), 7 table(s), in this order:",
        "  1. load_demo_to_duckdb: demo/customers, demo/orders, demo/payments",
        "  2. transform_duckdb_local: analytics/customer_orders, analytics/daily_revenue, "
        "analytics/sku_sales, analytics/stg_orders (after load_demo_to_duckdb)",
        "nothing was run (--dry-run)",
    ]
    assert _runs() == []
    assert not (demo_defs.parent / "data").exists()  # no DuckDB file written


def test_dry_run_lists_what_is_missing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "api_job", "--dry-run", "--defs", str(project)]) == 2
    captured = capsys.readouterr()
    assert "1. load_load_api: api/events" in captured.out
    assert "secret 'api_token_secret_key' is not set" in captured.err
    assert _runs() == []


@pytest.fixture
def demo_defs(tmp_path: Path, dagster_home: Path) -> Path:
    shutil.copytree(YAML_DEFS, tmp_path / "yaml_defs")
    return tmp_path / "yaml_defs"

"""Shared test helpers: paths of the shipped configs and a writer for small inline projects."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

REPO_ROOT = Path(__file__).resolve().parent.parent
YAML_DEFS = REPO_ROOT / "yaml_defs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ORIGINAL_DESIGN = FIXTURES / "original_design"
SEED_README = REPO_ROOT.parent / "shared" / "seed" / "original-design-README.md"

WriteProject = Callable[[dict[str, str]], Path]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the caller's ENVIRONMENT or DWH_DEFS_DIR."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("DWH_DEFS_DIR", raising=False)


@pytest.fixture
def write_project(tmp_path: Path) -> WriteProject:
    """Write ``{relative path: yaml text}`` (dedented) under ``tmp_path/yaml_defs`` and return that folder."""

    def write(files: dict[str, str]) -> Path:
        defs = tmp_path / "yaml_defs"
        for rel, text in files.items():
            target = defs / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        defs.mkdir(parents=True, exist_ok=True)
        return defs

    return write


LOCAL_STORAGE_KEYS = ("storage", "local_artifact_storage", "compute_logs")


def instance_settings_yaml() -> str:
    """The repo's dagster.yaml without its ``.dagster_home/`` storage: storage stays in DAGSTER_HOME."""
    import yaml

    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    return yaml.safe_dump({k: v for k, v in settings.items() if k not in LOCAL_STORAGE_KEYS})


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DAGSTER_HOME holding the repo's dagster.yaml; dlt state goes inside it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_settings_yaml())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("DWH_STATE_DIR", raising=False)
    return home


RunJob = Callable[..., "dg.ExecuteInProcessResult"]


@pytest.fixture
def run_job(dagster_home: Path) -> RunJob:
    """Run a job of a defs directory in-process on the instance in ``dagster_home``.

    ``run_job(defs_dir, "job_name", environment="dev", asset_selection=None, partition_key=None,
    partition_range=None)`` returns the result (failures do not raise; check ``result.success``);
    ``partition_range=(first, last)`` runs a range in one run, as a single-run backfill does.
    """

    def run(
        defs_dir: Path,
        job_name: str,
        environment: str = "dev",
        asset_selection: list[list[str]] | None = None,
        partition_key: str | None = None,
        partition_range: tuple[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        from dwh_dagster.config.loader import load_project
        from dwh_dagster.definitions import build_definitions

        defs = build_definitions(load_project(defs_dir, environment))
        job = defs.resolve_job_def(job_name)
        selection = [dg.AssetKey(k) for k in asset_selection] if asset_selection else None
        with dg.DagsterInstance.get() as instance:
            tags = (
                {
                    "dagster/asset_partition_range_start": partition_range[0],
                    "dagster/asset_partition_range_end": partition_range[1],
                }
                if partition_range
                else None
            )
            return job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                asset_selection=selection,
                partition_key=partition_key,
                tags=tags,
            )

    return run


def duckdb_rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query against a DuckDB file, opened read-only."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def rows_loaded(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """``rows_loaded`` of each table a run materialized, by asset key."""
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[materialization.asset_key.to_user_string()] = materialization.metadata["rows_loaded"].value
    return out


def drop_project_files(tables: dict[str, str]) -> dict[str, str]:
    """The YAML of a small project over files in ``drop/`` (beside ``yaml_defs/``).

    ``tables`` maps ``t_<x>`` to its file glob (the format follows the extension). Each table gets a
    pipeline ``load_<x>`` into dataset ``ds_<x>`` of the DuckDB destination ``wh`` (``wh.duckdb``).
    """
    resources = "\n".join(
        f'                - {{name: {table}, file_glob: "{glob}", format: {glob.rsplit(".", 1)[-1]}}}'
        for table, glob in tables.items()
    )
    files = {
        "sources/drop.yaml": f"""
            source:
              name: drop
              type: filesystem
              connection: {{bucket_url: drop}}
              resources:
{resources}
        """,
        "destinations/wh.yaml": "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n",
    }
    for table in tables:
        suffix = table.removeprefix("t_")
        files[f"pipelines/load_{suffix}.yaml"] = f"""
            pipeline:
              name: load_{suffix}
              source: {{config_file: drop, resources: [{table}]}}
              destination: {{config_file: wh, dataset_name: ds_{suffix}}}
        """
    return files


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    """A threaded HTTP server on 127.0.0.1, on a free port; it records every request."""
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    yield http
    http.clear()
    http.stop()

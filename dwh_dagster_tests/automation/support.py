"""Helpers of the automation tests: a tiny filesystem -> DuckDB project with triggers.

The project has one filesystem source ``drop`` (two small jsonl files under ``<root>/drop``), one
DuckDB destination ``wh`` and two pipelines, each with its own job:

- ``load_a`` (table ``ds_a/t_a``) in job ``job_a``
- ``load_b`` (table ``ds_b/t_b``) in job ``job_b``
- ``load_bad`` (table ``ds_bad/t_bad``, a corrupt parquet file: its runs fail) in job ``job_bad``

``triggers`` are written under ``triggers/<name>.yaml``; extra files can be added as well.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import WriteProject, drop_project_files

BASE_FILES = {
    **drop_project_files({"t_a": "a.jsonl", "t_b": "b.jsonl", "t_bad": "bad.parquet"}),
    "jobs/job_a.yaml": """
        job:
          name: job_a
          pipelines: [{name: load_a}]
    """,
    "jobs/job_b.yaml": """
        job:
          name: job_b
          pipelines: [{name: load_b}]
    """,
    "jobs/job_bad.yaml": """
        job:
          name: job_bad
          pipelines: [{name: load_bad}]
          notifications: {on_failure: false}
    """,
}

ASSET_A = dg.AssetKey(["ds_a", "t_a"])
ASSET_B = dg.AssetKey(["ds_b", "t_b"])


def write_small_project(write_project: WriteProject, triggers: dict[str, str] | None = None) -> Path:
    """Write the data files and YAML of the small project plus ``triggers`` (``{name: yaml}``)."""
    files = dict(BASE_FILES)
    for name, text in (triggers or {}).items():
        files[f"triggers/{name}.yaml"] = text
    defs_dir = write_project(files)
    drop = defs_dir.parent / "drop"
    drop.mkdir(exist_ok=True)
    for name in ("a", "b"):
        with (drop / f"{name}.jsonl").open("w") as out:
            for i in range(5):
                out.write(json.dumps({"id": i, "name": f"{name}{i}"}) + "\n")
    (drop / "bad.parquet").write_text("not parquet")
    return defs_dir


def definitions(defs_dir: Path, environment: str = "dev") -> dg.Definitions:
    """The Definitions the code location would build for ``defs_dir`` in ``environment``."""
    return build_definitions(load_project(defs_dir, environment))


def schedule_of(defs: dg.Definitions, name: str) -> dg.ScheduleDefinition:
    return defs.get_repository_def().get_schedule_def(name)


def sensor_of(defs: dg.Definitions, name: str) -> dg.SensorDefinition:
    return defs.get_repository_def().get_sensor_def(name)

"""Local paths in the YAML stay inside the project: ``..`` out and symlinks out are located errors
(the file behind them is never read), and an absolute path points outside on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import WriteProject

CANARY = "canary-3f9c1e-outside-the-project"

DESTINATION = """
    destination:
      name: wh
      type: duckdb
      connection:
        database: {database}
"""
SOURCE = """
    source:
      name: files
      type: filesystem
      connection:
        bucket_url: {bucket}
      resources:
        - name: orders
          file_glob: {glob}
          format: csv
"""
PIPELINE = """
    pipeline:
      name: load_files
      source: {config_file: files}
      destination: {config_file: wh, dataset_name: raw}
"""
MODEL = """
    transformation:
      name: model
      destination: wh
      dataset_name: analytics
      sql_file: {sql_file}
"""
TRIGGER = """
    trigger:
      name: arrived
      type: event
      job: load
      event:
        type: file_arrived
        path: {path}
"""
JOB = """
    job:
      name: load
      pipelines: [{name: load_files}]
"""


def _project(
    write_project: WriteProject,
    *,
    database: str = "data/wh.duckdb",
    bucket: str = "incoming",
    glob: str = "'*.csv'",
    sql_file: str = "sql/model.sql",
    path: str = "'incoming/*.csv'",
) -> Path:
    defs = write_project(
        {
            "destinations/wh.yaml": DESTINATION.replace("{database}", database),
            "sources/files.yaml": SOURCE.replace("{bucket}", bucket).replace("{glob}", glob),
            "pipelines/load_files.yaml": PIPELINE,
            "transformations/model.yaml": MODEL.replace("{sql_file}", sql_file),
            "triggers/arrived.yaml": TRIGGER.replace("{path}", path),
            "jobs/load.yaml": JOB,
        }
    )
    (defs / "sql").mkdir(exist_ok=True)
    (defs / "sql" / "model.sql").write_text("select * from raw.orders\n")
    return defs


def _errors(defs: Path) -> list[str]:
    with pytest.raises(ProjectConfigError) as raised:
        load_project(defs, "dev")
    return [f"{e.file.name}:{e.line}: {e.field}: {e.message}; {e.hint}" for e in raised.value.errors]


def test_paths_inside_the_project_load(write_project: WriteProject) -> None:
    load_project(_project(write_project), "dev")


def test_every_path_that_leaves_the_project_is_one_located_error(
    write_project: WriteProject, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.sql"
    outside.write_text(f"select '{CANARY}' as secret\n")
    defs = _project(
        write_project,
        database="../../wh.duckdb",
        bucket="../elsewhere",
        sql_file=f"../../{outside.name}",
        path="'../../in/*.csv'",
    )
    errors = _errors(defs)
    why = "write the absolute path if it is meant to be outside the project"
    assert sorted(errors) == sorted(
        [
            f"files.yaml:5: source.connection.bucket_url: '../elsewhere' leads outside the project, to "
            f"{tmp_path.parent / 'elsewhere'}; {why}",
            f"wh.yaml:5: destination.connection.database: '../../wh.duckdb' leads outside the project, to "
            f"{tmp_path.parent.parent / 'wh.duckdb'}; write the absolute path if it is meant to be outside "
            "the project",
            f"arrived.yaml:7: trigger.event.path: '../../in/*.csv' leads outside the project, to "
            f"{tmp_path.parent.parent / 'in'}; {why}",
            f"model.yaml:5: transformation.sql_file: '../../{outside.name}' leads outside the project, to "
            f"{outside}; write the absolute path if it is meant to be outside the project",
        ]
    )
    assert not any(CANARY in error for error in errors), "the file outside was read"


def test_absolute_paths_point_outside_on_purpose(write_project: WriteProject, tmp_path: Path) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-data"
    (elsewhere / "in").mkdir(parents=True)
    outside_sql = elsewhere / "model.sql"
    outside_sql.write_text("select * from raw.orders\n")
    defs = _project(
        write_project,
        database=str(elsewhere / "wh.duckdb"),
        bucket=str(elsewhere / "in"),
        sql_file=str(outside_sql),
        path=f"'{elsewhere}/in/*.csv'",
    )
    project = load_project(defs, "dev")
    assert project.transformations["model"].upstream == (("raw", "orders"),)


def test_a_symlink_out_of_the_project_is_an_error_and_its_target_by_absolute_path_is_not(
    write_project: WriteProject, tmp_path: Path
) -> None:
    target = tmp_path.parent / f"{tmp_path.name}-big-disk"
    target.mkdir()
    (tmp_path / "data").symlink_to(target, target_is_directory=True)
    errors = _errors(_project(write_project, database="data/wh.duckdb"))
    assert errors == [
        f"wh.yaml:5: destination.connection.database: 'data/wh.duckdb' goes through a symlink to "
        f"{target / 'wh.duckdb'}, outside the project; write the absolute path if it is meant to be "
        "outside the project"
    ]
    load_project(_project(write_project, database=str(target / "wh.duckdb")), "dev")


def test_file_glob_stays_inside_bucket_url_and_is_never_absolute(write_project: WriteProject) -> None:
    assert _errors(_project(write_project, glob="'../secrets/*.csv'")) == [
        "files.yaml:8: source.resources[0].file_glob: '../secrets/*.csv' leads outside bucket_url, to "
        f"{write_project({}).parent / 'secrets'}; point bucket_url at the folder that holds the files"
    ]
    assert _errors(_project(write_project, glob="/etc/*.csv")) == [
        "files.yaml:8: source.resources[0].file_glob: file_glob '/etc/*.csv' is absolute; it is read "
        "against bucket_url; write it relative to bucket_url, and point bucket_url at the folder"
    ]
    load_project(_project(write_project, glob="'2024/**/*.csv'"), "dev")

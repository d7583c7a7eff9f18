"""ENVIRONMENT selection and ``environments:`` overlays (file level and object level)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dwh_dagster.config.documents import parse_yaml_text
from dwh_dagster.config.environments import (
    UnknownEnvironmentError,
    apply_environment_overlay,
    resolve_environment,
)
from dwh_dagster.config.errors import ConfigError, ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import ORIGINAL_DESIGN

# --------------------------------------------------------------------------- resolve_environment


def test_default_environment_is_dev() -> None:
    assert resolve_environment() == "dev"


@pytest.mark.parametrize("value", ["dev", "stage", "prod", " prod ", "prod\n"])
def test_environment_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", value)
    assert resolve_environment() == value.strip()


def test_empty_environment_variable_means_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "")
    assert resolve_environment() == "dev"


def test_explicit_environment_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    assert resolve_environment("stage") == "stage"


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("PROD", "prod"),
        ("prd", "prod"),
        ("stag", "stage"),
        ("staging", "stage"),
        ("develop", "dev"),
        ("qa", None),
    ],
)
def test_unknown_environment_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, suggestion: str | None
) -> None:
    monkeypatch.setenv("ENVIRONMENT", value)
    with pytest.raises(UnknownEnvironmentError) as info:
        resolve_environment()
    message = str(info.value)
    assert message.startswith(f"ENVIRONMENT={value!r} is not a known environment")
    assert "'dev', 'prod', 'stage'" in message
    if suggestion:
        assert f"did you mean '{suggestion}'?" in message
    else:
        assert "did you mean" not in message


@pytest.mark.parametrize(("value", "suggestion"), [("production", "prod"), ("development", "dev")])
def test_long_environment_names_get_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, write_project, value: str, suggestion: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", value)
    with pytest.raises(UnknownEnvironmentError) as info:
        resolve_environment()
    assert f"did you mean '{suggestion}'?" in str(info.value)
    monkeypatch.delenv("ENVIRONMENT")
    base = textwrap.dedent(BASE["triggers/every_hour.yaml"]).strip()
    trigger = f"{base}\n  environments:\n    {value}: {{enabled: false}}\n"
    [error] = _errors(project(write_project, triggers__every_hour=trigger), "dev")
    assert error.message == f"unknown environment '{value}'"
    assert f"did you mean '{suggestion}'?" in error.hint


def test_unknown_explicit_environment_names_the_option() -> None:
    with pytest.raises(UnknownEnvironmentError, match=r"^--env='prd' is not a known environment.*'prod'"):
        resolve_environment("prd")


def test_explicit_empty_environment_is_unknown() -> None:
    with pytest.raises(UnknownEnvironmentError, match="--env=''"):
        resolve_environment("")


def test_unknown_environment_is_a_value_error() -> None:
    assert issubclass(UnknownEnvironmentError, ValueError)


def test_load_project_uses_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_project(ORIGINAL_DESIGN).environment == "dev"
    monkeypatch.setenv("ENVIRONMENT", "prod")
    assert load_project(ORIGINAL_DESIGN).environment == "prod"
    assert load_project(ORIGINAL_DESIGN, "stage").environment == "stage"


def test_load_project_rejects_an_unknown_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "Prod")
    with pytest.raises(UnknownEnvironmentError, match="did you mean 'prod'"):
        load_project(ORIGINAL_DESIGN)


# --------------------------------------------------------------------------- a small project

BASE = {
    "sources/files.yaml": """
        source:
          name: files
          type: filesystem
          connection: {bucket_url: ./landing}
          resources:
            - {name: orders, file_glob: "*.csv", format: csv}
            - {name: items, file_glob: "*.jsonl", format: jsonl}
        """,
    "destinations/duck.yaml": """
        destination:
          name: duck
          type: duckdb
          connection:
            database: dev.duckdb
          settings:
            schema: raw
            create_indexes: false
        """,
    "pipelines/load.yaml": """
        pipeline:
          name: load
          source: {config_file: files}
          destination: {config_file: duck}
          owners: [a, b]
        """,
    "jobs/nightly.yaml": """
        job:
          name: nightly
          pipelines:
            - name: load
        """,
    "triggers/every_hour.yaml": """
        trigger:
          name: every_hour
          type: interval
          job: nightly
          interval: {hours: 1}
          tags: [hourly, base]
        """,
}


def project(write_project, **overrides: str):
    files = {**BASE}
    for key, text in overrides.items():
        folder, _, name = key.partition("__")
        files[f"{folder}/{name}.yaml"] = text
    return write_project(files)


def test_base_project_is_the_same_everywhere(write_project) -> None:
    defs = project(write_project)
    for env in ("dev", "stage", "prod"):
        p = load_project(defs, env)
        assert p.environment == env
        assert p.destinations["duck"].connection.database == "dev.duckdb"


DUCK_WITH_OVERLAYS = """
destination:
  name: duck
  type: duckdb
  connection:
    database: dev.duckdb
  settings:
    schema: raw
    create_indexes: false
  environments:
    prod:
      connection:
        database: /data/prod.duckdb
    stage:
      settings: {create_indexes: true}
"""


def test_prod_uses_another_duckdb_file(write_project) -> None:
    defs = project(write_project, destinations__duck=DUCK_WITH_OVERLAYS)
    assert load_project(defs, "dev").destinations["duck"].connection.database == "dev.duckdb"
    assert load_project(defs, "prod").destinations["duck"].connection.database == "/data/prod.duckdb"


def test_object_level_overlay_deep_merges_mappings(write_project) -> None:
    defs = project(write_project, destinations__duck=DUCK_WITH_OVERLAYS)
    stage = load_project(defs, "stage").destinations["duck"]
    # settings.create_indexes replaced, settings.schema kept, connection untouched
    assert stage.settings.create_indexes is True
    assert stage.settings.schema_name == "raw"
    assert stage.connection.database == "dev.duckdb"
    prod = load_project(defs, "prod").destinations["duck"]
    assert prod.settings.create_indexes is False
    assert prod.settings.schema_name == "raw"


def test_file_level_overlay_deep_merges(write_project) -> None:
    duck = """
    destination:
      name: duck
      type: duckdb
      connection: {database: dev.duckdb}
      settings: {schema: raw}
    environments:
      prod:
        destination:
          connection: {database: prod.duckdb}
          settings: {create_indexes: true}
    """
    defs = project(write_project, destinations__duck=duck)
    prod = load_project(defs, "prod").destinations["duck"]
    assert prod.connection.database == "prod.duckdb"
    assert prod.settings.schema_name == "raw"
    assert prod.settings.create_indexes is True
    assert load_project(defs, "dev").destinations["duck"].connection.database == "dev.duckdb"


def test_file_level_and_object_level_overlays_combine(write_project) -> None:
    trigger = """
    trigger:
      name: every_hour
      type: interval
      job: nightly
      interval: {hours: 1}
      environments:
        prod:
          interval: {minutes: 30}
    environments:
      prod:
        trigger:
          description: from the file level
    """
    defs = project(write_project, triggers__every_hour=trigger)
    t = load_project(defs, "prod").triggers["every_hour"].model
    assert t.description == "from the file level"
    assert t.interval.total_seconds() == 3600 + 1800  # mappings merge: hours kept, minutes added


def test_lists_are_replaced_not_merged(write_project) -> None:
    trigger = """
    trigger:
      name: every_hour
      type: interval
      job: nightly
      interval: {hours: 1}
      tags: [hourly, base]
      environments:
        prod:
          tags: [prod]
    """
    pipeline = """
    pipeline:
      name: load
      source: {config_file: files, resources: [orders, items]}
      destination: {config_file: duck}
      environments:
        dev:
          source: {resources: [orders]}
    """
    defs = project(write_project, triggers__every_hour=trigger, pipelines__load=pipeline)
    prod = load_project(defs, "prod")
    assert prod.triggers["every_hour"].model.tags == ["prod"]
    assert prod.pipelines["load"].resources == ("orders", "items")
    dev = load_project(defs, "dev")
    assert dev.triggers["every_hour"].model.tags == ["hourly", "base"]
    assert dev.pipelines["load"].model.source.resources == ["orders"]
    assert dev.pipelines["load"].model.source.config_file == "files"  # the mapping around the list merged


def test_trigger_disabled_in_dev(write_project) -> None:
    trigger = """
    trigger:
      name: every_hour
      type: interval
      job: nightly
      interval: {hours: 1}
      environments:
        dev:
          enabled: false
    """
    defs = project(write_project, triggers__every_hour=trigger)
    assert load_project(defs, "dev").triggers["every_hour"].model.enabled is False
    assert load_project(defs, "stage").triggers["every_hour"].model.enabled is True
    assert load_project(defs, "prod").triggers["every_hour"].model.enabled is True


def test_overlay_may_replace_a_scalar_by_null(write_project) -> None:
    trigger = """
    trigger:
      name: every_hour
      type: interval
      job: nightly
      description: hourly
      interval: {hours: 1}
      environments:
        prod: {description: null}
    """
    defs = project(write_project, triggers__every_hour=trigger)
    assert load_project(defs, "prod").triggers["every_hour"].model.description is None


def test_empty_overlays_change_nothing(write_project) -> None:
    trigger = """
    trigger:
      name: every_hour
      type: interval
      job: nightly
      interval: {hours: 1}
      environments:
        dev:
        prod: {}
    environments: null
    """
    defs = project(write_project, triggers__every_hour=trigger)
    for env in ("dev", "prod"):
        assert load_project(defs, env).triggers["every_hour"].model.interval.hours == 1


# --------------------------------------------------------------------------- errors in overlays


def _errors(defs: Path, env: str) -> list[ConfigError]:
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs, env)
    return info.value.errors


OVERLAY_MISTAKES = """
destination:
  name: duck
  type: duckdb
  connection:
    database: dev.duckdb
  settings: {schema: raw}
  environments:
    prod:
      connection:
        database: [not, a, path]
      setings: {create_indexes: true}
"""


def test_errors_in_an_overlay_are_reported_at_the_overlay(write_project) -> None:
    defs = project(write_project, destinations__duck=OVERLAY_MISTAKES)
    errors = _errors(defs, "prod")
    by_field = {e.field: e for e in errors}
    assert set(by_field) == {"destination.connection.database", "destination.setings"}, [
        e.headline() for e in errors
    ]
    database = by_field["destination.connection.database"]
    assert (database.line, database.column) == (10, 19)
    assert "expected a text value" in database.message
    typo = by_field["destination.setings"]
    assert (typo.line, typo.column) == (11, 7)
    assert "did you mean 'settings'?" in typo.hint
    assert all(e.file == defs / "destinations/duck.yaml" for e in errors)


def test_an_overlay_of_another_environment_is_not_applied(write_project) -> None:
    defs = project(write_project, destinations__duck=OVERLAY_MISTAKES)
    assert load_project(defs, "dev").destinations["duck"].connection.database == "dev.duckdb"
    assert load_project(defs, "stage").destinations["duck"].connection.database == "dev.duckdb"


def test_file_level_overlay_error_is_reported_at_its_line(write_project) -> None:
    duck = """
    destination:
      name: duck
      type: duckdb
      settings: {schema: raw}
    environments:
      prod:
        destination:
          type: duckdbb
    """
    [error] = _errors(project(write_project, destinations__duck=duck), "prod")
    assert error.field == "destination.type"
    assert (error.line, error.column) == (8, 13)
    assert "did you mean 'duckdb'?" in error.hint


@pytest.mark.parametrize("env", ["dev", "stage", "prod"])
def test_unknown_environment_name_in_a_block_is_reported_in_every_environment(
    write_project, env: str
) -> None:
    trigger = """
    trigger:
      name: every_hour
      type: interval
      job: nightly
      interval: {hours: 1}
      environments:
        prd:
          enabled: false
    """
    [error] = _errors(project(write_project, triggers__every_hour=trigger), env)
    assert error.message == "unknown environment 'prd'"
    assert (error.line, error.column) == (7, 5)
    assert error.field == "trigger.environments.prd"
    assert "did you mean 'prod'?" in error.hint
    assert "'dev', 'prod', 'stage'" in error.hint


@pytest.mark.parametrize(
    ("block", "message", "line"),
    [
        ("environments: [dev, prod]", "must be a mapping keyed by environment", 5),
        ("environments: {dev: [enabled]}", "an environment override must be a mapping of fields", 5),
        ("environments:\n    prod: disabled", "an environment override must be a mapping of fields", 6),
    ],
)
def test_malformed_environment_blocks(write_project, block: str, message: str, line: int) -> None:
    trigger = f"""
trigger:
  name: every_hour
  type: interval
  job: nightly
  {block}
  interval: {{hours: 1}}
"""
    [error] = _errors(project(write_project, triggers__every_hour=trigger), "dev")
    assert error.message == message
    assert error.line == line


# --------------------------------------------------------------------------- apply_environment_overlay


def _doc(text: str):
    doc, errors = parse_yaml_text(textwrap.dedent(text).lstrip("\n"), Path("f.yaml"))
    assert doc is not None and not errors
    return doc


def test_overlay_block_is_removed_and_positions_follow_the_overlay() -> None:
    doc = _doc(
        """
        a:
          b: 1
          c: [1, 2, 3]
          d: {x: 1}
        environments:
          prod:
            a:
              c: [9]
              d: {y: 2}
              e: new
        """
    )
    assert apply_environment_overlay(doc, (), "prod") == []
    assert doc.data == {"a": {"b": 1, "c": [9], "d": {"x": 1, "y": 2}, "e": "new"}}
    assert doc.values[("a", "b")] == (2, 6)  # untouched value stays where it was
    assert doc.values[("a", "c")] == (8, 10)  # replaced list points at the overlay
    assert doc.values[("a", "c", 0)] == (8, 11)
    assert ("a", "c", 2) not in doc.values  # items of the replaced list are gone
    assert doc.values[("a", "d", "x")] == (4, 10)
    assert doc.values[("a", "d", "y")] == (9, 14)
    assert doc.keys[("a", "e")] == (10, 7)


def test_overlay_at_a_nested_path() -> None:
    doc = _doc(
        """
        source:
          name: s
          environments:
            dev: {name: t}
        """
    )
    assert apply_environment_overlay(doc, ("source",), "dev") == []
    assert doc.data == {"source": {"name": "t"}}
    assert apply_environment_overlay(doc, ("missing", "path"), "dev") == []


def test_other_environments_leave_the_data_but_drop_the_block() -> None:
    doc = _doc("a: 1\nenvironments:\n  prod: {a: 2}\n")
    assert apply_environment_overlay(doc, (), "dev") == []
    assert doc.data == {"a": 1}

"""Build a :class:`ProjectIndex` from inline YAML, without running any rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dwh_dagster.config.discovery import discover_files, load_document
from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.index import ProjectIndex, build_index
from dwh_dagster_tests.conftest import WriteProject

SOURCE = """
source:
  name: api
  type: rest_api
  connection: {base_url: "http://127.0.0.1:1"}
  resources:
    - name: users
      endpoint: /users
    - name: posts
      endpoint: /posts
"""
DESTINATION = """
destination:
  name: wh
  type: duckdb
  connection: {database: wh.duckdb}
"""
PIPELINE = """
pipeline:
  name: {name}
  source: {{config_file: api.yaml}}
  destination: {{config_file: wh.yaml, dataset_name: {dataset}}}
"""


def pipeline(name: str, dataset: str = "raw", extra: str = "") -> str:
    """A pipeline of all of ``api``'s resources into ``wh``, with extra YAML lines under it."""
    return PIPELINE.format(name=name, dataset=dataset) + extra


def base_files(**files: str) -> dict[str, str]:
    """The source and destination above plus ``files`` (``pipelines__p="..."`` -> pipelines/p.yaml)."""
    out = {"sources/api.yaml": SOURCE, "destinations/wh.yaml": DESTINATION}
    for key, text in files.items():
        folder, name = key.split("__")
        out[f"{folder}/{name}.yaml"] = text
    return out


def index_of(write_project: WriteProject, files: dict[str, str], environment: str = "dev") -> ProjectIndex:
    """The index of a written project; fails when a file does not load (rules are not run)."""
    root = write_project(files)
    found, errors, _ = discover_files(root)
    loaded: list[Any] = []
    for path, kind in found:
        obj, file_errors = load_document(path, kind, environment)
        errors.extend(file_errors)
        if obj is not None:
            loaded.append(obj)
    assert not errors, [e.headline() for e in errors]
    return build_index(Path(root), environment, loaded)


def headlines(errors: list[ConfigError]) -> list[str]:
    """``file:line:col: field: message; hint`` of each error, file name only."""
    return [(h := e.headline())[h.index(e.file.name) :] for e in errors]

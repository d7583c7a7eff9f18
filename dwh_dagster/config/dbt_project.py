"""A dbt project as definitions load sees it: its ``dbt_project.yml`` and its parsed manifest.

Definitions load never runs dbt: it reads the manifest that ``dwh dbt-parse`` (``dbt parse``)
wrote, once per file version, and checks that it still matches the project's files.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MODEL_RESOURCE_TYPES = ("model", "seed", "snapshot")
"""dbt resources that write a table or view: each becomes an asset."""


class DbtProjectError(ValueError):
    """The project or its manifest cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class DbtNode:
    """A model, seed or snapshot: the relation it writes and what it reads."""

    unique_id: str
    resource_type: str
    name: str
    schema: str
    table: str
    """The relation's name: the alias, or the name."""
    file: str
    """Its file, relative to the project (``models/staging/stg_orders.sql``)."""
    custom_schema: bool
    """Whether it sets its own ``schema`` config (it then lands beside the profile's schema)."""
    materialized: str
    """``table``, ``view``, ``incremental``, ``ephemeral`` (no relation), ..."""


@dataclass(frozen=True)
class DbtSource:
    """A ``source('<source>', '<table>')``: a table the project reads and does not write."""

    unique_id: str
    source_name: str
    name: str
    schema: str
    table: str
    """The identifier: the table's real name."""


@dataclass(frozen=True)
class DbtManifest:
    """What the project builds and reads, from ``manifest.json``."""

    project_name: str
    adapter_type: str | None
    nodes: tuple[DbtNode, ...]
    sources: tuple[DbtSource, ...]
    tests: int
    disabled_files: frozenset[str]
    """Files of disabled resources: known to dbt, not built."""


def read_project_file(project_dir: Path) -> dict[str, Any]:
    """``dbt_project.yml`` as a mapping; :class:`DbtProjectError` when missing or unreadable."""
    path = project_dir / "dbt_project.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DbtProjectError(f"no dbt_project.yml in {project_dir}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DbtProjectError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise DbtProjectError(f"{path} has no project 'name'")
    if not isinstance(data.get("profile", data["name"]), str):
        raise DbtProjectError(f"{path}: 'profile' must be a name")
    return data


def profile_name(project_file: dict[str, Any]) -> str:
    """The profile the project asks for (dbt falls back on the project's name)."""
    return str(project_file.get("profile") or project_file["name"])


@functools.lru_cache(maxsize=16)
def _load_json(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    with open(path, "rb") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise DbtProjectError(f"{path} is not a dbt manifest (no 'nodes')")
    return data


def load_manifest_json(path: Path) -> dict[str, Any]:
    """The manifest's JSON, read once per version of the file (shared with dagster-dbt).

    Callers must not change it.
    """
    try:
        stat = path.stat()
        return _load_json(str(path), stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        raise DbtProjectError(f"no dbt manifest at {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, DbtProjectError):
            raise
        raise DbtProjectError(f"cannot read the dbt manifest {path}: {exc}") from None


def summarize_manifest(data: dict[str, Any]) -> DbtManifest:
    """The nodes and sources of a manifest's JSON."""
    nodes = []
    tests = 0
    for unique_id, node in sorted(data.get("nodes", {}).items()):
        kind = node.get("resource_type")
        if kind == "test":
            tests += 1
        if kind not in MODEL_RESOURCE_TYPES:
            continue
        config = node.get("config") or {}
        nodes.append(
            DbtNode(
                unique_id=unique_id,
                resource_type=kind,
                name=node["name"],
                schema=node["schema"],
                table=node.get("alias") or node["name"],
                file=node.get("original_file_path", ""),
                custom_schema=bool(config.get("schema")),
                materialized=str(config.get("materialized") or ""),
            )
        )
    sources = [
        DbtSource(
            unique_id=unique_id,
            source_name=source["source_name"],
            name=source["name"],
            schema=source["schema"],
            table=source.get("identifier") or source["name"],
        )
        for unique_id, source in sorted(data.get("sources", {}).items())
    ]
    metadata = data.get("metadata") or {}
    return DbtManifest(
        project_name=str(metadata.get("project_name") or ""),
        adapter_type=metadata.get("adapter_type"),
        nodes=tuple(nodes),
        sources=tuple(sources),
        tests=tests,
        disabled_files=frozenset(
            str(entry.get("original_file_path", ""))
            for entries in (data.get("disabled") or {}).values()
            for entry in entries
        ),
    )


def _paths(project_file: dict[str, Any], key: str, default: str) -> list[str]:
    value = project_file.get(key, [default])
    return [str(v) for v in value] if isinstance(value, list) else [default]


def files_missing_from_manifest(
    project_dir: Path, project_file: dict[str, Any], manifest: DbtManifest
) -> list[str]:
    """Model, snapshot and seed files of the project that the manifest does not know: it is older
    than they are."""
    known = {node.file for node in manifest.nodes} | manifest.disabled_files
    found: list[str] = []
    for key, default, pattern in (
        ("model-paths", "models", "*.sql"),
        ("snapshot-paths", "snapshots", "*.sql"),
        ("seed-paths", "seeds", "*.csv"),
    ):
        for folder in _paths(project_file, key, default):
            base = project_dir / folder
            if not base.is_dir():
                continue
            for path in sorted(base.rglob(pattern)):
                relative = path.relative_to(project_dir).as_posix()
                if relative not in known:
                    found.append(relative)
    return found

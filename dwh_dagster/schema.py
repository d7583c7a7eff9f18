"""JSON schemas of every file kind, for editors (VS Code's YAML extension)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dwh_dagster.config.models.files import ALL_KINDS, SECRETS_FILE_NAMES, FileKind

SCHEMA_DIR = Path(".vscode/schemas")
SETTINGS_FILE = Path(".vscode/settings.json")


def schema_file_name(kind: FileKind) -> str:
    """``source.schema.json`` and so on."""
    return f"{kind.top_key}.schema.json"


def build_json_schema(kind: FileKind) -> dict[str, Any]:
    """The JSON schema of one file kind."""
    schema = kind.model.model_json_schema(mode="validation", by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": f"dwh-dagster {kind.label} file",
    }


def _globs(kind: FileKind, defs_folder: str) -> list[str]:
    if kind.folder == ".":
        return [f"{defs_folder}/{name}" for name in SECRETS_FILE_NAMES]
    return [f"{defs_folder}/{kind.folder}/**/*.yaml", f"{defs_folder}/{kind.folder}/**/*.yml"]


def render_schemas(defs_folder: str = "yaml_defs") -> dict[Path, str]:
    """Every schema file and the VS Code ``yaml.schemas`` mapping, as relative path -> text."""
    files: dict[Path, str] = {}
    mapping: dict[str, list[str]] = {}
    for kind in ALL_KINDS:
        path = SCHEMA_DIR / schema_file_name(kind)
        files[path] = json.dumps(build_json_schema(kind), indent=2, sort_keys=True) + "\n"
        mapping[f"./{path.as_posix()}"] = _globs(kind, defs_folder)
    files[SETTINGS_FILE] = json.dumps({"yaml.schemas": mapping}, indent=2) + "\n"
    return files


def write_schemas(root: Path, defs_folder: str = "yaml_defs") -> list[Path]:
    """Write the schemas and settings under ``root``; keeps other keys of an existing settings.json."""
    written = []
    for rel, text in render_schemas(defs_folder).items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == SETTINGS_FILE and target.exists():
            try:
                current = json.loads(target.read_text())
            except json.JSONDecodeError:
                current = {}
            current.update(json.loads(text))
            text = json.dumps(current, indent=2) + "\n"
        target.write_text(text)
        written.append(target)
    return written

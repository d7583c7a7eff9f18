"""Discovery and per-file loading: every YAML file of a defs directory, parsed, overlaid for the
environment and validated against the model of its kind.

Nothing here looks across files; :mod:`dwh_dagster.config.index` does that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from dwh_dagster.config.documents import Document, parse_yaml_file
from dwh_dagster.config.environments import apply_environment_overlay
from dwh_dagster.config.errors import ConfigError, describe_value, did_you_mean, list_choices
from dwh_dagster.config.models.files import (
    FILE_KINDS,
    KIND_BY_FOLDER,
    KIND_BY_TOP_KEY,
    SECRETS_FILE_NAMES,
    SECRETS_KIND,
    FileKind,
)
from dwh_dagster.config.translate import translate_validation_error

DEFS_DIR_VAR = "DWH_DEFS_DIR"
DEFAULT_DEFS_FOLDER = "yaml_defs"
YAML_SUFFIXES = (".yaml", ".yml")

M = TypeVar("M")


def default_defs_dir() -> Path:
    """``$DWH_DEFS_DIR``, else ``./yaml_defs`` when it exists, else ``yaml_defs/`` beside the package."""
    from_env = os.environ.get(DEFS_DIR_VAR)
    if from_env:
        return Path(from_env).expanduser().resolve()
    here = Path.cwd() / DEFAULT_DEFS_FOLDER
    if here.is_dir():
        return here.resolve()
    return (Path(__file__).resolve().parent.parent.parent / DEFAULT_DEFS_FOLDER).resolve()


@dataclass(frozen=True)
class LoadedObject(Generic[M]):
    """One validated object and the file it came from.

    Where each value stands in the file is not kept: in a large project those positions would
    take more memory than the models. :attr:`doc` parses the file again (with the same environment
    overlays) when a cross-check reports a problem in it.
    """

    kind: FileKind
    name: str
    model: M
    file: Path
    environment: str

    @cached_property
    def doc(self) -> Document:
        """The document of this object's file, with its positions, as it was loaded."""
        doc, _ = parse_yaml_file(self.file)
        if doc is None or not isinstance(doc.data, dict):  # the file changed since it was loaded
            return Document(file=self.file, data=None)
        apply_environment_overlay(doc, (), self.environment)
        if self.kind is not SECRETS_KIND:
            apply_environment_overlay(doc, (self.kind.top_key,), self.environment)
        return doc

    def error(
        self, path: tuple[str | int, ...], message: str, hint: str = "", *, at_key: bool = False
    ) -> ConfigError:
        """An error at ``path`` inside this object (``path`` excludes the top key)."""
        return self.doc.error((self.kind.top_key, *path), message, hint, at_key=at_key)


def discover_files(
    defs_dir: Path,
) -> tuple[list[tuple[Path, FileKind | None]], list[ConfigError], list[Path]]:
    """Every YAML file under ``defs_dir`` with the kind its folder implies (None: decide by content).

    Also returns the errors for files in unknown folders, and those files.
    """
    found: list[tuple[Path, FileKind | None]] = []
    errors: list[ConfigError] = []
    misplaced: list[Path] = []
    bad_folders: set[str] = set()
    for path in sorted(defs_dir.rglob("*")):
        rel = path.relative_to(defs_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() not in YAML_SUFFIXES:
            continue
        if len(rel.parts) == 1:
            found.append((path, SECRETS_KIND if path.name in SECRETS_FILE_NAMES else None))
            continue
        folder = rel.parts[0]
        kind = KIND_BY_FOLDER.get(folder)
        if kind is None:
            misplaced.append(path)
            if folder not in bad_folders:
                bad_folders.add(folder)
                folders = [k.folder for k in FILE_KINDS]
                hint = did_you_mean(folder, folders)
                valid = f"config folders are {list_choices(folders)}"
                errors.append(
                    ConfigError(
                        path,
                        f"unknown folder '{folder}/' in {defs_dir.name}/",
                        hint=f"{hint} {valid}" if hint else valid,
                    )
                )
            continue
        found.append((path, kind))
    return found, errors, misplaced


def kind_by_content(path: Path) -> str | None:
    """The kind a misplaced file defines, read from its top-level key (None when unreadable)."""
    doc, _ = parse_yaml_file(path)
    if doc is None or not isinstance(doc.data, dict):
        return None
    kinds = [KIND_BY_TOP_KEY[k].kind for k in doc.data if k in KIND_BY_TOP_KEY]
    return kinds[0] if len(kinds) == 1 else None


def load_document(
    path: Path, folder_kind: FileKind | None, environment: str
) -> tuple[LoadedObject[Any] | None, list[ConfigError]]:
    """The validated object of one file, or the errors that kept it from loading."""
    doc, errors = parse_yaml_file(path)
    if doc is None or errors:
        return None, errors
    if not isinstance(doc.data, dict):
        expected = f"'{folder_kind.top_key}:'" if folder_kind else "a top-level key"
        return None, [
            doc.error(
                (),
                f"expected a mapping with {expected} at the top, got {describe_value(doc.data)}",
                f"start the file with '{folder_kind.top_key if folder_kind else 'source'}:'",
            )
        ]
    overlay_errors = apply_environment_overlay(doc, (), environment)
    if overlay_errors:
        return None, overlay_errors
    content_kinds = [KIND_BY_TOP_KEY[k] for k in doc.data if k in KIND_BY_TOP_KEY]
    if folder_kind is None:
        if len(content_kinds) == 1 and content_kinds[0] is not SECRETS_KIND:
            kind = content_kinds[0]
            return None, [
                doc.error(
                    (kind.top_key,),
                    f"this file defines a {kind.label}, but it is not in a config folder",
                    f"move it to {kind.folder}/",
                    at_key=True,
                )
            ]
        return None, [
            ConfigError(
                path,
                "only secrets_mapping.yaml may sit directly in the defs directory",
                line=1,
                column=1,
                hint=f"move it into one of {list_choices(k.folder + '/' for k in FILE_KINDS)}",
            )
        ]
    kind = folder_kind
    if kind.top_key not in doc.data:
        others = [k for k in content_kinds if k is not kind]
        if others:
            other = others[0]
            where = (
                f"{other.folder}/"
                if other is not SECRETS_KIND
                else "the defs directory as secrets_mapping.yaml"
            )
            return None, [
                doc.error(
                    (other.top_key,),
                    f"this file defines a {other.label}, but it is in {kind.folder}/",
                    f"move it to {where}",
                    at_key=True,
                )
            ]
        unknown = [k for k in doc.data if k != "environments"]
        hint = did_you_mean(unknown[0], [kind.top_key]) if unknown else ""
        valid = f"files in {kind.folder}/ start with '{kind.top_key}:'"
        at: tuple[str, ...] = (unknown[0],) if unknown else ()
        return None, [
            doc.error(
                at,
                f"missing top-level key '{kind.top_key}'",
                f"{hint} {valid}" if hint else valid,
                at_key=True,
            )
        ]
    if kind is not SECRETS_KIND:
        overlay_errors = apply_environment_overlay(doc, (kind.top_key,), environment)
        if overlay_errors:
            return None, overlay_errors
    try:
        model = kind.model.model_validate(doc.data)
    except ValidationError as exc:
        return None, translate_validation_error(doc, kind.model, exc)
    inner: Any = getattr(model, kind.top_key)
    name = getattr(inner, "name", kind.top_key)
    return LoadedObject(kind, name, inner, path, environment), []

"""``load_project``: discover -> load -> index -> rules -> resolve.

The CLI and the Dagster definitions both call it, so ``dwh validate`` and ``dagster definitions
validate`` can never disagree. Every problem of every file is collected and raised once, as a
:class:`~dwh_dagster.config.errors.ProjectConfigError`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dwh_dagster.config.discovery import (
    DEFS_DIR_VAR,
    LoadedObject,
    default_defs_dir,
    discover_files,
    kind_by_content,
    load_document,
)
from dwh_dagster.config.environments import resolve_environment
from dwh_dagster.config.errors import ConfigError, ProjectConfigError
from dwh_dagster.config.index import ProjectIndex, build_index
from dwh_dagster.config.resolve import resolve_project
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.config.rules import RULES
from dwh_dagster.config.rules.run_order import check_run_order

__all__ = ["DEFS_DIR_VAR", "default_defs_dir", "load_project", "project_fingerprint"]


def project_fingerprint(
    defs_dir: Path | str | None = None, environment: str | None = None
) -> tuple[str, str, str]:
    """What :func:`load_project` with these arguments reads: the folder, the environment, and a
    digest of the path and content of every file under the folder.

    Equal fingerprints mean an equal project. Computing one reads the files' bytes (tens of
    milliseconds for thousands of files) and parses nothing.
    """
    env = resolve_environment(environment)
    root = Path(defs_dir).expanduser().resolve() if defs_dir is not None else default_defs_dir()
    digest = hashlib.blake2b(digest_size=16)
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            try:
                content = path.read_bytes() if path.is_file() else None
            except OSError:  # removed meanwhile or unreadable: loading would report it
                content = b"\0unreadable"
            if content is not None:
                digest.update(f"{path}\0{len(content)}\0".encode())
                digest.update(content)
    return (str(root), env, digest.hexdigest())


def load_index(
    defs_dir: Path | str | None = None, environment: str | None = None
) -> tuple[ProjectIndex, list[ConfigError]]:
    """Load and check every config: the index of what loaded, and every problem found.

    Arguments as for :func:`load_project`; raises :class:`ProjectConfigError` only when the defs
    directory does not exist.
    """
    env = resolve_environment(environment)
    root = Path(defs_dir).expanduser().resolve() if defs_dir is not None else default_defs_dir()
    if not root.is_dir():
        raise ProjectConfigError(
            [
                ConfigError(
                    root, "defs directory not found", hint=f"create it, set {DEFS_DIR_VAR} or pass --defs DIR"
                )
            ]
        )
    files, errors, misplaced = discover_files(root)
    loaded: list[LoadedObject[Any]] = []
    failed_kinds: set[str] = set()
    for path, kind in files:
        obj, file_errors = load_document(path, kind, env)
        errors.extend(file_errors)
        if obj is not None:
            loaded.append(obj)
        else:
            if kind is not None:
                failed_kinds.add(kind.kind)
            misplaced.append(path)
    # the kind a misplaced or broken file most likely defines: references to it are not unknown
    failed_kinds.update(k for k in map(kind_by_content, misplaced) if k)
    index = build_index(root, env, loaded, failed_kinds)
    check_errors = [*index.errors, *(error for rule in RULES for error in rule(index))]
    if not check_errors and not index.has_failures:
        # with files that did not load, references may dangle: the file errors come first
        check_errors = check_run_order(index)
    errors.extend(check_errors)
    return index, errors


def load_project(defs_dir: Path | str | None = None, environment: str | None = None) -> ResolvedProject:
    """Load, check and resolve every config; raise :class:`ProjectConfigError` with all problems at once.

    ``defs_dir`` defaults to ``$DWH_DEFS_DIR``, else ``./yaml_defs``; ``environment`` to
    ``$ENVIRONMENT``, else ``dev``.
    """
    index, errors = load_index(defs_dir, environment)
    if errors:
        raise ProjectConfigError(errors)
    return resolve_project(index)

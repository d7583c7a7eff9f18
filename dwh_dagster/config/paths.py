"""Local paths in the YAML that must stay inside the project unless written as absolute paths.

A relative path (``data/x.duckdb``, ``sql/model.sql``, ``incoming/*.csv``) is read against a base
folder of the project; it may not leave the project, neither with ``..`` nor through a symlink
that points outside. To point outside on purpose, the YAML writes the absolute path (or ``~/...``).
URLs (``s3://``, ``md:``) and DuckDB's ``:memory:`` are not local paths and are not checked.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

NOT_LOCAL_PREFIXES = ("md:", "motherduck:", ":memory:")


def is_local_path(value: str) -> bool:
    """Whether ``value`` names a local file or folder (not a URL, MotherDuck or ``:memory:``)."""
    return "://" not in value and not value.startswith(NOT_LOCAL_PREFIXES)


def is_written_absolute(value: str) -> bool:
    """Whether the YAML writes ``value`` as an absolute path (``/srv/x``, ``~/x``): on purpose."""
    return Path(value).expanduser().is_absolute()


def _fixed_prefix(pattern: str) -> str:
    """The part of a glob before its first segment with a wildcard (``in/2024/*.csv`` -> ``in/2024``)."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return str(Path(*parts)) if parts else "."


def escape_problem(
    value: str, base: Path, inside: Path, *, is_glob: bool = False, inside_name: str = "the project"
) -> str | None:
    """Why the relative path ``value`` (read against ``base``) leaves ``inside``; None when it stays.

    Absolute paths and URLs are not judged here (the caller decides whether they are allowed).
    The problem names where the path leads.
    """
    if not is_local_path(value) or is_written_absolute(value):
        return None
    fixed = _fixed_prefix(value) if is_glob else value
    inside = inside.resolve()
    lexical = Path(os.path.normpath(base.resolve() / fixed))
    if not lexical.is_relative_to(inside):
        return f"'{value}' leads outside {inside_name}, to {lexical}"
    resolved = lexical.resolve()
    if not resolved.is_relative_to(inside):
        return f"'{value}' goes through a symlink to {resolved}, outside {inside_name}"
    return None


def sql_file_escape(sql_file: str, defs_dir: Path) -> str | None:
    """Why a transformation's ``sql_file`` (relative to the defs directory) is not read: it leaves
    the project; None when it may be read."""
    return escape_problem(sql_file, defs_dir, defs_dir.parent)

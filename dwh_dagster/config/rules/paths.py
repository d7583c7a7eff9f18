"""Rules of local paths: a relative path in the YAML stays inside the project (no ``..`` out, no
symlink out); an absolute path says the file lives elsewhere on purpose. A ``file_glob`` is read
against its source's ``bucket_url`` and stays inside that folder, and is never absolute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.destinations import DuckDbDestination, FilesystemDestination
from dwh_dagster.config.models.sources import FilesystemSource
from dwh_dagster.config.models.transformations import DbtTransformation, SqlTransformation
from dwh_dagster.config.models.triggers import EventTrigger, FileArrivedEvent
from dwh_dagster.config.paths import escape_problem, is_local_path, is_written_absolute

_ON_PURPOSE = "write the absolute path if it is meant to be outside the project"


def _check(
    obj: LoadedObject[Any],
    path: tuple[str | int, ...],
    value: str,
    base: Path,
    inside: Path,
    errors: list[ConfigError],
    *,
    is_glob: bool = False,
) -> None:
    problem = escape_problem(value, base, inside, is_glob=is_glob)
    if problem:
        errors.append(obj.error(path, problem, _ON_PURPOSE))


def _check_source(obj: LoadedObject[Any], root: Path, errors: list[ConfigError]) -> None:
    source = obj.model
    if not isinstance(source, FilesystemSource):
        return
    bucket = source.connection.bucket_url
    _check(obj, ("connection", "bucket_url"), bucket, root, root, errors)
    if not is_local_path(bucket):
        return
    bucket_dir = Path(bucket).expanduser()
    bucket_dir = bucket_dir if bucket_dir.is_absolute() else root / bucket_dir
    for number, resource in enumerate(source.resources):
        where = ("resources", number, "file_glob")
        if is_written_absolute(resource.file_glob):
            errors.append(
                obj.error(
                    where,
                    f"file_glob '{resource.file_glob}' is absolute; it is read against bucket_url",
                    "write it relative to bucket_url, and point bucket_url at the folder",
                )
            )
            continue
        problem = escape_problem(
            resource.file_glob, bucket_dir, bucket_dir, is_glob=True, inside_name="bucket_url"
        )
        if problem:
            errors.append(obj.error(where, problem, "point bucket_url at the folder that holds the files"))


def check_paths(index: ProjectIndex) -> list[ConfigError]:
    """Every local path of the project that leaves it without being written as an absolute path."""
    errors: list[ConfigError] = []
    defs_dir = index.root
    root = defs_dir.parent
    for obj in index.sources:
        _check_source(obj, root, errors)
    for destination in index.destinations:
        model = destination.model
        if isinstance(model, DuckDbDestination):
            _check(destination, ("connection", "database"), model.connection.database, root, root, errors)
        elif isinstance(model, FilesystemDestination):
            _check(destination, ("connection", "bucket_url"), model.connection.bucket_url, root, root, errors)
    for trigger in index.triggers:
        if isinstance(trigger.model, EventTrigger) and isinstance(trigger.model.event, FileArrivedEvent):
            _check(trigger, ("event", "path"), trigger.model.event.path, root, root, errors, is_glob=True)
    for transformation in index.transformations:
        built = transformation.model
        if isinstance(built, SqlTransformation) and built.sql_file is not None:
            _check(transformation, ("sql_file",), built.sql_file, defs_dir, root, errors)
        elif isinstance(built, DbtTransformation):
            _check(transformation, ("project_dir",), built.project_dir, defs_dir, root, errors)
    return errors

"""What a run needs, checked before ``dwh run`` creates it: every secret its sources and
destinations name is set, and every DuckDB file it writes can be written and is not held open by
another process.

Each problem is one located line (file, line, field, what to do); with any problem the command
stops with exit 2 and no run is created. Only what the selected steps use is checked: a demo
source's unset token does not stop a job that never reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from dwh_dagster.config.documents import parse_yaml_file
from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.models.destinations import DestinationModel, DuckDbDestination
from dwh_dagster.config.resolved import ResolvedProject, ResolvedTransformation
from dwh_dagster.config.secrets import SecretNotSetError, SecretResolver, iter_secret_references
from dwh_dagster.ingestion.locks import duckdb_lock_path

_TOP_KEYS = {"sources": "source", "destinations": "destination"}


def _locate(
    project: ResolvedProject, kind: str, name: str, path: tuple[str | int, ...], message: str, hint: str
) -> ConfigError:
    file = project.files.get((kind, name))
    if file is None:
        return ConfigError(Path(name), message, field=".".join(map(str, path)), hint=hint)
    document, _ = parse_yaml_file(file)
    if document is None:
        return ConfigError(file, message, hint=hint)
    return document.error((_TOP_KEYS[kind], *path), message, hint)


def _secret_problems(
    project: ResolvedProject, kind: str, name: str, model: BaseModel, resolver: SecretResolver
) -> list[ConfigError]:
    problems = []
    for path, reference in iter_secret_references(model):
        try:
            resolver.resolve(reference)
        except SecretNotSetError as exc:
            problems.append(_locate(project, kind, name, path, str(exc), "then run again"))
    return problems


def duckdb_file_problem(path: Path) -> tuple[str, str] | None:
    """Why the DuckDB file ``path`` cannot be written or created, and what to do; None when it can
    (``dwh doctor`` reports the same)."""
    folder = next((p for p in [path.parent, *path.parents] if p.exists()), None)
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable", "give this user write access, or name another file"
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
        return f"cannot create {path}", f"make {path.parent} writable, or name another file"
    return None


def _duckdb_problems(project: ResolvedProject, destination: DuckDbDestination) -> list[ConfigError]:
    path = Path(project.local_path(destination.connection.database))
    problem = duckdb_file_problem(path)
    if problem is None and path.exists() and (holder := _held_by_another_process(path)):
        problem = f"{path} is open in another process: {holder}", "close it there, then run again"
    if problem is None:
        return []
    return [_locate(project, "destinations", destination.name, ("connection", "database"), *problem)]


def _held_by_another_process(path: Path) -> str:
    """DuckDB's own lock message when a process other than our writers has ``path`` open (a SQL
    client, a notebook), else ``""``. While one of our runs writes it (it holds the writer lock),
    this run will wait for it: not a problem."""
    import duckdb
    import filelock

    lock = filelock.UnixFileLock(str(duckdb_lock_path(path)), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return ""
    try:
        connection = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        return str(exc).strip().splitlines()[0]
    finally:
        lock.release()
    connection.close()
    return ""


def _destinations(
    project: ResolvedProject, pipelines: Iterable[str], models: Iterable[str]
) -> list[DestinationModel]:
    found: dict[str, DestinationModel] = {}
    for name in pipelines:
        destination = project.pipelines[name].destination
        found[destination.name] = destination
    for name in models:
        model = project.transformations.get(name)
        if isinstance(model, ResolvedTransformation):
            found[model.destination.name] = model.destination
        elif name in project.dbt_projects:
            found[project.dbt_projects[name].destination.name] = project.dbt_projects[name].destination
    return [found[name] for name in sorted(found)]


def preflight(
    project: ResolvedProject, pipelines: Iterable[str], models: Iterable[str] = ()
) -> list[ConfigError]:
    """Every problem that would stop a run of ``pipelines`` and ``models`` (transformations or dbt
    projects) before it loads anything; empty when it can start."""
    pipelines, models = sorted(set(pipelines)), sorted(set(models))
    resolver = SecretResolver(project.secrets, project.environment)
    problems: list[ConfigError] = []
    for source in sorted({project.pipelines[name].source.name for name in pipelines}):
        problems += _secret_problems(project, "sources", source, project.sources[source], resolver)
    for destination in _destinations(project, pipelines, models):
        problems += _secret_problems(project, "destinations", destination.name, destination, resolver)
        if isinstance(destination, DuckDbDestination):
            problems += _duckdb_problems(project, destination)
    return problems


def touched_by(project: ResolvedProject, asset_keys: Iterable[Sequence[str]]) -> tuple[list[str], list[str]]:
    """The pipelines and the transformations (SQL models, dbt projects) whose tables are among
    ``asset_keys``."""
    keys = {tuple(key) for key in asset_keys}
    pipelines = [
        name for name, p in project.pipelines.items() if any((p.dataset, r) in keys for r in p.resources)
    ]
    models = [name for name, t in project.transformations.items() if (t.dataset, t.name) in keys]
    models += [
        name for name, d in project.dbt_projects.items() if any(tuple(k) in keys for k in d.asset_keys)
    ]
    return pipelines, models

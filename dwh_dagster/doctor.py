"""``dwh doctor``: one report on the instance config, the definitions, the secrets, the DuckDB files
and, with ``--network``, whether sources and destinations answer."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.models.destinations import DuckDbDestination, PostgresConnection, PostgresDestination
from dwh_dagster.config.models.sources import FilesystemSource, RestApiSource, SqlDatabaseSource
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.config.secrets import SecretNotSetError, iter_secret_references, secret_key_of
from dwh_dagster.preflight import duckdb_file_problem

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    area: str
    status: str
    detail: str


def check_instance(project_root: Path) -> Check:
    """The Dagster instance configuration that `dagster dev` or DAGSTER_HOME would use parses."""
    import yaml

    home = os.environ.get("DAGSTER_HOME")
    path = Path(home) / "dagster.yaml" if home else project_root / "dagster.yaml"
    if not path.exists():
        return Check("instance", WARN, f"{path} not found: Dagster uses its defaults")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return Check("instance", FAIL, f"{path} is not valid YAML: {exc}")
    storage = next(iter(config.get("storage", {}) or {"sqlite (default)": None}))
    telemetry = (config.get("telemetry") or {}).get("enabled", True)
    status = OK if telemetry is False else WARN
    return Check(
        "instance", status, f"{path}: storage {storage}, telemetry {'off' if not telemetry else 'ON'}"
    )


def check_definitions(project: ResolvedProject) -> Check:
    """The Dagster definitions build from the project."""
    from dwh_dagster.definitions import build_definitions

    defs = build_definitions(project)
    repo = defs.get_repository_def()
    return Check(
        "definitions",
        OK,
        f"{len(repo.asset_graph.get_all_asset_keys())} assets, {len(repo.get_all_jobs())} jobs, "
        f"{len(repo.schedule_defs)} schedules, {len(repo.sensor_defs)} sensors",
    )


SKIP = "skip"


def self_starting_triggers(project: ResolvedProject) -> list[str]:
    """The enabled triggers that can start their job by themselves: schedules, sensors and
    webhooks, and job events of the jobs those start. Manual triggers start nothing; a trigger
    that follows a job only a user starts runs only after that user's run."""
    enabled = {
        name: t for name, t in project.triggers.items() if t.model.enabled and t.model.type != "manual"
    }
    chosen = {name for name, t in enabled.items() if t.watched_job is None}
    while True:
        started = {enabled[name].job.name for name in chosen}
        more = {
            name
            for name, t in enabled.items()
            if name not in chosen and t.watched_job is not None and t.watched_job.name in started
        }
        if not more:
            return sorted(chosen)
        chosen |= more


def jobs_to_check(project: ResolvedProject, named: Sequence[str] = ()) -> list[str]:
    """The jobs whose needs the report checks: the ``named`` ones, else those that enabled
    triggers start by themselves in this environment."""
    if named:
        return sorted(set(named))
    return sorted({project.triggers[name].job.name for name in self_starting_triggers(project)})


def needed_secrets(project: ResolvedProject, jobs: Sequence[str]) -> dict[str, str]:
    """Each secret (mapping key) that a run of ``jobs`` reads, with what reads it (sources,
    destinations, notification channels, and the triggers that start those jobs by themselves)."""
    models: list[tuple[str, BaseModel]] = []
    for name in jobs:
        job = project.jobs[name]
        for pipeline in job.pipelines:
            models += [(f"source {pipeline.source.name}", pipeline.source)]
            models += [(f"destination {pipeline.destination.name}", pipeline.destination)]
        for transformation in job.transformations:
            models += [(f"destination {transformation.destination.name}", transformation.destination)]
        models += [
            (f"channel {channel}", project.channels[channel])
            for channel in job.channels
            if channel in project.channels
        ]
    models += [
        (f"trigger {name}", project.triggers[name].model)
        for name in self_starting_triggers(project)
        if project.triggers[name].job.name in jobs
    ]
    needed: dict[str, str] = {}
    for reader, model in models:
        for _, reference in iter_secret_references(model):
            key = secret_key_of(reference, project.secrets) or reference
            needed.setdefault(key, reader)
    return needed


def check_secrets(project: ResolvedProject, jobs: Sequence[str]) -> list[Check]:
    """The secrets that ``jobs`` read are set (their absence fails the report); the others are
    skipped, with why."""
    needed = needed_secrets(project, jobs)
    checks = []
    for key, entry in project.secrets.items():
        env_var = entry.env_var_for(project.environment) or "no env var"
        is_set = env_var != "no env var" and bool(os.environ.get(env_var))
        if key not in needed:
            state = "set" if is_set else "not set"
            checks.append(Check("secret", SKIP, f"{key}: {env_var} {state}; not read by the jobs checked"))
        elif is_set:
            checks.append(Check("secret", OK, f"{key}: {env_var} is set (read by {needed[key]})"))
        else:
            checks.append(Check("secret", FAIL, f"{key}: {env_var} is not set (read by {needed[key]})"))
    return checks


def check_duckdb_files(project: ResolvedProject) -> list[Check]:
    """Every DuckDB database file can be created or written."""
    checks = []
    for destination in project.destinations.values():
        if not isinstance(destination, DuckDbDestination):
            continue
        path = Path(project.local_path(destination.connection.database))
        problem = duckdb_file_problem(path)
        if problem is None:
            checks.append(Check("duckdb", OK, f"{destination.name}: {path} is writable"))
        else:
            checks.append(Check("duckdb", FAIL, f"{destination.name}: {problem[0]}"))
    return checks


def _probe(area: str, name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(area, OK, f"{name}: {probe()}")
    except SecretNotSetError as exc:
        return Check(area, FAIL, f"{name}: {exc}")
    except Exception as exc:  # a probe reports, it never crashes the report
        return Check(
            area, FAIL, f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        )


def check_network(project: ResolvedProject) -> list[Check]:
    """Whether each source and destination answers (rest_api, sql_database, filesystem; postgres)."""
    import requests

    resolver = project.secret_resolver()
    checks = []
    for source in project.sources.values():
        if isinstance(source, RestApiSource):
            url = source.connection.base_url

            def rest(url: str = url) -> str:
                response = requests.get(url, timeout=10)
                return f"{url} answered HTTP {response.status_code}"

            checks.append(_probe("source", source.name, rest))
        elif isinstance(source, SqlDatabaseSource):
            key = source.connection.credentials_secret_key

            def sql(key: str = key) -> str:
                import sqlalchemy

                from dwh_dagster.ingestion.dlt_sources import sqlalchemy_url

                engine = sqlalchemy.create_engine(sqlalchemy_url(resolver.resolve(key)))
                with engine.connect() as connection:
                    connection.execute(sqlalchemy.text("SELECT 1"))
                return "connected"

            checks.append(_probe("source", source.name, sql))
        elif isinstance(source, FilesystemSource):
            bucket = project.local_path(source.connection.bucket_url)

            def files(bucket: str = bucket) -> str:
                import fsspec

                fs, path = fsspec.core.url_to_fs(bucket)
                return f"{bucket} exists" if fs.exists(path) else f"{bucket} does not exist"

            checks.append(_probe("source", source.name, files))
    for destination in project.destinations.values():
        if isinstance(destination, PostgresDestination):

            def postgres(conn: PostgresConnection = destination.connection) -> str:  # type: ignore[assignment]
                import psycopg2

                key = conn.credentials_secret_key
                psycopg2.connect(
                    host=conn.host,
                    port=conn.port,
                    dbname=conn.database,
                    user=conn.username,
                    password=resolver.resolve(key) if key else None,
                    connect_timeout=10,
                ).close()
                return "connected"

            checks.append(_probe("destination", destination.name, postgres))
        elif not isinstance(destination, DuckDbDestination):
            checks.append(Check("destination", WARN, f"{destination.name}: {destination.type} is not probed"))
    return checks


def run_doctor(
    defs_dir: str | None, environment: str | None, network: bool, jobs: Sequence[str] = ()
) -> tuple[list[Check], bool]:
    """All checks, and whether none failed; secrets are checked for ``jobs`` (default: those of
    the enabled triggers)."""
    from dwh_dagster.config.loader import default_defs_dir, load_project

    root = (Path(defs_dir).resolve() if defs_dir else default_defs_dir()).parent
    checks = [check_instance(root)]
    try:
        project = load_project(defs_dir, environment)
    except ProjectConfigError as exc:
        checks.append(Check("yaml", FAIL, f"{len(exc.errors)} error(s); run `dwh validate` to see them"))
        return checks, False
    checks.append(Check("yaml", OK, f"{project.defs_dir} (environment {project.environment})"))
    checks.append(check_definitions(project))
    unknown = [name for name in jobs if name not in project.jobs]
    if unknown:
        known = ", ".join(sorted(project.jobs))
        checks.append(Check("job", FAIL, f"unknown job(s) {', '.join(unknown)}; known jobs: {known}"))
        return checks, False
    checked = jobs_to_check(project, jobs)
    scope = (
        "named" if jobs else "the jobs enabled triggers start by themselves; `dwh doctor JOB` checks others"
    )
    checks.append(Check("jobs", OK, f"secrets checked for {', '.join(checked) or 'no job'} ({scope})"))
    checks += check_secrets(project, checked)
    checks += check_duckdb_files(project)
    if network:
        checks += check_network(project)
    return checks, all(c.status != FAIL for c in checks)

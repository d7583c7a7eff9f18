"""Build dlt sources from source models. A registry keyed by source ``type``; dlt imported lazily.

A fresh source is built for every run (dagster-dlt 0.29 fails every second materialization of a
reused source object: dagster-io/dagster#34052).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dwh_dagster.config.models.sources import (
    FilesystemSource,
    RestApiAuth,
    RestApiResource,
    RestApiSource,
    SourceModel,
    SqlDatabaseSource,
)
from dwh_dagster.config.rest_api import parent_resource
from dwh_dagster.ingestion.arrow_pages import add_arrow_pages_step, parse_json_once
from dwh_dagster.ingestion.partitioning import (
    PartitionKeyStep,
    PartitionWindow,
    add_partition_steps,
    partition_hints,
)

if TYPE_CHECKING:
    from dlt.extract.source import DltSource

Resolve = Callable[[str], str]
"""Reads a secret value from its reference (``X_secret_key``), at run time."""


@dataclass(frozen=True)
class BuildContext:
    """What builders need besides the model: secret values and local paths, both at run time."""

    resolve: Resolve
    local_path: Callable[[str], str]
    arrow_pages: bool = False
    """The destination takes parquet files: ``rest_api`` pages may reach dlt as Arrow tables."""
    stored_types: Callable[[str, str], Mapping[str, str]] | None = None
    """dlt column types of a table (schema name, table name) from earlier runs, read when needed."""
    window: PartitionWindow | None = None
    """The partition (or range) a partitioned pipeline's run loads; None when not partitioned."""
    partition_cursors: Mapping[str, str] = field(default_factory=dict)
    """Per partitioned resource, the field that places a record in a window."""

    def partition_cursor(self, resource: str) -> str | None:
        """The partition cursor of ``resource`` when this run loads a window, else None."""
        return self.partition_cursors.get(resource) if self.window is not None else None


def _paginator_config(paginator: Any) -> dict[str, Any] | None:
    if paginator is None:
        return None
    return {"type": paginator.type, **paginator.model_dump(exclude_unset=True, exclude={"type"})}


def _mask_query_param_in_dlt_errors(name: str) -> None:
    """Make dlt mask the query parameter ``name`` wherever it prints a request URL.

    dlt's HTTP errors and request logs show the URL with only a fixed list of parameter names
    masked (``api_key``, ``token``, ...); a key sent as ``?access=...`` would otherwise be written
    verbatim into the exception, dlt's logs and the run trace dlt saves in its working directory.
    The list is global to the process: adding a name only masks more.
    """
    from dlt.sources.helpers.rest_client.redaction import SENSITIVE_PARAMS

    SENSITIVE_PARAMS.add(name.lower())


def _auth_config(auth: RestApiAuth | None, resolve: Resolve, session: Any = None) -> Any:
    if auth is None:
        return None
    secret = resolve(auth.credentials_secret_key)
    if auth.type == "bearer":
        return {"type": "bearer", "token": secret}
    if auth.type == "api_key":
        if auth.location == "query":
            _mask_query_param_in_dlt_errors(auth.name)
        return {"type": "api_key", "name": auth.name, "api_key": secret, "location": auth.location}
    if auth.type == "http_basic":
        return {"type": "http_basic", "username": auth.username, "password": secret}
    from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials

    request_data = dict(auth.token_request_data)
    if auth.scopes:
        request_data.setdefault("scope", " ".join(auth.scopes))
    return OAuth2ClientCredentials(
        access_token_url=auth.token_url,
        client_id=auth.client_id,
        client_secret=secret,
        access_token_request_data=request_data,
        default_token_expiration=auth.default_token_expiration,
        # the token request follows the source's timeout and retry policy too; without a session
        # dlt posts it through its global client (60 s timeout, 5 attempts)
        session=session,
    )


def _window_params(resource: RestApiResource, window: PartitionWindow) -> dict[str, str]:
    """The incremental's query parameters, set to the window's start and end (ISO 8601)."""
    incremental = resource.incremental
    params: dict[str, str] = {}
    if incremental is not None and incremental.param:
        params[incremental.param] = window.start.isoformat()
    if incremental is not None and incremental.end_param:
        params[incremental.end_param] = window.end.isoformat()
    return params


def _rest_resource_config(resource: RestApiResource, window: PartitionWindow | None = None) -> dict[str, Any]:
    """One resource of dlt's ``RESTAPIConfig``; with a ``window``, its cursor parameters ask for
    that window and the moving incremental is left out (the window is a bounded one, added later)."""
    from dlt.common.jsonpath import compile_path

    endpoint: dict[str, Any] = {"path": resource.endpoint.path, "method": resource.endpoint.method}
    params = {**resource.endpoint.params, **(_window_params(resource, window) if window else {})}
    if params:
        endpoint["params"] = params
    if resource.endpoint.json_body is not None:
        endpoint["json"] = dict(resource.endpoint.json_body)
    if resource.endpoint.data_selector:
        # compiled once here: dlt's client compiles a string selector again for every page
        endpoint["data_selector"] = compile_path(resource.endpoint.data_selector)
    paginator = _paginator_config(resource.endpoint.paginator or resource.paginator)
    if paginator is not None:
        endpoint["paginator"] = paginator
    incremental = resource.incremental
    if incremental is not None and incremental.enabled and window is None:
        inc: dict[str, Any] = {
            "cursor_path": incremental.cursor_field,
            "initial_value": incremental.initial_value,
        }
        if incremental.end_value is not None:
            inc["end_value"] = incremental.end_value
        if incremental.param:
            inc["start_param"] = incremental.param
        if incremental.end_param:
            inc["end_param"] = incremental.end_param
        endpoint["incremental"] = inc
    config: dict[str, Any] = {
        "name": resource.name,
        "endpoint": endpoint,
        "write_disposition": resource.write_disposition,
    }
    if resource.primary_key is not None:
        config["primary_key"] = resource.primary_key
    if resource.include_from_parent:
        config["include_from_parent"] = list(resource.include_from_parent)
    return config


def rest_api_config(
    source: RestApiSource,
    resolve: Resolve,
    session: Any = None,
    windows: Mapping[str, PartitionWindow] | None = None,
) -> dict[str, Any]:
    """dlt's ``RESTAPIConfig`` for a source (secrets resolved through ``resolve``); ``windows``: the
    partition window of each partitioned resource."""
    client: dict[str, Any] = {"base_url": source.connection.base_url}
    if source.connection.headers:
        client["headers"] = dict(source.connection.headers)
    auth = _auth_config(source.connection.auth, resolve, session)
    if auth is not None:
        client["auth"] = auth
    paginator = _paginator_config(source.connection.paginator)
    if paginator is not None:
        client["paginator"] = paginator
    if session is not None:
        client["session"] = session
    windows = windows or {}
    return {
        "client": client,
        "resources": [_rest_resource_config(r, windows.get(r.name)) for r in source.resources],
    }


def http_session(source: RestApiSource) -> Any:
    """A requests session with this source's timeout and retry policy (not dlt's global one)."""
    from dlt.sources.helpers.requests import Client

    client = Client(
        request_timeout=source.connection.timeout,
        request_max_attempts=source.connection.retry.max_attempts,
        request_backoff_factor=source.connection.retry.backoff_factor,
        raise_for_status=False,
    )
    return client.session


def build_rest_api_source(source: SourceModel, selected: Sequence[str], ctx: BuildContext) -> DltSource:
    """dlt's rest_api source for a ``rest_api`` model."""
    from dlt.sources.rest_api import rest_api_source

    assert isinstance(source, RestApiSource)
    session = parse_json_once(http_session(source))
    windows = {
        r.name: ctx.window
        for r in source.resources
        if ctx.window is not None and ctx.partition_cursor(r.name) is not None
    }
    config = rest_api_config(source, ctx.resolve, session=session, windows=windows)
    dlt_source = rest_api_source(config, name=source.name)  # type: ignore[arg-type]
    if ctx.arrow_pages and source.page_format == "arrow":
        parents = {parent_resource(resource) for resource in source.resources} - {None}
        for resource in source.resources:
            if resource.name not in parents:  # a child resource reads its parent's records as dicts
                stored = ctx.stored_types
                add_arrow_pages_step(
                    dlt_source.resources[resource.name],
                    functools.partial(stored, dlt_source.schema.name, resource.name) if stored else None,
                )
    return dlt_source


def sqlalchemy_url(url: str) -> str:
    """A bare ``postgresql://`` URL pointed at the installed driver.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; dlt[postgres] installs psycopg2.
    """
    import importlib.util

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        parsed = parsed.set(drivername="postgresql+psycopg2")
        return parsed.render_as_string(hide_password=False)
    return url


def _cursor_value(value: Any, data_type: str | None) -> Any:
    """A YAML cursor value (dates stay strings in YAML) as the type of the cursor column."""
    from dlt.common.time import ensure_pendulum_date, ensure_pendulum_datetime

    if not isinstance(value, str):
        return value
    if data_type == "timestamp":
        return ensure_pendulum_datetime(value)
    if data_type == "date":
        return ensure_pendulum_date(value)
    return value


def _window_incremental(resource: Any, cursor: str, window: PartitionWindow) -> Any:
    """dlt's incremental bounded by the window, typed like the cursor column (date, naive or aware
    timestamp): no state is kept for it, so the table's moving cursor stays as it is."""
    import dlt

    from dwh_dagster.ingestion.partitioning import zone

    column = resource.columns.get(cursor, {}) if isinstance(resource.columns, dict) else {}
    start = window.start.astimezone(zone(window.partitions.timezone))
    end = window.end.astimezone(zone(window.partitions.timezone))
    bounds: tuple[Any, Any] = (start, end)
    if column.get("data_type") == "date":
        bounds = (start.date(), end.date())
    elif column.get("timezone") is False:
        bounds = (start.replace(tzinfo=None), end.replace(tzinfo=None))  # wall-clock times
    return dlt.sources.incremental(
        cursor, initial_value=bounds[0], end_value=bounds[1], range_start="closed", range_end="open"
    )


def build_sql_database_source(source: SourceModel, selected: Sequence[str], ctx: BuildContext) -> DltSource:
    """dlt's sql_database source reflecting only the selected tables."""
    import dlt
    from dlt.sources.sql_database import sql_database

    assert isinstance(source, SqlDatabaseSource)
    dlt_source = sql_database.with_args(name=source.name)(
        credentials=sqlalchemy_url(ctx.resolve(source.connection.credentials_secret_key)),
        schema=source.connection.schema_name,
        table_names=list(selected),
        backend=source.backend,
        chunk_size=source.connection.chunk_size,
    )
    for table in source.tables:
        if table.name not in selected:
            continue
        resource = dlt_source.resources[table.name]
        hints: dict[str, Any] = {"write_disposition": table.write_disposition}
        if table.primary_key is not None:
            hints["primary_key"] = table.primary_key
        partition_cursor = ctx.partition_cursor(table.name)
        if partition_cursor is not None and ctx.window is not None:
            # the window as a bounded incremental on the cursor column: the database filters it
            hints["incremental"] = _window_incremental(resource, partition_cursor, ctx.window)
        elif table.incremental is not None and table.incremental.enabled:
            cursor = table.incremental.cursor_field
            data_type = resource.columns.get(cursor, {}).get("data_type")  # type: ignore[union-attr]
            hints["incremental"] = dlt.sources.incremental(
                cursor,
                initial_value=_cursor_value(table.incremental.initial_value, data_type),
                end_value=_cursor_value(table.incremental.end_value, data_type),
            )
        resource.apply_hints(**hints)
    return dlt_source


def build_filesystem_source(source: SourceModel, selected: Sequence[str], ctx: BuildContext) -> DltSource:
    """dlt's filesystem readers (csv, jsonl, parquet), one resource per file set."""
    import json

    import dlt
    from dlt.sources.filesystem import filesystem, read_csv_duckdb, read_jsonl, read_parquet

    assert isinstance(source, FilesystemSource)
    # csv through DuckDB's reader into Arrow: typed columns, no pandas (and dlt's JSON path
    # uses a relation API that DuckDB 2 removed)
    readers: dict[str, Any] = {"csv": read_csv_duckdb, "jsonl": read_jsonl, "parquet": read_parquet}
    bucket_url = ctx.local_path(source.connection.bucket_url)
    location: dict[str, Any] = {"bucket_url": bucket_url}
    if source.connection.credentials_secret_key:  # passing credentials=None breaks local paths in dlt
        location["credentials"] = json.loads(ctx.resolve(source.connection.credentials_secret_key))

    def resources() -> list[Any]:
        out = []
        for resource in source.resources:
            files = filesystem(file_glob=resource.file_glob, **location)
            files = files.with_name(f"{resource.name}__files")
            if (
                resource.incremental is not None
                and resource.incremental.enabled
                and ctx.partition_cursor(resource.name) is None
            ):
                files.apply_hints(
                    incremental=dlt.sources.incremental(
                        "modification_date",
                        initial_value=_cursor_value(resource.incremental.initial_value, "timestamp"),
                    )
                )
            reader_options = {"use_pyarrow": True} if resource.format == "csv" else {}
            reader = (files | readers[resource.format](**reader_options)).with_name(resource.name)
            hints: dict[str, Any] = {"write_disposition": resource.write_disposition}
            if resource.primary_key is not None:
                hints["primary_key"] = resource.primary_key
            reader.apply_hints(**hints)
            out.append(reader)
        return out

    return dlt.source(resources, name=source.name)()


SourceBuilder = Callable[[SourceModel, Sequence[str], BuildContext], "DltSource"]
"""Builds the dlt source of a model; the selected resources let a builder read only those."""

SOURCE_BUILDERS: dict[str, SourceBuilder] = {
    "rest_api": build_rest_api_source,
    "sql_database": build_sql_database_source,
    "filesystem": build_filesystem_source,
}


def _partition_resource(dlt_source: DltSource, source: SourceModel, name: str, ctx: BuildContext) -> None:
    """Make one resource load the run's window: a partition key on each record, only the window's
    records (dlt's bounded incremental; sql_database bounds its cursor column instead), and
    delete-insert on the partition column."""
    from dwh_dagster.config.models.sources import find_resource

    cursor = ctx.partition_cursor(name)
    if cursor is None or ctx.window is None:
        return
    resource = dlt_source.resources[name]
    # sql_database tables are bounded in the database (a bounded incremental on the cursor column);
    # the others by dlt's bounded incremental on the partition column, after the keys
    window = None if isinstance(source, SqlDatabaseSource) else ctx.window
    add_partition_steps(resource, PartitionKeyStep(ctx.window.partitions, cursor, name), window)
    resource.apply_hints(**partition_hints(find_resource(source, name).primary_key))


def build_dlt_source(source: SourceModel, resources: Sequence[str], ctx: BuildContext) -> DltSource:
    """A fresh dlt source for ``source`` with only ``resources`` selected (each loading the run's
    partition window, when the pipeline is partitioned)."""
    dlt_source = SOURCE_BUILDERS[source.type](source, resources, ctx)
    for name in resources:
        _partition_resource(dlt_source, source, name, ctx)
    return dlt_source.with_resources(*resources)

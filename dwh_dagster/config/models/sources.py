"""``sources/*.yaml``: where data comes from (``rest_api``, ``sql_database``, ``filesystem``)."""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    FilesystemConnection,
    Name,
    PrimaryKey,
    SecretRef,
    StrictModel,
    WriteDisposition,
    environments_field,
    secret_field,
    tag_values,
)
from dwh_dagster.config.models.partitions import Partitions, partitions_field

# --------------------------------------------------------------------------- rest_api: auth


class BearerAuth(StrictModel):
    """``Authorization: Bearer <token>``; the token comes from a secret."""

    type: Literal["bearer"] = Field(description="Bearer token authentication.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the bearer token.")


class ApiKeyAuth(StrictModel):
    """An API key sent in a header or a query parameter."""

    type: Literal["api_key"] = Field(description="API key authentication.")
    name: str = Field(default="Authorization", description="Header or query parameter that carries the key.")
    location: Literal["header", "query"] = Field(
        default="header", description="Where the key is sent: `header` or `query`."
    )
    credentials_secret_key: SecretRef = secret_field("Secret holding the API key.")


class HttpBasicAuth(StrictModel):
    """HTTP basic authentication; the password comes from a secret."""

    type: Literal["http_basic"] = Field(description="HTTP basic authentication.")
    username: str = Field(description="User name sent with every request.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the password.")


class OAuth2ClientCredentialsAuth(StrictModel):
    """OAuth2 client-credentials flow: a token is fetched from ``token_url`` and refreshed."""

    type: Literal["oauth2_client_credentials"] = Field(description="OAuth2 client credentials flow.")
    token_url: str = Field(description="URL of the token endpoint (dlt's `access_token_url`).")
    client_id: str = Field(description="OAuth2 client id.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the OAuth2 client secret.")
    scopes: list[str] = Field(default_factory=list, description="Scopes requested with the token.")
    token_request_data: dict[str, Any] = Field(
        default_factory=dict, description="Extra form fields sent to the token endpoint."
    )
    default_token_expiration: PositiveInt = Field(
        default=3600, description="Token lifetime in seconds when the token response has no `expires_in`."
    )


RestApiAuth = Annotated[
    BearerAuth | ApiKeyAuth | HttpBasicAuth | OAuth2ClientCredentialsAuth,
    Field(discriminator="type"),
]

# --------------------------------------------------------------------------- rest_api: paginators


class JsonLinkPaginator(StrictModel):
    """The next page URL is in the response body."""

    type: Literal["json_link"] = Field(description="Next page URL read from the JSON body.")
    next_url_path: str = Field(default="next", description="JSON path of the next page URL in the body.")


class HeaderLinkPaginator(StrictModel):
    """The next page URL is in the ``Link`` header (RFC 8288)."""

    type: Literal["header_link"] = Field(description="Next page URL read from the `Link` header.")
    links_next_key: str = Field(default="next", description="`rel` of the next link in the `Link` header.")


class HeaderCursorPaginator(StrictModel):
    """The next page cursor is in a response header."""

    type: Literal["header_cursor"] = Field(description="Cursor read from a response header.")
    cursor_key: str = Field(default="next", description="Response header holding the next cursor.")
    cursor_param: str = Field(default="cursor", description="Query parameter that sends the cursor.")


class OffsetPaginator(StrictModel):
    """``?offset=N&limit=M`` pagination."""

    type: Literal["offset"] = Field(description="Offset and limit query parameters.")
    limit: PositiveInt = Field(description="Page size sent in the limit parameter.")
    offset: int = Field(default=0, ge=0, description="Offset of the first page.")
    offset_param: str = Field(default="offset", description="Query parameter carrying the offset.")
    limit_param: str = Field(default="limit", description="Query parameter carrying the limit.")
    total_path: str | None = Field(
        default="total", description="JSON path of the total item count; null when the API has none."
    )
    maximum_offset: PositiveInt | None = Field(default=None, description="Stop once the offset reaches this.")
    stop_after_empty_page: bool = Field(default=True, description="Stop at the first empty page.")
    has_more_path: str | None = Field(default=None, description="JSON path of a boolean 'more pages' flag.")


class PageNumberPaginator(StrictModel):
    """``?page=N`` pagination."""

    type: Literal["page_number"] = Field(description="Page number query parameter.")
    base_page: int = Field(default=0, ge=0, description="Number the API gives its first page (0 or 1).")
    page: int | None = Field(default=None, ge=0, description="Page to start from; defaults to `base_page`.")
    page_param: str = Field(default="page", description="Query parameter carrying the page number.")
    total_path: str | None = Field(
        default="total", description="JSON path of the total page count; null when the API has none."
    )
    maximum_page: PositiveInt | None = Field(default=None, description="Stop after this page.")
    stop_after_empty_page: bool = Field(default=True, description="Stop at the first empty page.")
    has_more_path: str | None = Field(default=None, description="JSON path of a boolean 'more pages' flag.")


class CursorPaginator(StrictModel):
    """A cursor from the response body is sent back as a query parameter (or in the JSON body)."""

    type: Literal["cursor"] = Field(description="Cursor read from the JSON body.")
    cursor_path: str = Field(default="cursors.next", description="JSON path of the next cursor in the body.")
    cursor_param: str | None = Field(
        default=None, description="Query parameter that sends the cursor (default `cursor`)."
    )
    cursor_body_path: str | None = Field(
        default=None, description="Dotted path in the JSON request body that sends the cursor (POST APIs)."
    )
    stop_after_empty_page: bool = Field(default=False, description="Stop at the first empty page.")
    has_more_path: str | None = Field(default=None, description="JSON path of a boolean 'more pages' flag.")

    @model_validator(mode="after")
    def _one_cursor_target(self) -> CursorPaginator:
        if self.cursor_param and self.cursor_body_path:
            raise ValueError("set either cursor_param or cursor_body_path, not both")
        return self


class SinglePagePaginator(StrictModel):
    """The endpoint returns everything in one response."""

    type: Literal["single_page"] = Field(description="No pagination.")


class AutoPaginator(StrictModel):
    """dlt detects the pagination from the first response."""

    type: Literal["auto"] = Field(description="Let dlt detect the paginator.")


PaginatorConfig = (
    JsonLinkPaginator
    | HeaderLinkPaginator
    | HeaderCursorPaginator
    | OffsetPaginator
    | PageNumberPaginator
    | CursorPaginator
    | SinglePagePaginator
    | AutoPaginator
)
PAGINATOR_TYPES: tuple[str, ...] = tag_values(PaginatorConfig)
PaginatorName = Literal[
    "json_link", "header_link", "header_cursor", "offset", "page_number", "cursor", "single_page", "auto"
]
assert set(typing.get_args(PaginatorName)) == set(PAGINATOR_TYPES), "PaginatorName must list every paginator"


def _type_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"type": value}
    if not isinstance(value, dict):
        raise ValueError(
            "expected a paginator name ("
            + ", ".join(PAGINATOR_TYPES)
            + ") or a mapping with 'type' and its parameters"
        )
    return value


def _path_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"path": value}
    if not isinstance(value, dict):
        raise ValueError(
            "expected an endpoint path such as '/users', or a mapping with 'path', 'params', ..."
        )
    return value


Paginator = Annotated[
    Annotated[PaginatorConfig, Field(discriminator="type")],
    BeforeValidator(_type_shorthand, json_schema_input_type=PaginatorName | PaginatorConfig),
]
"""A paginator: a type name (``json_link``) or a mapping with ``type`` and its parameters."""

# --------------------------------------------------------------------------- rest_api: connection


class HttpRetry(StrictModel):
    """Retries of failed HTTP requests (429, 5xx, connection errors)."""

    max_attempts: PositiveInt = Field(default=5, description="Attempts per request, the first included.")
    backoff_factor: float = Field(
        default=1.0, ge=0, description="Exponential backoff multiplier in seconds between attempts."
    )


class RestApiConnection(StrictModel):
    """How to reach the API."""

    base_url: str = Field(description="Base URL every endpoint path is relative to.")
    auth: RestApiAuth | None = Field(default=None, description="Authentication; omit for public APIs.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers sent with every request.")
    paginator: Paginator | None = Field(
        default=None, description="Default paginator of every resource; dlt detects one when omitted."
    )
    timeout: PositiveFloat = Field(default=30, description="Request timeout in seconds.")
    retry: HttpRetry = Field(default_factory=HttpRetry, description="Retry policy for failed requests.")

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError(f"base_url '{value}' must start with http:// or https://")
        return value


class Endpoint(StrictModel):
    """The request behind a resource."""

    path: str = Field(
        description="Path relative to base_url; `{resources.<parent>.<field>}` makes this a child resource."
    )
    method: Literal["GET", "POST"] = Field(default="GET", description="HTTP method.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Query parameters; a value `{resources.<parent>.<field>}` makes this a child resource.",
    )
    json_body: dict[str, Any] | None = Field(
        default=None, alias="json", description="JSON request body (for POST endpoints)."
    )
    data_selector: str | None = Field(
        default=None, description="JSON path of the records in the response; dlt guesses when omitted."
    )
    paginator: Paginator | None = Field(default=None, description="Paginator of this endpoint only.")


Endpointish = Annotated[
    Endpoint,
    BeforeValidator(_path_shorthand, json_schema_input_type=str | Endpoint),
]


class RestApiIncremental(StrictModel):
    """Load only records whose cursor field moved past the last value seen."""

    enabled: bool = Field(default=True, description="Turn incremental loading on or off.")
    cursor_field: str = Field(description="Field of each record that only grows (for example `updated_at`).")
    initial_value: str | int | float = Field(description="Cursor value of the first run.")
    end_value: str | int | float | None = Field(
        default=None, description="Stop at this cursor value (for backfills); open-ended when omitted."
    )
    param: str | None = Field(
        default=None,
        description="Query parameter that sends the last cursor value to the API; "
        "without it records are filtered after download.",
    )
    end_param: str | None = Field(
        default=None,
        description="Query parameter that sends the end of the range (`end_value`, or a partition's "
        "window end) to the API; without it records past the end are filtered after download.",
    )


class RestApiResource(StrictModel):
    """One endpoint loaded into one table."""

    name: Name = Field(description="Resource name; also the destination table name.")
    description: str | None = Field(default=None, description="What the table holds; shown in the UI.")
    endpoint: Endpointish = Field(description="Endpoint path, or a mapping with path, method, params, ...")
    paginator: Paginator | None = Field(default=None, description="Paginator of this resource.")
    incremental: RestApiIncremental | None = Field(default=None, description="Incremental loading.")
    primary_key: PrimaryKey | None = Field(default=None, description="Column or columns identifying a row.")
    write_disposition: WriteDisposition = Field(
        default="append", description="`append`, `replace` or `merge` (merge needs a primary_key)."
    )
    partitions: Partitions | None = partitions_field(
        "Load this table in time windows that can each be reloaded (see the pipeline's "
        "`partitions:`, which wins when both are given)."
    )
    include_from_parent: list[str] = Field(
        default_factory=list,
        description="Fields of the parent record copied into each child row (as `_<parent>_<field>`).",
    )

    @model_validator(mode="after")
    def _merge_needs_key(self) -> RestApiResource:
        _check_merge_key(self.write_disposition, self.primary_key)
        return self


def _check_merge_key(disposition: str, primary_key: object) -> None:
    if disposition == "merge" and not primary_key:
        raise ValueError("write_disposition 'merge' needs a primary_key to merge on; add primary_key")


class RestApiSource(StrictModel):
    """A REST API loaded through dlt's rest_api source."""

    name: Name = Field(description="Unique source name.")
    type: Literal["rest_api"] = Field(description="REST API source.")
    description: str | None = Field(default=None, description="What this source is.")
    connection: RestApiConnection = Field(description="Base URL, auth, headers, paginator, timeout, retry.")
    resources: list[RestApiResource] = Field(min_length=1, description="Endpoints to load, one table each.")
    page_format: Literal["arrow", "rows"] = Field(
        default="arrow",
        description=(
            "How pages reach dlt. `arrow` (default, several times faster): each page becomes an Arrow "
            "table; nested objects become `<parent>__<child>` columns and ISO timestamps timestamp "
            "columns, as dlt does; a page with a list, mixed types or huge integers goes the row "
            "way. `rows`: dlt's row normalizer for every page. Used when the destination takes "
            "parquet files; see README 'Fast loading'."
        ),
    )
    environments: EnvironmentOverlays | None = environments_field()

    def resource_names(self) -> list[str]:
        """Names of all resources, in file order."""
        return [r.name for r in self.resources]


# --------------------------------------------------------------------------- sql_database


class SqlIncremental(StrictModel):
    """Load only rows whose cursor column moved past the last value seen."""

    enabled: bool = Field(default=True, description="Turn incremental loading on or off.")
    cursor_field: str = Field(description="Column that only grows (for example `updated_at` or `id`).")
    initial_value: str | int | float | None = Field(
        default=None, description="Cursor value of the first run."
    )
    end_value: str | int | float | None = Field(default=None, description="Stop at this cursor value.")


class SqlTable(StrictModel):
    """One database table loaded into one destination table."""

    name: Name = Field(description="Table name in the source database; also the destination table name.")
    description: str | None = Field(default=None, description="What the table holds; shown in the UI.")
    incremental: SqlIncremental | None = Field(default=None, description="Incremental loading.")
    primary_key: PrimaryKey | None = Field(default=None, description="Column or columns identifying a row.")
    write_disposition: WriteDisposition = Field(
        default="append", description="`append`, `replace` or `merge` (merge needs a primary_key)."
    )
    partitions: Partitions | None = partitions_field(
        "Load this table in time windows that can each be reloaded (see the pipeline's "
        "`partitions:`, which wins when both are given)."
    )

    @model_validator(mode="after")
    def _merge_needs_key(self) -> SqlTable:
        _check_merge_key(self.write_disposition, self.primary_key)
        return self


class SqlConnection(StrictModel):
    """How to reach the database: a SQLAlchemy URL kept in a secret."""

    credentials_secret_key: SecretRef = secret_field(
        "Secret holding the SQLAlchemy connection URL (for example `postgresql://user:pw@host/db`)."
    )
    schema_name: str | None = Field(
        default=None, alias="schema", description="Database schema to read; the default schema when omitted."
    )
    chunk_size: PositiveInt = Field(default=50_000, description="Rows fetched per batch.")


class SqlDatabaseSource(StrictModel):
    """Tables of a SQL database loaded through dlt's sql_database source."""

    name: Name = Field(description="Unique source name.")
    type: Literal["sql_database"] = Field(description="SQL database source.")
    description: str | None = Field(default=None, description="What this source is.")
    connection: SqlConnection = Field(description="Connection URL secret, schema and batch size.")
    backend: Literal["sqlalchemy", "pyarrow", "pandas", "connectorx"] = Field(
        default="pyarrow", description="How rows are read: `sqlalchemy`, `pyarrow`, `pandas` or `connectorx`."
    )
    tables: list[SqlTable] = Field(min_length=1, description="Tables to load; only these are reflected.")
    environments: EnvironmentOverlays | None = environments_field()

    def resource_names(self) -> list[str]:
        """Names of all tables, in file order."""
        return [t.name for t in self.tables]


# --------------------------------------------------------------------------- filesystem


class FileIncremental(StrictModel):
    """Load only files modified since the last run (cursor: file modification time)."""

    enabled: bool = Field(default=True, description="Turn incremental loading on or off.")
    initial_value: str | None = Field(
        default=None, description="ISO timestamp: ignore files modified before it on the first run."
    )


class FilesystemResource(StrictModel):
    """Files matching a glob loaded into one table."""

    name: Name = Field(description="Resource name; also the destination table name.")
    description: str | None = Field(default=None, description="What the table holds; shown in the UI.")
    file_glob: str = Field(description="Glob relative to bucket_url, for example `orders/*.csv`.")
    format: Literal["csv", "jsonl", "parquet"] = Field(
        description="File format: `csv`, `jsonl` or `parquet`."
    )
    incremental: FileIncremental | None = Field(
        default=None, description="Only load files modified since the last run."
    )
    primary_key: PrimaryKey | None = Field(default=None, description="Column or columns identifying a row.")
    write_disposition: WriteDisposition = Field(
        default="append", description="`append`, `replace` or `merge` (merge needs a primary_key)."
    )
    partitions: Partitions | None = partitions_field(
        "Load this table in time windows that can each be reloaded (see the pipeline's "
        "`partitions:`, which wins when both are given)."
    )

    @model_validator(mode="after")
    def _merge_needs_key(self) -> FilesystemResource:
        _check_merge_key(self.write_disposition, self.primary_key)
        return self


class FilesystemSource(StrictModel):
    """Files (csv, jsonl, parquet) read through dlt's filesystem source."""

    name: Name = Field(description="Unique source name.")
    type: Literal["filesystem"] = Field(description="Filesystem source.")
    description: str | None = Field(default=None, description="What this source is.")
    connection: FilesystemConnection = Field(description="bucket_url and optional credentials.")
    resources: list[FilesystemResource] = Field(
        min_length=1, description="File sets to load, one table each."
    )
    environments: EnvironmentOverlays | None = environments_field()

    def resource_names(self) -> list[str]:
        """Names of all resources, in file order."""
        return [r.name for r in self.resources]


Source = Annotated[RestApiSource | SqlDatabaseSource | FilesystemSource, Field(discriminator="type")]
SourceModel = RestApiSource | SqlDatabaseSource | FilesystemSource


class SourceFile(StrictModel):
    """A file under ``sources/``."""

    source: Source = Field(description="The source defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()


ResourceModel = RestApiResource | SqlTable | FilesystemResource


def find_resource(source: SourceModel, name: str) -> ResourceModel:
    """The resource (or table) called ``name`` of a source."""
    items: list[ResourceModel] = list(
        source.tables if isinstance(source, SqlDatabaseSource) else source.resources
    )
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"source '{source.name}' has no resource '{name}'")


def incremental_cursor(resource: ResourceModel) -> str | None:
    """The field an incremental resource advances on, or None when it loads everything."""
    incremental = resource.incremental
    if incremental is None or not incremental.enabled:
        return None
    if isinstance(resource, FilesystemResource):
        return "modification_date"
    assert isinstance(incremental, RestApiIncremental | SqlIncremental)
    return incremental.cursor_field

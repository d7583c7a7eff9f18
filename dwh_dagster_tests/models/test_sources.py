"""``sources/*.yaml``: rest_api (auth, paginators, endpoints), sql_database and filesystem snippets."""

from __future__ import annotations

from typing import Any

import pytest

from dwh_dagster.config.models.sources import (
    PAGINATOR_TYPES,
    ApiKeyAuth,
    BearerAuth,
    CursorPaginator,
    FilesystemSource,
    HttpBasicAuth,
    JsonLinkPaginator,
    OAuth2ClientCredentialsAuth,
    OffsetPaginator,
    PageNumberPaginator,
    RestApiSource,
    SqlDatabaseSource,
)
from dwh_dagster_tests.models.helpers import assert_error, errors_of, validate

# line 6 holds <connection>, line 9 the endpoint, line 10 <resource>
REST_API = """
source:
  name: api
  type: rest_api
  connection:
    base_url: https://api.example.com/v1
    <connection>
  resources:
    - name: items
      endpoint: <endpoint>
      <resource>
"""


def rest_api(connection: str = "", endpoint: str = "/items", resource: str = "") -> str:
    return (
        REST_API.replace("<connection>", connection)
        .replace("<endpoint>", endpoint)
        .replace("<resource>", resource)
    )


def test_minimal_rest_api_source() -> None:
    source = validate(rest_api())
    assert isinstance(source, RestApiSource)
    assert source.resource_names() == ["items"]
    assert source.connection.auth is None
    assert source.connection.paginator is None
    assert source.connection.timeout == 30
    assert source.resources[0].write_disposition == "append"


# --------------------------------------------------------------------------- paginators


@pytest.mark.parametrize("name", [t for t in PAGINATOR_TYPES if t != "offset"])
def test_paginator_shorthand_string_equals_mapping_with_type(name: str) -> None:
    short = validate(rest_api(connection=f"paginator: {name}"))
    full = validate(rest_api(connection=f"paginator: {{type: {name}}}"))
    assert short.connection.paginator.type == name
    assert short.connection.paginator == full.connection.paginator


def test_offset_shorthand_needs_a_limit() -> None:
    assert_error(
        rest_api(connection="paginator: offset"),
        "source.connection.paginator.limit",
        "missing required field 'limit'",
        line=6,
    )


VALID_PAGINATORS: list[tuple[str, type, dict[str, Any]]] = [
    ("json_link", JsonLinkPaginator, {"next_url_path": "next"}),
    ("{type: json_link, next_url_path: links.next}", JsonLinkPaginator, {"next_url_path": "links.next"}),
    ("{type: offset, limit: 100}", OffsetPaginator, {"limit": 100, "offset": 0, "total_path": "total"}),
    (
        "{type: offset, limit: 50, offset: 10, total_path: null, maximum_offset: 1000}",
        OffsetPaginator,
        {"offset": 10, "total_path": None, "maximum_offset": 1000},
    ),
    ("{type: page_number, base_page: 1, page_param: p}", PageNumberPaginator, {"base_page": 1, "page": None}),
    (
        "{type: cursor, cursor_path: meta.next, cursor_param: after}",
        CursorPaginator,
        {"cursor_param": "after"},
    ),
    ("{type: cursor, cursor_body_path: body.cursor}", CursorPaginator, {"cursor_body_path": "body.cursor"}),
]


@pytest.mark.parametrize(("snippet", "model", "attrs"), VALID_PAGINATORS)
def test_valid_paginators(snippet: str, model: type, attrs: dict[str, Any]) -> None:
    paginator = validate(rest_api(connection=f"paginator: {snippet}")).connection.paginator
    assert isinstance(paginator, model)
    for key, value in attrs.items():
        assert getattr(paginator, key) == value


def test_paginator_on_resource_and_endpoint() -> None:
    source = validate(
        rest_api(
            endpoint="{path: /items, paginator: {type: offset, limit: 10}}",
            resource="paginator: header_link",
        )
    )
    resource = source.resources[0]
    assert resource.paginator.type == "header_link"
    assert resource.endpoint.paginator.limit == 10


INVALID_PAGINATORS = [
    # snippet, field, message part, hint part
    ("jsonlink", "source.connection.paginator", "unknown type 'jsonlink'", "did you mean 'json_link'?"),
    ("{type: offst, limit: 5}", "source.connection.paginator.type", "unknown type 'offst'", "'offset'"),
    ("{typ: offset}", "source.connection.paginator.type", "missing required field 'type'", "'json_link'"),
    ("{type: offset}", "source.connection.paginator.limit", "missing required field 'limit'", "add 'limit:'"),
    ("{type: offset, limit: 0}", "source.connection.paginator.limit", "greater than 0", ""),
    (
        "{type: page_number, base_page: -1}",
        "source.connection.paginator.base_page",
        "greater than or equal",
        "",
    ),
    (
        "{type: cursor, cursor_param: a, cursor_body_path: b}",
        "source.connection.paginator",
        "set either cursor_param or cursor_body_path, not both",
        "",
    ),
    (
        "{type: json_link, next: x}",
        "source.connection.paginator.next",
        "unknown field 'next'",
        "next_url_path",
    ),
]


@pytest.mark.parametrize(("snippet", "field", "message", "hint"), INVALID_PAGINATORS)
def test_invalid_paginators(snippet: str, field: str, message: str, hint: str) -> None:
    assert_error(rest_api(connection=f"paginator: {snippet}"), field, message, line=6, hint=hint)


@pytest.mark.parametrize("snippet", ["5", "[json_link]"])
def test_paginator_of_wrong_type_mentions_the_shorthand(snippet: str) -> None:
    error = assert_error(rest_api(connection=f"paginator: {snippet}"), "source.connection.paginator", "", 6)
    assert "json_link" in f"{error.message} {error.hint}"


# --------------------------------------------------------------------------- endpoints


def test_endpoint_string_is_the_path() -> None:
    endpoint = validate(rest_api(endpoint="/items")).resources[0].endpoint
    assert endpoint.path == "/items"
    assert endpoint.method == "GET"
    assert endpoint.params == {}
    assert endpoint.json_body is None


def test_endpoint_mapping_with_json_body() -> None:
    text = rest_api(
        endpoint="{path: /search, method: POST, json: {query: open, size: 10}, data_selector: hits, "
        "params: {q: x}}"
    )
    endpoint = validate(text).resources[0].endpoint
    assert endpoint.method == "POST"
    assert endpoint.json_body == {"query": "open", "size": 10}
    assert endpoint.data_selector == "hits"
    assert endpoint.params == {"q": "x"}


def test_endpoint_string_and_mapping_are_equal() -> None:
    assert validate(rest_api(endpoint="/items")) == validate(rest_api(endpoint="{path: /items}"))


INVALID_ENDPOINTS = [
    (
        "{path: /x, method: PUT}",
        "source.resources[0].endpoint.method",
        "invalid value 'PUT'",
        "'GET', 'POST'",
    ),
    ("{pth: /x}", "source.resources[0].endpoint.pth", "unknown field 'pth'", "did you mean 'path'?"),
    ("{path: /x, json_body: {a: 1}}", "source.resources[0].endpoint.json_body", "unknown field", "'json'"),
    ("{path: /x, json: [1, 2]}", "source.resources[0].endpoint.json", "expected a mapping", ""),
    ("null", "source.resources[0].endpoint", "expected an endpoint path such as '/users'", ""),
]


@pytest.mark.parametrize(("snippet", "field", "message", "hint"), INVALID_ENDPOINTS)
def test_invalid_endpoints(snippet: str, field: str, message: str, hint: str) -> None:
    assert_error(rest_api(endpoint=snippet), field, message, line=9, hint=hint)


def test_endpoint_of_wrong_type_mentions_the_path_string() -> None:
    error = assert_error(rest_api(endpoint="5"), "source.resources[0].endpoint", "", line=9)
    assert "path" in f"{error.message} {error.hint}".lower()


# --------------------------------------------------------------------------- auth

VALID_AUTH: list[tuple[str, type, dict[str, Any]]] = [
    (
        "{type: bearer, credentials_secret_key: tok_secret_key}",
        BearerAuth,
        {"credentials_secret_key": "tok_secret_key"},
    ),
    (
        "{type: api_key, credentials_secret_key: k}",
        ApiKeyAuth,
        {"name": "Authorization", "location": "header"},
    ),
    (
        "{type: api_key, name: api_key, location: query, credentials_secret_key: k}",
        ApiKeyAuth,
        {"name": "api_key", "location": "query"},
    ),
    ("{type: http_basic, username: me, credentials_secret_key: pw}", HttpBasicAuth, {"username": "me"}),
    (
        "{type: oauth2_client_credentials, token_url: 'https://auth/t', client_id: c, "
        "credentials_secret_key: s, scopes: [read, write], token_request_data: {audience: x}}",
        OAuth2ClientCredentialsAuth,
        {
            "scopes": ["read", "write"],
            "default_token_expiration": 3600,
            "token_request_data": {"audience": "x"},
        },
    ),
]


@pytest.mark.parametrize(("snippet", "model", "attrs"), VALID_AUTH)
def test_valid_auth(snippet: str, model: type, attrs: dict[str, Any]) -> None:
    auth = validate(rest_api(connection=f"auth: {snippet}")).connection.auth
    assert isinstance(auth, model)
    for key, value in attrs.items():
        assert getattr(auth, key) == value


INVALID_AUTH = [
    ("{type: bearer}", "source.connection.auth.credentials_secret_key", "missing required field", "add"),
    (
        "{type: beare, credentials_secret_key: x}",
        "source.connection.auth.type",
        "unknown type 'beare'",
        "'bearer'",
    ),
    (
        "{credentials_secret_key: x}",
        "source.connection.auth.type",
        "missing required field 'type'",
        "api_key",
    ),
    (
        "{type: api_key, credentials_secret_key: x, location: body}",
        "source.connection.auth.location",
        "'body'",
        "",
    ),
    ("{type: http_basic, credentials_secret_key: x}", "source.connection.auth.username", "missing", ""),
    (
        "{type: bearer, token: abc, credentials_secret_key: x}",
        "source.connection.auth.token",
        "unknown field",
        "",
    ),
    ("bearer", "source.connection.auth", "expected a mapping of fields, got 'bearer'", ""),
]


@pytest.mark.parametrize(("snippet", "field", "message", "hint"), INVALID_AUTH)
def test_invalid_auth(snippet: str, field: str, message: str, hint: str) -> None:
    assert_error(rest_api(connection=f"auth: {snippet}"), field, message, line=6, hint=hint)


# --------------------------------------------------------------------------- connection and resources


def test_base_url_must_be_http() -> None:
    text = rest_api().replace("https://api.example.com/v1", "ftp://x")
    assert_error(text, "source.connection.base_url", "must start with http:// or https://", line=5)


def test_headers_values_must_be_text() -> None:
    assert_error(
        rest_api(connection="headers: {X-Count: 1}"),
        "source.connection.headers.X-Count",
        "expected a text value, got 1",
        line=6,
        hint="quote the value",
    )


def test_merge_needs_a_primary_key() -> None:
    assert_error(
        rest_api(resource="write_disposition: merge"), "source.resources[0]", "needs a primary_key", line=8
    )
    source = validate(rest_api(resource="write_disposition: merge\n      primary_key: [id, day]"))
    assert source.resources[0].primary_key == ["id", "day"]
    assert source.resources[0].write_disposition == "merge"


def test_incremental_initial_value_date_stays_a_string() -> None:
    text = rest_api(resource="incremental: {cursor_field: updated_at, initial_value: 2024-01-01}")
    incremental = validate(text).resources[0].incremental
    assert incremental.initial_value == "2024-01-01"
    assert incremental.enabled is True


def test_resources_must_not_be_empty() -> None:
    text = """
    source:
      name: api
      type: rest_api
      connection: {base_url: "https://x"}
      resources: []
    """
    assert_error(text, "source.resources", "must not be empty", line=5)


@pytest.mark.parametrize(("name", "suggestion"), [("my-api", "my_api"), ("1api", "_1api"), ("a b", "a_b")])
def test_source_name_must_be_an_identifier(name: str, suggestion: str) -> None:
    text = rest_api().replace("name: api", f"name: '{name}'")
    assert_error(text, "source.name", "is not a valid name", line=2, hint=f"'{suggestion}'")


def test_unknown_source_type_suggests() -> None:
    assert_error(
        rest_api().replace("rest_api", "restapi"),
        "source.type",
        "unknown type 'restapi'",
        3,
        hint="did you mean 'rest_api'?",
    )


def test_missing_source_type_lists_the_types() -> None:
    error = assert_error(
        rest_api().replace("  type: rest_api\n", ""), "source.type", "missing required field"
    )
    assert "'filesystem', 'rest_api', 'sql_database'" in error.hint


# --------------------------------------------------------------------------- sql_database

SQL = """
source:
  name: crm
  type: sql_database
  connection:
    credentials_secret_key: crm_url
    <connection>
  <source>
  tables:
    - name: customers
      <table>
"""


def sql(connection: str = "", source: str = "", table: str = "") -> str:
    return SQL.replace("<connection>", connection).replace("<source>", source).replace("<table>", table)


def test_sql_database_defaults() -> None:
    source = validate(sql())
    assert isinstance(source, SqlDatabaseSource)
    assert source.backend == "pyarrow"
    assert source.connection.schema_name is None
    assert source.connection.chunk_size == 50_000
    assert source.resource_names() == ["customers"]


def test_sql_database_schema_alias_and_incremental() -> None:
    source = validate(
        sql(
            connection="schema: sales",
            source="backend: connectorx",
            table="incremental: {cursor_field: id, initial_value: 0}",
        )
    )
    assert source.connection.schema_name == "sales"
    assert source.backend == "connectorx"
    assert source.tables[0].incremental.initial_value == 0


INVALID_SQL = [
    (sql(source="backend: odbc"), "source.backend", "invalid value 'odbc'", 7),
    (sql(connection="chunk_size: 0"), "source.connection.chunk_size", "greater than 0", 6),
    (sql(connection="schema_name: x"), "source.connection.schema_name", "unknown field", 6),
    (
        sql(table="incremental: {initial_value: 1}"),
        "source.tables[0].incremental.cursor_field",
        "missing",
        10,
    ),
    (sql(table="write_disposition: upsert"), "source.tables[0].write_disposition", "'upsert'", 10),
    (sql().replace("crm_url", "{a: 1}"), "source.connection.credentials_secret_key", "expected a text", 5),
]


@pytest.mark.parametrize(("text", "field", "message", "line"), INVALID_SQL)
def test_invalid_sql_database(text: str, field: str, message: str, line: int) -> None:
    assert_error(text, field, message, line)


# --------------------------------------------------------------------------- filesystem

FILES = """
source:
  name: landing
  type: filesystem
  connection: {bucket_url: ./landing}
  resources:
    - name: orders
      file_glob: "orders/*.csv"
      <resource>
"""


def test_filesystem_source() -> None:
    source = validate(
        FILES.replace("<resource>", "format: csv\n      incremental: {initial_value: '2024-01-01'}")
    )
    assert isinstance(source, FilesystemSource)
    assert source.resources[0].format == "csv"
    assert source.resources[0].incremental.initial_value == "2024-01-01"
    assert source.connection.credentials_secret_key is None


@pytest.mark.parametrize(
    ("resource", "field", "message"),
    [
        ("", "source.resources[0].format", "missing required field 'format'"),
        ("format: xlsx", "source.resources[0].format", "invalid value 'xlsx'"),
        ("format: csv\n      pattern: x", "source.resources[0].pattern", "unknown field 'pattern'"),
    ],
)
def test_invalid_filesystem_source(resource: str, field: str, message: str) -> None:
    errors = errors_of(FILES.replace("<resource>", resource))
    assert any(e.field == field and message in e.message for e in errors), [e.headline() for e in errors]

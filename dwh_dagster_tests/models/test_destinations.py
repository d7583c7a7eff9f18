"""``destinations/*.yaml``: one valid snippet per destination type, and the usual mistakes."""

from __future__ import annotations

from typing import Any

import pytest

from dwh_dagster.config.models.destinations import (
    DESTINATION_TYPES,
    BigQueryDestination,
    DatabricksDestination,
    DuckDbDestination,
    FilesystemDestination,
    MotherDuckDestination,
    PostgresDestination,
    SnowflakeDestination,
)
from dwh_dagster_tests.models.helpers import assert_error, validate

# type, connection (flow mapping, line 4), model, expected attributes of the connection
VALID: list[tuple[str, str, type, dict[str, Any]]] = [
    ("duckdb", "{}", DuckDbDestination, {"database": "warehouse.duckdb"}),
    ("duckdb", "{database: ./data/dwh.duckdb}", DuckDbDestination, {"database": "./data/dwh.duckdb"}),
    (
        "postgres",
        "{database: dwh, username: loader, credentials_secret_key: pg_pw}",
        PostgresDestination,
        {"host": "localhost", "port": 5432, "connect_timeout": 15, "sslmode": None},
    ),
    (
        "postgres",
        "{host: db, port: 6543, database: dwh, username: u, sslmode: verify-full}",
        PostgresDestination,
        {"port": 6543, "sslmode": "verify-full", "credentials_secret_key": None},
    ),
    ("filesystem", "{bucket_url: ./out}", FilesystemDestination, {"bucket_url": "./out"}),
    (
        "filesystem",
        "{bucket_url: 's3://bucket/raw', credentials_secret_key: aws}",
        FilesystemDestination,
        {"credentials_secret_key": "aws"},
    ),
    (
        "databricks",
        "{server_hostname: adb-1.azuredatabricks.net, http_path: /sql/1, catalog: main, "
        "credentials_secret_key: dbx}",
        DatabricksDestination,
        {"catalog": "main"},
    ),
    (
        "snowflake",
        "{account: xy12345.eu-central-1, database: DWH, username: LOADER, credentials_secret_key: sf, "
        "warehouse: WH, role: LOADER}",
        SnowflakeDestination,
        {"warehouse": "WH", "role": "LOADER"},
    ),
    (
        "bigquery",
        "{project_id: my-project, credentials_secret_key: gcp}",
        BigQueryDestination,
        {"location": "US"},
    ),
    (
        "motherduck",
        "{database: md, credentials_secret_key: md_token}",
        MotherDuckDestination,
        {"database": "md"},
    ),
]


def destination(type_: str, connection: str, extra: str = "") -> str:
    return f"""
destination:
  name: dest
  type: {type_}
  connection: {connection}
  {extra}
"""


def test_every_destination_type_has_a_valid_case() -> None:
    assert {case[0] for case in VALID} == set(DESTINATION_TYPES)


@pytest.mark.parametrize(("type_", "connection", "model", "attrs"), VALID)
def test_valid_destinations(type_: str, connection: str, model: type, attrs: dict[str, Any]) -> None:
    dest = validate(destination(type_, connection))
    assert isinstance(dest, model)
    assert dest.type == type_
    assert dest.settings.schema_name is None
    assert dest.settings.create_indexes is False
    for key, value in attrs.items():
        assert getattr(dest.connection, key) == value


def test_duckdb_connection_may_be_omitted() -> None:
    dest = validate("destination: {name: d, type: duckdb}")
    assert dest.connection.database == "warehouse.duckdb"


def test_settings_schema_alias() -> None:
    dest = validate(destination("duckdb", "{}", "settings: {schema: raw, create_indexes: true}"))
    assert dest.settings.schema_name == "raw"
    assert dest.settings.create_indexes is True


def test_filesystem_format() -> None:
    assert validate(destination("filesystem", "{bucket_url: x}")).format == "parquet"
    assert validate(destination("filesystem", "{bucket_url: x}", "format: jsonl")).format == "jsonl"


INVALID = [
    # text, field, message, line, hint
    (
        destination("posgres", "{}"),
        "destination.type",
        "unknown type 'posgres'",
        3,
        "did you mean 'postgres'?",
    ),
    (
        destination("postgres", "{database: d, username: u, port: 0}"),
        "destination.connection.port",
        "greater",
        4,
        "",
    ),
    (
        destination("postgres", "{database: d}"),
        "destination.connection.username",
        "missing required field",
        4,
        "",
    ),
    (
        destination("postgres", "{database: d, username: u, sslmode: on}"),
        "destination.connection.sslmode",
        "invalid value",
        4,
        "'verify-full'",
    ),
    (
        destination("postgres", "{database: d, username: u, password: secret}"),
        "destination.connection.password",
        "unknown field 'password'",
        4,
        "credentials_secret_key",
    ),
    (
        destination("snowflake", "{account: a, database: d, username: u}"),
        "destination.connection.credentials_secret_key",
        "missing required field 'credentials_secret_key'",
        4,
        "",
    ),
    (
        destination("bigquery", "{credentials_secret_key: x}"),
        "destination.connection.project_id",
        "missing",
        4,
        "",
    ),
    (destination("filesystem", "{}"), "destination.connection.bucket_url", "missing", 4, ""),
    (
        destination("filesystem", "{bucket_url: x}", "format: xlsx"),
        "destination.format",
        "'xlsx'",
        5,
        "'parquet'",
    ),
    (
        destination("duckdb", "{}", "settings: {indexes: true}"),
        "destination.settings.indexes",
        "unknown",
        5,
        "did you mean 'create_indexes'?",
    ),
    (
        destination("duckdb", "{database: [a]}"),
        "destination.connection.database",
        "expected a text value",
        4,
        "",
    ),
    (destination("databricks", "{catalog: c}"), "destination.connection.server_hostname", "missing", 4, ""),
]


@pytest.mark.parametrize(("text", "field", "message", "line", "hint"), INVALID)
def test_invalid_destinations(text: str, field: str, message: str, line: int, hint: str) -> None:
    assert_error(text, field, message, line, hint)


def test_file_level_environments_block_is_accepted_by_the_model() -> None:
    text = """
    destination: {name: d, type: duckdb}
    environments:
      prod: {destination: {connection: {database: prod.duckdb}}}
    """
    assert validate(text).name == "d"

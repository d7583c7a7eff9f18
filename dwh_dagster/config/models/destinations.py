"""``destinations/*.yaml``: where data lands. Credentials only ever come from secrets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt

from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    FilesystemConnection,
    Name,
    SecretRef,
    StrictModel,
    environments_field,
    optional_secret_field,
    secret_field,
    tag_values,
)


class DestinationSettings(StrictModel):
    """Settings shared by all destination types."""

    schema_name: str | None = Field(
        default=None,
        alias="schema",
        description="Default dataset (schema) for pipelines into this destination that name none.",
    )
    create_indexes: bool = Field(
        default=False,
        description="Create unique and primary-key indexes where the destination supports them.",
    )


def _settings_field() -> DestinationSettings:
    return Field(default_factory=DestinationSettings, description="Settings shared by all destination types.")


class DestinationBase(StrictModel):
    """Fields every destination has."""

    name: Name = Field(description="Unique destination name.")
    description: str | None = Field(default=None, description="What this destination is.")
    settings: DestinationSettings = _settings_field()
    environments: EnvironmentOverlays | None = environments_field()


class DuckDbConnection(StrictModel):
    """An embedded DuckDB database file."""

    database: str = Field(
        default="warehouse.duckdb",
        description="Database file; a relative path is relative to the project root.",
    )


class DuckDbDestination(DestinationBase):
    """Embedded DuckDB file: the default, needs no server and no secret."""

    type: Literal["duckdb"] = Field(description="DuckDB file.")
    connection: DuckDbConnection = Field(default_factory=DuckDbConnection, description="Database file.")


class PostgresConnection(StrictModel):
    """A PostgreSQL server."""

    host: str = Field(default="localhost", description="Server host name.")
    port: PositiveInt = Field(default=5432, description="Server port.")
    database: str = Field(description="Database name.")
    username: str = Field(description="User name.")
    credentials_secret_key: SecretRef | None = optional_secret_field(
        "Secret holding the password (omit for trust or peer authentication)."
    )
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        default=None, description="libpq sslmode."
    )
    connect_timeout: PositiveInt = Field(default=15, description="Connection timeout in seconds.")


class PostgresDestination(DestinationBase):
    """PostgreSQL database."""

    type: Literal["postgres"] = Field(description="PostgreSQL.")
    connection: PostgresConnection = Field(description="Server, database, user and password secret.")


class FilesystemDestination(DestinationBase):
    """Files (parquet by default) in a local folder or a bucket."""

    type: Literal["filesystem"] = Field(description="Files in a folder or bucket.")
    connection: FilesystemConnection = Field(description="bucket_url and optional credentials.")
    format: Literal["parquet", "jsonl", "csv"] = Field(default="parquet", description="File format written.")


class DatabricksConnection(StrictModel):
    """A Databricks SQL warehouse."""

    server_hostname: str = Field(
        description="Workspace host name, for example `adb-123.4.azuredatabricks.net`."
    )
    http_path: str = Field(description="HTTP path of the SQL warehouse.")
    catalog: str = Field(description="Unity Catalog catalog.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the access token.")


class DatabricksDestination(DestinationBase):
    """Databricks SQL warehouse."""

    type: Literal["databricks"] = Field(description="Databricks.")
    connection: DatabricksConnection = Field(description="Host, HTTP path, catalog and token secret.")


class SnowflakeConnection(StrictModel):
    """A Snowflake account."""

    account: str = Field(description="Account identifier, for example `xy12345.eu-central-1`.")
    database: str = Field(description="Database name.")
    warehouse: str | None = Field(default=None, description="Virtual warehouse.")
    role: str | None = Field(default=None, description="Role to use.")
    username: str = Field(description="User name.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the password.")


class SnowflakeDestination(DestinationBase):
    """Snowflake."""

    type: Literal["snowflake"] = Field(description="Snowflake.")
    connection: SnowflakeConnection = Field(description="Account, database, user and password secret.")


class BigQueryConnection(StrictModel):
    """A BigQuery project."""

    project_id: str = Field(description="Google Cloud project id.")
    location: str = Field(default="US", description="Dataset location.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the service-account JSON.")


class BigQueryDestination(DestinationBase):
    """Google BigQuery."""

    type: Literal["bigquery"] = Field(description="BigQuery.")
    connection: BigQueryConnection = Field(description="Project, location and service-account secret.")


class MotherDuckConnection(StrictModel):
    """A MotherDuck database."""

    database: str = Field(description="MotherDuck database name.")
    credentials_secret_key: SecretRef = secret_field("Secret holding the MotherDuck token.")


class MotherDuckDestination(DestinationBase):
    """MotherDuck (hosted DuckDB)."""

    type: Literal["motherduck"] = Field(description="MotherDuck.")
    connection: MotherDuckConnection = Field(description="Database and token secret.")


DestinationModel = (
    DuckDbDestination
    | PostgresDestination
    | FilesystemDestination
    | DatabricksDestination
    | SnowflakeDestination
    | BigQueryDestination
    | MotherDuckDestination
)
Destination = Annotated[DestinationModel, Field(discriminator="type")]
DESTINATION_TYPES: tuple[str, ...] = tag_values(DestinationModel)


class DestinationFile(StrictModel):
    """A file under ``destinations/``."""

    destination: Destination = Field(description="The destination defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()

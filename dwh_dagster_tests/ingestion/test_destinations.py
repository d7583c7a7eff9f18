"""Destinations: a real load into the local PostgreSQL, and the cloud ones built without any network.

Cloud destinations (databricks, snowflake, bigquery, motherduck) are parsed from YAML, built with
``build_dlt_destination`` and their dlt configuration resolved, with every socket call refused:
building a destination must never connect.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.config.secrets import SecretNotSetError
from dwh_dagster.ingestion.dlt_destinations import build_dlt_destination
from dwh_dagster.ingestion.dlt_sources import BuildContext
from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema

# --------------------------------------------------------------------------- postgres: a real load


@pytest.fixture
def pg_dataset() -> Iterator[str]:
    """A unique dataset (schema) name; it and dlt's staging schema are dropped afterwards."""
    with unique_schema("dwh_dest", create=False) as dataset:
        yield dataset


def test_filesystem_source_into_local_postgres(
    pg_dataset: str, write_project: WriteProject, run_job: RunJob, tmp_path: Path
) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "products.csv").write_text("id,name,price\n1,chair,49.5\n2,table,120.0\n3,lamp,19.99\n")
    (incoming / "reviews.jsonl").write_text(
        "".join(
            json.dumps({"review_id": i, "product_id": 1 + i % 3, "stars": i % 5}) + "\n" for i in range(25)
        )
    )
    defs = write_project(
        {
            "sources/shop_files.yaml": """
                source:
                  name: shop_files
                  type: filesystem
                  connection: {bucket_url: incoming}
                  resources:
                    - name: products
                      file_glob: "products*.csv"
                      format: csv
                      primary_key: [id]
                      write_disposition: merge
                    - name: reviews
                      file_glob: "reviews*.jsonl"
                      format: jsonl
                      incremental: {enabled: true}
            """,
            "destinations/local_pg.yaml": f"""
                destination:
                  name: local_pg
                  type: postgres
                  connection:
                    host: 127.0.0.1
                    port: 5432
                    database: test
                    username: "{PG_USER}"
                    connect_timeout: 5
            """,
            "pipelines/files_to_pg.yaml": f"""
                pipeline:
                  name: files_to_pg
                  source: {{config_file: shop_files}}
                  destination: {{config_file: local_pg, dataset_name: {pg_dataset}}}
            """,
            "jobs/files_job.yaml": """
                job:
                  name: files_job
                  pipelines: [{name: files_to_pg}]
            """,
        }
    )

    first = run_job(defs, "files_job")
    assert first.success
    assert pg_query(f'select id, name, price from "{pg_dataset}".products order by id') == [
        (1, "chair", 49.5),
        (2, "table", 120.0),
        (3, "lamp", 19.99),
    ]
    assert pg_query(
        f'select count(*), count(distinct review_id), sum(stars) from "{pg_dataset}".reviews'
    ) == [(25, 25, sum(i % 5 for i in range(25)))]

    (incoming / "products.csv").write_text("id,name,price\n1,chair,55.0\n2,table,120.0\n3,lamp,19.99\n")
    second = run_job(defs, "files_job")
    assert second.success
    assert pg_query(f'select id, price from "{pg_dataset}".products order by id') == [
        (1, 55.0),
        (2, 120.0),
        (3, 19.99),
    ]
    assert pg_query(f'select count(*) from "{pg_dataset}".reviews') == [(25,)]  # file unchanged: not reloaded
    metadata = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata  # type: ignore[union-attr]
        for e in second.get_asset_materialization_events()
    }
    assert metadata[f"{pg_dataset}/products"]["dagster/row_count"].value == 3
    assert metadata[f"{pg_dataset}/reviews"]["rows_loaded"].value == 0


# --------------------------------------------------------------------------- built without network

SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "key-home-project",
    "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    "private_key": "-----BEGIN PRIVATE KEY-----\n"
    "MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAu1SU1LfVLPHCozMxH2Mo\n"
    "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh\n"
    "kd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ\n"
    "-----END PRIVATE KEY-----\n",
    "client_email": "loader@key-home-project.iam.gserviceaccount.com",
    "client_id": "108000000000000000000",
    "token_uri": "https://oauth2.googleapis.com/token",
}

SECRET_VALUES = {
    "DBX_TOKEN_DEV": "dapi-not-a-real-token",
    "SNOWFLAKE_PASSWORD_DEV": "snow-pass",
    "BQ_SERVICE_ACCOUNT_DEV": json.dumps(SERVICE_ACCOUNT),
    "MOTHERDUCK_TOKEN_DEV": "md-token",
    "PG_PASSWORD_DEV": "pg-pass",
}

CLOUD_FILES = {
    "secrets_mapping.yaml": """
        secrets:
          databricks_token: {env_var_dev: DBX_TOKEN_DEV}
          snowflake_password: {env_var_dev: SNOWFLAKE_PASSWORD_DEV}
          bigquery_service_account: {env_var_dev: BQ_SERVICE_ACCOUNT_DEV}
          motherduck_token: {env_var_dev: MOTHERDUCK_TOKEN_DEV}
          pg_password: {env_var_dev: PG_PASSWORD_DEV}
    """,
    "destinations/lakehouse.yaml": """
        destination:
          name: lakehouse
          type: databricks
          connection:
            server_hostname: "adb-1234567890123456.7.azuredatabricks.net"
            http_path: "/sql/1.0/warehouses/abcdef1234567890"
            catalog: dwh_dev
            credentials_secret_key: databricks_token_secret_key
          settings: {schema: raw_data, create_indexes: true}
    """,
    "destinations/snow.yaml": """
        destination:
          name: snow
          type: snowflake
          connection:
            account: "xy12345.eu-central-1"
            database: ANALYTICS
            warehouse: LOADING_WH
            role: LOADER
            username: dlt_loader
            credentials_secret_key: snowflake_password_secret_key
    """,
    "destinations/bq.yaml": """
        destination:
          name: bq
          type: bigquery
          connection:
            project_id: my-gcp-project
            location: EU
            credentials_secret_key: bigquery_service_account_secret_key
    """,
    "destinations/duck_cloud.yaml": """
        destination:
          name: duck_cloud
          type: motherduck
          connection:
            database: analytics
            credentials_secret_key: motherduck_token
    """,
    "destinations/duck_cloud_prefixed.yaml": """
        destination:
          name: duck_cloud_prefixed
          type: motherduck
          connection:
            database: "md:analytics"
            credentials_secret_key: motherduck_token
    """,
    "destinations/remote_pg.yaml": """
        destination:
          name: remote_pg
          type: postgres
          connection:
            host: db.example.com
            port: 6543
            database: warehouse
            username: loader
            credentials_secret_key: pg_password_secret_key
            sslmode: require
            connect_timeout: 7
    """,
}


@pytest.fixture
def cloud_project(tmp_path: Path) -> ResolvedProject:
    defs = tmp_path / "yaml_defs"
    for rel, text in CLOUD_FILES.items():
        (defs / rel).parent.mkdir(parents=True, exist_ok=True)
        (defs / rel).write_text(textwrap.dedent(text).lstrip("\n"))
    return load_project(defs, "dev")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every socket connect or name lookup is refused and recorded."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:] if name == 'connect' else args}")
            raise OSError(f"network disabled in this test ({name})")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


def build(project: ResolvedProject, name: str) -> Any:
    ctx = BuildContext(resolve=project.secret_resolver().resolve, local_path=project.local_path)
    return build_dlt_destination(project.destinations[name], ctx)


def resolved_config(destination: Any) -> Any:
    """dlt's fully resolved client configuration (what the load step would connect with)."""
    return destination.configuration(destination.spec()._bind_dataset_name(dataset_name="raw_data"))


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("secrets_set")
def test_databricks_is_built_without_connecting(
    cloud_project: ResolvedProject, no_network: list[str]
) -> None:
    destination = build(cloud_project, "lakehouse")
    assert destination.destination_type == "dlt.destinations.databricks"
    assert destination.destination_name == "lakehouse"
    config = resolved_config(destination)
    assert config.credentials.server_hostname == "adb-1234567890123456.7.azuredatabricks.net"
    assert config.credentials.http_path == "/sql/1.0/warehouses/abcdef1234567890"
    assert config.credentials.catalog == "dwh_dev"
    assert config.credentials.access_token == "dapi-not-a-real-token"
    assert config.create_indexes is True
    assert no_network == []


@pytest.mark.usefixtures("secrets_set")
def test_snowflake_is_built_without_connecting(cloud_project: ResolvedProject, no_network: list[str]) -> None:
    destination = build(cloud_project, "snow")
    assert destination.destination_type == "dlt.destinations.snowflake"
    config = resolved_config(destination)
    credentials = config.credentials
    assert (credentials.host, credentials.database, credentials.username) == (
        "xy12345.eu-central-1",
        "ANALYTICS",
        "dlt_loader",
    )
    assert (credentials.warehouse, credentials.role, credentials.password) == (
        "LOADING_WH",
        "LOADER",
        "snow-pass",
    )
    assert credentials.to_native_representation() == (
        "snowflake://dlt_loader:snow-pass@xy12345.eu-central-1/ANALYTICS?role=LOADER&warehouse=LOADING_WH"
    )
    assert no_network == []


@pytest.mark.usefixtures("secrets_set")
def test_bigquery_is_built_from_a_service_account_secret(
    cloud_project: ResolvedProject, no_network: list[str]
) -> None:
    destination = build(cloud_project, "bq")
    assert destination.destination_type == "dlt.destinations.bigquery"
    config = resolved_config(destination)
    assert config.location == "EU"
    credentials = config.credentials
    assert credentials.project_id == "my-gcp-project"  # the destination's project, not the key's
    assert credentials.client_email == SERVICE_ACCOUNT["client_email"]
    assert credentials.private_key == SERVICE_ACCOUNT["private_key"]
    assert credentials.type == "service_account"
    assert no_network == []


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("name", ["duck_cloud", "duck_cloud_prefixed"])
def test_motherduck_is_built_without_connecting(
    cloud_project: ResolvedProject, no_network: list[str], name: str
) -> None:
    destination = build(cloud_project, name)
    assert destination.destination_type == "dlt.destinations.motherduck"
    config = resolved_config(destination)
    assert config.credentials.database == "analytics"
    assert config.credentials.password == "md-token"
    assert config.credentials._conn_str() == "md:analytics?motherduck_token=md-token"
    assert no_network == []


@pytest.mark.usefixtures("secrets_set")
def test_postgres_with_password_secret_and_sslmode(
    cloud_project: ResolvedProject, no_network: list[str]
) -> None:
    config = resolved_config(build(cloud_project, "remote_pg"))
    url = config.credentials.to_url()
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql",
        "loader",
        "pg-pass",
        "db.example.com",
        6543,
        "warehouse",
    )
    assert dict(url.query) == {"sslmode": "require", "connect_timeout": "7"}
    assert config.create_indexes is False  # settings.create_indexes defaults to false
    assert no_network == []


@pytest.mark.parametrize(
    ("name", "env_var"),
    [
        ("lakehouse", "DBX_TOKEN_DEV"),
        ("snow", "SNOWFLAKE_PASSWORD_DEV"),
        ("bq", "BQ_SERVICE_ACCOUNT_DEV"),
        ("duck_cloud", "MOTHERDUCK_TOKEN_DEV"),
        ("remote_pg", "PG_PASSWORD_DEV"),
    ],
)
def test_missing_secret_names_its_env_var(
    cloud_project: ResolvedProject, monkeypatch: pytest.MonkeyPatch, name: str, env_var: str
) -> None:
    for other, value in SECRET_VALUES.items():
        monkeypatch.setenv(other, value)
    monkeypatch.delenv(env_var)
    with pytest.raises(SecretNotSetError, match=env_var) as raised:
        build(cloud_project, name)
    assert all(value not in str(raised.value) for value in SECRET_VALUES.values())

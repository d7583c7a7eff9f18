"""What a new file of each kind and type starts with: the required fields, filled with values that
validate and are marked for replacement, and the references the user gave.

Pure functions from names to values; :mod:`dwh_dagster.scaffold.render` turns them into text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from dwh_dagster.config.annotations import union_members
from dwh_dagster.config.models.base import is_name, tag_values
from dwh_dagster.config.models.channels import CHANNEL_TYPES, ChannelModel
from dwh_dagster.config.models.destinations import DESTINATION_TYPES, DestinationModel
from dwh_dagster.config.models.jobs import Job
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.models.sources import SourceModel
from dwh_dagster.config.models.transformations import (
    TRANSFORMATION_TYPES,
    DbtTransformation,
    SqlTransformation,
)
from dwh_dagster.config.models.triggers import TRIGGER_TYPES, TriggerModel
from dwh_dagster.scaffold.render import Placeholder

SOURCE_TYPES: tuple[str, ...] = tag_values(SourceModel)


@dataclass(frozen=True)
class KindSpec:
    """One kind ``dwh new`` writes: its types (empty: the kind has none) and the default type."""

    kind: str
    folder: str
    top_key: str
    types: tuple[str, ...] = ()
    default_type: str | None = None


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec("source", "sources", "source", SOURCE_TYPES, "rest_api"),
        KindSpec("destination", "destinations", "destination", DESTINATION_TYPES, "duckdb"),
        KindSpec("pipeline", "pipelines", "pipeline"),
        KindSpec("job", "jobs", "job"),
        KindSpec("trigger", "triggers", "trigger", TRIGGER_TYPES, "cron"),
        KindSpec("channel", "channels", "channel", CHANNEL_TYPES, "slack"),
        KindSpec("transformation", "transformations", "transformation", TRANSFORMATION_TYPES, "sql"),
    )
}


@dataclass(frozen=True)
class SecretNeed:
    """A secret a new file names, to be added to ``secrets_mapping.yaml`` when it is not there."""

    key: str
    env_var: str
    description: str


@dataclass(frozen=True)
class Wiring:
    """The references of a new file: names the user gave or picked (None: not given)."""

    source: str | None = None
    destination: str | None = None
    dataset: str | None = None
    pipelines: tuple[str, ...] = ()
    transformations: tuple[str, ...] = ()
    job: str | None = None
    sql: str | None = None


@dataclass
class Starter:
    """The model of a new file, its values and the secrets it names."""

    model: type[BaseModel]
    values: dict[str, Any]
    secrets: list[SecretNeed] = field(default_factory=list)


def _member(union: Any, type_name: str) -> type[BaseModel]:
    for member in union_members(union):
        if type_name in tag_values(member):
            return member
    raise KeyError(type_name)


def _secret(name: str, suffix: str, description: str) -> tuple[str, SecretNeed]:
    key = f"{name}_{suffix}"
    return key, SecretNeed(key, key.upper(), description)


def _ref(value: str | None, what: str, choices: list[str]) -> Any:
    """A reference the user gave, or a placeholder that names the choices."""
    if value is not None:
        return value
    known = ", ".join(choices) if choices else f"none yet: create one with dwh new {what}"
    return Placeholder(f"replace_with_a_{what}", f"a {what} of this project ({known})")


def source_starter(name: str, type_name: str) -> Starter:
    """A source with one resource: a REST endpoint, a database table or a set of files."""
    model = _member(SourceModel, type_name)
    if type_name == "rest_api":
        values: dict[str, Any] = {
            "name": name,
            "type": type_name,
            "connection": {"base_url": Placeholder("https://api.example.com/v1", "the API's base URL")},
            "resources": [
                {
                    "name": "items",
                    "endpoint": {"path": Placeholder("items", "an endpoint path, relative to base_url")},
                    "primary_key": "id",
                    "write_disposition": "merge",
                }
            ],
        }
        return Starter(model, values)
    if type_name == "sql_database":
        key, need = _secret(
            name, "url", f"SQLAlchemy URL of the {name} database (postgresql://user:pw@host/db)"
        )
        values = {
            "name": name,
            "type": type_name,
            "connection": {"credentials_secret_key": key},
            "tables": [{"name": Placeholder("my_table", "a table of the database")}],
        }
        return Starter(model, values, [need])
    values = {
        "name": name,
        "type": type_name,
        "connection": {
            "bucket_url": Placeholder(f"data/{name}", "a folder (relative to the project root) or bucket URL")
        },
        "resources": [
            {
                "name": name,
                "file_glob": Placeholder("*.csv", "a glob relative to bucket_url"),
                "format": "csv",
                "write_disposition": "replace",
            }
        ],
    }
    return Starter(model, values)


def destination_starter(name: str, type_name: str) -> Starter:
    """A destination of ``type_name``: a local file or folder, or a server with its secret."""
    model = _member(DestinationModel, type_name)
    values: dict[str, Any] = {"name": name, "type": type_name}
    needs: list[SecretNeed] = []
    if type_name == "duckdb":
        values["connection"] = {"database": f"data/{name}.duckdb"}
    elif type_name == "filesystem":
        values["connection"] = {"bucket_url": Placeholder(f"data/{name}", "a folder or bucket URL")}
    elif type_name == "postgres":
        values["connection"] = {
            "host": Placeholder("localhost", "the server's host name"),
            "database": Placeholder("warehouse", "the database name"),
            "username": Placeholder("loader", "the user name"),
        }
    else:
        suffix, secret_text, connection = {
            "databricks": (
                "token",
                "access token",
                {
                    "server_hostname": Placeholder("adb-1234.5.azuredatabricks.net", "the workspace host"),
                    "http_path": Placeholder("/sql/1.0/warehouses/abc123", "the SQL warehouse's HTTP path"),
                    "catalog": Placeholder("main", "the Unity Catalog catalog"),
                },
            ),
            "snowflake": (
                "password",
                "password",
                {
                    "account": Placeholder("xy12345.eu-central-1", "the account identifier"),
                    "database": Placeholder("ANALYTICS", "the database name"),
                    "username": Placeholder("LOADER", "the user name"),
                },
            ),
            "bigquery": (
                "service_account",
                "service-account JSON",
                {"project_id": Placeholder("my-project", "the Google Cloud project id")},
            ),
            "motherduck": (
                "token",
                "token",
                {"database": Placeholder("my_db", "the MotherDuck database")},
            ),
        }[type_name]
        key, need = _secret(name, suffix, f"{type_name} {secret_text} of destination {name}")
        values["connection"] = {**connection, "credentials_secret_key": key}
        needs.append(need)
    values["settings"] = {"schema": "raw"}
    return Starter(model, values, needs)


def pipeline_starter(name: str, wiring: Wiring, sources: list[str], destinations: list[str]) -> Starter:
    """A pipeline from a source to a destination, into a dataset named after the source."""
    source_name = re.sub(r"\.ya?ml$", "", wiring.source) if wiring.source else None
    dataset = wiring.dataset or (source_name if source_name and is_name(source_name) else name)
    values = {
        "name": name,
        "source": {"config_file": _ref(wiring.source, "source", sources)},
        "destination": {
            "config_file": _ref(wiring.destination, "destination", destinations),
            "dataset_name": dataset,
        },
    }
    return Starter(Pipeline, values)


def job_starter(name: str, wiring: Wiring, pipelines: list[str]) -> Starter:
    """A job of the given pipelines and transformations (a placeholder pipeline when none is given)."""
    values: dict[str, Any] = {"name": name}
    if wiring.pipelines or not wiring.transformations:
        entries = wiring.pipelines or (_ref(None, "pipeline", pipelines),)
        values["pipelines"] = [{"name": entry} for entry in entries]
    if wiring.transformations:
        values["transformations"] = [{"name": entry} for entry in wiring.transformations]
    return Starter(Job, values)


def trigger_starter(name: str, type_name: str, wiring: Wiring, jobs: list[str]) -> Starter:
    """A trigger of ``type_name`` that starts the job (a placeholder job when none is given)."""
    model = _member(TriggerModel, type_name)
    values: dict[str, Any] = {"name": name, "type": type_name, "job": _ref(wiring.job, "job", jobs)}
    needs: list[SecretNeed] = []
    if type_name == "cron":
        values["schedule"] = {"cron": Placeholder("0 2 * * *", "when it runs: minute hour day month weekday")}
    elif type_name == "interval":
        values["interval"] = {"hours": Placeholder(1, "how often: seconds, minutes, hours and/or days")}
    elif type_name == "event":
        values["event"] = {
            "type": "file_arrived",
            "path": Placeholder(f"incoming/{name}/*.csv", "the files to watch (a glob or fsspec URL)"),
        }
    elif type_name == "webhook":
        key, need = _secret(name, "secret", f"HMAC key that senders of webhook {name} sign with")
        values["webhook"] = {"auth": "hmac_sha256", "secret_key": key}
        needs.append(need)
    return Starter(model, values, needs)


def channel_starter(name: str, type_name: str) -> Starter:
    """A notification channel of ``type_name``."""
    model = _member(ChannelModel, type_name)
    values: dict[str, Any] = {"name": name, "type": type_name}
    needs: list[SecretNeed] = []
    if type_name == "email":
        values.update(
            host=Placeholder("smtp.example.com", "the SMTP server"),
            to=Placeholder(["data-team@example.com"], "who gets the messages"),
        )
        values["from"] = Placeholder("dwh@example.com", "the sender address")
    elif type_name == "webhook":
        values["url"] = Placeholder("https://hooks.example.com/dwh", "where the JSON message is POSTed")
    else:
        key, need = _secret(name, "webhook_url", f"{type_name} incoming-webhook URL of channel {name}")
        values["webhook_url_secret_key"] = key
        needs.append(need)
    return Starter(model, values, needs)


def transformation_starter(name: str, type_name: str, wiring: Wiring, destinations: list[str]) -> Starter:
    """A SQL model (a select to replace) or a dbt project in a destination."""
    destination = _ref(wiring.destination, "destination", destinations)
    if type_name == "dbt":
        values: dict[str, Any] = {
            "name": name,
            "type": "dbt",
            "project_dir": Placeholder(
                "../dbt_project", "the folder of dbt_project.yml, relative to yaml_defs/"
            ),
            "destination": destination,
        }
        return Starter(DbtTransformation, values)
    sql = (
        (wiring.sql.strip() + "\n")
        if wiring.sql
        else (
            "-- replace: a select over tables of the destination (select ... from <dataset>.<table>);\n"
            "-- every <dataset>.<table> it reads becomes an upstream asset of this model\n"
            "select 1 as id\n"
        )
    )
    values = {
        "name": name,
        "destination": destination,
        "dataset_name": wiring.dataset or "analytics",
        "materialized": "table",
        "sql": sql,
    }
    return Starter(SqlTransformation, values)

"""``transformations/*.yaml``: SQL models built inside a destination from the tables loaded there,
and dbt projects whose models join the same asset graph."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from dwh_dagster.config.models.base import (
    EnvironmentOverlays,
    Name,
    StrictModel,
    Tags,
    environments_field,
)
from dwh_dagster.config.models.checks import Check
from dwh_dagster.config.models.freshness import Freshness, freshness_field
from dwh_dagster.config.models.partitions import (
    BackfillPolicyName,
    Partitions,
    backfill_field,
    partitions_field,
)

Materialization = Literal["table", "view", "incremental"]
MATERIALIZATIONS: tuple[str, ...] = ("table", "view", "incremental")
PartitionMappingName = Literal["window", "all", "latest"]
PARTITION_MAPPINGS: tuple[str, ...] = ("window", "all", "latest")
START_TOKEN = "{start}"
END_TOKEN = "{end}"


class SqlTransformation(StrictModel):
    """A SQL ``select`` whose result becomes a table or view of a destination dataset."""

    name: Name = Field(
        description="Unique transformation name: the table or view it writes and the asset key "
        "`<dataset_name>/<name>`."
    )
    type: Literal["sql"] = Field(
        default="sql", description="`sql` (the default): a select run inside the destination."
    )
    description: str | None = Field(default=None, description="What this model holds.")
    destination: str = Field(
        description="Destination name (`my_warehouse`) or file name (`my_warehouse.yaml`) it runs in."
    )
    dataset_name: Name | None = Field(
        default=None,
        description="Dataset (schema) it writes; the destination's `settings.schema` when omitted.",
    )
    materialized: Materialization = Field(
        default="table",
        description="`table` (rebuilt and swapped in atomically), `view` (created or replaced), or "
        "`incremental` (new rows inserted, or merged on `unique_key`).",
    )
    sql: str | None = Field(
        default=None,
        description="A plain `select` in the destination's dialect; every `<dataset>.<table>` it reads "
        "is a dependency. `{this}` names the model's own table. Give `sql` or `sql_file`.",
    )
    sql_file: str | None = Field(
        default=None,
        description="File holding the select, relative to the defs directory (`sql/revenue.sql`); "
        "instead of `sql`.",
    )
    unique_key: list[str] | None = Field(
        default=None,
        min_length=1,
        description="`incremental` only: columns identifying a row; new rows replace the rows with "
        "the same key (a merge). Without it new rows are appended.",
    )
    incremental_filter: str | None = Field(
        default=None,
        description="`incremental` only: a SQL condition added to the query's `where` on runs after "
        "the first, for example `created_at > (select max(created_at) from {this})`.",
    )
    external_tables: list[str] = Field(
        default_factory=list,
        description="Tables (`<dataset>.<table>`) the SQL reads that no pipeline or transformation "
        "of this project produces; shown as external assets.",
    )
    automation: Literal["eager"] | None = Field(
        default=None,
        description="`eager`: rebuild by itself after any upstream table is loaded or rebuilt "
        "(Dagster's declarative automation, run by the daemon); no job needed.",
    )
    group: Name | None = Field(
        default=None, description="Asset group in the Dagster UI; `transformations` when omitted."
    )
    owners: list[str] = Field(
        default_factory=list, description="Owners (emails or `team:name`) of the asset."
    )
    tags: Tags = Field(default_factory=dict, description="Tags on the asset.")
    checks: list[Check] = Field(
        default_factory=list,
        description="Data-quality checks of the model's table, each a Dagster asset check run "
        "right after it is built.",
    )
    freshness: Freshness | None = freshness_field(
        "How old the model's table may get (`{warn_after: 2h, fail_after: 6h}`); Dagster's daemon "
        "marks it stale past `fail_after` and its jobs' failure channels get one message per breach."
    )
    partitions: Partitions | None = partitions_field(
        "Build the model one time window at a time (`{type: daily, start: '2024-01-01'}`): a "
        "partition run replaces that window's rows, computed by the SQL with `{start}` and `{end}` "
        "(the window's bounds, timestamps with time zone; `start` inclusive, `end` exclusive). "
        "`materialized: table` only; `cursor_field` does not apply."
    )
    backfill: BackfillPolicyName = backfill_field()
    partition_mapping: dict[str, PartitionMappingName] = Field(
        default_factory=dict,
        description="How a partition of this model maps to the partitions of a partitioned table it "
        "reads (`{demo.orders: window}`), needed where the two are partitioned differently: `window` "
        "(the partitions that overlap this one's window), `all` (every partition) or `latest` (the "
        "last one). Tables partitioned as this model is map partition to partition.",
    )
    environments: EnvironmentOverlays | None = environments_field()


class DbtTransformation(StrictModel):
    """An existing dbt project: its models, seeds and snapshots become assets, its tests asset checks."""

    name: Name = Field(description="Unique transformation name: names the project's step and job entries.")
    type: Literal["dbt"] = Field(description="`dbt`: a dbt project run with `dbt build`.")
    description: str | None = Field(default=None, description="What this project builds.")
    project_dir: str = Field(
        description="Folder holding `dbt_project.yml`, relative to the defs directory (`../dbt_project`)."
    )
    destination: str = Field(
        description="Destination name or file name the project builds in; its connection becomes the "
        "dbt profile (written when a run starts, secrets passed as env vars, never to disk). "
        "`duckdb` and `postgres` destinations."
    )
    dataset_name: Name | None = Field(
        default=None,
        description="The profile's schema: where models without a `schema` config land; the "
        "destination's `settings.schema` when omitted.",
    )
    manifest: str = Field(
        default="target/manifest.json",
        description="The parsed project (`dbt parse`), relative to `project_dir`. Definitions load "
        "reads it and never runs dbt: refresh it with `dwh dbt-parse` after changing the project.",
    )
    threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="dbt threads (DuckDB files take one writer; more helps on servers).",
    )
    automation: Literal["eager"] | None = Field(
        default=None,
        description="`eager`: every model rebuilds by itself after what it reads is loaded or rebuilt.",
    )
    group: Name | None = Field(
        default=None,
        description="Asset group of models that set no dbt `group`; `transformations` when omitted.",
    )
    owners: list[str] = Field(default_factory=list, description="Owners of the project's assets.")
    tags: Tags = Field(default_factory=dict, description="Tags on the project's assets.")
    environments: EnvironmentOverlays | None = environments_field()


TRANSFORMATION_TYPES: tuple[str, ...] = ("sql", "dbt")


def _transformation_type(value: Any) -> str:
    """The branch of a transformation: its ``type``, ``sql`` when it names none."""
    found = value.get("type", "sql") if isinstance(value, dict) else getattr(value, "type", "sql")
    return found if isinstance(found, str) else str(found)


Transformation = Annotated[
    Annotated[SqlTransformation, Tag("sql")] | Annotated[DbtTransformation, Tag("dbt")],
    Discriminator(_transformation_type),
]
"""A ``transformation:``: a SQL model (``type: sql``, the default) or a dbt project."""


class TransformationFile(StrictModel):
    """A file under ``transformations/``."""

    transformation: Transformation = Field(description="The transformation defined by this file.")
    environments: EnvironmentOverlays | None = environments_field()

"""Every name derived from the YAML, in one place: asset keys, tables, pools, dlt pipeline names.

These names are stable: changing one renames assets in Dagster's history.
"""

from __future__ import annotations

import hashlib
import os
import re

SOURCE_ASSET_PREFIX = "sources"
DUCKDB_WRITER_POOL_PREFIX = "duckdb_writer"


def table_asset_key(dataset: str, resource: str) -> list[str]:
    """Asset key of the table a resource loads: ``<dataset_name>/<resource_name>``."""
    return [dataset, resource]


def source_asset_key(source_name: str) -> list[str]:
    """Asset key of the external source system, shown upstream of its tables."""
    return [SOURCE_ASSET_PREFIX, source_name]


def pipeline_op_name(pipeline_name: str) -> str:
    """Name of the op (multi-asset) that runs one pipeline."""
    return f"load_{pipeline_name}"


def transformation_op_name(destination_name: str) -> str:
    """Name of the op (multi-asset) that builds the transformations of one destination."""
    return f"transform_{destination_name}"


def dbt_op_name(transformation_name: str) -> str:
    """Name of the op (multi-asset) that runs ``dbt build`` for one dbt transformation."""
    return f"dbt_{transformation_name}"


def transformation_work_table(name: str) -> str:
    """The table a transformation builds its new rows in before they replace or join its table."""
    return f"{name}__dwh_new"


def dlt_pipeline_name(pipeline_name: str) -> str:
    """Name of the dlt pipeline; dlt keeps its state in the destination under this name."""
    return f"dwh_{pipeline_name}"


def duckdb_writer_pool(database: str) -> str:
    """Dagster concurrency pool of the steps that write one DuckDB file.

    ``duckdb_writer:<file name>:<hash>``: ``database`` is the file's absolute path (a relative
    path resolved against the project root first); the hash of the normalized path tells files of
    one name in different folders apart, so every spelling of one file names one pool. Pool names
    hold no whitespace (it becomes ``_``) and no ``/``.
    """
    path = os.path.normpath(database)
    digest = hashlib.sha256(path.encode()).hexdigest()[:10]
    file_name = re.sub(r"\s", "_", os.path.basename(path))[:100]
    return f"{DUCKDB_WRITER_POOL_PREFIX}:{file_name}:{digest}"


NOTIFY_FAILURE_SENSOR = "dwh_notify_on_failure"
NOTIFY_SUCCESS_SENSOR = "dwh_notify_on_success"
SLA_SENSOR = "dwh_sla_monitor"
EAGER_AUTOMATION_SENSOR = "dwh_eager_transformations"
STALE_TABLE_SENSOR = "dwh_stale_tables"
RESERVED_SENSOR_NAMES = (
    NOTIFY_FAILURE_SENSOR,
    NOTIFY_SUCCESS_SENSOR,
    SLA_SENSOR,
    EAGER_AUTOMATION_SENSOR,
    STALE_TABLE_SENSOR,
)
"""Names of the sensors dwh-dagster adds itself; no trigger may take them."""

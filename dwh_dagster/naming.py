"""Every name derived from the YAML, in one place: asset keys, tables, pools, dlt pipeline names.

These names are stable: changing one renames assets in Dagster's history.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SOURCE_ASSET_PREFIX = "sources"


def table_asset_key(dataset: str, resource: str) -> list[str]:
    """Asset key of the table a resource loads: ``<dataset_name>/<resource_name>``."""
    return [dataset, resource]


def source_asset_key(source_name: str) -> list[str]:
    """Asset key of the external source system, shown upstream of its tables."""
    return [SOURCE_ASSET_PREFIX, source_name]


def pipeline_op_name(pipeline_name: str) -> str:
    """Name of the op (multi-asset) that runs one pipeline."""
    return f"load_{pipeline_name}"


def dlt_pipeline_name(pipeline_name: str) -> str:
    """Name of the dlt pipeline; dlt keeps its state in the destination under this name."""
    return f"dwh_{pipeline_name}"


def duckdb_pool(database_file: Path) -> str:
    """Concurrency pool of the steps writing one DuckDB file (limit 1: DuckDB has one writer)."""
    resolved = database_file.expanduser().resolve()
    stem = re.sub(r"[^A-Za-z0-9_]", "_", resolved.stem)
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    return f"duckdb_{stem}_{digest}"


NOTIFY_FAILURE_SENSOR = "dwh_notify_on_failure"
NOTIFY_SUCCESS_SENSOR = "dwh_notify_on_success"
SLA_SENSOR = "dwh_sla_monitor"
RESERVED_SENSOR_NAMES = (NOTIFY_FAILURE_SENSOR, NOTIFY_SUCCESS_SENSOR, SLA_SENSOR)
"""Names of the sensors dwh-dagster adds itself; no trigger may take them."""

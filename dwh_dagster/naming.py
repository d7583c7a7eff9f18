"""Every name derived from the YAML, in one place: asset keys, tables, pools, dlt pipeline names.

These names are stable: changing one renames assets in Dagster's history.
"""

from __future__ import annotations

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


NOTIFY_FAILURE_SENSOR = "dwh_notify_on_failure"
NOTIFY_SUCCESS_SENSOR = "dwh_notify_on_success"
SLA_SENSOR = "dwh_sla_monitor"
RESERVED_SENSOR_NAMES = (NOTIFY_FAILURE_SENSOR, NOTIFY_SUCCESS_SENSOR, SLA_SENSOR)
"""Names of the sensors dwh-dagster adds itself; no trigger may take them."""

"""What every trigger builder shares: run tags, default statuses, the job a trigger targets."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dwh_dagster.models.triggers import TriggerModel
from dwh_dagster.tags import yaml_tags

JobTarget = UnresolvedAssetJobDefinition
"""The asset job a trigger starts (built from the job's YAML)."""


def trigger_run_tags(trigger: TriggerModel) -> dict[str, str]:
    """The trigger's YAML ``tags`` plus ``dwh/trigger``: the tags of every run it starts."""
    return {**yaml_tags(trigger.tags), "dwh/trigger": trigger.name}


def default_schedule_status(enabled: bool) -> dg.DefaultScheduleStatus:
    """``enabled`` as a schedule's default status."""
    return dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED


def default_sensor_status(enabled: bool) -> dg.DefaultSensorStatus:
    """``enabled`` as a sensor's default status."""
    return dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED

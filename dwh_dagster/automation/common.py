"""What every trigger builder shares: run tags, default statuses, the job a trigger targets."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import dagster as dg

from dwh_dagster.config.models.triggers import TriggerModel
from dwh_dagster.tags import yaml_tags

if TYPE_CHECKING:
    # The type ``dg.define_asset_job`` returns, which ``dagster`` does not export; for type
    # checking only, so nothing here depends on a private module at run time.
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

JobTarget: TypeAlias = "UnresolvedAssetJobDefinition"
"""The asset job a trigger starts (what ``dg.define_asset_job`` returns for the job's YAML)."""


def trigger_run_tags(trigger: TriggerModel) -> dict[str, str]:
    """The trigger's YAML ``tags`` plus ``dwh/trigger``: the tags of every run it starts."""
    return {**yaml_tags(trigger.tags), "dwh/trigger": trigger.name}


def default_schedule_status(enabled: bool) -> dg.DefaultScheduleStatus:
    """``enabled`` as a schedule's default status."""
    return dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED


def default_sensor_status(enabled: bool) -> dg.DefaultSensorStatus:
    """``enabled`` as a sensor's default status."""
    return dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED

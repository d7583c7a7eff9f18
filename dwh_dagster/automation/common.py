"""What every trigger builder shares: run tags, default statuses, the job a trigger targets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

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


@dataclass(frozen=True)
class Partitioning:
    """The partitions of a trigger's job: every run it starts loads one partition (or a range)."""

    partitions_def: dg.TimeWindowPartitionsDefinition
    backfill: str
    """``single_run`` or ``per_partition``."""
    asset_keys: tuple[dg.AssetKey, ...] = ()
    """The job's partitioned tables."""

    def latest(self, when: datetime) -> str | None:
        """The last partition complete at ``when`` (as the partitions' end_offset counts it)."""
        keys = self.keys_until(when)
        return keys[-1] if keys else None

    def keys_until(self, when: datetime) -> list[str]:
        """Every partition complete at ``when``, oldest first."""
        return list(self.partitions_def.get_partition_keys(current_time=when))


def run_request(
    partitioning: Partitioning | None, when: datetime, **kwargs: Any
) -> dg.RunRequest | dg.SkipReason:
    """A run request; for a partitioned job, of the latest partition at ``when`` (none yet: a skip)."""
    if partitioning is None:
        return dg.RunRequest(**kwargs)
    key = partitioning.latest(when)
    if key is None:
        return dg.SkipReason(f"no partition of the job is complete at {when.isoformat()} yet")
    return dg.RunRequest(partition_key=key, **kwargs)

"""Pure factories from ``freshness:`` to Dagster freshness policies, and which tables have one."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from dwh_dagster.config.models.freshness import Freshness
from dwh_dagster.config.naming import table_asset_key
from dwh_dagster.config.resolved import ResolvedProject


def build_freshness_policy(freshness: Freshness | None) -> dg.FreshnessPolicy | None:
    """Dagster's time-window policy: fail past ``fail_after``, warn past ``warn_after``."""
    if freshness is None:
        return None
    warn = freshness.warn_seconds
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(seconds=freshness.fail_seconds),
        warn_window=None if warn is None else timedelta(seconds=warn),
    )


def freshness_by_asset(project: ResolvedProject) -> dict[dg.AssetKey, Freshness]:
    """Every table with a ``freshness:``, by asset key: pipeline tables and SQL models."""
    found: dict[dg.AssetKey, Freshness] = {}
    for pipeline in project.pipelines.values():
        for resource in pipeline.resources:
            freshness = pipeline.model.freshness_of(resource)
            if freshness is not None:
                found[dg.AssetKey(table_asset_key(pipeline.dataset, resource))] = freshness
    for model in project.transformations.values():
        if model.model.freshness is not None:
            found[dg.AssetKey(table_asset_key(model.dataset, model.name))] = model.model.freshness
    return found

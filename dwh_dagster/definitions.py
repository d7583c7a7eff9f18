"""The Dagster code location: a lazy entry point that builds one ``Definitions`` from the YAML.

Nothing loads at import. Dagster's tools (``dagster dev``, ``dagster api grpc``, ``dagster
definitions validate``) call :func:`defs` when they load the code location; it reads the project of
``$DWH_DEFS_DIR`` (else ``./yaml_defs``) in ``$ENVIRONMENT`` (else ``dev``). Loading stays cheap and
offline: YAML is read and checked, Dagster objects are built from the resolved project, and
nothing connects anywhere. dlt is imported only when a run executes.
"""

from __future__ import annotations

import dagster as dg

from dwh_dagster.assets.freshness import freshness_by_asset
from dwh_dagster.assets.pipeline_assets import build_all_pipeline_assets
from dwh_dagster.assets.specs import build_source_asset_spec
from dwh_dagster.assets.transformation_assets import (
    build_all_transformation_assets,
    build_eager_automation_sensor,
)
from dwh_dagster.automation import build_automation
from dwh_dagster.config.loader import load_project, project_fingerprint
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.jobs import build_job
from dwh_dagster.notifications.sensors import build_notification_sensors
from dwh_dagster.notifications.stale import build_stale_table_sensor


def build_definitions(project: ResolvedProject) -> dg.Definitions:
    """Assets (sources, loaded tables, transformations), jobs, schedules and sensors of a project."""
    used_sources = sorted({p.source.name for p in project.pipelines.values()})
    jobs = {name: build_job(job) for name, job in project.jobs.items()}
    automation = build_automation(project, jobs)
    eager = build_eager_automation_sensor(project)
    stale = build_stale_table_sensor(project, freshness_by_asset(project))
    return dg.Definitions(
        assets=[
            # one definition per source: Dagster merges bare specs into one definition that every
            # job's asset graph then holds whole, which makes loading quadratic in the sources
            *(dg.AssetsDefinition(specs=[build_source_asset_spec(project.sources[n])]) for n in used_sources),
            *build_all_pipeline_assets(project),
            *build_all_transformation_assets(project),
        ],
        jobs=list(jobs.values()),
        schedules=automation.schedules,
        sensors=[
            *automation.sensors,
            *build_notification_sensors(project, jobs),
            *([eager] if eager is not None else []),
            *([stale] if stale is not None else []),
        ],
    )


_last_built: tuple[tuple[str, str, str], dg.Definitions] | None = None


@dg.definitions
def defs() -> dg.Definitions:
    """The code location of the project in ``$DWH_DEFS_DIR`` (else ``./yaml_defs``), in ``$ENVIRONMENT``.

    A code server calls this twice while it starts (Dagster 1.13's ``get_loadable_targets``
    resolves lazy definitions once, then loads the repository through them again): the second call
    returns the first one's ``Definitions`` when the project is unchanged (same folder, environment
    and file contents), so the YAML is read and the objects built once.
    """
    global _last_built
    fingerprint = project_fingerprint()
    if _last_built is not None and _last_built[0] == fingerprint:
        return _last_built[1]
    built = build_definitions(load_project())
    _last_built = (fingerprint, built)
    return built

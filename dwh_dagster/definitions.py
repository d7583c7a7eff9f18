"""The Dagster code location: one ``Definitions`` built from the YAML project.

Loading stays cheap and offline: YAML is read and checked, Dagster objects are built from the
models, and nothing connects anywhere. dlt is imported only when a run executes.
"""

from __future__ import annotations

import dagster as dg

from dwh_dagster.assets.pipeline_assets import build_all_pipeline_assets
from dwh_dagster.assets.specs import build_source_asset_spec
from dwh_dagster.automation import build_automation
from dwh_dagster.jobs import build_job
from dwh_dagster.loader import load_project
from dwh_dagster.notifications.sensors import build_notification_sensors
from dwh_dagster.project import Project


def build_definitions(project: Project) -> dg.Definitions:
    """Assets, jobs, schedules and sensors of a loaded project."""
    used_sources = sorted({project.source_for(p).name for p in project.pipelines.values()})
    jobs = {name: build_job(project, job) for name, job in project.jobs.items()}
    automation = build_automation(project, jobs)
    return dg.Definitions(
        assets=[
            # one definition per source: Dagster merges bare specs into one definition that every
            # job's asset graph then holds whole, which makes loading quadratic in the sources
            *(dg.AssetsDefinition(specs=[build_source_asset_spec(project.sources[n])]) for n in used_sources),
            *build_all_pipeline_assets(project),
        ],
        jobs=list(jobs.values()),
        schedules=automation.schedules,
        sensors=[*automation.sensors, *build_notification_sensors(project, jobs)],
    )


defs = build_definitions(load_project())

"""Dagster asset jobs from job models."""

from __future__ import annotations

import dagster as dg

from dwh_dagster.assets.specs import yaml_tags
from dwh_dagster.models.jobs import Job
from dwh_dagster.naming import table_asset_key
from dwh_dagster.project import Project


def job_asset_keys(project: Project, job: Job) -> list[dg.AssetKey]:
    """The tables of a job's enabled pipelines."""
    keys = []
    for _, pipeline in project.job_pipelines(job):
        dataset = project.dataset_for(pipeline)
        keys += [dg.AssetKey(table_asset_key(dataset, r)) for r in project.resources_for(pipeline)]
    return keys


def build_job(project: Project, job: Job) -> dg.UnresolvedAssetJobDefinition:
    """An asset job over the assets of the job's enabled pipelines."""
    return dg.define_asset_job(
        name=job.name,
        selection=dg.AssetSelection.assets(*job_asset_keys(project, job)),
        description=job.description,
        tags={**yaml_tags(job.tags), "dwh/job": job.name},
    )

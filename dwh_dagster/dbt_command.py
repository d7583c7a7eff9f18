"""``dwh dbt-parse [NAME ...]``: write the manifest of each dbt transformation with ``dbt parse``.

Works on a project whose only problem is a missing or stale manifest (the reason to run it): it
needs each named dbt transformation to load and its destination to resolve, nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from dwh_dagster.config.dbt_project import (
    DbtProjectError,
    load_manifest_json,
    profile_name,
    read_project_file,
    summarize_manifest,
)
from dwh_dagster.config.errors import did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.lineage import dbt_transformations
from dwh_dagster.config.loader import load_index
from dwh_dagster.config.models.transformations import DbtTransformation
from dwh_dagster.config.rules.dbt import DBT_DESTINATION_TYPES
from dwh_dagster.transform.dbt import DbtParseError, DbtPlan, parse_project


def _plan(index: ProjectIndex, name: str) -> DbtPlan:
    model = index.transformations.objects[name].model
    assert isinstance(model, DbtTransformation)
    destination_name = index.destinations.lookup(model.destination)
    if destination_name is None:
        raise DbtProjectError(f"{name}: destination '{model.destination}' not found")
    destination = index.destinations.objects[destination_name].model
    if destination.type not in DBT_DESTINATION_TYPES:
        raise DbtProjectError(
            f"{name}: destination '{destination_name}' is {destination.type}; dbt builds in "
            f"{list_choices(DBT_DESTINATION_TYPES)}"
        )
    dataset = model.dataset_name or destination.settings.schema_name
    if dataset is None:
        raise DbtProjectError(f"{name}: no dataset_name and destination '{destination_name}' has no schema")
    project_dir = (index.root / model.project_dir).resolve()
    return DbtPlan(
        name=name,
        project_dir=project_dir,
        manifest_path=project_dir / model.manifest,
        profile=profile_name(read_project_file(project_dir)),
        dataset=dataset,
        threads=1,
        destination=destination,
        project_root=index.root.parent,
        environment=index.environment,
        secrets=index.secrets,
    )


def run_dbt_parse(defs_dir: str | None, environment: str | None, names: Sequence[str]) -> int:
    """Parse the named dbt transformations (all of them by default); print what each manifest holds."""
    index, _ = load_index(defs_dir, environment)
    available = [obj.name for obj in dbt_transformations(index)]
    if not available:
        print("no dbt transformation (type: dbt) in this project", file=sys.stderr)
        return 1
    unknown = [n for n in names if n not in available]
    for name in unknown:
        hint = did_you_mean(name, available) or f"dbt transformations: {list_choices(available)}"
        print(f"error: '{name}' is not a dbt transformation; {hint}", file=sys.stderr)
    if unknown:
        return 2
    failed = 0
    for name in names or available:
        try:
            plan = _plan(index, name)
            path = parse_project(plan)
            manifest = summarize_manifest(load_manifest_json(path))
        except (DbtProjectError, DbtParseError) as exc:
            failed += 1
            print(f"error: {name}: dbt parse failed:\n{exc}", file=sys.stderr)
            continue
        shown = Path(path)
        print(
            f"{name}: wrote {shown} ({len(manifest.nodes)} models, seeds and snapshots, "
            f"{len(manifest.sources)} sources, {manifest.tests} tests)"
        )
    return 1 if failed else 0

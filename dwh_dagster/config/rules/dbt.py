"""Rules of dbt transformations: a destination dbt can build in, a readable project, and a manifest
that matches the project's files, its schema and its destination."""

from __future__ import annotations

from pathlib import PurePosixPath

from dwh_dagster.config.dbt_project import files_missing_from_manifest
from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, list_choices, suggest
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.lineage import DbtView, TableLineage, dbt_transformations, table_lineage
from dwh_dagster.config.models.transformations import DbtTransformation

DBT_DESTINATION_TYPES: tuple[str, ...] = ("duckdb", "postgres")
"""Destination types a generated dbt profile can connect to (their adapters are installed)."""


def refresh_hint(name: str) -> str:
    """How to write the manifest again."""
    return f"run `uv run dwh dbt-parse {name}` and commit target/manifest.json"


def _check_destination(
    index: ProjectIndex, obj: LoadedObject[DbtTransformation], errors: list[ConfigError]
) -> str | None:
    name = index.destinations.resolve(obj.model.destination, obj, ("destination",), errors)
    if name is None:
        return None
    destination = index.destinations.objects[name].model
    if destination.type not in DBT_DESTINATION_TYPES:
        errors.append(
            obj.error(
                ("destination",),
                f"destination '{name}' is a {destination.type} destination, which dbt cannot build in",
                f"use a destination of type {list_choices(DBT_DESTINATION_TYPES)}",
            )
        )
        return None
    if obj.model.dataset_name is None and destination.settings.schema_name is None:
        errors.append(
            obj.error(
                ("destination",),
                "missing dataset_name",
                f"add 'dataset_name:' (destination '{name}' has no settings.schema to fall back on)",
            )
        )
    return name


def _manifest_field(obj: LoadedObject[DbtTransformation]) -> tuple[str]:
    """Where a manifest problem is shown: ``manifest`` when written, else the ``project_dir`` line
    (the default path is under it)."""
    return ("manifest",) if "manifest" in obj.model.model_fields_set else ("project_dir",)


def _project_dir_hint(index: ProjectIndex, obj: LoadedObject[DbtTransformation]) -> str:
    wanted = (index.root / obj.model.project_dir).resolve()
    fix = "point project_dir (relative to the defs directory) at the folder of dbt_project.yml"
    parent = wanted.parent
    if not parent.is_dir():
        return fix
    projects = sorted(p.name for p in parent.iterdir() if (p / "dbt_project.yml").is_file())
    near = suggest(wanted.name, projects)
    if near is None:
        return fix
    written = PurePosixPath(obj.model.project_dir.replace("\\", "/"))
    return f"did you mean '{written.with_name(near)}'? {fix}"


def _check_manifest(
    obj: LoadedObject[DbtTransformation],
    view: DbtView,
    destination_type: str | None,
    dataset: str | None,
    errors: list[ConfigError],
) -> None:
    hint = refresh_hint(obj.name)
    manifest = view.manifest
    stale = files_missing_from_manifest(view.project_dir, view.project_file, manifest)
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        errors.append(
            obj.error(_manifest_field(obj), f"the manifest is older than the project: {shown} missing", hint)
        )
    if destination_type and manifest.adapter_type and manifest.adapter_type != destination_type:
        errors.append(
            obj.error(
                _manifest_field(obj),
                f"the manifest was parsed for a {manifest.adapter_type} profile; the destination is "
                f"{destination_type}",
                hint,
            )
        )
    if dataset is not None:
        other = sorted({n.schema for n in manifest.nodes if not n.custom_schema and n.schema != dataset})
        if other:
            errors.append(
                obj.error(
                    ("dataset_name",),
                    f"the manifest puts models in schema {list_choices(other)}, not in '{dataset}'",
                    hint,
                )
            )


def check_dbt_transformations(index: ProjectIndex) -> list[ConfigError]:
    """Destination, project and manifest of every dbt transformation; one writer per table."""
    errors: list[ConfigError] = []
    lineage: TableLineage = table_lineage(index)
    for obj in dbt_transformations(index):
        destination = _check_destination(index, obj, errors)
        failure = lineage.dbt_failures.get(obj.name)
        if failure is not None:
            where, message = failure
            if where == "manifest":
                errors.append(obj.error(_manifest_field(obj), message, refresh_hint(obj.name)))
            else:
                errors.append(obj.error((where,), message, _project_dir_hint(index, obj)))
            continue
        view = lineage.dbt.get(obj.name)
        if view is not None:
            destination_type = index.destinations.objects[destination].model.type if destination else None
            _check_manifest(obj, view, destination_type, lineage.datasets.get(obj.name), errors)
    for producer, first in lineage.duplicates:
        if producer.kind != "dbt":
            continue
        errors.append(
            index.transformations.objects[producer.name].error(
                ("project_dir",),
                f"its model '{producer.table}' writes table '{producer.dataset}.{producer.table}', which "
                f"{first.describe()} also writes",
                "each table has one writer; rename the dbt model (alias) or its schema",
            )
        )
    return errors

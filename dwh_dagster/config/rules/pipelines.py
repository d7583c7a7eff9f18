"""Rules of pipelines: their source, resources, destination, dataset, tables and depends_on."""

from __future__ import annotations

from pathlib import Path

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.destinations import DuckDbDestination
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.ordering import find_cycles


def _check_resources(
    index: ProjectIndex, obj: LoadedObject[Pipeline], source_name: str, errors: list[ConfigError]
) -> list[str]:
    """The resources the pipeline loads (its list, else all of the source's), reporting bad entries."""
    available = index.sources.objects[source_name].model.resource_names()
    chosen = obj.model.source.resources
    if chosen is None:
        return available
    resources: list[str] = []
    for position, resource in enumerate(chosen):
        if resource not in available:
            hint = did_you_mean(resource, available)
            valid = f"source '{source_name}' defines {list_choices(available)}"
            errors.append(
                obj.error(
                    ("source", "resources", position),
                    f"unknown resource '{resource}'",
                    f"{hint} {valid}" if hint else valid,
                )
            )
        elif resource in resources:
            errors.append(
                obj.error(
                    ("source", "resources", position),
                    f"resource '{resource}' is listed twice",
                    "remove the repeat",
                )
            )
        else:
            resources.append(resource)
    return resources


def _check_dataset(
    index: ProjectIndex, obj: LoadedObject[Pipeline], dest_name: str, errors: list[ConfigError]
) -> str | None:
    """The dataset the pipeline writes, reporting a missing one and a clash with a DuckDB file name."""
    destination = index.destinations.objects[dest_name].model
    dataset = obj.model.destination.dataset_name or destination.settings.schema_name
    if dataset is None:
        errors.append(
            obj.error(
                ("destination",),
                "missing dataset_name",
                f"add 'dataset_name:' (destination '{dest_name}' has no settings.schema to fall back on)",
                at_key=True,
            )
        )
    elif isinstance(destination, DuckDbDestination) and Path(destination.connection.database).stem == dataset:
        errors.append(
            obj.error(
                ("destination", "dataset_name"),
                f"dataset '{dataset}' has the same name as the DuckDB file "
                f"'{destination.connection.database}'",
                "DuckDB cannot tell the catalog from the schema; rename one of them",
            )
        )
    return dataset


def check_pipelines(index: ProjectIndex) -> list[ConfigError]:
    """References to sources, resources and destinations; one pipeline per table; depends_on."""
    errors: list[ConfigError] = []
    tables: dict[tuple[str, str], str] = {}
    graph: dict[str, list[str]] = {}
    for obj in index.pipelines:
        pipeline = obj.model
        source_name = index.sources.resolve(
            pipeline.source.config_file, obj, ("source", "config_file"), errors
        )
        dest_name = index.destinations.resolve(
            pipeline.destination.config_file, obj, ("destination", "config_file"), errors
        )
        resources = _check_resources(index, obj, source_name, errors) if source_name else []
        dataset = (
            _check_dataset(index, obj, dest_name, errors) if dest_name else pipeline.destination.dataset_name
        )
        if dataset:
            for resource in resources:
                other = tables.setdefault((dataset, resource), obj.name)
                if other != obj.name:
                    errors.append(
                        obj.error(
                            ("destination", "dataset_name"),
                            f"table '{dataset}.{resource}' is also loaded by pipeline '{other}'",
                            "each table is loaded by one pipeline; use another dataset_name or resource",
                        )
                    )
        deps: list[str] = []
        for position, dep in enumerate(pipeline.depends_on):
            target = index.pipelines.resolve(dep, obj, ("depends_on", position), errors)
            if target == obj.name:
                errors.append(obj.error(("depends_on", position), "a pipeline cannot depend on itself"))
            elif target:
                deps.append(target)
        graph[obj.name] = deps
    for cycle in find_cycles(graph):
        errors.append(
            index.pipelines.objects[cycle[0]].error(
                ("depends_on",),
                f"depends_on cycle: {' -> '.join(cycle)}",
                "remove one of these dependencies",
                at_key=True,
            )
        )
    return errors

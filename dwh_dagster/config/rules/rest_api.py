"""Rules of rest_api sources: parent references that dlt can follow."""

from __future__ import annotations

from typing import Any

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, FieldPath, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.sources import RestApiSource
from dwh_dagster.config.rest_api import scan_parent_references


def _as_written(obj: LoadedObject[Any], at: FieldPath, path: FieldPath) -> FieldPath:
    """``path`` inside the resource at ``at``, as the user wrote it: ``endpoint: /users/{...}`` (the
    path shorthand) has no ``path`` key, so its problems are reported at ``endpoint``."""
    if path == ("endpoint", "path"):
        written: Any = obj.doc.data
        try:
            for part in (obj.kind.top_key, *at, "endpoint"):
                written = written[part]
        except (KeyError, IndexError, TypeError):
            written = None
        if isinstance(written, str):
            return (*at, "endpoint")
    return (*at, *path)


def check_rest_api_parents(index: ProjectIndex) -> list[ConfigError]:
    """Each child names one known parent, not itself, and include_from_parent has a parent."""
    errors: list[ConfigError] = []
    for obj in index.sources:
        source = obj.model
        if not isinstance(source, RestApiSource):
            continue
        names = source.resource_names()
        for position, resource in enumerate(source.resources):
            at = ("resources", position)
            references, bad = scan_parent_references(resource)
            for problem in bad:
                errors.append(obj.error(_as_written(obj, at, problem.path), problem.message))
            parents: list[str] = []
            for reference in references:
                where = _as_written(obj, at, reference.path)
                if reference.parent == resource.name:
                    errors.append(obj.error(where, "a resource cannot be its own parent"))
                elif reference.parent not in names:
                    hint = did_you_mean(reference.parent, names)
                    valid = f"resources of this source: {list_choices(names)}"
                    errors.append(
                        obj.error(
                            where,
                            f"unknown parent resource '{reference.parent}'",
                            f"{hint} {valid}" if hint else valid,
                        )
                    )
                elif parents and reference.parent not in parents:
                    errors.append(
                        obj.error(
                            where,
                            f"a second parent resource '{reference.parent}': this resource already reads "
                            f"from '{parents[0]}'",
                            "dlt follows one parent per resource; take every {resources.<parent>.<field>} "
                            f"from '{parents[0]}', or load '{reference.parent}' in a resource of its own",
                        )
                    )
                if reference.parent not in parents:
                    parents.append(reference.parent)
            if resource.include_from_parent and not references:
                errors.append(
                    obj.error(
                        (*at, "include_from_parent"),
                        "include_from_parent needs a parent resource",
                        "reference it as {resources.<parent>.<field>} in the endpoint path, params or json",
                        at_key=True,
                    )
                )
    return errors

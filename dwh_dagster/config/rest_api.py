"""The one parser of rest_api parent references, reading what dlt's rest_api source reads.

A resource becomes the child of another when its endpoint names a field of the other's records:
``{resources.<parent>.<field>}`` anywhere in the path, in the query params, in the JSON body
(keys and values, at any depth), or a param written in dlt's long form
``{type: resolve, resource: <parent>, field: <field>}``. dlt finds them the same way
(``dlt/sources/rest_api/config_setup.py``: ``build_resource_dependency_graph`` with
``_find_expressions``, which uses :class:`string.Formatter`), allows one parent per resource, and
fails at run time otherwise; the rules report that when the project loads.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dwh_dagster.config.errors import FieldPath
from dwh_dagster.config.models.sources import RestApiResource

RESOURCES_CONTEXT = "resources."


@dataclass(frozen=True)
class ParentReference:
    """One reference to a parent resource's field, and where in the resource it is written."""

    parent: str
    field: str
    path: FieldPath
    """Where the reference is, inside the resource (``("endpoint", "json", "filter", "id")``)."""


@dataclass(frozen=True)
class BadPlaceholder:
    """A placeholder dlt cannot read: unbalanced braces or an incomplete ``resources.`` reference."""

    path: FieldPath
    message: str


def _expressions(text: str) -> list[str]:
    """The replacement fields of ``text`` as :class:`string.Formatter` (and so dlt) reads them."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def _walk(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    """Every text in a nested value (mapping keys included) with the path of the value it is in."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), str(key)
            yield from _walk(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


def _places(resource: RestApiResource) -> Iterator[tuple[FieldPath, Any]]:
    endpoint = resource.endpoint
    yield ("endpoint", "path"), endpoint.path
    yield ("endpoint", "params"), endpoint.params
    if endpoint.json_body is not None:
        yield ("endpoint", "json"), endpoint.json_body


def scan_parent_references(resource: RestApiResource) -> tuple[list[ParentReference], list[BadPlaceholder]]:
    """Every parent reference of a resource, in file order, and the placeholders dlt would reject."""
    found: list[ParentReference] = []
    bad: list[BadPlaceholder] = []
    for key, value in resource.endpoint.params.items():
        if isinstance(value, dict) and value.get("type") == "resolve":
            path: FieldPath = ("endpoint", "params", key)
            parent, field_name = value.get("resource"), value.get("field")
            if isinstance(parent, str) and parent and isinstance(field_name, str) and field_name:
                found.append(ParentReference(parent, field_name, path))
            else:
                bad.append(BadPlaceholder(path, "a 'resolve' param needs 'resource' and 'field'"))
    for place, value in _places(resource):
        for path, text in _walk(value, place):
            try:
                expressions = _expressions(text)
            except ValueError:
                bad.append(
                    BadPlaceholder(
                        path,
                        f"'{text}' has an unbalanced '{{' or '}}'; "
                        "write '{{' and '}}' for literal braces",
                    )
                )
                continue
            for expression in expressions:
                if not expression.startswith(RESOURCES_CONTEXT):
                    continue
                parts = expression.strip().split(".", maxsplit=2)
                if len(parts) != 3 or not parts[1] or not parts[2]:
                    bad.append(
                        BadPlaceholder(
                            path,
                            f"'{{{expression}}}' is not a parent reference: "
                            "write {resources.<parent>.<field>}",
                        )
                    )
                    continue
                found.append(ParentReference(parts[1], parts[2], path))
    return found, bad


def parent_references(resource: RestApiResource) -> list[ParentReference]:
    """Every well-formed parent reference of a resource, in file order."""
    return scan_parent_references(resource)[0]


def parent_resource(resource: RestApiResource) -> str | None:
    """The parent resource a resource reads from (the first one named), or None for a top resource."""
    references = parent_references(resource)
    return references[0].parent if references else None

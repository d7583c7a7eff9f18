"""ENVIRONMENT selection and the ``environments:`` overlay blocks of YAML files."""

from __future__ import annotations

import os
from typing import Any

from dwh_dagster.config.documents import Document
from dwh_dagster.config.errors import ConfigError, FieldPath, did_you_mean, list_choices
from dwh_dagster.config.models.base import ENVIRONMENTS

DEFAULT_ENVIRONMENT = "dev"
ENVIRONMENT_VAR = "ENVIRONMENT"


class UnknownEnvironmentError(ValueError):
    """ENVIRONMENT (or --env) names no known environment."""


def resolve_environment(explicit: str | None = None) -> str:
    """The environment in force: ``explicit`` (``--env``), else ``$ENVIRONMENT``, else ``dev``."""
    value = explicit if explicit is not None else os.environ.get(ENVIRONMENT_VAR, "") or DEFAULT_ENVIRONMENT
    value = value.strip()
    if value not in ENVIRONMENTS:
        hint = did_you_mean(value, ENVIRONMENTS)
        source = "--env" if explicit is not None else f"{ENVIRONMENT_VAR}"
        raise UnknownEnvironmentError(
            f"{source}={value!r} is not a known environment; use one of {list_choices(ENVIRONMENTS)}"
            + (f" ({hint})" if hint else "")
        )
    return value


def _copy_positions(doc: Document, source: FieldPath, target: FieldPath) -> None:
    for table in (doc.values, doc.keys):
        for path in [p for p in table if p[: len(target)] == target and p != target]:
            del table[path]
        for path, pos in list(table.items()):
            if path[: len(source)] == source and len(path) > len(source):
                table[target + path[len(source) :]] = pos
    if source in doc.values:
        doc.values[target] = doc.values[source]


def _merge(
    doc: Document,
    base: dict[str, Any],
    overlay: dict[str, Any],
    base_path: FieldPath,
    overlay_path: FieldPath,
) -> None:
    for key, value in overlay.items():
        target = (*base_path, key)
        source = (*overlay_path, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(doc, base[key], value, target, source)
            continue
        base[key] = value
        _copy_positions(doc, source, target)
        if source in doc.keys:
            doc.keys[target] = doc.keys[source]


def apply_environment_overlay(doc: Document, at: FieldPath, environment: str) -> list[ConfigError]:
    """Merge the ``environments.<environment>`` block of the mapping at ``at`` over that mapping.

    The block is removed from the data. Positions of merged values point at the overlay, so a
    mistake in a prod override is reported on its own line.
    """
    node: Any = doc.data
    for part in at:
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if not isinstance(node, dict) or "environments" not in node:
        return []
    block = node.pop("environments")
    block_path = (*at, "environments")
    if block is None:
        return []
    if not isinstance(block, dict):
        return [
            doc.error(
                block_path,
                "must be a mapping keyed by environment",
                f"write 'environments:' with keys among {list_choices(ENVIRONMENTS)}",
            )
        ]
    errors: list[ConfigError] = []
    for name, overlay in block.items():
        path = (*block_path, name)
        if name not in ENVIRONMENTS:
            hint = did_you_mean(name, ENVIRONMENTS)
            valid = f"valid environments: {list_choices(ENVIRONMENTS)}"
            errors.append(
                doc.error(
                    path, f"unknown environment '{name}'", f"{hint} {valid}" if hint else valid, at_key=True
                )
            )
        elif overlay is not None and not isinstance(overlay, dict):
            errors.append(
                doc.error(
                    path,
                    "an environment override must be a mapping of fields",
                    "write the fields to override, indented below the environment",
                )
            )
    if errors:
        return errors
    overlay = block.get(environment)
    if overlay:
        _merge(doc, node, overlay, at, (*block_path, environment))
    return []

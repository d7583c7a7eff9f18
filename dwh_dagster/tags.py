"""YAML tags as Dagster tags."""

from __future__ import annotations


def yaml_tags(tags: list[str] | dict[str, str]) -> dict[str, str]:
    """YAML tags (a list of labels or a mapping) as Dagster tags; a label becomes a key with no value."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {label: "" for label in tags}

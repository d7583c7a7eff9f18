"""YAML tags as Dagster tags."""

from __future__ import annotations


def yaml_tags(tags: list[str] | dict[str, str]) -> dict[str, str]:
    """YAML tags (a list of labels or a mapping) as Dagster tags; a label becomes a key with no value."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {label: "" for label in tags}


FULL_REFRESH_TAG = "dwh/full_refresh"
"""A run tag: ``true`` makes the run drop what it loads or builds incrementally and start again
(``dwh run --full-refresh``, or the tag in the UI's Launchpad): dlt drops the loaded tables and
their incremental state, incremental models are rebuilt from scratch."""

"""Rules of ``freshness:``: a pipeline's per-table freshness names tables the pipeline loads."""

from __future__ import annotations

from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.freshness import Freshness


def check_freshness(index: ProjectIndex) -> list[ConfigError]:
    """Per-resource ``freshness:`` keys that are not tables of their pipeline."""
    errors: list[ConfigError] = []
    for obj in index.pipelines:
        freshness = obj.model.freshness
        if freshness is None or isinstance(freshness, Freshness):
            continue
        source = index.sources.model(obj.model.source.config_file)
        if source is None:
            continue  # the unknown source is reported by the pipeline rules
        loaded = obj.model.source.resources or source.resource_names()
        for resource in freshness:
            if resource in loaded:
                continue
            hint = did_you_mean(resource, loaded) or f"tables this pipeline loads: {list_choices(loaded)}"
            errors.append(
                obj.error(
                    ("freshness", resource),
                    f"'{resource}' is not a table this pipeline loads (nor warn_after or fail_after)",
                    hint,
                    at_key=True,
                )
            )
    return errors

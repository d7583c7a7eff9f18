"""Every YAML example of the original design validates unchanged, and the shipped set loads."""

from __future__ import annotations

import re

import pytest
import yaml

from dwh_dagster.config.loader import load_project
from dwh_dagster.config.models.sources import RestApiSource
from dwh_dagster_tests.conftest import ORIGINAL_DESIGN, SEED_README, YAML_DEFS


def _fixture_texts() -> list[str]:
    return [p.read_text() for p in sorted(ORIGINAL_DESIGN.rglob("*.yaml"))]


@pytest.mark.skipif(not SEED_README.exists(), reason="original design README not beside the checkout")
def test_fixture_holds_every_readme_example_verbatim() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", SEED_README.read_text(), re.S)
    assert len(blocks) >= 6
    texts = _fixture_texts()
    fragments = []
    for block in blocks:
        if block in texts:
            continue
        fragments.append(block)
    # the only block that is not a whole file is the secret-reference fragment of my_api.yaml
    assert len(fragments) == 1
    fragment = yaml.safe_load(fragments[0])
    full = yaml.safe_load((ORIGINAL_DESIGN / "sources/my_api.yaml").read_text())
    assert (
        fragment["source"]["connection"]["auth"]["credentials_secret_key"]
        == full["source"]["connection"]["auth"]["credentials_secret_key"]
    )


def test_original_design_examples_validate() -> None:
    project = load_project(ORIGINAL_DESIGN, "dev")
    assert set(project.sources) == {"my_api"}
    source = project.sources["my_api"]
    assert isinstance(source, RestApiSource)
    resource = source.resources[0]
    assert resource.endpoint.path == "/users"
    assert resource.incremental is not None
    assert resource.incremental.initial_value == "2024-01-01T00:00:00Z"  # dates stay strings
    pipeline = project.pipelines["my_pipeline"]
    assert pipeline.source.name == "my_api"
    assert pipeline.destination.name == "my_warehouse"
    assert pipeline.dataset == "my_dataset"
    job = project.jobs["daily_ingestion"]
    assert job.model.sla is not None and job.model.sla.duration == 3600
    assert job.channels == ("email",)
    assert project.default_channels == {"email"}
    assert project.triggers["daily_schedule"].job.name == "daily_ingestion"
    resolver = project.secret_resolver()
    assert resolver.env_var("my_api_token_secret_key") == "MY_API_TOKEN_DEV"


@pytest.mark.parametrize("environment", ["dev", "stage", "prod"])
def test_shipped_yaml_defs_validate_in_every_environment(environment: str) -> None:
    project = load_project(YAML_DEFS, environment)
    assert {"github_api", "mock_api", "youtube_api"} <= set(project.sources)
    assert {"duckdb_local", "databricks"} <= set(project.destinations)
    assert {"github_to_duckdb", "mock_to_duckdb", "youtube_to_databricks"} <= set(project.pipelines)
    assert {"all_pipelines_job", "hourly_analytics", "mock_pipeline_job"} <= set(project.jobs)
    assert len(project.triggers) >= 7
    assert {t.model.type for t in project.triggers.values()} == {
        "cron",
        "interval",
        "manual",
        "event",
        "webhook",
    }


def test_shipped_environment_overlays_apply() -> None:
    dev = load_project(YAML_DEFS, "dev")
    prod = load_project(YAML_DEFS, "prod")
    assert dev.triggers["daily_ingestion"].model.enabled is False
    assert prod.triggers["daily_ingestion"].model.enabled is True
    dev_db = dev.destinations["duckdb_local"].connection
    prod_db = prod.destinations["duckdb_local"].connection
    assert dev_db != prod_db

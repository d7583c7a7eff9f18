"""The committed editor schemas are exactly what the models generate."""

from __future__ import annotations

import json

from dwh_dagster.schema import render_schemas
from dwh_dagster_tests.conftest import REPO_ROOT


def test_committed_schemas_match_models() -> None:
    stale = []
    for rel, text in render_schemas().items():
        committed = REPO_ROOT / rel
        if not committed.exists() or committed.read_text() != text:
            stale.append(str(rel))
    assert not stale, f"out of date: {stale}; run `uv run dwh schema` and commit .vscode/"


def test_settings_map_every_kind_to_its_folder() -> None:
    settings = json.loads((REPO_ROOT / ".vscode/settings.json").read_text())
    mapping = settings["yaml.schemas"]
    assert mapping["./.vscode/schemas/source.schema.json"] == [
        "yaml_defs/sources/**/*.yaml",
        "yaml_defs/sources/**/*.yml",
    ]
    assert "yaml_defs/secrets_mapping.yaml" in mapping["./.vscode/schemas/secrets.schema.json"]
    assert mapping["./.vscode/schemas/transformation.schema.json"] == [
        "yaml_defs/transformations/**/*.yaml",
        "yaml_defs/transformations/**/*.yml",
    ]
    assert len(mapping) == 8


def test_schema_rejects_unknown_keys_and_lists_enum_values() -> None:
    schema = json.loads((REPO_ROOT / ".vscode/schemas/job.schema.json").read_text())
    execution = schema["$defs"]["JobExecution"]
    assert execution["additionalProperties"] is False
    assert execution["properties"]["mode"]["enum"] == ["sequential", "parallel", "dag"]
    assert execution["properties"]["mode"]["description"]

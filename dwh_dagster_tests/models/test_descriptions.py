"""Every model reachable from a file kind documents each field and rejects unknown keys.

The descriptions feed the JSON schemas (editor hover text) and the "missing required field"
messages, so an undocumented field is a user-facing gap.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel

from dwh_dagster.config.models.files import ALL_KINDS
from dwh_dagster.schema import build_json_schema


def _reachable_models() -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {}

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen[tp] = None
            for info in tp.model_fields.values():
                walk(info.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    for kind in ALL_KINDS:
        walk(kind.model)
    return list(seen)


MODELS = _reachable_models()


def test_the_walk_reaches_nested_models() -> None:
    names = {m.__name__ for m in MODELS}
    expected = {
        "SourceFile",
        "RestApiSource",
        "BearerAuth",
        "OAuth2ClientCredentialsAuth",
        "CursorPaginator",
        "Endpoint",
        "RestApiIncremental",
        "SqlTable",
        "FileIncremental",
        "DuckDbConnection",
        "DestinationSettings",
        "MotherDuckDestination",
        "JobPipeline",
        "JobSla",
        "PipelineSourceRef",
        "CronSchedule",
        "Interval",
        "AssetMaterializedEvent",
        "WebhookSpec",
        "EmailChannel",
        "WebhookChannel",
        "SecretsMappingFile",
        "SecretEntry",
    }
    assert expected <= names, expected - names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    missing = [name for name, info in model.model_fields.items() if not (info.description or "").strip()]
    assert not missing, f"{model.__name__}: fields without description: {missing}"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_has_a_docstring(model: type[BaseModel]) -> None:
    assert (model.__doc__ or "").strip(), model.__name__


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_forbids_extra_keys(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid", model.__name__


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.kind)
def test_json_schema_documents_every_property(kind: Any) -> None:
    """In the editor schema every property has a description (its own or its referenced model's)."""
    schema = build_json_schema(kind)
    defs = schema.get("$defs", {})

    def described(prop: dict[str, Any]) -> bool:
        if prop.get("description"):
            return True
        ref = prop.get("$ref")
        return bool(ref and defs[ref.rsplit("/", 1)[-1]].get("description"))

    undocumented = []
    closed = []
    for name, definition in [("<root>", schema), *defs.items()]:
        if definition.get("type") != "object" or "properties" not in definition:
            continue
        if definition.get("additionalProperties") is not False:
            closed.append(name)
        undocumented += [f"{name}.{p}" for p, s in definition["properties"].items() if not described(s)]
    assert not undocumented, undocumented
    assert not closed, f"objects that allow unknown keys: {closed}"

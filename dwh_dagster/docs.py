"""The configuration reference (docs/config-reference.md), generated from the models."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dwh_dagster.config.annotations import models_in, union_members, walk_annotation
from dwh_dagster.config.models.files import ALL_KINDS, FileKind

REFERENCE_FILE = Path("docs/config-reference.md")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(_type_name(a) for a in typing.get_args(tp)))
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"mapping of {_type_name(typing.get_args(tp)[1])}"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _container_suffix(tp: Any) -> str:
    """``[]`` for a list of mappings, ``.<key>`` for a mapping of mappings, else nothing."""
    for t in walk_annotation(tp):
        origin = typing.get_origin(t)
        if origin in (list, tuple):
            return "[]"
        if origin is dict:
            return ".<key>"
    return ""


def _default(info: Any) -> str:
    if info.default is not PydanticUndefined:
        return "" if info.default is None else f"`{info.default}`"
    if info.default_factory is not None:
        value = info.default_factory()
        return "" if isinstance(value, BaseModel) else f"`{value}`"
    return "required"


def _rows(model: type[BaseModel], prefix: str, seen: set[type[BaseModel]]) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}.{key}" if prefix else key
        description = (info.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{path}` | {_type_name(info.annotation)} | {_default(info)} | {description} |")
        container = _container_suffix(info.annotation)
        for nested in models_in(info.annotation):
            tag = nested.model_fields.get("type")
            label = path + container
            if container == ".<key>" and nested in union_members(info.annotation):
                label = f"{path}[.<key>]"  # the model itself, or a mapping of it (freshness)
            if tag is not None and len(models_in(info.annotation)) > 1:
                label = f"{path}[type={' or '.join(str(a) for a in typing.get_args(tag.annotation))}]"
            rows += _rows(nested, label if nested not in seen else path + container, seen | {nested})
    return rows


def render_reference() -> str:
    """The whole reference as Markdown."""
    parts = [
        "# Configuration reference",
        "",
        "Generated from the models by `uv run dwh docs`; a test fails when it is out of date.",
        "Every file may also carry an `environments:` block (see the README).",
        "",
    ]
    for kind in ALL_KINDS:
        parts += _section(kind)
    return "\n".join(parts).rstrip() + "\n"


def _section(kind: FileKind) -> list[str]:
    where = "yaml_defs/secrets_mapping.yaml" if kind.folder == "." else f"yaml_defs/{kind.folder}/*.yaml"
    lines = [
        f"## {kind.label} (`{where}`)",
        "",
        "| field | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    lines += [row for row in _rows(kind.model, "", {kind.model}) if not row.startswith("| `environments")]
    return [*lines, ""]


def write_reference(root: Path) -> Path:
    """Write docs/config-reference.md under ``root``."""
    target = root / REFERENCE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_reference())
    return target

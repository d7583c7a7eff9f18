"""Commented YAML from the models: each field with its description, the given values filled in and
every other field commented out with its default, so a new file documents itself.

Pure text building; nothing here reads or writes files.
"""

from __future__ import annotations

import json
import textwrap
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dwh_dagster.config.annotations import models_in, union_members, unwrap

WIDTH = 100
FIRST_FIELDS = ("name", "type", "description")
LAST_FIELDS = ("environments",)
NEEDS_ANOTHER_FIELD = {"backfill": "partitions"}
"""Optional fields that validation accepts only beside another one; their commented line says so."""


@dataclass(frozen=True)
class Placeholder:
    """A value the user has to replace: written as is, marked ``# replace: <hint>``."""

    value: Any
    hint: str


@dataclass(frozen=True)
class PlaceholderLine:
    """Where a placeholder landed in the rendered text."""

    line: int
    path: str
    value: Any
    hint: str


@dataclass
class RenderedFile:
    """The text of a new file and the placeholders in it."""

    text: str
    placeholders: list[PlaceholderLine] = field(default_factory=list)


def plain_values(values: Any) -> Any:
    """``values`` with every :class:`Placeholder` replaced by its value (what a parser reads)."""
    if isinstance(values, Placeholder):
        return plain_values(values.value)
    if isinstance(values, dict):
        return {key: plain_values(value) for key, value in values.items()}
    if isinstance(values, list):
        return [plain_values(value) for value in values]
    return values


def yaml_key(name: str, info: FieldInfo) -> str:
    """The key a field has in YAML: its alias where it has one (``from``, ``schema``, ``json``)."""
    return info.alias or name


def ordered_fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The fields of ``model`` by YAML key: name, type and description first, environments last."""
    fields = [(yaml_key(name, info), info) for name, info in model.model_fields.items()]
    first = [item for key in FIRST_FIELDS for item in fields if item[0] == key]
    last = [item for key in LAST_FIELDS for item in fields if item[0] == key]
    middle = [item for item in fields if item[0] not in FIRST_FIELDS + LAST_FIELDS]
    return first + middle + last


def model_for(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model that ``value`` (a mapping) is validated against, picked by its ``type`` in a union."""
    candidates = models_in(annotation)
    if not candidates:
        return None
    if len(candidates) == 1 or not isinstance(value, dict):
        return candidates[0]
    wanted = plain_values(value.get("type"))
    for candidate in candidates:
        type_field = candidate.model_fields.get("type")
        if type_field is None:
            continue
        allowed = typing.get_args(unwrap(type_field.annotation))
        if wanted in allowed or (wanted is None and type_field.default in allowed):
            return candidate
    return candidates[0]


def scalar_text(value: Any) -> str:
    """One YAML scalar or flow collection: strings double-quoted, as the shipped files write them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(scalar_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {scalar_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, BaseModel):
        return scalar_text(value.model_dump(by_alias=True, exclude_defaults=True))
    return json.dumps(str(value))


def _choices_note(info: FieldInfo) -> str:
    """``(one of: a, b)`` for a Literal field whose description does not name every choice."""
    choices = [str(v) for member in union_members(info.annotation) for v in typing.get_args(member)]
    literal = typing.get_origin(unwrap(info.annotation)) is typing.Literal
    description = info.description or ""
    if not literal or len(choices) < 2 or all(f"`{choice}`" in description for choice in choices):
        return ""
    return " One of: " + ", ".join(f"`{choice}`" for choice in choices) + "."


def _union_note(info: FieldInfo) -> str:
    """``Types: a, b.`` for an optional field that takes one of several models told apart by type."""
    models = models_in(info.annotation)
    if len(models) < 2:
        return ""
    types: list[str] = []
    for model in models:
        type_field = model.model_fields.get("type")
        if type_field is not None:
            types.extend(str(v) for v in typing.get_args(unwrap(type_field.annotation)))
    return " Types: " + ", ".join(f"`{t}`" for t in types) + "." if types else ""


class _Renderer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.placeholders: list[PlaceholderLine] = []

    def comment(self, text: str, indent: int) -> None:
        for line in textwrap.wrap(text, width=max(40, WIDTH - indent - 2)):
            self.lines.append(" " * indent + "# " + line)

    def model(
        self, model: type[BaseModel], values: dict[str, Any], indent: int, path: str, *, commented: bool
    ) -> None:
        """Every field of ``model``: the given ones as values, the others commented out."""
        unknown = set(values) - {key for key, _ in ordered_fields(model)}
        if unknown:
            raise KeyError(f"{model.__name__} has no field {sorted(unknown)}")
        top = indent == 2 and not commented
        top_line = self.lines[-1] if self.lines else ""
        for key, info in ordered_fields(model):
            if top and self.lines and self.lines[-1].strip() and self.lines[-1] != top_line:
                self.lines.append("")
            description = (info.description or "") + _choices_note(info) + _union_note(info)
            if description:
                self.comment(description, indent)
            if key in values:
                self.value(key, values[key], info.annotation, indent, f"{path}{key}", commented=commented)
            elif info.is_required():
                raise KeyError(f"{model.__name__}.{key} is required and has no starter value")
            else:
                self.default(key, info, indent)

    def default(self, key: str, info: FieldInfo, indent: int) -> None:
        """An optional field, commented out: its default, or its fields with theirs."""
        pad = " " * indent
        if info.default_factory is not None:
            value = info.default_factory()  # type: ignore[call-arg]
            if isinstance(value, BaseModel):
                self.lines.append(f"{pad}# {key}:")
                self.model(
                    type(value),
                    value.model_dump(by_alias=True),
                    indent + 2,
                    "",
                    commented=True,
                )
                return
            self.lines.append(f"{pad}# {key}: {scalar_text(value)}")
            return
        default = info.default
        line = f"{pad}# {key}:"
        if default is not PydanticUndefined and default is not None:
            line += f" {scalar_text(default)}"
        if key in NEEDS_ANOTHER_FIELD:
            line += f"  # with {NEEDS_ANOTHER_FIELD[key]}: only"
        self.lines.append(line)

    def value(
        self, key: str, value: Any, annotation: Any, indent: int, path: str, *, commented: bool
    ) -> None:
        pad = " " * indent
        mark = "# " if commented else ""
        hint = ""
        if isinstance(value, Placeholder):
            hint, value = value.hint, value.value
        inner = unwrap(annotation)
        if isinstance(value, dict) and value and not hint:
            model = model_for(annotation, value)
            if model is not None:
                self.lines.append(f"{pad}{mark}{key}:")
                self.model(model, value, indent + 2, f"{path}.", commented=commented)
                return
            if typing.get_origin(inner) is dict:
                item_annotation = typing.get_args(inner)[1]
                self.lines.append(f"{pad}{mark}{key}:")
                for item_key, item in value.items():
                    self.value(
                        item_key, item, item_annotation, indent + 2, f"{path}.{item_key}", commented=commented
                    )
                return
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value) and not hint:
            self.lines.append(f"{pad}{mark}{key}:")
            for number, item in enumerate(value):
                model = model_for(annotation, item)
                assert model is not None, f"{path}: a list of mappings needs a model"
                start = len(self.lines)
                self.model(model, item, indent + 4, f"{path}[{number}].", commented=commented)
                self._dash(start, indent + 2, commented)
            return
        if isinstance(value, str) and "\n" in value:
            self.lines.append(f"{pad}{mark}{key}: |")
            for line in value.rstrip("\n").split("\n"):
                self.lines.append(f"{pad}{mark}  {line}" if line else "")
            return
        line = f"{pad}{mark}{key}: {scalar_text(value)}"
        if hint:
            line += f"  # replace: {hint}"
            self.placeholders.append(PlaceholderLine(len(self.lines) + 1, path, value, hint))
        self.lines.append(line)

    def _dash(self, start: int, indent: int, commented: bool) -> None:
        """Turn the first value line written since ``start`` into a list item (``- key: ...``)."""
        content = " " * (indent + 2) + ("# " if commented else "")
        for number in range(start, len(self.lines)):
            line = self.lines[number]
            if line.startswith(content) and not line[len(content) :].startswith("#"):
                dash = " " * indent + ("# " if commented else "") + "- "
                self.lines[number] = dash + line[len(content) :]
                return
        raise AssertionError("a list item without a value line")


def render_object(
    top_key: str, model: type[BaseModel], values: dict[str, Any], header: list[str]
) -> RenderedFile:
    """The text of a file holding one ``top_key:`` object of ``model`` with ``values`` filled in.

    ``header`` lines open the file as comments. Fields not in ``values`` are commented out with
    their defaults; a required field must be in ``values``.
    """
    renderer = _Renderer()
    for line in header:
        renderer.lines.append(f"# {line}" if line else "#")
    renderer.lines.append(f"{top_key}:")
    renderer.model(model, values, 2, "", commented=False)
    return RenderedFile(text="\n".join(renderer.lines) + "\n", placeholders=renderer.placeholders)

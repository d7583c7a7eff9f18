"""Turn pydantic validation errors into :class:`ConfigError` items located in the YAML file."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from dwh_dagster.config.annotations import union_members, unwrap
from dwh_dagster.config.documents import Document
from dwh_dagster.config.errors import ConfigError, FieldPath, describe_value, did_you_mean, list_choices

_QUOTED = re.compile(r"'([^']*)'")
_TYPE_MISMATCH = frozenset(
    {"dict_type", "list_type", "model_type", "model_attributes_type", "string_type", "int_type", "bool_type"}
)


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _models(tp: Any) -> list[type[BaseModel]]:
    return [m for m in union_members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]


def _containers(tp: Any) -> list[Any]:
    return [m for m in union_members(tp) if typing.get_origin(m) in (list, dict)]


def _tag_values(model: type[BaseModel]) -> tuple[str, ...]:
    info = model.model_fields.get("type")
    if info is None:
        return ()
    tp = unwrap(info.annotation)
    if typing.get_origin(tp) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(tp))
    return ()


def _walk(root: type[BaseModel], data: Any, loc: tuple[Any, ...], keep_last: bool) -> tuple[FieldPath, Any]:
    """Follow pydantic's ``loc`` through the models and the data together.

    Returns the path in the YAML data (union tags and branch labels dropped) and the type that
    validates the value at the end of ``loc``.
    """
    current: Any = root
    value = data
    path: list[str | int] = []
    for index, elem in enumerate(loc):
        last = index == len(loc) - 1
        models = _models(current)
        if isinstance(elem, str) and len(models) > 1:
            tagged = [m for m in models if elem in _tag_values(m)]
            if tagged:  # a discriminated union's tag: pick the branch, the data does not move
                current = tagged[0]
                continue
        info = None
        if isinstance(elem, str):
            info = next((i for m in models if (i := _field_by_key(m, elem)) is not None), None)
        in_data = (isinstance(value, dict) and elem in value) or (
            isinstance(value, list) and isinstance(elem, int) and 0 <= elem < len(value)
        )
        if info is not None:
            current = info.annotation
        elif in_data and _containers(current):
            current = typing.get_args(_containers(current)[0])[-1]
        elif isinstance(elem, str) and not in_data:
            # a union branch label such as 'list[str]' or 'function-after[...]'
            narrowed = [
                c for c in _containers(current) if elem.startswith(f"{typing.get_origin(c).__name__}[")
            ]
            if narrowed:
                current = narrowed[0]
            if not (last and keep_last):
                continue
        else:
            current = None
        if in_data:
            path.append(elem)
            value = value[elem]
        elif last and keep_last:
            path.append(elem)
    return tuple(path), current


def model_at(root: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (pydantic's loc), if it can be told."""
    models = _models(_walk(root, data, loc, keep_last=False)[1])
    return models[0] if len(models) == 1 else None


def _data_path(doc: Document, root: type[BaseModel], loc: tuple[Any, ...], keep_last: bool) -> FieldPath:
    return _walk(root, doc.data, loc, keep_last)[0]


def _value_at(data: Any, path: FieldPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _translate_one(doc: Document, root: type[BaseModel], err: Any) -> ConfigError:
    kind = err["type"]
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        path = _data_path(doc, root, loc, keep_last=True)
        name = path[-1] if path else loc[-1]
        parent_model = model_at(root, doc.data, loc[:-1])
        info = _field_by_key(parent_model, str(name)) if parent_model else None
        described = f" ({info.description.rstrip('.')})" if info is not None and info.description else ""
        e = doc.error(path, f"missing required field '{name}'{described}", f"add '{name}:' here", at_key=True)
        return e
    if kind == "extra_forbidden":
        path = _data_path(doc, root, loc, keep_last=True)
        key = str(path[-1]) if path else str(loc[-1])
        parent_model = model_at(root, doc.data, loc[:-1])
        allowed = (
            [info.alias or name for name, info in parent_model.model_fields.items()] if parent_model else []
        )
        hint = did_you_mean(key, allowed)
        if allowed:
            valid = f"valid fields here: {list_choices(allowed)}"
            hint = f"{hint} {valid}" if hint else valid
        return doc.error(path, f"unknown field '{key}'", hint, at_key=True)
    if kind == "union_tag_invalid":
        path = _data_path(doc, root, loc, keep_last=False)
        expected = _QUOTED.findall(str(ctx.get("expected_tags", "")))
        valid = f"valid types: {list_choices(expected)}"
        value = _value_at(doc.data, path)
        if isinstance(value, dict):
            path = (*path, "type")
            tag = value.get("type")
        else:  # a shorthand such as `paginator: json_lnk`
            tag = value
        if tag is None or tag == "":
            return doc.error(path, "'type' is empty", f"set it to one of {list_choices(expected)}")
        hint = did_you_mean(tag, expected)
        return doc.error(path, f"unknown type '{tag}'", f"{hint} {valid}" if hint else valid)
    if kind == "union_tag_not_found":
        path = _data_path(doc, root, loc, keep_last=False)
        expected = _expected_tags_for(root, doc.data, loc)
        valid = f"add 'type:' with one of {list_choices(expected)}" if expected else "add 'type:'"
        return doc.error((*path, "type"), "missing required field 'type'", valid, at_key=True)
    path = _data_path(doc, root, loc, keep_last=False)
    if kind in ("literal_error", "enum"):
        expected = _QUOTED.findall(str(ctx.get("expected", "")))
        hint = did_you_mean(value, expected)
        valid = f"valid values: {list_choices(expected)}"
        return doc.error(path, f"invalid value {describe_value(value)}", f"{hint} {valid}" if hint else valid)
    message = str(err["msg"])
    if kind in ("value_error", "assertion_error"):
        message = re.sub(r"^(Value|Assertion) error, ", "", message)
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping of fields, got {describe_value(value)}"
    elif kind == "list_type":
        message = f"expected a list, got {describe_value(value)}"
    elif kind in ("string_type",):
        message = f"expected a text value, got {describe_value(value)}"
        hint = "quote the value" if isinstance(value, int | float | bool) else ""
        return doc.error(path, message, hint)
    elif kind == "too_short":
        message = "must not be empty" if ctx.get("actual_length") == 0 else message
    else:
        message = f"{message[:1].lower()}{message[1:]}, got {describe_value(value)}"
    return doc.error(path, message)


def _expected_tags_for(root: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> list[str]:
    return [
        tag for model in _models(_walk(root, data, loc, keep_last=False)[1]) for tag in _tag_values(model)
    ]


def translate_validation_error(
    doc: Document, root: type[BaseModel], exc: ValidationError
) -> list[ConfigError]:
    """All problems of one pydantic error, located in ``doc``; union alternatives are combined."""
    raw = exc.errors(include_url=False)
    paths = [
        _data_path(doc, root, tuple(e["loc"]), keep_last=e["type"] in ("missing", "extra_forbidden"))
        for e in raw
    ]
    keep = []
    for index, (err, path) in enumerate(zip(raw, paths, strict=True)):
        if err["type"] in _TYPE_MISMATCH and any(
            len(other) > len(path) and other[: len(path)] == path for other in paths
        ):
            continue  # a union branch that does not fit; the branch that fits has the real error
        if err["type"] == "missing" and any(
            raw[j]["type"] == "extra_forbidden"
            and other[:-1] == path[:-1]
            and did_you_mean(str(other[-1]), [str(path[-1])])
            for j, other in enumerate(paths)
            if j != index
        ):
            continue  # the 'unknown field' error next to it already says "did you mean"
        keep.append(err)
    by_place: dict[tuple[int | None, str], list[ConfigError]] = {}
    for err in keep:
        error = _translate_one(doc, root, err)
        by_place.setdefault((error.line, error.field), []).append(error)
    out: list[ConfigError] = []
    for errors in by_place.values():
        if len(errors) == 1:
            out.append(errors[0])
            continue
        messages: list[str] = []
        for e in errors:
            text = e.message + (f" ({e.hint})" if e.hint else "")
            if text not in messages:
                messages.append(text)
        first = errors[0]
        out.append(
            ConfigError(
                first.file,
                " or ".join(messages) if len(messages) > 1 else messages[0],
                first.line,
                first.column,
                first.field,
            )
        )
    return out

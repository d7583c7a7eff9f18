"""The one walker over the type annotations of the models (used by errors, secrets and docs)."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Union

from pydantic import BaseModel


def walk_annotation(tp: Any) -> Iterator[Any]:
    """Every type in ``tp``, depth first and parents first: ``tp`` itself, then the types it is made of.

    Goes through ``Annotated``, unions, ``Literal`` and containers; not into the fields of a model
    (a model is a leaf) and not into forward references written as strings.
    """
    yield tp
    for arg in typing.get_args(tp):
        if not isinstance(arg, str):
            yield from walk_annotation(arg)


def is_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic model class."""
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def models_in(tp: Any) -> list[type[BaseModel]]:
    """The model classes anywhere in ``tp``, first seen first."""
    return list(dict.fromkeys(t for t in walk_annotation(tp) if is_model(t)))


def has_annotated_marker(tp: Any, marker: object) -> bool:
    """Whether ``Annotated[..., marker]`` appears anywhere in ``tp``."""
    return any(
        typing.get_origin(t) is typing.Annotated and any(m is marker for m in typing.get_args(t)[1:])
        for t in walk_annotation(tp)
    )


def unwrap(tp: Any) -> Any:
    """``tp`` without its ``Annotated`` and ``Optional`` layers."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def union_members(tp: Any) -> list[Any]:
    """The members of the union ``tp`` is (itself when it is none), unwrapped, without ``None``."""
    tp = unwrap(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [unwrap(a) for a in typing.get_args(tp) if a is not type(None)]
    return [tp]

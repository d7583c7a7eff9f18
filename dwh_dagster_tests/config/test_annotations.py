"""The one walker over model annotations: what errors, secrets and the reference read from types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel

from dwh_dagster.config.annotations import (
    has_annotated_marker,
    models_in,
    union_members,
    unwrap,
    walk_annotation,
)
from dwh_dagster.config.models.base import SECRET_REF, SecretRef


class _A(BaseModel):
    x: int


class _B(BaseModel):
    y: str


def test_walk_goes_through_annotated_unions_and_containers_parents_first() -> None:
    tp = Annotated[list[_A | None], "meta"]
    walked = list(walk_annotation(tp))
    assert walked[0] is tp
    assert walked.index(list[_A | None]) < walked.index(_A)
    assert type(None) in walked


def test_models_in_finds_each_model_once_in_first_seen_order() -> None:
    assert models_in(dict[str, list[_B | _A]] | _B | None) == [_B, _A]
    assert models_in(Literal["a", "b"]) == []


def test_a_marker_is_found_at_any_depth_and_only_where_it_is() -> None:
    assert has_annotated_marker(SecretRef | None, SECRET_REF)
    assert has_annotated_marker(list[dict[str, SecretRef]], SECRET_REF)
    assert not has_annotated_marker(Annotated[str, "other"] | None, SECRET_REF)


def test_unwrap_and_union_members_strip_optional_and_annotated_layers() -> None:
    assert unwrap(Annotated[_A | None, "m"]) is _A
    assert union_members(Annotated[_A | _B | None, "m"]) == [_A, _B]
    assert union_members(int) == [int]

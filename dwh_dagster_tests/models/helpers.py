"""Helpers of the model tests: validate one inline YAML file against its file model.

The YAML goes through the real pipeline pieces (``parse_yaml_text``, the file model of its top key,
``translate_validation_error``), so the tests see the messages and lines a user would see.
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dwh_dagster.config.documents import Document, parse_yaml_text
from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.models.files import KIND_BY_TOP_KEY
from dwh_dagster.config.translate import translate_validation_error

SNIPPET_FILE = Path("snippet.yaml")


def parse(text: str) -> Document:
    """Parse dedented inline YAML; fails the test on a YAML error."""
    doc, errors = parse_yaml_text(textwrap.dedent(text).lstrip("\n"), SNIPPET_FILE)
    assert doc is not None and not errors, [e.headline() for e in errors]
    return doc


def _model_of(doc: Document) -> type[BaseModel]:
    assert isinstance(doc.data, dict) and doc.data, "a snippet starts with its top-level key"
    return KIND_BY_TOP_KEY[next(iter(doc.data))].model


def validate(text: str) -> Any:
    """The validated object of a file snippet (``source:`` -> the source model).

    Also checks that validation leaves the input data untouched.
    """
    doc = parse(text)
    model = _model_of(doc)
    before = copy.deepcopy(doc.data)
    try:
        validated = model.model_validate(doc.data)
    except ValidationError as exc:
        errors = translate_validation_error(doc, model, exc)
        raise AssertionError("\n".join(e.headline() for e in errors)) from None
    assert doc.data == before, "model validation mutated its input"
    return getattr(validated, next(iter(doc.data)))


def errors_of(text: str) -> list[ConfigError]:
    """The translated errors of an invalid file snippet (fails the test when it is valid)."""
    doc = parse(text)
    model = _model_of(doc)
    before = copy.deepcopy(doc.data)
    try:
        model.model_validate(doc.data)
    except ValidationError as exc:
        assert doc.data == before, "model validation mutated its input"
        return translate_validation_error(doc, model, exc)
    raise AssertionError("the snippet is valid, expected an error")


def assert_error(text: str, field: str, message: str, line: int | None = None, hint: str = "") -> ConfigError:
    """The snippet has an error at ``field`` whose message (and hint) contain the given parts."""
    errors = errors_of(text)
    matching = [e for e in errors if e.field == field]
    assert matching, f"no error at {field!r}; got: {[e.headline() for e in errors]}"
    error = matching[0]
    assert message in error.message, error.headline()
    assert hint in error.hint or hint in error.message, error.headline()
    if line is not None:
        assert error.line == line, error.headline()
    return error

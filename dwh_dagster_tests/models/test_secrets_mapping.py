"""``secrets_mapping.yaml``: env var names per environment, and input data left untouched by validation."""

from __future__ import annotations

import copy

import pytest

from dwh_dagster.config.models.files import ALL_KINDS
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster_tests.conftest import ORIGINAL_DESIGN
from dwh_dagster_tests.models.helpers import assert_error, parse, validate


def test_secret_entries() -> None:
    secrets = validate(
        """
        secrets:
          api_token:
            env_var_dev: TOKEN_DEV
            env_var_prod: TOKEN_PROD
            description: API token
          db_url:
            env_var: DB_URL
            required: false
        """
    )
    assert secrets["api_token"].required is True
    assert secrets["db_url"].required is False
    assert isinstance(secrets["db_url"], SecretEntry)


@pytest.mark.parametrize(
    ("entry", "environment", "env_var"),
    [
        ({"env_var_dev": "A_DEV", "env_var": "A"}, "dev", "A_DEV"),
        ({"env_var_dev": "A_DEV", "env_var": "A"}, "prod", "A"),
        ({"env_var_stage": "A_STAGE"}, "stage", "A_STAGE"),
        ({"env_var_stage": "A_STAGE"}, "prod", None),
        ({}, "dev", None),
    ],
)
def test_env_var_for(entry: dict[str, str], environment: str, env_var: str | None) -> None:
    assert SecretEntry.model_validate(entry).env_var_for(environment) == env_var


def test_empty_secrets_file_section_defaults_to_no_secrets() -> None:
    assert validate("secrets: {}") == {}


INVALID = [
    ("secrets:\n  a: {env_var: 1BAD}", "secrets.a.env_var", "is not a valid environment variable name", 2),
    (
        "secrets:\n  a: {env_var: 'MY-VAR'}",
        "secrets.a.env_var",
        "is not a valid environment variable name",
        2,
    ),
    ("secrets:\n  a: {env: X}", "secrets.a.env", "unknown field 'env'", 2),
    ("secrets:\n  a: {env_var_production: X}", "secrets.a.env_var_production", "unknown field", 2),
    ("secrets:\n  a: X", "secrets.a", "expected a mapping of fields, got 'X'", 2),
    ("secrets:\n  a: {env_var: X, required: maybe}", "secrets.a.required", "valid boolean", 2),
    ("secrets: [a, b]", "secrets", "got a list", 1),
]


@pytest.mark.parametrize(("text", "field", "message", "line"), INVALID)
def test_invalid_secret_entries(text: str, field: str, message: str, line: int) -> None:
    assert_error(text, field, message, line)


# --------------------------------------------------------------------------- no mutation


def _original_documents() -> list[tuple[str, str]]:
    return [
        (path.relative_to(ORIGINAL_DESIGN).as_posix(), path.read_text())
        for path in sorted(ORIGINAL_DESIGN.rglob("*.yaml"))
    ]


SHORTHAND_SNIPPETS = [
    # BeforeValidators rewrite these (string -> mapping); the input must stay as written
    """
    source:
      name: api
      type: rest_api
      connection: {base_url: "https://x", paginator: json_link}
      resources:
        - name: r
          endpoint: /r
          paginator: header_link
        - name: s
          endpoint: {path: /s, paginator: single_page, json: {a: [1, 2]}, params: {p: 1}}
    """,
    """
    destination: {name: d, type: duckdb, settings: {schema: raw}}
    environments: {prod: {destination: {connection: {database: p.duckdb}}}}
    """,
    "channel: {name: e, type: email, host: h, from: a@b, to: [x@y]}",
    "trigger: {name: t, type: interval, job: j, interval: {minutes: 5}, tags: {a: b}}",
]


@pytest.mark.parametrize("text", [t for _, t in _original_documents()] + SHORTHAND_SNIPPETS)
def test_model_validation_does_not_mutate_its_input(text: str) -> None:
    doc = parse(text)
    before = copy.deepcopy(doc.data)
    model = {k.top_key: k.model for k in ALL_KINDS}[next(iter(doc.data))]
    model.model_validate(doc.data)
    assert doc.data == before

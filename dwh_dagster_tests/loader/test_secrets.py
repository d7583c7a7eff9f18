"""Secret references, their run-time resolution from env vars, and the load-time secret checks."""

from __future__ import annotations

import pytest
from pydantic import Field

from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster.config.models.base import SecretRef, StrictModel
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.models.sources import RestApiSource
from dwh_dagster.config.secrets import (
    SecretNotSetError,
    SecretResolver,
    iter_secret_references,
    secret_key_of,
)
from dwh_dagster_tests.conftest import ORIGINAL_DESIGN
from dwh_dagster_tests.models.helpers import validate

CANARY = "canary-Zq9xv7-value-that-must-never-be-printed"

MAPPING = {
    "api_token": SecretEntry(env_var_dev="API_TOKEN_DEV", env_var_prod="API_TOKEN_PROD", env_var="API_TOKEN"),
    "db_url": SecretEntry(env_var="DB_URL"),
    "prod_only": SecretEntry(env_var_prod="PROD_ONLY"),
    "odd_secret_key": SecretEntry(env_var="ODD"),
}


@pytest.fixture(autouse=True)
def _no_secret_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_TOKEN_DEV", "API_TOKEN_PROD", "API_TOKEN", "DB_URL", "PROD_ONLY", "ODD"):
        monkeypatch.delenv(name, raising=False)
    for env in ("DEV", "STAGE", "PROD"):
        monkeypatch.delenv(f"MY_API_TOKEN_{env}", raising=False)


# --------------------------------------------------------------------------- reference forms


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("api_token", "api_token"),
        ("api_token_secret_key", "api_token"),
        ("db_url_secret_key", "db_url"),
        ("odd_secret_key", "odd_secret_key"),  # an exact key wins over stripping the suffix
        ("odd", None),
        ("api_token_secret", None),
        ("_secret_key", None),
        ("missing_secret_key", None),
        ("API_TOKEN", None),
    ],
)
def test_secret_key_of(reference: str, key: str | None) -> None:
    assert secret_key_of(reference, MAPPING) == key


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("environment", "reference", "env_var"),
    [
        ("dev", "api_token", "API_TOKEN_DEV"),
        ("prod", "api_token_secret_key", "API_TOKEN_PROD"),
        ("stage", "api_token", "API_TOKEN"),  # no env_var_stage: falls back to env_var
        ("dev", "db_url_secret_key", "DB_URL"),
        ("prod", "prod_only", "PROD_ONLY"),
    ],
)
def test_resolve_reads_the_env_var_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str, reference: str, env_var: str
) -> None:
    monkeypatch.setenv(env_var, f"value-of-{env_var}")
    resolver = SecretResolver(MAPPING, environment)
    assert resolver.env_var(reference) == env_var
    assert resolver.resolve(reference) == f"value-of-{env_var}"


def test_specific_env_var_wins_over_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "fallback")
    monkeypatch.setenv("API_TOKEN_PROD", "specific")
    assert SecretResolver(MAPPING, "prod").resolve("api_token") == "specific"
    assert SecretResolver(MAPPING, "stage").resolve("api_token") == "fallback"


def test_values_are_read_at_run_time_not_when_the_resolver_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = SecretResolver(MAPPING, "dev")
    monkeypatch.setenv("DB_URL", "first")
    assert resolver.resolve("db_url") == "first"
    monkeypatch.setenv("DB_URL", "second")
    assert resolver.resolve("db_url") == "second"


@pytest.mark.parametrize("value", [None, ""])
def test_unset_secret_names_the_env_var_and_never_a_value(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.setenv("DB_URL", CANARY)  # another secret is set
    if value is not None:
        monkeypatch.setenv("API_TOKEN_PROD", value)
    with pytest.raises(SecretNotSetError) as info:
        SecretResolver(MAPPING, "prod").resolve("api_token_secret_key")
    message = str(info.value)
    assert "API_TOKEN_PROD" in message
    assert "api_token_secret_key" in message
    assert "'prod'" in message
    assert CANARY not in message


def test_secret_without_env_var_in_this_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROD_ONLY", CANARY)
    with pytest.raises(SecretNotSetError) as info:
        SecretResolver(MAPPING, "dev").resolve("prod_only")
    assert "has no env var for environment 'dev'" in str(info.value)
    assert CANARY not in str(info.value)


def test_unknown_reference() -> None:
    with pytest.raises(SecretNotSetError, match=r"secret 'nope_secret_key' is not in secrets_mapping.yaml"):
        SecretResolver(MAPPING, "dev").resolve("nope_secret_key")


def test_secret_not_set_error_is_a_runtime_error() -> None:
    assert issubclass(SecretNotSetError, RuntimeError)


def test_project_resolver_on_the_original_design(monkeypatch: pytest.MonkeyPatch) -> None:
    project = load_project(ORIGINAL_DESIGN, "prod")  # loading never needs the value
    monkeypatch.setenv("MY_API_TOKEN_PROD", "prod-token")
    monkeypatch.setenv("MY_API_TOKEN_DEV", CANARY)
    resolver = project.secret_resolver()
    assert resolver.environment == "prod"
    assert resolver.resolve("my_api_token_secret_key") == "prod-token"
    monkeypatch.delenv("MY_API_TOKEN_PROD")
    with pytest.raises(SecretNotSetError) as info:
        resolver.resolve("my_api_token_secret_key")
    assert "MY_API_TOKEN_PROD" in str(info.value)
    assert CANARY not in str(info.value)


# --------------------------------------------------------------------------- iter_secret_references


class _Inner(StrictModel):
    """Test model."""

    token: SecretRef = Field(description="t")
    label: str = Field(default="x", description="not a secret")


class _Outer(StrictModel):
    """Test model."""

    sender: SecretRef | None = Field(default=None, alias="from", description="aliased secret")
    unused: SecretRef | None = Field(default=None, description="unset secret")
    inner: _Inner = Field(description="nested")
    items: list[_Inner] = Field(default_factory=list, description="list of nested")
    plain: str = Field(default="not-a-secret", description="plain text")


def test_iter_secret_references_walks_nested_models_lists_and_aliases() -> None:
    model = _Outer.model_validate(
        {"from": "mail_pw", "inner": {"token": "a"}, "items": [{"token": "b"}, {"token": "c_secret_key"}]}
    )
    assert list(iter_secret_references(model)) == [
        (("from",), "mail_pw"),
        (("inner", "token"), "a"),
        (("items", 0, "token"), "b"),
        (("items", 1, "token"), "c_secret_key"),
    ]


def test_iter_secret_references_with_prefix() -> None:
    model = _Inner.model_validate({"token": "t"})
    assert list(iter_secret_references(model, ("source", "x"))) == [(("source", "x", "token"), "t")]


def test_iter_secret_references_in_a_rest_api_source() -> None:
    project = load_project(ORIGINAL_DESIGN)
    source = project.sources["my_api"]
    assert isinstance(source, RestApiSource)
    assert list(iter_secret_references(source)) == [
        (("connection", "auth", "credentials_secret_key"), "my_api_token_secret_key")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "{name: p, type: postgres, connection: {database: d, username: u, credentials_secret_key: pg}}",
            [(("connection", "credentials_secret_key"), "pg")],
        ),
        ("{name: p, type: postgres, connection: {database: d, username: u}}", []),
        (
            "{name: s, type: slack, webhook_url_secret_key: hook}",
            [(("webhook_url_secret_key",), "hook")],
        ),
        (
            "{name: t, type: webhook, job: j, webhook: {auth: bearer, secret_key: wh}}",
            [(("webhook", "secret_key"), "wh")],
        ),
        (
            "{name: s, type: sql_database, connection: {credentials_secret_key: db}, tables: [{name: t}]}",
            [(("connection", "credentials_secret_key"), "db")],
        ),
    ],
)
def test_iter_secret_references_per_kind(text: str, expected: list) -> None:
    top = {"postgres": "destination", "slack": "channel", "webhook": "trigger", "sql_database": "source"}
    kind = next(top[t] for t in top if f"type: {t}," in text)
    assert list(iter_secret_references(validate(f"{kind}: {text}"))) == expected


# --------------------------------------------------------------------------- load-time checks


SOURCE = """
source:
  name: api
  type: rest_api
  connection:
    base_url: https://x
    auth: {type: bearer, credentials_secret_key: <ref>}
  resources:
    - {name: r, endpoint: /r}
"""
SECRETS = """
secrets:
  api_token:
    env_var_prod: API_TOKEN_PROD
"""


def test_both_reference_forms_load(write_project) -> None:
    for ref in ("api_token", "api_token_secret_key"):
        defs = write_project(
            {"sources/api.yaml": SOURCE.replace("<ref>", ref), "secrets_mapping.yaml": SECRETS}
        )
        assert load_project(defs, "prod").secrets["api_token"].env_var_prod == "API_TOKEN_PROD"


def test_unknown_secret_is_reported_at_the_reference(write_project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN_PROD", CANARY)
    defs = write_project(
        {"sources/api.yaml": SOURCE.replace("<ref>", "api_tokn_secret_key"), "secrets_mapping.yaml": SECRETS}
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs, "prod")
    [error] = info.value.errors
    assert error.message == "unknown secret 'api_tokn_secret_key'"
    assert error.field == "source.connection.auth.credentials_secret_key"
    assert error.line == 6
    assert "did you mean 'api_token'?" in error.hint
    assert "add it to secrets_mapping.yaml" in error.hint
    assert CANARY not in str(info.value)


def test_unknown_secret_without_a_mapping_file(write_project) -> None:
    defs = write_project({"sources/api.yaml": SOURCE.replace("<ref>", "api_token")})
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    [error] = info.value.errors
    assert error.message == "unknown secret 'api_token'"
    assert error.hint == "add it to secrets_mapping.yaml"


def test_secret_without_env_var_for_the_environment(write_project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN_PROD", CANARY)
    defs = write_project(
        {"sources/api.yaml": SOURCE.replace("<ref>", "api_token"), "secrets_mapping.yaml": SECRETS}
    )
    load_project(defs, "prod")
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs, "dev")
    [error] = info.value.errors
    assert error.message == "secret 'api_token' has no env var for environment 'dev'"
    assert error.line == 6
    assert "add env_var_dev (or env_var)" in error.hint
    assert CANARY not in str(info.value)


def test_loading_never_needs_a_secret_value() -> None:
    project = load_project(ORIGINAL_DESIGN, "prod")
    assert project.secrets["my_api_token"].env_var_for("prod") == "MY_API_TOKEN_PROD"

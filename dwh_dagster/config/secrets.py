"""Secret references and their run-time resolution from environment variables.

Configs name secrets (``credentials_secret_key: my_api_token_secret_key``); the mapping in
``secrets_mapping.yaml`` says which env var holds each one per environment. Values are
read only when a run needs them and are never put in messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from dwh_dagster.config.annotations import has_annotated_marker
from dwh_dagster.config.errors import FieldPath
from dwh_dagster.config.models.base import SECRET_REF
from dwh_dagster.config.models.secrets import SecretEntry

SECRET_KEY_SUFFIX = "_secret_key"


def secret_key_of(reference: str, mapping: Mapping[str, SecretEntry]) -> str | None:
    """The mapping key a reference names: ``X`` or ``X_secret_key`` both name ``X``."""
    if reference in mapping:
        return reference
    if reference.endswith(SECRET_KEY_SUFFIX):
        stripped = reference[: -len(SECRET_KEY_SUFFIX)]
        if stripped in mapping:
            return stripped
    return None


def _has_secret_marker(annotation: Any, metadata: list[Any]) -> bool:
    return any(m is SECRET_REF for m in metadata) or has_annotated_marker(annotation, SECRET_REF)


def iter_secret_references(model: BaseModel, prefix: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    """Every secret reference in ``model``: its path (YAML keys) and the referenced name."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        path = (*prefix, key)
        if value is None:
            continue
        if isinstance(value, str) and _has_secret_marker(info.annotation, info.metadata):
            yield path, value
        elif isinstance(value, BaseModel):
            yield from iter_secret_references(value, path)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from iter_secret_references(item, (*path, index))


class SecretNotSetError(RuntimeError):
    """A secret a run needs is not set. The message names the env var, never a value."""


@dataclass(frozen=True)
class SecretResolver:
    """Reads secret values from the environment, at run time only."""

    mapping: Mapping[str, SecretEntry]
    environment: str

    def env_var(self, reference: str) -> str:
        """The env var that holds the referenced secret in this environment."""
        key = secret_key_of(reference, self.mapping)
        if key is None:
            raise SecretNotSetError(f"secret '{reference}' is not in secrets_mapping.yaml")
        env_var = self.mapping[key].env_var_for(self.environment)
        if env_var is None:
            raise SecretNotSetError(
                f"secret '{key}' has no env var for environment '{self.environment}' in secrets_mapping.yaml"
            )
        return env_var

    def resolve(self, reference: str) -> str:
        """The secret's value; raises :class:`SecretNotSetError` naming the env var when unset."""
        env_var = self.env_var(reference)
        value = os.environ.get(env_var)
        if not value:
            raise SecretNotSetError(
                f"secret '{reference}' is not set: export {env_var} (environment '{self.environment}')"
            )
        return value

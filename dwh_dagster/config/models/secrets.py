"""``secrets_mapping.yaml``: which environment variable holds each secret in each environment."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from dwh_dagster.config.models.base import EnvironmentOverlays, StrictModel, environments_field

_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env_var(value: str) -> str:
    if not _ENV_VAR_RE.match(value):
        raise ValueError(
            f"'{value}' is not a valid environment variable name: use letters, digits and underscores"
        )
    return value


EnvVarName = Annotated[str, AfterValidator(_check_env_var)]


class SecretEntry(StrictModel):
    """One secret: the environment variable that holds it in each environment."""

    env_var_dev: EnvVarName | None = Field(default=None, description="Env var read when ENVIRONMENT=dev.")
    env_var_stage: EnvVarName | None = Field(default=None, description="Env var read when ENVIRONMENT=stage.")
    env_var_prod: EnvVarName | None = Field(default=None, description="Env var read when ENVIRONMENT=prod.")
    env_var: EnvVarName | None = Field(
        default=None, description="Env var read in every environment that has no `env_var_<env>` of its own."
    )
    description: str | None = Field(default=None, description="What the secret is.")
    required: bool = Field(default=True, description="`dwh secrets` fails when a required secret is unset.")

    def env_var_for(self, environment: str) -> str | None:
        """The env var that holds this secret in ``environment``."""
        specific: str | None = getattr(self, f"env_var_{environment}", None)
        return specific or self.env_var


class SecretsMappingFile(StrictModel):
    """``secrets_mapping.yaml`` at the root of the defs directory."""

    secrets: dict[str, SecretEntry] = Field(
        default_factory=dict, description="Secrets by key; configs reference `<key>` or `<key>_secret_key`."
    )
    environments: EnvironmentOverlays | None = environments_field()

"""Shared building blocks of the YAML models: strict base class, names, secrets, environments."""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ENVIRONMENTS: tuple[str, ...] = ("dev", "stage", "prod")
Environment = Literal["dev", "stage", "prod"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StrictModel(BaseModel):
    """Base of every YAML model: unknown keys are errors, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def is_name(value: str) -> bool:
    """Whether ``value`` is a valid :data:`Name`."""
    return bool(_NAME_RE.match(value))


def check_name(value: str) -> str:
    """``value`` when it is a valid :data:`Name`; else a ValueError that suggests one."""
    if not is_name(value):
        fixed = re.sub(r"\W", "_", value)
        if not fixed or fixed[0].isdigit():
            fixed = f"_{fixed}"
        raise ValueError(
            f"'{value}' is not a valid name: use letters, digits and underscores, "
            f"not starting with a digit (for example '{fixed}')"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
"""A name used as a Dagster name or table name: ``[A-Za-z_][A-Za-z0-9_]*``."""


class SecretRefMarker:
    """Marks a field whose value names an entry of ``secrets_mapping.yaml``."""

    def __repr__(self) -> str:
        return "SecretRef"


SECRET_REF = SecretRefMarker()
SecretRef = Annotated[str, SECRET_REF]
"""A reference to a secret: ``X_secret_key`` or ``X`` both name mapping key ``X``."""


def secret_field(description: str) -> Any:
    """A required secret reference field."""
    return Field(description=f"{description} Names a key of secrets_mapping.yaml (`X` or `X_secret_key`).")


def optional_secret_field(description: str) -> Any:
    """An optional secret reference field."""
    return Field(
        default=None,
        description=f"{description} Names a key of secrets_mapping.yaml (`X` or `X_secret_key`).",
    )


def tag_values(union: Any) -> tuple[str, ...]:
    """The ``type`` values of the models of a tagged union, in union order."""
    members = typing.get_args(union) or (union,)
    return tuple(str(v) for model in members for v in typing.get_args(model.model_fields["type"].annotation))


EnvironmentOverlays = dict[Environment, dict[str, Any]]

ENVIRONMENTS_DESCRIPTION = (
    "Per-environment overrides keyed by `dev`, `stage` or `prod`; the block for the current "
    "ENVIRONMENT is deep-merged over this mapping (mappings merge, other values replace)."
)


def environments_field() -> Any:
    """The optional ``environments:`` block every file kind accepts."""
    return Field(default=None, description=ENVIRONMENTS_DESCRIPTION)


WriteDisposition = Literal["append", "replace", "merge"]
PrimaryKey = str | list[str]

Tags = list[str] | dict[str, str]
"""Tags as a list of labels (``[daily, production]``) or a mapping of key to value."""


class FilesystemConnection(StrictModel):
    """A local folder or a bucket, with optional credentials (a filesystem source or destination)."""

    bucket_url: str = Field(
        description="Local folder (relative to the project root) or fsspec URL (`s3://`, `gs://`, `az://`)."
    )
    credentials_secret_key: SecretRef | None = optional_secret_field(
        "Secret holding the storage credentials as JSON (not needed for local folders)."
    )

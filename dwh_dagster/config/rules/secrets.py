"""Rules of secret references: each names a mapping entry with an env var for the environment."""

from __future__ import annotations

from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.secrets import iter_secret_references, secret_key_of


def check_secrets(index: ProjectIndex) -> list[ConfigError]:
    """Every secret reference of every object is in secrets_mapping.yaml, with an env var here."""
    errors: list[ConfigError] = []
    environment = index.environment
    for obj in index.all_objects():
        for path, reference in iter_secret_references(obj.model):
            key = secret_key_of(reference, index.secrets)
            if key is None:
                if index.secrets_file is None and index.secrets_failed:
                    continue
                suggestion = did_you_mean(reference.removesuffix("_secret_key"), index.secrets)
                valid = (
                    f"add it to secrets_mapping.yaml (known secrets: {list_choices(index.secrets)})"
                    if index.secrets
                    else "add it to secrets_mapping.yaml"
                )
                errors.append(
                    obj.error(
                        path,
                        f"unknown secret '{reference}'",
                        f"{suggestion} {valid}" if suggestion else valid,
                    )
                )
            elif index.secrets[key].env_var_for(environment) is None:
                errors.append(
                    obj.error(
                        path,
                        f"secret '{key}' has no env var for environment '{environment}'",
                        f"add env_var_{environment} (or env_var) to '{key}' in secrets_mapping.yaml",
                    )
                )
    return errors

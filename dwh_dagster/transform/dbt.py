"""Running a dbt project: the profile written from the YAML destination, and ``dbt`` itself.

The profile is generated when a step (or ``dwh dbt-parse``) runs, into a temporary folder: the
connection comes from the destination's YAML, a password only as dbt's ``env_var()`` of the env var
``secrets_mapping.yaml`` names, so no secret is ever written to disk. dbt writes its artifacts and
logs into a temporary target folder too: a run leaves nothing in the user's project.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dwh_dagster.config.models.destinations import DestinationModel, DuckDbDestination, PostgresDestination
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.resolved import ResolvedDbtProject, ResolvedProject, resolve_local_path
from dwh_dagster.config.secrets import SecretResolver

PROFILE_TARGET = "dwh"
"""The target of every generated profile."""


@dataclass(frozen=True)
class DbtPlan:
    """What a dbt step needs: the project, its profile's connection and the secrets' env vars."""

    name: str
    project_dir: Path
    manifest_path: Path
    profile: str
    dataset: str
    threads: int
    destination: DestinationModel
    project_root: Path
    environment: str
    secrets: Mapping[str, SecretEntry]
    asset_keys: tuple[tuple[str, str], ...] = ()
    """The assets of its models, seeds and snapshots."""

    def local_path(self, value: str) -> str:
        """A local path made absolute against the project root."""
        return resolve_local_path(self.project_root, value)


def build_dbt_plan(project: ResolvedProject, dbt: ResolvedDbtProject) -> DbtPlan:
    """The plan of one resolved dbt project."""
    return DbtPlan(
        name=dbt.name,
        project_dir=dbt.project_dir,
        manifest_path=dbt.manifest_path,
        profile=dbt.profile,
        dataset=dbt.dataset,
        threads=dbt.model.threads,
        destination=dbt.destination,
        project_root=project.root_dir,
        environment=project.environment,
        secrets=project.secrets,
        asset_keys=dbt.asset_keys,
    )


def profile_output(plan: DbtPlan, check_secrets: bool) -> dict[str, Any]:
    """The ``outputs.dwh`` entry of the generated profile.

    ``check_secrets``: fail now, naming the env var, when a secret the connection needs is unset
    (a run); ``dwh dbt-parse`` needs no password, as ``dbt parse`` does not connect.
    """
    destination = plan.destination
    if isinstance(destination, DuckDbDestination):
        path = Path(plan.local_path(destination.connection.database))
        path.parent.mkdir(parents=True, exist_ok=True)
        return {"type": "duckdb", "path": str(path), "schema": plan.dataset, "threads": plan.threads}
    if isinstance(destination, PostgresDestination):
        c = destination.connection
        output: dict[str, Any] = {
            "type": "postgres",
            "host": c.host,
            "port": c.port,
            "user": c.username,
            "dbname": c.database,
            "schema": plan.dataset,
            "threads": plan.threads,
            "connect_timeout": c.connect_timeout,
            "password": "",
        }
        if c.credentials_secret_key:
            resolver = SecretResolver(plan.secrets, plan.environment)
            if check_secrets:
                resolver.resolve(c.credentials_secret_key)
            output["password"] = '{{ env_var("' + resolver.env_var(c.credentials_secret_key) + '", "") }}'
        if c.sslmode:
            output["sslmode"] = c.sslmode
        return output
    raise ValueError(f"dbt cannot build in a {destination.type} destination")  # the rules prevent it


@contextmanager
def profiles_dir(plan: DbtPlan, check_secrets: bool = True) -> Iterator[Path]:
    """A temporary folder holding ``profiles.yml`` with the project's profile."""
    profile = {
        plan.profile: {
            "target": PROFILE_TARGET,
            "outputs": {PROFILE_TARGET: profile_output(plan, check_secrets)},
        }
    }
    with tempfile.TemporaryDirectory(prefix="dwh-dbt-profile-") as folder:
        (Path(folder) / "profiles.yml").write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
        yield Path(folder)


def dbt_executable() -> str:
    """The ``dbt`` beside this Python (a run process need not have the venv on its PATH)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


class DbtParseError(RuntimeError):
    """``dbt parse`` failed; the message holds dbt's output."""


def parse_project(plan: DbtPlan) -> Path:
    """Run ``dbt parse`` with the generated profile; the manifest lands at ``plan.manifest_path``."""
    with (
        profiles_dir(plan, check_secrets=False) as folder,
        tempfile.TemporaryDirectory(prefix="dwh-dbt-") as target,
    ):
        result = subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--project-dir",
                str(plan.project_dir),
                "--profiles-dir",
                str(folder),
                "--profile",
                plan.profile,
                "--target",
                PROFILE_TARGET,
                "--target-path",
                target,
                "--log-path",
                target,
                "--no-send-anonymous-usage-stats",
                "--no-partial-parse",
            ],
            cwd=plan.project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DbtParseError((result.stdout + result.stderr).strip())
        plan.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(target) / "manifest.json", plan.manifest_path)
    return plan.manifest_path

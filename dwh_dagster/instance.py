"""The Dagster instance of the ``dwh`` commands that run jobs: the one the UI shows.

A run started from the shell (``dwh run``, ``dwh backfill``, ``dwh check``) goes to the same
instance as ``uv run dagster dev`` started in the project root, so it shows in the UI with its
logs and materializations:

1. ``DAGSTER_HOME`` when it is set (as for Dagster itself). A folder without ``dagster.yaml`` gets
   one with the project's settings (storage left in that folder), so Dagster prints no "no
   instance configuration" warning;
2. else the project's ``dagster.yaml`` (the project root is the defs folder's parent), whose
   relative paths (``base_dir: .dagster_home/storage``) are taken from the project root, as
   ``dagster dev`` run there takes them;
3. else ``<project root>/.dagster_home``, created with the project's default settings.

``--ephemeral`` keeps a run in memory (nothing is written, nothing shows in the UI). Every
instance the commands create has telemetry off, so Dagster prints no first-start notice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

INSTANCE_FILE = "dagster.yaml"
LOCAL_HOME = ".dagster_home"
"""The instance folder in the project root when the project has no ``dagster.yaml``."""
DEFAULT_SETTINGS: dict[str, Any] = {"telemetry": {"enabled": False}}
"""What an instance the commands create gets when the project has no ``dagster.yaml``."""
STORAGE_SECTIONS = (
    "storage",
    "run_storage",
    "event_log_storage",
    "schedule_storage",
    "local_artifact_storage",
    "compute_logs",
)
DEFAULT_UI_URL = "http://127.0.0.1:3000"


def project_settings(root: Path) -> dict[str, Any] | None:
    """The settings of ``<root>/dagster.yaml``, or None when the project has none."""
    path = root / INSTANCE_FILE
    if not path.is_file():
        return None
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _absolute_base_dirs(value: Any, root: Path) -> Any:
    """``value`` with every relative ``base_dir`` made absolute against ``root``."""
    if isinstance(value, dict):
        return {
            key: (
                str(root / item)
                if key == "base_dir" and isinstance(item, str) and not os.path.isabs(item)
                else _absolute_base_dirs(item, root)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_absolute_base_dirs(item, root) for item in value]
    return value


def _settings_for_new_home(root: Path) -> dict[str, Any]:
    """The project's settings without its storage sections (storage stays in the new home)."""
    settings = project_settings(root)
    if settings is None:
        return dict(DEFAULT_SETTINGS)
    kept = {key: value for key, value in settings.items() if key not in STORAGE_SECTIONS}
    return {**DEFAULT_SETTINGS, **kept}


NUX_FILE = Path(".nux") / "nux.yaml"
"""Where the UI keeps that its first-start "Join the Dagster community" dialog was seen."""


def _prepare_home(home: Path, root: Path) -> None:
    """Give a folder without ``dagster.yaml`` one with the project's settings, and mark the UI's
    first-start dialog as seen there."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / INSTANCE_FILE
    if not config.exists():
        config.write_text(yaml.safe_dump(_settings_for_new_home(root), sort_keys=False), encoding="utf-8")
        nux = home / NUX_FILE
        if not nux.exists():
            nux.parent.mkdir(exist_ok=True)
            nux.write_text("seen: 1\n", encoding="utf-8")


def describe_instance(root: Path, *, ephemeral: bool = False) -> str:
    """Where the runs of the commands go, in words: ``DAGSTER_HOME /x``, ``dagster.yaml of /p``."""
    if ephemeral:
        return "an ephemeral instance (in memory; --ephemeral)"
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return f"DAGSTER_HOME {home}"
    if project_settings(root) is not None:
        return f"the instance of {root / INSTANCE_FILE}"
    return f"{root / LOCAL_HOME}"


@contextmanager
def instance_for_runs(root: Path, *, ephemeral: bool = False) -> Iterator[dg.DagsterInstance]:
    """The instance the commands run jobs on (see the module docstring)."""
    if ephemeral:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
        return
    home = os.environ.get("DAGSTER_HOME")
    if home:
        _prepare_home(Path(home), root)
        with dg.DagsterInstance.get() as instance:
            yield instance
        return
    settings = project_settings(root)
    if settings is None:
        local = root / LOCAL_HOME
        _prepare_home(local, root)
        with dg.DagsterInstance.from_config(str(local)) as instance:
            yield instance
        return
    local = root.resolve() / LOCAL_HOME
    absolute = {**DEFAULT_SETTINGS, **_absolute_base_dirs(settings, root.resolve())}
    # what the project's file leaves out would live in the (temporary) config folder: it goes
    # where the shipped dagster.yaml puts it instead (dagster dev keeps it in a temporary folder)
    if "storage" not in absolute and not any(k in absolute for k in STORAGE_SECTIONS[1:4]):
        absolute["storage"] = {"sqlite": {"base_dir": str(local / "storage")}}
    absolute.setdefault(
        "local_artifact_storage",
        {
            "module": "dagster.core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(local)},
        },
    )
    with tempfile.TemporaryDirectory(prefix="dwh-instance-") as config_dir:
        Path(config_dir, INSTANCE_FILE).write_text(
            yaml.safe_dump(absolute, sort_keys=False), encoding="utf-8"
        )
        with dg.DagsterInstance.from_config(config_dir) as instance:
            yield instance


def ui_url(path: str) -> str:
    """A page of the UI (``DWH_UI_URL``, default ``http://127.0.0.1:3000``, that of dagster dev)."""
    base = os.environ.get("DWH_UI_URL") or DEFAULT_UI_URL
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def run_url(run_id: str) -> str:
    """The run's page in the UI."""
    return ui_url(f"runs/{run_id}")

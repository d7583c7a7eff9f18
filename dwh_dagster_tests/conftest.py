"""Shared test helpers: paths of the shipped configs and a writer for small inline projects."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
YAML_DEFS = REPO_ROOT / "yaml_defs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ORIGINAL_DESIGN = FIXTURES / "original_design"
SEED_README = REPO_ROOT.parent / "shared" / "seed" / "original-design-README.md"

WriteProject = Callable[[dict[str, str]], Path]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the caller's ENVIRONMENT or DWH_DEFS_DIR."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("DWH_DEFS_DIR", raising=False)


@pytest.fixture
def write_project(tmp_path: Path) -> WriteProject:
    """Write ``{relative path: yaml text}`` (dedented) under ``tmp_path/yaml_defs`` and return that folder."""

    def write(files: dict[str, str]) -> Path:
        defs = tmp_path / "yaml_defs"
        for rel, text in files.items():
            target = defs / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        defs.mkdir(parents=True, exist_ok=True)
        return defs

    return write

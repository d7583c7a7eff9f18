"""Every broken project under fixtures/broken/ fails to load with the errors its expected.yaml lists.

Each case folder holds ``yaml_defs/`` (a copy of the original design with a mistake) and
``expected.yaml``::

    environment: prod          # optional: ENVIRONMENT to load with (default dev)
    errors:                    # each entry must match one reported ConfigError
      - file: sources/my_api.yaml   # relative to yaml_defs/
        line: 8                     # exact line; null for a whole-file problem
        field: source.connection.auth.type   # exact field path (optional)
        contains: ["unknown type 'baerer'", "did you mean 'bearer'"]   # fragments of the headline
        excludes: ["did you mean 'x'"]   # optional: fragments that must not appear
    count: 1                   # optional: exact number of errors
    xfail: "reason"            # optional: the loader does not (yet) report this as a user would want

The same expectations are checked on the output of ``dwh validate``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dwh_dagster.cli import main
from dwh_dagster.config.errors import ConfigError, ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import FIXTURES

BROKEN = FIXTURES / "broken"
MIN_CASES = 45


def _case_dirs() -> list[Path]:
    return sorted(p for p in BROKEN.iterdir() if p.is_dir()) if BROKEN.is_dir() else []


def _expected(case: Path) -> dict[str, Any]:
    data = yaml.safe_load((case / "expected.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{case.name}/expected.yaml must be a mapping"
    return data


def _params() -> list[Any]:
    params = []
    for case in _case_dirs():
        reason = _expected(case).get("xfail")
        marks = [pytest.mark.xfail(strict=True, reason=str(reason))] if reason else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def _relative(error: ConfigError, defs: Path) -> str:
    try:
        return error.file.resolve().relative_to(defs.resolve()).as_posix()
    except ValueError:
        return str(error.file)


def _text_matches(text: str, entry: dict[str, Any]) -> bool:
    """Every ``contains`` fragment and no ``excludes`` fragment is in ``text``."""
    return all(f in text for f in entry.get("contains", [])) and not any(
        f in text for f in entry.get("excludes", [])
    )


def _headline_without_path(error: ConfigError) -> str:
    """The headline with a neutral file name, so fragments never match the fixture's own path."""
    return dataclasses.replace(error, file=Path("FILE")).headline()


def _matches(error: ConfigError, defs: Path, entry: dict[str, Any]) -> bool:
    if _relative(error, defs) != entry["file"]:
        return False
    if "line" in entry and error.line != entry["line"]:
        return False
    if "field" in entry and error.field != entry["field"]:
        return False
    return _text_matches(_headline_without_path(error), entry)


def _describe(errors: list[ConfigError], defs: Path) -> str:
    return "\n".join(
        f"  {_relative(e, defs)}:{e.line} [{e.field}] {e.message}" + (f" | hint: {e.hint}" if e.hint else "")
        for e in errors
    )


def _load_errors(case: Path) -> tuple[Path, dict[str, Any], list[ConfigError]]:
    expected = _expected(case)
    defs = case / "yaml_defs"
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs, expected.get("environment"))
    return defs, expected, info.value.errors


def _cli_args(defs: Path, expected: dict[str, Any]) -> list[str]:
    args = ["validate", "--defs", str(defs)]
    if expected.get("environment"):
        args += ["--env", str(expected["environment"])]
    return args


def _headline_pattern(entry: dict[str, Any]) -> re.Pattern[str]:
    """Matches the start of a printed headline for ``entry``: path, line, column and field."""
    pattern = re.escape(f"yaml_defs/{entry['file']}")
    if "line" not in entry:
        pattern += r"(?::\d+:\d+)?"
    elif entry["line"] is not None:
        pattern += rf":{entry['line']}:\d+"
    pattern += ": "
    if entry.get("field"):
        pattern += re.escape(f"{entry['field']}: ")
    return re.compile(pattern)


def test_there_are_enough_broken_cases() -> None:
    cases = _case_dirs()
    assert len(cases) >= MIN_CASES, f"only {len(cases)} broken fixtures"
    for case in cases:
        assert (case / "yaml_defs").is_dir(), f"{case.name} has no yaml_defs/"
        assert (case / "expected.yaml").is_file(), f"{case.name} has no expected.yaml"
        assert not (case / "yaml_defs" / "expected.yaml").exists()
        assert _expected(case).get("errors"), f"{case.name}/expected.yaml lists no errors"


@pytest.mark.parametrize("case", _params())
def test_broken_project_reports_expected_errors(case: Path) -> None:
    defs, expected, errors = _load_errors(case)
    assert errors, "ProjectConfigError without errors"
    report = _describe(errors, defs)
    for entry in expected["errors"]:
        assert any(_matches(e, defs, entry) for e in errors), (
            f"no reported error matches {entry}\nreported:\n{report}"
        )
    if "count" in expected:
        assert len(errors) == expected["count"], f"expected {expected['count']} errors, got:\n{report}"


@pytest.mark.parametrize("case", _params())
def test_cli_validate_prints_every_headline(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    defs, expected, errors = _load_errors(case)
    capsys.readouterr()
    code = main(_cli_args(defs, expected))
    out, err = capsys.readouterr()
    assert code == 1, f"dwh validate exited {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    assert not out.strip().startswith("OK")
    lines = err.splitlines()
    for error in errors:
        assert error.headline() in lines, f"missing headline {error.headline()!r} in:\n{err}"
    count = expected.get("count", len(errors))
    assert f"{count} error{'s' if count != 1 else ''} in the YAML project." in err
    for entry in expected["errors"]:
        pattern = _headline_pattern(entry)
        found = [m for m in map(pattern.search, lines) if m]
        assert any(_text_matches(m.string[m.end() :], entry) for m in found), (
            f"no stderr line matches {entry}\nstderr:\n{err}"
        )


def _environment_specific_cases() -> list[Any]:
    return [
        pytest.param(case, id=case.name)
        for case in _case_dirs()
        if _expected(case).get("environment", "dev") != "dev"
    ]


@pytest.mark.parametrize("case", _environment_specific_cases())
def test_environment_specific_mistakes_load_in_dev(case: Path) -> None:
    """A mistake that only exists in stage or prod must not break the dev environment."""
    project = load_project(case / "yaml_defs", "dev")
    assert project.environment == "dev"

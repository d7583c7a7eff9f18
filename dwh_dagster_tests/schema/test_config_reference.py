"""The committed configuration reference is what the models generate, and covers every field."""

from __future__ import annotations

from dwh_dagster.docs import REFERENCE_FILE, render_reference
from dwh_dagster_tests.conftest import REPO_ROOT


def test_committed_reference_is_up_to_date() -> None:
    committed = REPO_ROOT / REFERENCE_FILE
    assert committed.exists(), "run `uv run dwh docs` and commit docs/config-reference.md"
    assert committed.read_text() == render_reference(), "stale: run `uv run dwh docs` and commit it"


def test_reference_lists_fields_with_type_default_and_description() -> None:
    text = render_reference()
    assert "| `job.execution.mode` | `sequential` or `parallel` or `dag` | `sequential` |" in text
    assert (
        "| `trigger[type=cron].schedule.timezone` | str | `UTC` | IANA timezone the cron is read in. |"
        in text
    )
    assert "| `secrets.<key>.env_var_prod` | str or null |" in text
    assert "`source[type=rest_api].resources[].endpoint.path`" in text
    for heading in ("## source", "## destination", "## pipeline", "## job", "## trigger", "## channel"):
        assert heading in text
    for line in text.splitlines():
        if line.startswith("| `"):
            assert line.count(" | ") >= 3 and not line.rstrip().endswith("|  |"), line

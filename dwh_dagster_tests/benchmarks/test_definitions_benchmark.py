"""``benchmarks/definitions.py --smoke`` runs end to end: a generated one-pipeline project passes
``dwh validate`` and ``dagster definitions validate`` like the hand-written floor module and its
reference variants, and the JSON holds the figures; loading the definitions imports no dlt.

No time is asserted: CI machines are too noisy for that; the figures are the benchmark's business.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster_tests.benchmarks.support import run_smoke

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

TIMEOUT = 600  # seconds for the whole smoke run: nine fresh processes of one pipeline each


def test_definitions_smoke_run_writes_the_figures(tmp_path: Path) -> None:
    result, stdout = run_smoke(
        "definitions.py", tmp_path / "x.json", TIMEOUT, "--bare-specs-floor", "--narrow-jobs-floor"
    )
    assert result["benchmark"] == "definitions"
    assert result["sizes"] == [1]
    assert result["repeats"] == 1
    (row,) = result["results"]
    assert row["pipelines"] == 1
    for key in ("ours", "floor", "floor_bare_specs", "floor_narrow_jobs", "dwh_validate"):
        figures = row[key]
        assert figures["seconds"] > 0, (key, figures)
        assert figures["cpu_seconds"] > 0, (key, figures)
        assert figures["peak_mb"] > 0, (key, figures)
        assert len(figures["runs"]) == 1, (key, figures)
    for ratio in (
        "time_ratio",
        "cpu_ratio",
        "memory_ratio",
        "time_ratio_narrow_jobs",
        "memory_ratio_bare_specs",
    ):
        assert row[ratio] > 0, (ratio, row)
    assert result["same_shape"] is True
    assert result["dlt_imported"] is False
    assert result["dlt_modules"] == []
    targets = {t["target"]: t for t in result["targets"]}
    assert targets["dlt not imported while definitions load"]["passed"] is True
    # the size targets need 1000 and 2000 pipelines: not measured in a smoke run
    assert [t["passed"] for name, t in targets.items() if "pipelines" in name or "ours" in name] == [None] * 4
    machine = result["machine"]
    assert machine["cpu_count"] and machine["python"] and machine["dagster"] and machine["dlt"]
    assert "dlt not imported while definitions load" in stdout
    assert "reference: the floor with its asset jobs resolved as ours are" in stdout


CHECK_NAMES = ["accepted_values_id", "expression", "not_null_id", "row_count", "unique_id"]


def test_definitions_smoke_run_with_checks_compares_the_check_keys(tmp_path: Path) -> None:
    """``--checks``: five blocking checks on the one pipeline's table, the same keys in ours and
    the floor (the benchmark stops otherwise), and the figures in the JSON."""
    result, stdout = run_smoke("definitions.py", tmp_path / "checks.json", TIMEOUT, "--checks")
    assert result["checks"] is True
    assert result["checks_per_pipeline"] == 5
    assert result["sizes"] == [1]
    (row,) = result["results"]
    assert (row["pipelines"], row["checks"], row["transformations"]) == (1, 5, 0)
    for key in ("ours", "floor", "dwh_validate"):
        assert row[key]["seconds"] > 0, (key, row[key])
        assert row[key]["peak_mb"] > 0, (key, row[key])
    assert row["time_ratio"] > 0 and row["memory_ratio"] > 0
    assert result["same_shape"] is True
    assert result["checks_checked"] == {
        "pipelines": 1,
        "checks": 5,
        "floor_checks": 5,
        "blocking_checks": 5,
        "check_names": CHECK_NAMES,
        "jobs_with_checks": 1,
    }
    assert result["dlt_modules"] == []
    targets = {t["target"]: t for t in result["targets"]}
    assert targets["time ratio at 1000 pipelines with 5 checks each <= 1.3"]["passed"] is None
    assert targets["memory ratio at 1000 pipelines with 5 checks each <= 1.3"]["passed"] is None
    assert "ours and floor define the same 5 check keys" in stdout

"""CI smoke test: the transformation chain benchmark runs end to end at its smallest size.

No time is asserted (the figures are the benchmark's business): it checks that both contenders
ran, ours in exactly one step, and built the same 20 tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster_tests.benchmarks.support import run_smoke

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests


def test_transform_chain_smoke_run_builds_the_same_tables_both_ways(tmp_path: Path) -> None:
    report, stdout = run_smoke("transform_chain.py", tmp_path / "transform_chain.json", 600)
    assert report["benchmark"] == "transform_chain"
    assert report["models"] == 20
    assert report["same_tables"] is True
    assert {"ours", "direct"} <= set(report["figures"])
    for run in report["runs"]["ours"]:
        assert run["steps"] == ["transform_wh"]
        assert run["materializations"] == 20
    for run in report["runs"]["direct"]:
        assert run["steps"] == ["chain"]
    assert "written" in stdout or "wrote" in stdout

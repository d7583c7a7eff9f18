"""CI smoke test: the partition backfill benchmark runs end to end at its smallest size.

No time is asserted (the figures are the benchmark's business): it checks that both contenders
ran, the backfill as one run of the 365 partitions, that both loaded exactly the served records,
and that the figures were printed and written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster_tests.benchmarks.support import run_smoke

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests


@pytest.mark.parametrize("instance", ["sqlite", "postgres"])
def test_partition_backfill_smoke_run_loads_the_same_records_both_ways(tmp_path: Path, instance: str) -> None:
    out = tmp_path / "partition_backfill.json"
    report, stdout = run_smoke("partition_backfill.py", out, 600, "--instance", instance)
    assert report["benchmark"] == "partition_backfill"
    assert report["instance"] == instance
    assert report["records"] == report["rows"] == 365 * 20
    assert report["partitions"] == 365
    assert report["range"] == ["2024-01-01", "2024-12-30"]
    assert report["same_rows"] is True
    assert set(report["figures"]) == {"full_load", "backfill"}
    for contender in ("full_load", "backfill"):
        figures = report["figures"][contender]
        assert figures["process"]["median"] > 0 and figures["process_rows_per_second"] > 0
        assert figures["step"]["median"] is not None
        (run,) = report["runs"][contender]
        assert run["runs"] == 1 and run["status"] == "SUCCESS"
        assert report["tables"][contender]["rows"] == report["tables"][contender]["distinct_ids"] == 365 * 20
        assert report["tables"][contender]["missing"] == report["tables"][contender]["extra"] == 0
    (backfill,) = report["runs"]["backfill"]
    assert backfill["range"] == ["2024-01-01", "2024-12-30"]
    assert backfill["materialized_partitions"] == 365
    assert report["tables"]["backfill"]["partition_keys"] == 365
    assert report["requests"]["full_load"] == report["requests"]["backfill"] > 0
    assert report["ratio"]["process"] is not None
    assert [t["figure"] for t in report["targets"]] == ["process", "step"]
    assert "ratio B/A" in stdout
    assert "<= 1.5x the full load's" in stdout
    assert "wrote" in stdout

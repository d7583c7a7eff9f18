"""CI smoke test: the ingestion benchmark runs end to end at its smallest size (no time is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster_tests.benchmarks.support import run_smoke

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests


def test_ingest_benchmark_runs_every_contender_and_lands_the_same_table(tmp_path: Path) -> None:
    report, stdout = run_smoke("ingest.py", tmp_path / "ingest.json", 600)
    assert report["records"] == 5_000
    assert set(report["figures"]) == {"dwh", "plain_default", "plain_parquet", "duckdb"}
    for figures in report["figures"].values():
        assert figures["seconds"] > 0 and figures["rows_per_second"] > 0
    # the fast path lands exactly what dlt's row normalizer lands
    assert report["parity"]["rows"] == 5_000
    assert report["parity"]["same_as_plain_default"] is True
    assert report["parity"]["same_as_plain_parquet"] is True
    assert ("address__city", "VARCHAR") in [tuple(c) for c in report["parity"]["columns"]]
    assert ("created_at", "TIMESTAMP WITH TIME ZONE") in [tuple(c) for c in report["parity"]["columns"]]
    assert "dwh >= 10x plain dlt default" in report["targets"]
    assert "written to" in stdout

"""``benchmarks/run_overhead.py --smoke`` runs end to end: a webserver and a daemon come up, one run of
the dwh job and one of the no-op floor job succeed through GraphQL, and the JSON holds the figures.

No time is asserted: CI machines are too noisy for that; the figures are the benchmark's business.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster_tests.benchmarks.support import run_smoke

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

TIMEOUT = 900  # seconds for the whole smoke run: servers up, two warm-up and two measured runs


def test_run_overhead_smoke_run_writes_both_jobs_figures(tmp_path: Path) -> None:
    result, stdout = run_smoke("run_overhead.py", tmp_path / "x.json", TIMEOUT)
    assert result["benchmark"] == "run_overhead"
    assert result["settings"]["runs"] == 1
    for key in ("ours", "floor"):
        figures = result["jobs"][key]
        assert figures["runs"] == 1
        for figure in ("launch_to_success", "create_to_end", "start_to_end", "step"):
            assert figures[figure]["median"] > 0, (key, figure, figures)
            assert figures[figure]["min"] > 0, (key, figure, figures)
        (run,) = result["runs"][key]
        assert run["run_id"]
        # the run went through the queue, a run worker and its one step
        seen = run["events_since_launch"]
        for event in (
            "RUN_ENQUEUED",
            "RUN_STARTING",
            "RUN_START",
            "STEP_START",
            "STEP_SUCCESS",
            "RUN_SUCCESS",
        ):
            assert event in seen, (key, seen)
    assert result["ratio"]["launch_to_success"] > 0
    assert isinstance(result["target_met"], bool)
    assert result["target"]["ratio_max"] == 1.2
    machine = result["machine"]
    assert machine["cpu_count"] and machine["python"] and machine["versions"]["dagster"]
    assert "ratio ours/floor" in stdout

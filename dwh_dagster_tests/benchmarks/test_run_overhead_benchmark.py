"""``benchmarks/run_overhead.py --smoke`` runs end to end: a webserver and a daemon come up, one run of
the dwh job and one of the no-op floor job succeed through GraphQL, and the JSON holds the figures.

No time is asserted: CI machines are too noisy for that; the figures are the benchmark's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dwh_dagster_tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "run_overhead.py"
TIMEOUT = 900  # seconds for the whole smoke run: servers up, two warm-up and two measured runs


def test_run_overhead_smoke_run_writes_both_jobs_figures(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DWH_"))}
    env.pop("ENVIRONMENT", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, output

    result = json.loads(out.read_text())
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
    assert "ratio ours/floor" in done.stdout

"""``benchmarks/webhook_load.py --smoke`` runs end to end: the real receiver takes a small mixed
load (genuine, replayed and forged deliveries), and the JSON holds the figures and a verified store.

No time is asserted: CI machines are too noisy for that; the figures are the benchmark's business.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster_tests.benchmarks.support import run_smoke

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

TIMEOUT = 300  # seconds for the whole smoke run


def test_webhook_load_smoke_run_writes_the_figures(tmp_path: Path) -> None:
    result, stdout = run_smoke("webhook_load.py", tmp_path / "x.json", TIMEOUT)
    assert result["benchmark"] == "webhook_load"
    assert result["store_verified"] is True
    (round_,) = result["rounds"]
    assert round_["statuses"] == {"202": 180, "401": 20}, round_
    assert result["stored_events"] == 160
    assert "exactly one per genuine delivery id" in stdout

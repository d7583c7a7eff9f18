"""Running a benchmark script once at its smallest size, as CI's smoke tests do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dwh_dagster_tests.conftest import REPO_ROOT


def run_smoke(script: str, out: Path, timeout: float, *args: str) -> tuple[dict[str, Any], str]:
    """Run ``benchmarks/<script> --smoke --out <out> [args]`` in a clean environment.

    Asserts exit code 0 (showing the end of the output otherwise); returns the JSON it wrote and
    its stdout.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DWH_"))}
    env.pop("ENVIRONMENT", None)
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / script), "--smoke", "--out", str(out), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return json.loads(out.read_text()), done.stdout

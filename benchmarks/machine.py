"""Where and with what a benchmark's figures were taken: shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any


def package_version(dist: str) -> str | None:
    """The installed version of ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info(packages: Iterable[str]) -> dict[str, Any]:
    """CPU count, load average, platform, Python, the versions of ``packages`` and the date."""
    return {
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{package: package_version(package) for package in packages},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def publish(report: dict[str, Any], text: str, out: Path, strict: bool) -> int:
    """Print ``text`` (the rendered report), write ``report`` as JSON to ``out``; the exit code:
    1 when ``strict`` and a target was missed, else 0."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    missed = [t for t in report["targets"] if t["passed"] is False]
    return 1 if strict and missed else 0


class BenchmarkError(RuntimeError):
    """The benchmark stops (a contender failed, or its results are wrong): the message says why."""


def run_in_work_folder(
    prefix: str,
    keep: bool,
    measure: Callable[[Path], dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
    out: Path,
    strict: bool,
) -> int:
    """``measure`` in a fresh temporary folder (kept when ``keep``, else removed), then
    :func:`publish` its report. Exit code 2 when it raised :class:`BenchmarkError`."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        report = measure(work)
    except BenchmarkError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 2
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return publish(report, render(report), out, strict)

"""Where and with what a benchmark's figures were taken: shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
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

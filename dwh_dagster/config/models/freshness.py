"""``freshness:``: how old a table may get before it shows as late (warn) or stale (fail).

It becomes Dagster's time-window freshness policy on the table's asset; Dagster's daemon
evaluates it, and a stale table sends the failure channels of its jobs one message per breach.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationInfo, field_validator

from dwh_dagster.config.models.base import StrictModel

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DURATION_RE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+$")
MIN_WINDOW_SECONDS = 60
FRESHNESS_KEYS = ("warn_after", "fail_after")


def duration_seconds(value: str | int) -> float:
    """Seconds of a duration: ``90`` (seconds), ``30m``, ``6h``, ``1d``, ``1h30m``."""
    if isinstance(value, int):
        return float(value)
    return float(sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART_RE.findall(value)))


def _check_duration(value: str | int) -> str | int:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '30m', '6h', '1d'")
    if isinstance(value, str) and not _DURATION_RE.match(value):
        raise ValueError(
            f"'{value}' is not a duration: write a number and a unit s, m, h, d or w "
            "('90s', '30m', '6h', '1d', '1h30m') or a number of seconds"
        )
    seconds = duration_seconds(value)
    if seconds < MIN_WINDOW_SECONDS:
        raise ValueError(
            f"{value!r} is under a minute: Dagster evaluates freshness by the minute, so write at least '1m'"
        )
    return value


Duration = Annotated[str | int, AfterValidator(_check_duration)]
"""A duration of at least one minute: seconds, or ``30m``, ``6h``, ``1d``, ``1h30m``."""


class Freshness(StrictModel):
    """How old the table's last materialization may be."""

    fail_after: Duration = Field(
        description="Age after which the table is stale: failed in the UI, and one 'stale table' "
        "message to the failure channels of its jobs per breach (`6h`, `1d`, `90m`; at least `1m`)."
    )
    warn_after: Duration | None = Field(
        default=None,
        description="Age after which the table shows as a warning (`2h`); below `fail_after`.",
    )

    @field_validator("warn_after")
    @classmethod
    def _warn_before_fail(cls, value: str | int | None, info: ValidationInfo) -> str | int | None:
        fail = info.data.get("fail_after")
        if value is not None and fail is not None and duration_seconds(value) >= duration_seconds(fail):
            raise ValueError(
                f"warn_after {value!r} is not below fail_after {fail!r}: a table warns before it fails, "
                "so make warn_after shorter"
            )
        return value

    @property
    def fail_seconds(self) -> float:
        """``fail_after`` in seconds."""
        return duration_seconds(self.fail_after)

    @property
    def warn_seconds(self) -> float | None:
        """``warn_after`` in seconds, if given."""
        return None if self.warn_after is None else duration_seconds(self.warn_after)


def describe_freshness(freshness: Freshness) -> str:
    """``warn after 2h, stale after 6h``."""
    stale = f"stale after {freshness.fail_after}"
    return f"warn after {freshness.warn_after}, {stale}" if freshness.warn_after is not None else stale


def _freshness_branch(value: Any) -> str:
    """``table`` when the mapping is one freshness (it has warn_after or fail_after), else per resource."""
    if isinstance(value, Freshness):
        return "table"
    if isinstance(value, dict) and (not value or any(key in value for key in FRESHNESS_KEYS)):
        return "table"
    return "by_resource"


PipelineFreshness = Annotated[
    Annotated[Freshness, Tag("table")] | Annotated[dict[str, Freshness], Tag("by_resource")],
    Discriminator(_freshness_branch),
]
"""``freshness:`` of a pipeline: one for all its tables, or a mapping of resource name to one."""


def freshness_field(description: str) -> Any:
    """An optional ``freshness:`` field."""
    return Field(default=None, description=description)

"""What a notification says: a summary of a run, as text and as JSON."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

UI_URL_VAR = "DWH_UI_URL"


@dataclass(frozen=True)
class FailedStep:
    """A step that failed, with its error's cause on one line."""

    step: str
    error: str


@dataclass(frozen=True)
class FailedCheck:
    """A data-quality check that failed in the run."""

    asset: str
    check: str
    severity: str
    """``error`` (it blocked) or ``warn``."""
    failing_rows: int | None = None
    detail: str = ""

    def describe(self) -> str:
        """``analytics/orders:unique_id (error): 3 failing rows``."""
        what = f"{self.failing_rows} failing rows" if self.failing_rows is not None else self.detail
        return f"{self.asset}:{self.check} ({self.severity})" + (f": {what}" if what else "")


@dataclass(frozen=True)
class StaleTable:
    """A table whose last materialization is older than its ``freshness.fail_after``."""

    asset: str
    fail_after: str
    """As written in the YAML (``6h``)."""
    age_seconds: float | None
    """Since the last materialization, when there is one."""
    last_run_id: str | None = None

    def describe(self) -> str:
        """``ds_shop/orders: last materialized 6h 12m 00s ago, fail_after 6h``."""
        age = (
            "never materialized"
            if self.age_seconds is None
            else (f"last materialized {format_duration(self.age_seconds)} ago")
        )
        return f"{self.asset}: {age}, fail_after {self.fail_after}"


@dataclass(frozen=True)
class RunSummary:
    """Everything a message about one run says (or, with no ``run_id``, about stale tables)."""

    job: str
    environment: str
    status: str
    run_id: str
    duration_seconds: float | None
    failed_steps: list[FailedStep] = field(default_factory=list)
    failed_checks: list[FailedCheck] = field(default_factory=list)
    stale_tables: list[StaleTable] = field(default_factory=list)
    ui_url: str | None = None
    headline: str = ""

    @property
    def run_url(self) -> str | None:
        """Link to the run in the Dagster UI, when the UI's address is known."""
        return f"{self.ui_url.rstrip('/')}/runs/{self.run_id}" if self.ui_url and self.run_id else None

    def title(self) -> str:
        """One line: ``[prod] job daily_ingestion FAILURE``."""
        return self.headline or f"[{self.environment}] job {self.job} {self.status}"

    def text(self) -> str:
        """The plain-text body (email, Slack, Teams)."""
        lines = [self.title()] + ([f"run: {self.run_id}"] if self.run_id else [])
        if self.duration_seconds is not None:
            lines.append(f"duration: {format_duration(self.duration_seconds)}")
        for failed in self.failed_steps:
            lines.append(f"failed step {failed.step}:")
            lines += [f"    {line}" for line in failed.error.splitlines()]
        lines += [f"failed check {check.describe()}" for check in self.failed_checks]
        lines += [f"stale table {table.describe()}" for table in self.stale_tables]
        if self.run_url:
            lines.append(f"open: {self.run_url}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The generic webhook payload."""
        data = asdict(self)
        data["run_url"] = self.run_url
        data["title"] = self.title()
        return data


def format_duration(seconds: float) -> str:
    """``1h 02m 03s`` style."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def ui_url(channel_url: str | None) -> str | None:
    """The UI base URL: the channel's own, else ``$DWH_UI_URL``."""
    return channel_url or os.environ.get(UI_URL_VAR) or None

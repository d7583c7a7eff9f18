"""A local HTTP API of dated records and the small projects that load it by partition."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dwh_dagster_tests.conftest import WriteProject, duckdb_rows

START = datetime(2024, 1, 1, tzinfo=UTC)
EVERY = timedelta(hours=6)  # four records a day


def iso(moment: datetime) -> str:
    """``2024-01-01T06:00:00Z``: how the API writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class DatedApi:
    """``GET /events?since=..&until=..``: the records whose ``updated_at`` is in [since, until)."""

    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    failing_days: set[str] = field(default_factory=set)
    """Days (``2024-01-05``) whose requests answer 500."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fill(self, days: int, start: datetime = START) -> None:
        """Four records a day for ``days`` days from ``start`` (2024-01-01)."""
        for i in range(days * 4):
            moment = start + i * EVERY
            self.records[i + 1] = {"id": i + 1, "updated_at": iso(moment), "amount": i * 10}

    def handle(self, request: Request) -> Response:
        args = dict(request.args)
        with self.lock:
            self.requests.append(args)
            since = parse(args["since"]) if "since" in args else None
            until = parse(args["until"]) if "until" in args else None
            if since is not None and since.strftime("%Y-%m-%d") in self.failing_days:
                return Response("upstream broke", status=500)
            rows = [
                r
                for r in self.records.values()
                if (since is None or parse(r["updated_at"]) >= since)
                and (until is None or parse(r["updated_at"]) < until)
            ]
        return Response(json.dumps(rows), content_type="application/json")

    def on_day(self, day: str) -> list[dict[str, Any]]:
        """The records of one UTC day, by id."""
        return sorted(
            (r for r in self.records.values() if r["updated_at"].startswith(day)), key=lambda r: r["id"]
        )


def serve(server: HTTPServer, api: DatedApi) -> None:
    server.expect_request("/events").respond_with_handler(api.handle)


def write_events_project(
    write_project: WriteProject,
    server: HTTPServer,
    *,
    partitions: str | None = "{type: daily, start: '2024-01-01'}",
    backfill: str = "single_run",
    write_disposition: str = "merge",
    end_param: bool = True,
) -> Path:
    """One rest_api resource ``events`` (cursor ``updated_at``) loaded by ``load_events`` into
    ``wh.duckdb`` dataset ``api``; job ``events_job``."""
    pipeline_extra = f"  partitions: {partitions}\n  backfill: {backfill}\n" if partitions else ""
    until = "\n                        end_param: until" if end_param else ""
    return write_project(
        {
            "sources/api.yaml": f"""
                source:
                  name: api
                  type: rest_api
                  connection: {{base_url: "http://127.0.0.1:{server.port}"}}
                  resources:
                    - name: events
                      endpoint: {{path: /events, paginator: single_page}}
                      primary_key: id
                      write_disposition: {write_disposition}
                      incremental:
                        cursor_field: updated_at
                        initial_value: "2024-01-01T00:00:00Z"
                        param: since{until}
            """,
            "destinations/wh.yaml": (
                "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n"
            ),
            "pipelines/load_events.yaml": (
                "pipeline:\n"
                "  name: load_events\n"
                "  source: {config_file: api}\n"
                "  destination: {config_file: wh, dataset_name: api}\n" + pipeline_extra
            ),
            "jobs/events_job.yaml": "job: {name: events_job, pipelines: [{name: load_events}]}\n",
        }
    )


def table_rows(defs_dir: Path) -> list[tuple[Any, ...]]:
    """``(id, updated_at as text, amount, _dwh_partition)`` of every row, by id."""
    return duckdb_rows(
        defs_dir.parent / "wh.duckdb",
        "select id, strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ'), amount, _dwh_partition "
        "from api.events order by id, _dwh_partition",
    )


def expected_rows(api: DatedApi, days: Iterator[str] | list[str]) -> list[tuple[Any, ...]]:
    """What the table must hold after loading ``days``: each record of those days once."""
    records = [r for d in days for r in api.on_day(d)]
    return sorted((r["id"], r["updated_at"], r["amount"], r["updated_at"][:10]) for r in records)


def day_keys(first: str, count: int) -> list[str]:
    """``count`` consecutive day keys from ``first``."""
    start = datetime.fromisoformat(first)
    return [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)]


DAILY = "{type: daily, start: '2024-01-01'}"

DAILY_AMOUNTS = f"""
    transformation:
      name: daily_amounts
      destination: wh
      dataset_name: marts
      partitions: {DAILY}
      sql: |
        select cast(updated_at at time zone 'UTC' as date) as day, count(*) as events,
               sum(amount) as amount
        from api.events
        where updated_at >= {{start}} and updated_at < {{end}}
        group by all
"""


def write_models_project(
    write_project: WriteProject, server: HTTPServer, files: dict[str, str] | None = None
) -> Path:
    """The events project, with model ``marts.daily_amounts`` (daily, like ``api.events``) in
    ``events_job``; ``files`` add or replace files."""
    defs_dir = write_events_project(write_project, server)
    written = {
        "transformations/daily_amounts.yaml": DAILY_AMOUNTS,
        "jobs/events_job.yaml": (
            "job: {name: events_job, pipelines: [{name: load_events}], "
            "transformations: [{name: daily_amounts}]}\n"
        ),
    }
    written.update(files or {})
    write_project(written)
    return defs_dir


def daily_amounts_rows(defs_dir: Path) -> list[tuple[object, ...]]:
    """``(day, events, amount, _dwh_partition)`` of ``marts.daily_amounts``, by day."""
    return duckdb_rows(
        defs_dir.parent / "wh.duckdb",
        "select strftime(day, '%Y-%m-%d'), events, amount, _dwh_partition "
        "from marts.daily_amounts order by day",
    )


def expected_daily_amounts(api: DatedApi, days: list[str]) -> list[tuple[object, ...]]:
    """What ``marts.daily_amounts`` must hold after building ``days``."""
    by_day: dict[str, list[int]] = defaultdict(list)
    for day in days:
        by_day[day] = [r["amount"] for r in api.on_day(day)]
    return [(day, len(v), sum(v), day) for day, v in sorted(by_day.items()) if v]

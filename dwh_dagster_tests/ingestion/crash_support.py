"""Helpers of the crash-consistency tests: a paginated API, the projects that load it, a driver
that SIGKILLs ``dwh run`` at a chosen point of its work, and what the tests read afterwards.

The driver is this module run as a script::

    python -m dwh_dagster_tests.ingestion.crash_support POINT run JOB --defs DIR

It installs an observer on one function of dlt or of ours (see :data:`POINTS`) and then runs
``dwh run`` unchanged (:func:`dwh_dagster.cli.main`, the ``dwh`` entry point). When the work
reaches ``POINT``, the observer prints ``dwh-crash: reached POINT`` and SIGKILLs its own process
group on the spot: the process dies exactly there, as on a power cut or an OOM kill (no
``finally``, no ``atexit``, nothing flushed). The observers change nothing the work does, except
``load_merge_half``, which runs the first half of dlt's merge script (the DELETE) through dlt's own
client, in whatever transaction dlt opened for the script, and dies before the second half (the
INSERT): where a kill between the two statements leaves DuckDB, which runs each statement of a
script as a transaction of its own unless one is open (``test_crash_consistency.py`` checks this).
On PostgreSQL a script sent as one query is one implicit transaction: the point is not faithful
there and is not used.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REACHED = "dwh-crash: reached "
INITIAL_CURSOR = "2024-01-01T00:00:00Z"

POINTS = {
    "normalize_start": "dlt's normalize step starts: the extracted package is complete, nothing normalized",
    "normalize_spooled": "normalize wrote the load package's files, before it commits the package",
    "normalize_committed": "normalize committed the load package, before it deletes the extracted one "
    "(dlt logs 'Committing storage, do not kill this process' here)",
    "load_data_job": "the load job of the items file ran (rows in the staging dataset), before dlt "
    "records the job as done",
    "load_insert_open": "the PostgreSQL insert job of the items file ran its INSERT, inside its "
    "transaction, before the commit",
    "load_merge_half": "the merge job deleted the final table's rows that the load replaces, before it "
    "inserts the new ones (DuckDB: on PostgreSQL the script is one query, one implicit transaction)",
    "load_before_complete": "every job of the package ran (the merge included), before dlt writes the "
    "load to _dlt_loads",
    "transform_after_delete": "an incremental model deleted the rows it replaces, inside its "
    "transaction, before it inserts the new ones",
}
"""Where the driver kills ``dwh run``, and what has happened by then."""


# --------------------------------------------------------------------------- the driver

_OUT = 1
"""A duplicate of the driver's stdout, taken before Dagster redirects fd 1 to capture step output."""


def _die(point: str) -> None:
    os.write(_OUT, f"{REACHED}{point}\n".encode())
    os.killpg(os.getpgrp(), signal.SIGKILL)
    time.sleep(60)  # not reached: SIGKILL cannot be caught


def _observe(owner: Any, name: str, point: str, *, before: Any = None, after: Any = None) -> None:
    """Replace ``owner.name``: die when ``before(*args)`` is true, else call the original; then
    die when ``after(result, *args)`` is true."""
    original = getattr(owner, name)

    def observed(*args: Any, **kwargs: Any) -> Any:
        if before is not None and before(*args, **kwargs):
            _die(point)
        result = original(*args, **kwargs)
        if after is not None and after(result, *args, **kwargs):
            _die(point)
        return result

    setattr(owner, name, observed)


def _always(*_args: Any, **_kwargs: Any) -> bool:
    return True


def _ran_items_job(_result: Any, job: Any, *_args: Any) -> bool:
    return os.path.basename(str(job._file_path)).startswith("items.")


def _is_merge_of_items(statements: Sequence[str]) -> bool:
    text = " ".join(statements).upper()
    return "DELETE FROM" in text and "INSERT INTO" in text and "_STAGING" in text and "ITEMS" in text


def _half_merge(point: str) -> None:
    from dlt.destinations.sql_client import SqlClientBase

    original = SqlClientBase.execute_many

    def observed(client: Any, statements: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        statements = list(statements)
        if not _is_merge_of_items(statements):
            return original(client, statements, *args, **kwargs)
        # the statements up to the last DELETE (the rows the load replaces), then death
        last_delete = max(i for i, s in enumerate(statements) if s.lstrip().upper().startswith("DELETE"))
        original(client, statements[: last_delete + 1], *args, **kwargs)
        _die(point)

    SqlClientBase.execute_many = observed  # type: ignore[method-assign]


def install(point: str) -> None:
    """Kill this process (group) when the work reaches ``point``."""
    global _OUT
    if point not in POINTS:
        raise SystemExit(f"unknown crash point {point!r}; known: {', '.join(POINTS)}")
    _OUT = os.dup(1)
    if point == "normalize_start":
        from dlt.normalize.normalize import Normalize

        _observe(Normalize, "spool_schema_files", point, before=_always)
    elif point in ("normalize_spooled", "normalize_committed"):
        from dlt.common.storages.load_storage import LoadStorage

        when = {"before" if point == "normalize_spooled" else "after": _always}
        _observe(LoadStorage, "commit_new_load_package", point, **when)
    elif point == "load_data_job":
        from dlt.common.destination.client import RunnableLoadJob

        _observe(RunnableLoadJob, "run_managed", point, after=_ran_items_job)
    elif point == "load_insert_open":
        from dlt.destinations.impl.postgres.sql_client import Psycopg2SqlClient

        def inserted(_result: Any, _client: Any, fragments: Sequence[str], *_args: Any, **_kw: Any) -> bool:
            header = fragments[0] if fragments else ""
            return header.lstrip().upper().startswith("INSERT INTO") and "_staging" in header

        _observe(Psycopg2SqlClient, "execute_fragments", point, after=inserted)
    elif point == "load_merge_half":
        _half_merge(point)
    elif point == "load_before_complete":
        from dlt.destinations.job_client_impl import SqlJobClientBase

        _observe(SqlJobClientBase, "complete_load", point, before=_always)
    elif point == "transform_after_delete":
        from dwh_dagster.transform.sessions import DuckDbSession

        def deleted(_result: Any, _session: Any, sql: str) -> bool:
            return sql.startswith("DELETE FROM") and "WHERE EXISTS" in sql

        _observe(DuckDbSession, "execute", point, after=deleted)


def dwh_command(*args: str, point: str | None = None) -> list[str]:
    """``dwh ARGS`` in this interpreter; with ``point``, through the driver that dies there."""
    if point is None:
        return [sys.executable, "-m", "dwh_dagster.cli", *args]
    return [sys.executable, "-m", "dwh_dagster_tests.ingestion.crash_support", point, *args]


# --------------------------------------------------------------------------- the API

PAGE_SIZE = 10


@dataclass
class ItemsApi:
    """``GET /items?since=..&page=..``: the records with ``updated_at >= since`` in cursor order,
    ``PAGE_SIZE`` a page; the page after the last one is empty. Every request is recorded.

    With :attr:`hold_page` set, the next request for that page sets :attr:`held` and gets no
    answer until :attr:`release` is set: the test kills the client while it waits for it. With
    :attr:`fail_page` set, that page answers 500.
    """

    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    hold_page: int | None = None
    fail_page: int | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _hour: int = 0

    def _stamp(self) -> str:
        hours, self._hour = self._hour, self._hour + 1
        return f"2024-02-{1 + hours // 24:02d}T{hours % 24:02d}:00:00Z"

    def change(self, *, updated: int = 0, added: int = 0) -> None:
        """Update the first ``updated`` records (new name, newer cursor), then add ``added`` new ones."""
        with self.lock:
            for number in sorted(self.records)[:updated]:
                record = self.records[number]
                record.update(name=f"{record['name']} v2", updated_at=self._stamp())
            first = len(self.records) + 1
            for number in range(first, first + added):
                self.records[number] = {"id": number, "name": f"item {number}", "updated_at": self._stamp()}

    def cursor(self) -> str:
        """The largest ``updated_at``: the incremental cursor after a complete load of everything."""
        with self.lock:
            return max(r["updated_at"] for r in self.records.values())

    def rows(self) -> list[tuple[Any, ...]]:
        """``(id, name, updated_at)`` of every record, by id: what the table must hold."""
        with self.lock:
            return [(r["id"], r["name"], r["updated_at"]) for _, r in sorted(self.records.items())]

    def handle(self, request: Any) -> Any:
        from werkzeug import Response

        args = dict(request.args)
        page = int(args.get("page", "1"))
        with self.lock:
            self.requests.append(args)
            since = args.get("since", "")
            newer = sorted(
                (r for r in self.records.values() if r["updated_at"] >= since), key=lambda r: r["updated_at"]
            )
            body = json.dumps({"data": newer[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]})
            hold = self.hold_page == page
            if hold:
                self.hold_page = None
            if self.fail_page == page:
                return Response("upstream broke", status=500)
        if hold:
            self.held.set()
            self.release.wait(timeout=30)
        return Response(body, content_type="application/json")


# --------------------------------------------------------------------------- the projects

JOB = "items_job"
MODELS_JOB = "models_job"
PIPELINE = "load_items"


def project_files(port: int, destination: str, dataset: str) -> dict[str, str]:
    """A project loading the API's ``items`` (paginated, incremental on ``updated_at`` sent as
    ``since``, merged on ``id``) into ``destination`` (``duckdb``: ``wh.duckdb`` beside
    ``yaml_defs/``; ``postgres``: the local PostgreSQL), dataset ``dataset``; job ``items_job``."""
    from dwh_dagster_tests.postgres_support import PG_USER

    connection = (
        "{database: wh.duckdb}"
        if destination == "duckdb"
        else f'{{host: 127.0.0.1, port: 5432, database: test, username: "{PG_USER}", connect_timeout: 5}}'
    )
    source = f"""
        source:
          name: api
          type: rest_api
          connection:
            base_url: "http://127.0.0.1:{port}"
            timeout: 10
            retry: {{max_attempts: 1, backoff_factor: 0}}
          resources:
            - name: items
              endpoint: {{path: /items, data_selector: data}}
              paginator: {{type: page_number, base_page: 1, total_path: null}}
              primary_key: id
              write_disposition: merge
              incremental:
                cursor_field: updated_at
                initial_value: "{INITIAL_CURSOR}"
                param: since
    """
    return {
        "sources/api.yaml": source,
        "destinations/wh.yaml": f"destination: {{name: wh, type: {destination}, connection: {connection}}}\n",
        f"pipelines/{PIPELINE}.yaml": (
            f"pipeline:\n  name: {PIPELINE}\n  source: {{config_file: api}}\n"
            f"  destination: {{config_file: wh, dataset_name: {dataset}}}\n  retry: {{max_attempts: 1}}\n"
        ),
        f"jobs/{JOB}.yaml": (
            f"job: {{name: {JOB}, pipelines: [{{name: {PIPELINE}}}], retries: {{max_attempts: 1}}}}\n"
        ),
    }


def model_files(weight_rows: int) -> dict[str, str]:
    """Two models over ``api.items`` in dataset ``marts``, and ``models_job`` that builds them:
    ``weights``, a table that takes a while to build (each item joined with ``weight_rows``
    generated rows, which DuckDB cannot skip: it hashes each pair), and ``latest``, an incremental
    model merged on ``id``."""
    return {
        "transformations/weights.yaml": f"""
            transformation:
              name: weights
              destination: wh
              dataset_name: marts
              materialized: table
              sql: |
                select i.id, i.name, count(*) as weight, max(hash(i.id, r.range)) as spread
                from api.items as i cross join range({weight_rows}) as r
                group by i.id, i.name
        """,
        "transformations/latest.yaml": """
            transformation:
              name: latest
              destination: wh
              dataset_name: marts
              materialized: incremental
              unique_key: [id]
              sql: select id, name, updated_at from api.items
        """,
        f"jobs/{MODELS_JOB}.yaml": (
            f"job: {{name: {MODELS_JOB}, transformations: [{{name: weights}}, {{name: latest}}], "
            "retries: {max_attempts: 1}}\n"
        ),
    }


# --------------------------------------------------------------------------- reading the warehouse

_ITEMS_DUCKDB = (
    "select id, name, strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') from {dataset}.items "
    "order by id"
)
_ITEMS_POSTGRES = (
    "select id, name, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    'from "{dataset}".items order by id'
)
UNRECORDED_LOADS = (
    "select count(*) from {dataset}.items where _dlt_load_id not in "
    "(select load_id from {dataset}._dlt_loads where status = 0)"
)
"""Rows of a load that dlt never recorded as complete."""


def duckdb_query(database: Path, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of ``sql`` in a DuckDB file opened read-only; None when the file or table does not exist."""
    import duckdb

    if not database.exists():
        return None
    with duckdb.connect(str(database), read_only=True) as connection:
        try:
            return connection.execute(sql).fetchall()
        except duckdb.CatalogException:
            return None


@dataclass(frozen=True)
class Warehouse:
    """Where the project of a test loads: a DuckDB file or a PostgreSQL schema."""

    kind: str
    dataset: str
    database: Path

    def items(self) -> list[tuple[Any, ...]] | None:
        """``(id, name, updated_at)`` of the loaded items, by id; None when there is no table."""
        if self.kind == "duckdb":
            return duckdb_query(self.database, _ITEMS_DUCKDB.format(dataset=self.dataset))
        from dwh_dagster_tests.postgres_support import pg_query

        exists = pg_query("select to_regclass(%s) is not null", (f'"{self.dataset}".items',))
        if not exists[0][0]:
            return None
        return pg_query(_ITEMS_POSTGRES.format(dataset=self.dataset))

    def query(self, sql: str) -> list[tuple[Any, ...]] | None:
        """Rows of ``sql`` (``{dataset}`` replaced) in the warehouse."""
        sql = sql.format(dataset=self.dataset if self.kind == "duckdb" else f'"{self.dataset}"')
        if self.kind == "duckdb":
            return duckdb_query(self.database, sql)
        from dwh_dagster_tests.postgres_support import pg_query

        return pg_query(sql)


def wait_for_text(log: Path, text: str, process: Any, timeout: float) -> None:
    """Wait until ``text`` shows in ``log`` (polled every 20 ms); fail when the process exits first."""
    deadline = time.monotonic() + timeout
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}) before {text!r}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} after {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def wait_for_event(event: threading.Event, process: Any, log: Path, timeout: float) -> None:
    """Wait until ``event`` is set; fail when the process exits first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not event.wait(0.02):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the API was not reached as expected:\n{log.read_text()[-3000:]}")


if __name__ == "__main__":
    crash_point, *arguments = sys.argv[1:]
    install(crash_point)
    from dwh_dagster.cli import main

    sys.exit(main(arguments))

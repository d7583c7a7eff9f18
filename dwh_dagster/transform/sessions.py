"""Connections that run a transformation step's statements, opened when the step runs.

DuckDB files are opened with the ``duckdb`` package itself (the fastest path, and the file the
loads write); every other destination goes through the SQL client of the destination's dlt
destination, built from the same YAML and secrets as its loads.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from dwh_dagster.config.models.destinations import DestinationModel, DuckDbDestination
from dwh_dagster.ingestion.dlt_destinations import build_dlt_destination
from dwh_dagster.ingestion.dlt_sources import BuildContext


class SqlSession(Protocol):
    """What the runner needs from a connection."""

    def execute(self, sql: str) -> None:
        """Run a statement."""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""

    def transaction(self) -> AbstractContextManager[None]:
        """Statements inside commit together, or not at all."""

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query: its column names and rows."""


class DuckDbSession:
    """A DuckDB database file opened read-write by this process."""

    def __init__(self, database: Path):
        import duckdb

        database.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(database))

    def execute(self, sql: str) -> None:
        """Run a statement."""
        self.connection.execute(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""
        return self.connection.execute(sql).fetchall()

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query: its column names and rows."""
        cursor = self.connection.execute(sql)
        rows = cursor.fetchall()
        return [str(d[0]) for d in cursor.description or []], rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements inside commit together, or not at all."""
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        self.connection.close()


class DltSqlSession:
    """The SQL client of a dlt destination (PostgreSQL, Snowflake, BigQuery, ...)."""

    def __init__(self, client: Any):
        self.client = client

    def execute(self, sql: str) -> None:
        """Run a statement."""
        self.client.execute_sql(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""
        return list(self.client.execute_sql(sql) or [])

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query: its column names and rows."""
        with self.client.execute_query(sql) as cursor:
            rows = list(cursor.fetchall())
            return [str(d[0]) for d in cursor.description or []], rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements inside commit together, or not at all."""
        with self.client.begin_transaction():
            yield


@contextmanager
def open_session(destination: DestinationModel, ctx: BuildContext) -> Iterator[SqlSession]:
    """A session on ``destination``; secrets are resolved through ``ctx`` now."""
    if isinstance(destination, DuckDbDestination):
        session = DuckDbSession(Path(ctx.local_path(destination.connection.database)))
        try:
            yield session
        finally:
            session.close()
        return
    import dlt

    with tempfile.TemporaryDirectory(prefix="dwh-transform-") as work_dir:
        pipeline = dlt.pipeline(
            pipeline_name=f"dwh_transform_{destination.name}",
            destination=build_dlt_destination(destination, ctx),
            dataset_name=destination.settings.schema_name or "dwh_transform",
            pipelines_dir=work_dir,
        )
        with pipeline.sql_client() as client:
            yield DltSqlSession(client)

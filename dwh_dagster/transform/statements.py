"""The SQL statements that build a model, per dialect: pure text, no connection.

The model's own SQL is embedded verbatim, starting on the statement's second line, so a
database error's ``LINE n`` is line ``n - 1`` of the model's SQL (:data:`SQL_FIRST_LINE`).
Identifiers are quoted by sqlglot for the destination's dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlglot import exp

from dwh_dagster.config.models.partitions import PARTITION_COLUMN
from dwh_dagster.config.models.transformations import END_TOKEN, START_TOKEN
from dwh_dagster.config.sql import THIS_TOKEN

SQL_FIRST_LINE = 2
"""The statement line on which an embedded model query starts."""

REPLACE_IN_PLACE = frozenset({"duckdb", "snowflake", "bigquery", "databricks"})
"""Dialects whose ``create or replace table`` swaps the table atomically."""


def strip_statement(sql: str) -> str:
    """The query without trailing semicolons and whitespace, ending in a newline (a closing
    ``-- comment`` must not swallow what follows)."""
    text = sql.rstrip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text + "\n"


@lru_cache(maxsize=4096)
def quoted_identifier(identifier: str, dialect: str) -> str:
    """``identifier`` quoted for ``dialect`` by sqlglot (kept: a step names each table several times)."""
    return exp.to_identifier(identifier, quoted=True).sql(dialect=dialect)


@dataclass(frozen=True)
class Window:
    """One partition of a model: its key and its bounds (``start`` inclusive, ``end`` exclusive)."""

    key: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Statements:
    """Statement builders for one dialect."""

    dialect: str

    def name(self, identifier: str) -> str:
        """A quoted identifier."""
        return quoted_identifier(identifier, self.dialect)

    def table(self, dataset: str, table: str) -> str:
        """A quoted ``dataset.table``."""
        return f"{self.name(dataset)}.{self.name(table)}"

    def timestamp(self, value: datetime) -> str:
        """A timestamp-with-time-zone literal (``CAST('2024-01-01 00:00:00+00:00' AS TIMESTAMPTZ)``)."""
        literal = exp.Literal.string(value.isoformat(sep=" "))
        return exp.cast(literal, exp.DataType.build("timestamptz")).sql(dialect=self.dialect)

    def render(self, sql: str, dataset: str, table: str, window: Window | None = None) -> str:
        """The model's query with ``{this}`` naming its table and, for a partition, ``{start}``
        and ``{end}`` its window's bounds."""
        text = sql.replace(THIS_TOKEN, self.table(dataset, table))
        if window is not None:
            text = text.replace(START_TOKEN, self.timestamp(window.start))
            text = text.replace(END_TOKEN, self.timestamp(window.end))
        return strip_statement(text)

    def fill_partition(self, dataset: str, table: str, query: str, key: str, *, create: bool) -> str:
        """Create ``table`` from (or insert into it) the query's rows with their partition key
        ``key``; the query starts on line 2."""
        target = self.table(dataset, table)
        head = f"CREATE TABLE {target} AS" if create else f"INSERT INTO {target}"
        tagged = f"{_literal(key)} AS {self.name(PARTITION_COLUMN)}"
        return f"{head} SELECT *, {tagged} FROM (\n{query}) AS _dwh_window"

    def delete_partitions(self, dataset: str, table: str, keys: Sequence[str]) -> str:
        """Delete the rows of the given partitions."""
        listed = ", ".join(_literal(k) for k in keys)
        return f"DELETE FROM {self.table(dataset, table)} WHERE {self.name(PARTITION_COLUMN)} IN ({listed})"

    def create_schema(self, dataset: str) -> str:
        """Create the dataset when missing."""
        return f"CREATE SCHEMA IF NOT EXISTS {self.name(dataset)}"

    def create_table_as(self, dataset: str, table: str, query: str, *, replace: bool = False) -> str:
        """``create [or replace] table ... as`` the query (which starts on line 2)."""
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        return f"{verb} {self.table(dataset, table)} AS\n{query}"

    def create_view_as(self, dataset: str, view: str, query: str, *, replace: bool = True) -> str:
        """``create [or replace] view ... as`` the query (which starts on line 2)."""
        verb = "CREATE OR REPLACE VIEW" if replace else "CREATE VIEW"
        return f"{verb} {self.table(dataset, view)} AS\n{query}"

    def drop(self, kind: str, dataset: str, name: str) -> str:
        """Drop a table or view if it exists."""
        return f"DROP {'VIEW' if kind == 'view' else 'TABLE'} IF EXISTS {self.table(dataset, name)}"

    def rename_table(self, dataset: str, table: str, new_name: str) -> str:
        """Rename a table within its dataset."""
        return f"ALTER TABLE {self.table(dataset, table)} RENAME TO {self.name(new_name)}"

    def truncate(self, dataset: str, table: str) -> str:
        """Empty a table (transactional where the database allows it)."""
        return f"DELETE FROM {self.table(dataset, table)}"

    def insert_from(self, dataset: str, table: str, source: str, columns: Sequence[str]) -> str:
        """Insert every row of ``source`` (same dataset) into ``table``, column by column name."""
        names = ", ".join(self.name(c) for c in columns)
        return (
            f"INSERT INTO {self.table(dataset, table)} ({names}) "
            f"SELECT {names} FROM {self.table(dataset, source)}"
        )

    def delete_matching(self, dataset: str, table: str, source: str, keys: Sequence[str]) -> str:
        """Delete the rows of ``table`` whose ``keys`` equal a row of ``source`` (nulls match nulls)."""
        target, new = self.table(dataset, table), self.table(dataset, source)
        match = " AND ".join(
            f"{new}.{self.name(k)} IS NOT DISTINCT FROM {target}.{self.name(k)}" for k in keys
        )
        return f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {new} WHERE {match})"

    def count(self, dataset: str, table: str) -> str:
        """Rows of a table or view."""
        return f"SELECT count(*) FROM {self.table(dataset, table)}"

    def _information_schema(self, dataset: str, view: str) -> str:
        if self.dialect == "bigquery":
            return f"{self.name(dataset)}.INFORMATION_SCHEMA.{view.upper()}"
        return f"information_schema.{view}"

    def relations(self, dataset: str) -> str:
        """``table_name, table_type`` of every table and view of ``dataset``."""
        return (
            f"SELECT table_name, table_type FROM {self._information_schema(dataset, 'tables')} "
            f"WHERE table_schema = {_literal(dataset)}"
        )

    def describe(self, dataset: str, name: str) -> str:
        """Column names and types of an existing table or view, in order (DuckDB: ``DESCRIBE``, five
        times faster than its information_schema; it fails where the relation is missing)."""
        if self.dialect == "duckdb":
            return f"SELECT column_name, column_type FROM (DESCRIBE {self.table(dataset, name)})"
        return self.columns(dataset, name)

    def columns(self, dataset: str, name: str) -> str:
        """Column names and types of ``dataset.name``, in order (none when it is missing)."""
        return (
            f"SELECT column_name, data_type FROM {self._information_schema(dataset, 'columns')} "
            f"WHERE table_schema = {_literal(dataset)} AND table_name = {_literal(name)} "
            "ORDER BY ordinal_position"
        )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"

"""The SQL of each check, per dialect: pure text, no connection.

A check is the query for the rows that break it (none: it passes). The checked table is always
read as ``<table> AS _dwh_checked`` (or, with ``where``, the filtered rows under that alias), so
conditions may name columns plainly.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from dwh_dagster.config.models.checks import (
    AcceptedValuesCheck,
    AnyCheck,
    ExpressionCheck,
    NotNullCheck,
    RelationshipsCheck,
    SqlCheck,
    UniqueCheck,
)
from dwh_dagster.transform.statements import Statements

CHECKED = "_dwh_checked"
TABLE_TOKEN = "{table}"
_TABLE_PLACEHOLDER = "dwh_checked_table_8b2f"


def checked_relation(sql: Statements, dataset: str, table: str, where: str | None) -> str:
    """The checked rows under the alias ``_dwh_checked``."""
    target = sql.table(dataset, table)
    if not where:
        return f"{target} AS {CHECKED}"
    return f"(SELECT * FROM {target} WHERE {where}) AS {CHECKED}"


def _literal(value: object, dialect: str) -> str:
    return exp.convert(value).sql(dialect=dialect)


def _table_of(reference: str, sql: Statements) -> str:
    dataset, _, table = reference.partition(".")
    return sql.table(dataset, table)


def _user_query(check: SqlCheck, sql: Statements, dataset: str, table: str) -> str:
    """The check's own select with ``{table}`` as the checked rows (aliases kept)."""
    tree = sqlglot.parse_one(check.sql.replace(TABLE_TOKEN, _TABLE_PLACEHOLDER), read=sql.dialect)
    target = sqlglot.parse_one(
        f"SELECT * FROM {sql.table(dataset, table)}" + (f" WHERE {check.where}" if check.where else ""),
        read=sql.dialect,
    )

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and not node.db and node.name == _TABLE_PLACEHOLDER:
            alias = node.alias or CHECKED
            if check.where:
                return exp.Subquery(this=target.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias)))
            replaced = exp.to_table(f"{dataset}.{table}", dialect=sql.dialect)
            replaced.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            return replaced
        return node

    return tree.transform(swap).sql(dialect=sql.dialect)


def failing_rows_query(check: AnyCheck, sql: Statements, dataset: str, table: str) -> str | None:
    """The rows that break ``check``; None for the checks that are not row queries
    (``row_count``, ``schema``)."""
    relation = checked_relation(sql, dataset, table, check.where)
    if isinstance(check, NotNullCheck):
        nulls = " OR ".join(f"{sql.name(c)} IS NULL" for c in check.columns)
        return f"SELECT * FROM {relation} WHERE {nulls}"
    if isinstance(check, UniqueCheck):
        columns = ", ".join(sql.name(c) for c in check.columns)
        present = " AND ".join(f"{sql.name(c)} IS NOT NULL" for c in check.columns)
        return (
            f"SELECT {columns}, count(*) AS {sql.name('rows')} FROM {relation} WHERE {present} "
            f"GROUP BY {columns} HAVING count(*) > 1"
        )
    if isinstance(check, AcceptedValuesCheck):
        values = ", ".join(_literal(v, sql.dialect) for v in check.values)
        return f"SELECT * FROM {relation} WHERE {sql.name(check.column)} NOT IN ({values})"
    if isinstance(check, RelationshipsCheck):
        column, field = sql.name(check.column), sql.name(check.field)
        return (
            f"SELECT * FROM {relation} WHERE {CHECKED}.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {_table_of(check.to, sql)} AS _dwh_parent "
            f"WHERE _dwh_parent.{field} = {CHECKED}.{column})"
        )
    if isinstance(check, ExpressionCheck):
        return f"SELECT * FROM {relation} WHERE NOT ({check.expression})"
    if isinstance(check, SqlCheck):
        return _user_query(check, sql, dataset, table)
    return None


def count_query(query: str) -> str:
    """How many rows ``query`` returns."""
    return f"SELECT count(*) FROM ({query}) AS _dwh_failing"


def sample_query(query: str, limit: int) -> str:
    """The first ``limit`` rows ``query`` returns."""
    return f"SELECT * FROM ({query}) AS _dwh_failing LIMIT {limit}"


def row_count_query(sql: Statements, dataset: str, table: str, where: str | None) -> str:
    """The checked rows' count."""
    return f"SELECT count(*) FROM {checked_relation(sql, dataset, table, where)}"

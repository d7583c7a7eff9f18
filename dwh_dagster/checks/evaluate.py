"""Evaluating checks inside a destination, over the session the step already holds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from dwh_dagster.checks.queries import count_query, failing_rows_query, row_count_query, sample_query
from dwh_dagster.config.models.checks import AnyCheck, RowCountCheck, SchemaCheck, check_name
from dwh_dagster.transform.sessions import SqlSession
from dwh_dagster.transform.statements import Statements

SAMPLE_ROWS = 10
"""Failing rows shown with a failed check."""


@dataclass(frozen=True)
class CheckPlan:
    """One check of one table: what runs, and whether a failure blocks (plain data)."""

    name: str
    check: AnyCheck

    @property
    def blocking(self) -> bool:
        """``severity: error``."""
        return self.check.severity == "error"


@dataclass(frozen=True)
class TableChecks:
    """The checks of one table to run now."""

    asset_key: dg.AssetKey
    dataset: str
    table: str
    plans: tuple[CheckPlan, ...]


def check_plans(checks: Sequence[AnyCheck]) -> tuple[CheckPlan, ...]:
    """The plans of a table's checks."""
    return tuple(CheckPlan(check_name(c), c) for c in checks)


@dataclass
class CheckOutcome:
    """What a check found."""

    plan: CheckPlan
    passed: bool
    failing_rows: int | None = None
    detail: str = ""
    sample_columns: list[str] = field(default_factory=list)
    sample: list[tuple[Any, ...]] = field(default_factory=list)
    sql: str = ""

    @property
    def blocks(self) -> bool:
        """A failed blocking check: what is built from the table is not built."""
        return not self.passed and self.plan.blocking

    def describe(self) -> str:
        """``not_null_id: failed, 3 failing rows``, for logs."""
        state = "passed" if self.passed else ("failed" if self.plan.blocking else "warning")
        count = f", {self.failing_rows} failing rows" if self.failing_rows else ""
        return f"check {self.plan.name}: {state}{count}{f' ({self.detail})' if self.detail else ''}"


_PARAMS = re.compile(r"\(.*\)$")
_TYPE_ALIASES = {
    "varchar": "text",
    "character varying": "text",
    "string": "text",
    "char": "text",
    "character": "text",
    "int8": "bigint",
    "int64": "bigint",
    "long": "bigint",
    "int": "integer",
    "int4": "integer",
    "int32": "integer",
    "float8": "double",
    "double precision": "double",
    "float64": "double",
    "float4": "real",
    "float": "double",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "numeric": "decimal",
}


def normalize_type(name: str) -> str:
    """A type name compared loosely: lower case, without length or precision, aliases merged."""
    base = _PARAMS.sub("", name.strip().lower()).strip()
    return _TYPE_ALIASES.get(base, base)


def evaluate_check(
    session: SqlSession, sql: Statements, dataset: str, table: str, plan: CheckPlan
) -> CheckOutcome:
    """Run one check of ``dataset.table``; a query that fails is a failed check with its message."""
    check = plan.check
    try:
        if isinstance(check, RowCountCheck):
            query = row_count_query(sql, dataset, table, check.where)
            rows = session.query(query)
            count = int(rows[0][0]) if rows else 0
            low = check.min if check.min is not None else 0
            passed = count >= low and (check.max is None or count <= check.max)
            if check.max is None:
                bounds = f"at least {low}"
            elif check.min is None:
                bounds = f"at most {check.max}"
            else:
                bounds = f"{low} to {check.max}"
            return CheckOutcome(plan, passed, None, f"{count} rows, expected {bounds}", sql=query)
        if isinstance(check, SchemaCheck):
            query = sql.columns(dataset, table)
            found = {str(n).lower(): str(t) for n, t in session.query(query)}
            problems = []
            for column, expected in check.columns.items():
                actual = found.get(column.lower())
                if actual is None:
                    problems.append(f"{column} missing")
                elif normalize_type(actual) != normalize_type(expected):
                    problems.append(f"{column} is {actual}, expected {expected}")
            return CheckOutcome(plan, not problems, len(problems) or None, "; ".join(problems), sql=query)
        failing_query = failing_rows_query(check, sql, dataset, table)
        assert failing_query is not None
        rows = session.query(count_query(failing_query))
        failing = int(rows[0][0]) if rows else 0
        if failing == 0:
            return CheckOutcome(plan, True, 0, sql=failing_query)
        columns, sample = session.query_with_columns(sample_query(failing_query, SAMPLE_ROWS))
        return CheckOutcome(plan, False, failing, "", columns, sample, sql=failing_query)
    except Exception as exc:  # the database's message: a missing column, a bad condition
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckOutcome(plan, False, None, f"the check's query failed: {message}")


def _markdown_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")[:80]

    head = "| " + " | ".join(cell(c) for c in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    return "\n".join([head, rule, *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)])


def check_result(outcome: CheckOutcome, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """The Dagster result of one check: failing row count, a sample of failing rows, the SQL."""
    metadata: dict[str, Any] = {}
    if outcome.failing_rows is not None:
        metadata["dwh/failing_rows"] = outcome.failing_rows
    if outcome.detail:
        metadata["dwh/detail"] = outcome.detail
    if outcome.sample:
        metadata["dwh/failing_sample"] = dg.MetadataValue.md(
            _markdown_rows(outcome.sample_columns, outcome.sample)
        )
    if outcome.sql:
        metadata["dwh/sql"] = dg.MetadataValue.md(f"```sql\n{outcome.sql}\n```")
    return dg.AssetCheckResult(
        check_name=outcome.plan.name,
        asset_key=asset_key,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.plan.blocking else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def check_specs(asset_key: dg.AssetKey, plans: Sequence[CheckPlan]) -> list[dg.AssetCheckSpec]:
    """One Dagster asset check per check; ``error`` checks are blocking."""
    return [
        dg.AssetCheckSpec(
            name=plan.name,
            asset=asset_key,
            description=plan.check.description or f"{plan.check.type} check",
            blocking=plan.blocking,
            metadata={"dwh/check_type": plan.check.type, "dwh/severity": plan.check.severity},
        )
        for plan in plans
    ]

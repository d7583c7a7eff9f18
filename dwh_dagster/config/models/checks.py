"""``checks:``: data-quality checks on a loaded table or a SQL model, each one Dagster asset check.

Every check is a query for the rows that break it, run inside the destination right after the
table is materialized: no rows, the check passes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dwh_dagster.config.models.base import Name, StrictModel

Severity = Literal["error", "warn"]
CHECK_TYPES: tuple[str, ...] = (
    "not_null",
    "unique",
    "accepted_values",
    "row_count",
    "relationships",
    "expression",
    "sql",
    "schema",
)


class CheckBase(StrictModel):
    """Fields every check has."""

    name: Name | None = Field(
        default=None,
        description="The check's name, unique per table; derived from its type and columns when "
        "omitted (`not_null_id_title`).",
    )
    severity: Severity = Field(
        default="error",
        description="`error`: a failure fails the step and blocks what is built from the table; "
        "`warn`: shown as a warning, blocks nothing.",
    )
    description: str | None = Field(default=None, description="What the check guards.")
    where: str | None = Field(
        default=None, description="A SQL condition: only rows matching it are checked (`state = 'open'`)."
    )


class NotNullCheck(CheckBase):
    """No null in any of ``columns``."""

    type: Literal["not_null"] = Field(description="`not_null`: the columns never hold null.")
    columns: list[str] = Field(min_length=1, description="Columns that must not be null.")


class UniqueCheck(CheckBase):
    """No two rows share the values of ``columns``."""

    type: Literal["unique"] = Field(description="`unique`: the columns together identify a row.")
    columns: list[str] = Field(min_length=1, description="Columns whose values are unique together.")


class AcceptedValuesCheck(CheckBase):
    """``column`` only holds one of ``values`` (nulls pass: add a not_null check for them)."""

    type: Literal["accepted_values"] = Field(description="`accepted_values`: a closed set of values.")
    column: str = Field(description="The column checked.")
    values: list[str | int | float | bool] = Field(min_length=1, description="The values allowed.")


class RowCountCheck(CheckBase):
    """The table's row count lies between ``min`` and ``max``."""

    type: Literal["row_count"] = Field(description="`row_count`: the number of rows is in range.")
    min: int | None = Field(default=None, ge=0, description="Fewest rows allowed.")
    max: int | None = Field(default=None, ge=0, description="Most rows allowed.")


class RelationshipsCheck(CheckBase):
    """Every non-null ``column`` value exists as ``field`` of the table ``to``."""

    type: Literal["relationships"] = Field(description="`relationships`: a foreign key.")
    column: str = Field(description="The referencing column of this table.")
    to: str = Field(description="The referenced table, `<dataset>.<table>`.")
    field: str = Field(description="The referenced column of `to`.")


class ExpressionCheck(CheckBase):
    """A SQL boolean that every row satisfies (a row where it is null passes)."""

    type: Literal["expression"] = Field(description="`expression`: a condition true for every row.")
    expression: str = Field(description="A SQL boolean over the row's columns (`comments >= 0`).")


class SqlCheck(CheckBase):
    """A query returning the rows that break the rule; `{table}` names the checked table."""

    type: Literal["sql"] = Field(description="`sql`: a query for the failing rows.")
    name: Name = Field(description="The check's name, unique per table (required for `sql`).")
    sql: str = Field(
        description="A select returning the failing rows; `{table}` is the checked table. Up to 10 "
        "of them are shown."
    )


class SchemaCheck(CheckBase):
    """The columns exist, each with its type."""

    type: Literal["schema"] = Field(description="`schema`: columns present, with their types.")
    columns: dict[str, str] = Field(
        min_length=1,
        description="Column -> type as the destination names it (`bigint`, `text`, `varchar`); "
        "compared case-insensitively, length and precision ignored.",
    )


Check = Annotated[
    NotNullCheck
    | UniqueCheck
    | AcceptedValuesCheck
    | RowCountCheck
    | RelationshipsCheck
    | ExpressionCheck
    | SqlCheck
    | SchemaCheck,
    Field(discriminator="type"),
]
"""One check of a table."""

AnyCheck = (
    NotNullCheck
    | UniqueCheck
    | AcceptedValuesCheck
    | RowCountCheck
    | RelationshipsCheck
    | ExpressionCheck
    | SqlCheck
    | SchemaCheck
)


def check_name(check: AnyCheck) -> str:
    """The check's name: its own, else ``<type>_<columns>``."""
    if check.name:
        return check.name
    if isinstance(check, NotNullCheck | UniqueCheck):
        return "_".join([check.type, *check.columns])
    if isinstance(check, AcceptedValuesCheck):
        return f"accepted_values_{check.column}"
    if isinstance(check, RelationshipsCheck):
        return f"relationships_{check.column}"
    return check.type


def checks_field(description: str) -> list[Check]:
    """The ``checks:`` field of a transformation."""
    return Field(default_factory=list, description=description)

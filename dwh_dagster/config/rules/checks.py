"""Rules of ``checks:``: on a table this project writes, into a destination that runs SQL, with
unique names, parseable conditions and a ``relationships`` target that exists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.lineage import TableLineage, sql_transformations, table_lineage
from dwh_dagster.config.models.checks import (
    AcceptedValuesCheck,
    AnyCheck,
    ExpressionCheck,
    NotNullCheck,
    RelationshipsCheck,
    RowCountCheck,
    SchemaCheck,
    SqlCheck,
    UniqueCheck,
    check_name,
)
from dwh_dagster.config.models.partitions import PARTITION_COLUMN
from dwh_dagster.config.rules.transformations import incomplete_index
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION, analyze_select, check_condition, output_columns

FieldPath = tuple[str | int, ...]


def _check_list(
    obj: LoadedObject[Any],
    at: FieldPath,
    checks: Sequence[AnyCheck],
    dialect: str,
    destination: str,
    lineage: TableLineage,
    errors: list[ConfigError],
    incomplete: bool = False,
) -> None:
    seen: dict[str, int] = {}
    for position, check in enumerate(checks):
        here = (*at, position)
        name = check_name(check)
        if name in seen:
            errors.append(
                obj.error(
                    (*here, "name") if check.name else (*here, "type"),
                    f"two checks of this table are named '{name}' (the other is check {seen[name] + 1})",
                    "give one of them its own 'name:'",
                )
            )
        seen.setdefault(name, position)
        if check.where:
            problem = check_condition(check.where, dialect)
            if problem is not None:
                errors.append(obj.error((*here, "where"), problem.message, "write a SQL condition"))
        if isinstance(check, ExpressionCheck):
            problem = check_condition(check.expression, dialect)
            if problem is not None:
                errors.append(obj.error((*here, "expression"), problem.message, "write a SQL boolean"))
        if isinstance(check, SqlCheck):
            analysis = analyze_select(check.sql.replace("{table}", "_dwh_tbl"), dialect)
            if analysis.problem is not None:
                errors.append(
                    obj.error(
                        (*here, "sql"), analysis.problem.message, "write one select of the failing rows"
                    )
                )
        low, high = (check.min, check.max) if isinstance(check, RowCountCheck) else (None, None)
        if low is not None and high is not None and low > high:
            errors.append(
                obj.error((*here, "max"), f"max {high} is below min {low}", "make max at least min")
            )
        if isinstance(check, RelationshipsCheck):
            parts = check.to.split(".")
            if len(parts) != 2 or not all(parts):
                errors.append(
                    obj.error(
                        (*here, "to"),
                        f"'{check.to}' is not a <dataset>.<table> name",
                        "as in SQL: 'github.users'",
                    )
                )
                continue
            producer = lineage.producer_of(*parts)
            if producer is None and incomplete:
                continue  # perhaps the table of a file that did not load (its error is reported)
            if producer is None or producer.destination != destination:
                names = [
                    f"{p.dataset}.{p.table}"
                    for p in lineage.producers.values()
                    if p.destination == destination
                ]
                hint = (
                    did_you_mean(check.to, names)
                    or "name a table this project loads or builds in this destination"
                )
                errors.append(
                    obj.error((*here, "to"), f"table '{check.to}' is not written by this project", hint)
                )


def _columns_named(check: AnyCheck) -> list[tuple[FieldPath, str]]:
    """The columns a check names, each with its field path inside the check."""
    if isinstance(check, NotNullCheck | UniqueCheck):
        return [(("columns", i), c) for i, c in enumerate(check.columns)]
    if isinstance(check, AcceptedValuesCheck | RelationshipsCheck):
        return [(("column",), check.column)]
    if isinstance(check, SchemaCheck):
        return [(("columns", c), c) for c in check.columns]
    return []


def _check_columns_exist(
    obj: LoadedObject[Any], checks: Sequence[AnyCheck], columns: list[str], errors: list[ConfigError]
) -> None:
    """Columns a model's select shows it does not return."""
    known = {c.lower() for c in columns}
    for position, check in enumerate(checks):
        for path, column in _columns_named(check):
            if column.lower() in known:
                continue
            hint = did_you_mean(column, columns) or f"the model's columns: {list_choices(columns)}"
            errors.append(
                obj.error(
                    ("checks", position, *path),
                    f"column '{column}' is not one the model's select returns",
                    hint,
                    at_key=isinstance(check, SchemaCheck),
                )
            )


def _dialect(
    index: ProjectIndex,
    obj: LoadedObject[Any],
    destination: str | None,
    errors: list[ConfigError],
    at: FieldPath,
) -> str | None:
    if destination is None:
        return None
    kind = index.destinations.objects[destination].model.type
    dialect = DIALECT_BY_DESTINATION.get(kind)
    if dialect is None:
        errors.append(
            obj.error(
                at,
                f"destination '{destination}' is a {kind} destination: checks run SQL, which it cannot",
                f"checks need a destination of type {list_choices(DIALECT_BY_DESTINATION)}",
            )
        )
    return dialect


def check_checks(index: ProjectIndex) -> list[ConfigError]:
    """The checks of every pipeline table and SQL model."""
    errors: list[ConfigError] = []
    lineage = table_lineage(index)
    for obj in index.pipelines:
        pipeline = obj.model
        if not pipeline.checks:
            continue
        source = index.sources.model(pipeline.source.config_file)
        destination = index.destinations.lookup(pipeline.destination.config_file)
        dialect = _dialect(index, obj, destination, errors, ("checks",))
        if source is None:
            continue
        loaded = pipeline.source.resources or source.resource_names()
        for resource, checks in pipeline.checks.items():
            if resource not in loaded:
                hint = did_you_mean(resource, loaded) or f"tables this pipeline loads: {list_choices(loaded)}"
                errors.append(
                    obj.error(
                        ("checks", resource),
                        f"'{resource}' is not a table this pipeline loads",
                        hint,
                        at_key=True,
                    )
                )
                continue
            if dialect is not None and destination is not None:
                _check_list(
                    obj,
                    ("checks", resource),
                    checks,
                    dialect,
                    destination,
                    lineage,
                    errors,
                    incomplete_index(index),
                )
    for tobj in sql_transformations(index):
        model = tobj.model
        if not model.checks:
            continue
        destination = index.destinations.lookup(model.destination)
        dialect = (
            DIALECT_BY_DESTINATION.get(index.destinations.objects[destination].model.type)
            if destination
            else None
        )
        if dialect is not None and destination is not None:
            _check_list(
                tobj,
                ("checks",),
                model.checks,
                dialect,
                destination,
                lineage,
                errors,
                incomplete_index(index),
            )
            text = lineage.sql.get(tobj.name)
            columns = output_columns(text.text, dialect) if text is not None else None
            if columns:
                if model.partitions is not None:  # each row's partition key, added by the build
                    columns = [*columns, PARTITION_COLUMN]
                _check_columns_exist(tobj, model.checks, columns, errors)
    return errors

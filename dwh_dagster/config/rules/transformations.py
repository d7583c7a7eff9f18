"""Rules of transformations: their SQL, destination, dataset, the tables they read, one writer
per table, and no cycle."""

from __future__ import annotations

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.lineage import TableLineage, sql_transformations, table_lineage, upstream_of
from dwh_dagster.config.models.transformations import SqlTransformation
from dwh_dagster.config.ordering import find_cycles
from dwh_dagster.config.paths import sql_file_escape
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION, SqlText, TableRead, check_condition


def _sql_error(text: SqlText, line: int, column: int, message: str, hint: str = "") -> ConfigError:
    file_line, file_column = text.locate(line, column)
    return ConfigError(text.file, message, file_line, file_column, text.field, hint)


def _check_sql_source(
    index: ProjectIndex,
    obj: LoadedObject[SqlTransformation],
    lineage: TableLineage,
    errors: list[ConfigError],
) -> None:
    model = obj.model
    if model.sql is not None and model.sql_file is not None:
        errors.append(obj.error(("sql_file",), "both sql and sql_file are given", "keep one of them"))
    elif model.sql is None and model.sql_file is None:
        errors.append(
            obj.error((), "missing sql", "add 'sql:' with a select, or 'sql_file:' naming a .sql file")
        )
    elif model.sql_file is not None and sql_file_escape(model.sql_file, index.root):
        pass  # check_paths reports it
    elif model.sql_file is not None and obj.name not in lineage.sql:
        path = index.root / model.sql_file
        problem = "is not a file" if path.exists() else "does not exist"
        if path.is_file():
            problem = "is not UTF-8 text"
        errors.append(
            obj.error(
                ("sql_file",),
                f"sql_file '{model.sql_file}' {problem} (looked for {path})",
                f"paths are relative to {index.root.name}/",
            )
        )
    elif obj.name in lineage.sql and not lineage.sql[obj.name].text.strip():
        errors.append(obj.error(("sql_file",) if model.sql_file else ("sql",), "the SQL is empty"))


def _check_destination(
    index: ProjectIndex, obj: LoadedObject[SqlTransformation], errors: list[ConfigError]
) -> str | None:
    """The destination's name when it resolves and can run SQL."""
    name = index.destinations.resolve(obj.model.destination, obj, ("destination",), errors)
    if name is None:
        return None
    destination = index.destinations.objects[name].model
    if destination.type not in DIALECT_BY_DESTINATION:
        errors.append(
            obj.error(
                ("destination",),
                f"destination '{name}' is a {destination.type} destination, which cannot run SQL",
                f"use a destination of type {list_choices(DIALECT_BY_DESTINATION)}",
            )
        )
        return None
    if obj.model.dataset_name is None and destination.settings.schema_name is None:
        errors.append(
            obj.error(
                ("destination",),
                "missing dataset_name",
                f"add 'dataset_name:' (destination '{name}' has no settings.schema to fall back on)",
            )
        )
    return name


def _check_incremental_fields(
    obj: LoadedObject[SqlTransformation], dialect: str | None, errors: list[ConfigError]
) -> None:
    model = obj.model
    for field_name in ("unique_key", "incremental_filter"):
        if getattr(model, field_name) is not None and model.materialized != "incremental":
            errors.append(
                obj.error(
                    (field_name,),
                    f"{field_name} only applies to incremental models, this one is '{model.materialized}'",
                    f"set materialized: incremental or remove {field_name}",
                    at_key=True,
                )
            )
    if model.incremental_filter is not None and dialect is not None:
        problem = check_condition(model.incremental_filter, dialect)
        if problem is not None:
            errors.append(obj.error(("incremental_filter",), problem.message, "write one SQL condition"))
    if model.unique_key is not None and len(set(model.unique_key)) != len(model.unique_key):
        errors.append(obj.error(("unique_key",), "a column is listed twice", "remove the repeat"))


def _external_tables(
    obj: LoadedObject[SqlTransformation], lineage: TableLineage, errors: list[ConfigError]
) -> set[tuple[str, str]]:
    """The declared external tables as lower-case ``(dataset, table)`` keys."""
    declared: set[tuple[str, str]] = set()
    for position, entry in enumerate(obj.model.external_tables):
        parts = entry.split(".")
        if len(parts) != 2 or not all(parts):
            errors.append(
                obj.error(
                    ("external_tables", position),
                    f"'{entry}' is not a <dataset>.<table> name",
                    "write it as in the SQL, for example 'raw.orders'",
                )
            )
            continue
        producer = lineage.producer_of(*parts)
        if producer is not None:
            errors.append(
                obj.error(
                    ("external_tables", position),
                    f"'{entry}' is not external: {producer.describe()} produces it",
                    "remove it from external_tables",
                )
            )
            continue
        declared.add((parts[0].lower(), parts[1].lower()))
    return declared


def _near_tables(read: TableRead, lineage: TableLineage, destination: str) -> str:
    names = [f"{p.dataset}.{p.table}" for p in lineage.producers.values() if p.destination == destination]
    hint = did_you_mean(read.qualified, names)
    if not hint:
        same_table = sorted(n for n in names if n.split(".")[1].lower() == read.table.lower())
        hint = f"did you mean {list_choices(same_table)}?" if same_table else ""
    fix = "or list it under external_tables if another tool writes it"
    return f"{hint} {fix}" if hint else f"check the dataset and table name, {fix}"


def _check_reads(
    obj: LoadedObject[SqlTransformation],
    lineage: TableLineage,
    destination: str,
    external: set[tuple[str, str]],
    errors: list[ConfigError],
    incomplete: bool = False,
) -> list[str]:
    """Report every table the SQL reads that cannot be a dependency; returns upstream transformations.

    ``incomplete``: a file that could produce tables did not load, so a table nothing produces
    may be that file's (its own error is reported): not an error here.
    """
    text = lineage.sql[obj.name]
    analysis = lineage.analyses[obj.name]
    model = obj.model
    if analysis.problem is not None:
        problem = analysis.problem
        errors.append(
            _sql_error(text, problem.line, problem.column, problem.message, "write one select statement")
        )
        return []
    upstream: list[str] = []
    for read in analysis.reads:
        if read.is_this and model.materialized != "incremental":
            errors.append(
                _sql_error(
                    text,
                    read.line,
                    read.column,
                    f"{{this}} is the model's own table, which a '{model.materialized}' model cannot read",
                    "set materialized: incremental or read another table",
                )
            )
    for read, producer in upstream_of(lineage, obj.name):
        if not read.dataset:
            candidates = sorted(
                f"{p.dataset}.{p.table}"
                for p in lineage.producers.values()
                if p.table.lower() == read.table.lower()
            )
            hint = f"write {list_choices(candidates)}" if candidates else "write <dataset>.<table>"
            errors.append(
                _sql_error(text, read.line, read.column, f"table '{read.table}' has no dataset", hint)
            )
        elif producer is None:
            if (read.dataset.lower(), read.table.lower()) in external or incomplete:
                continue
            errors.append(
                _sql_error(
                    text,
                    read.line,
                    read.column,
                    f"unknown table '{read.qualified}': no pipeline or transformation produces it",
                    _near_tables(read, lineage, destination),
                )
            )
        elif producer.kind == "transformation" and producer.name == obj.name:
            if model.materialized != "incremental":
                errors.append(
                    _sql_error(
                        text,
                        read.line,
                        read.column,
                        f"the model reads its own table '{read.qualified}'",
                        "only incremental models may read themselves, as {this}",
                    )
                )
        elif producer.destination != destination:
            errors.append(
                _sql_error(
                    text,
                    read.line,
                    read.column,
                    f"table '{read.qualified}' is in destination '{producer.destination}', "
                    f"this model runs in '{destination}'",
                    "a model reads tables of its own destination; load the table there too",
                )
            )
        elif producer.kind == "transformation":
            upstream.append(producer.name)
    return upstream


def incomplete_index(index: ProjectIndex) -> bool:
    """Whether a file that could produce tables (a source, pipeline or transformation) did not load."""
    return index.sources.failed or index.pipelines.failed or index.transformations.failed


def check_transformations(index: ProjectIndex) -> list[ConfigError]:
    """SQL, destination, dataset, incremental fields and reads of every transformation; one writer
    per table; no cycle between transformations."""
    errors: list[ConfigError] = []
    lineage = table_lineage(index)
    graph: dict[str, list[str]] = {}
    for obj in sql_transformations(index):
        _check_sql_source(index, obj, lineage, errors)
        destination = _check_destination(index, obj, errors)
        dialect = (
            DIALECT_BY_DESTINATION[index.destinations.objects[destination].model.type]
            if destination
            else None
        )
        _check_incremental_fields(obj, dialect, errors)
        external = _external_tables(obj, lineage, errors)
        has_sql = obj.name in lineage.sql and lineage.sql[obj.name].text.strip()
        if destination is not None and obj.name in lineage.analyses and has_sql:
            graph[obj.name] = sorted(
                set(_check_reads(obj, lineage, destination, external, errors, incomplete_index(index)))
            )
    for producer, first in lineage.duplicates:
        if producer.kind != "transformation":
            continue  # two pipelines loading one table: the pipeline rules report it
        errors.append(
            index.transformations.objects[producer.name].error(
                ("name",),
                f"table '{producer.dataset}.{producer.table}' is also written by {first.describe()}",
                "each table has one writer; rename the model or use another dataset_name",
            )
        )
    for cycle in find_cycles(graph):
        text = lineage.sql[cycle[0]]
        line, column = next(
            (
                (read.line, read.column)
                for read, producer in upstream_of(lineage, cycle[0])
                if producer is not None and producer.name == cycle[1]
            ),
            (1, 1),
        )
        errors.append(
            _sql_error(
                text,
                line,
                column,
                f"transformations read each other in a cycle: {' -> '.join(cycle)}",
                "remove one of these reads",
            )
        )
    return errors

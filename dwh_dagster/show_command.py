"""``dwh show TABLE [--limit N]``: the first rows of a loaded table or a model, with its row count
and column types, read in its destination (DuckDB read-only; other destinations through their dlt
SQL client, with the secrets of this environment).

TABLE is what ``--select`` takes for one table: a model name, a table name that one pipeline
loads, ``dataset/table`` or ``dataset.table``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dwh_dagster.config.errors import did_you_mean
from dwh_dagster.config.models.destinations import DestinationModel, DuckDbDestination
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.config.secrets import SecretResolver
from dwh_dagster.config.sql import DIALECT_BY_DESTINATION
from dwh_dagster.selection import asset_names

MAX_WIDTH = 40
"""Characters of a value shown in a cell; longer ones end with ``...``."""


class ShowError(ValueError):
    """A table the project does not have, or one that cannot be read."""


def find_table(project: ResolvedProject, name: str) -> tuple[str, str, DestinationModel]:
    """``(dataset, table, destination)`` of the table ``name`` names."""
    names = asset_names(project)
    key = names.get(name.replace(".", "/", 1) if "/" not in name else name) or names.get(name)
    dataset, _, table = name.replace(".", "/", 1).partition("/")
    for pipeline in project.pipelines.values():  # a nested table of dlt's: orders__items
        nested = any(table.startswith(f"{resource}__") for resource in pipeline.resources)
        if key is None and pipeline.dataset == dataset and nested:
            return dataset, table, pipeline.destination
    if key is None:
        hint = did_you_mean(name, sorted(names))
        raise ShowError(f"'{name}' is not a table or model of this project" + (f"; {hint}" if hint else ""))
    dataset, table = key.split("/", 1)
    for pipeline in project.pipelines.values():
        if pipeline.dataset == dataset and table in pipeline.resources:
            return dataset, table, pipeline.destination
    for model in project.transformations.values():
        if (model.dataset, model.name) == (dataset, table):
            return dataset, table, model.destination
    for dbt in project.dbt_projects.values():
        if (dataset, table) in {tuple(k) for k in dbt.asset_keys}:
            return dataset, table, dbt.destination
    raise ShowError(f"'{name}' ({key}) is not written to a destination of this project")


@contextmanager
def _query(project: ResolvedProject, destination: DestinationModel) -> Iterator[Any]:
    """A function ``sql -> (column names, rows)`` on the destination."""
    if isinstance(destination, DuckDbDestination):
        import duckdb

        path = Path(project.local_path(destination.connection.database))
        if not path.exists():
            raise ShowError(f"{path} does not exist yet: run a job that loads it")
        try:
            connection = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            raise ShowError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None

        def run(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor = connection.execute(sql)
            rows = cursor.fetchall()
            return [str(d[0]) for d in cursor.description or []], rows

        try:
            yield run
        finally:
            connection.close()
        return
    from dwh_dagster.ingestion.dlt_sources import BuildContext
    from dwh_dagster.transform.sessions import open_session

    ctx = BuildContext(
        resolve=SecretResolver(project.secrets, project.environment).resolve, local_path=project.local_path
    )
    with open_session(destination, ctx) as session:
        yield session.query_with_columns


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_WIDTH else text[: MAX_WIDTH - 3] + "..."


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Rows as aligned text lines under a header."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return lines


def show_table(project: ResolvedProject, name: str, limit: int = 10) -> list[str]:
    """What ``dwh show`` prints: the table, its row count and column types, its first rows."""
    from sqlglot import exp

    dataset, table, destination = find_table(project, name)
    dialect = DIALECT_BY_DESTINATION.get(destination.type)
    if dialect is None:
        raise ShowError(
            f"'{name}' is in {destination.type} destination '{destination.name}', which has no SQL"
        )
    qualified = exp.table_(table, db=dataset, quoted=True).sql(dialect=dialect)
    with _query(project, destination) as query:
        try:
            _, counted = query(f"SELECT count(*) FROM {qualified}")
            columns, rows = query(f"SELECT * FROM {qualified} LIMIT {int(limit)}")
        except Exception as exc:  # the database's message: a table not loaded yet, most often
            raise ShowError(
                f"cannot read {dataset}.{table} in '{destination.name}': {str(exc).splitlines()[0]}"
            ) from None
        _, described = query(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{dataset}' AND table_name = '{table}' ORDER BY ordinal_position"
        )
    total = int(counted[0][0]) if counted else 0
    types = ", ".join(f"{c} {t}" for c, t in described)
    lines = [
        f"{dataset}.{table} in {destination.type} destination '{destination.name}': {total:,} rows",
        f"columns: {types}",
        "",
        *render_rows(columns, rows),
    ]
    if total > len(rows):
        lines.append(f"({len(rows)} of {total:,} rows; --limit N shows more)")
    return lines

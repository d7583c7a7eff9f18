"""The table graph of a project: which pipeline or transformation produces each table, and what
each transformation's SQL reads.

:func:`table_lineage` computes it once per index (SQL is parsed once per load, whoever asks): the
transformation rules report its problems, and resolution turns its reads into asset dependencies.
Table names compare case-insensitively, as dlt's naming convention writes them in lower case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dwh_dagster.config.dbt_project import (
    DbtManifest,
    DbtProjectError,
    load_manifest_json,
    read_project_file,
    summarize_manifest,
)
from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.transformations import DbtTransformation, SqlTransformation
from dwh_dagster.config.paths import sql_file_escape
from dwh_dagster.config.sql import (
    DIALECT_BY_DESTINATION,
    SelectAnalysis,
    SqlText,
    TableRead,
    analyze_select,
)

CHILD_TABLE_SEPARATOR = "__"
"""dlt names a nested list's table ``<parent>__<field>``."""


@dataclass(frozen=True)
class Producer:
    """What writes one table: a pipeline's resource or a transformation."""

    kind: str  # "pipeline", "transformation" (SQL) or "dbt"
    name: str
    destination: str
    dataset: str
    table: str
    """The table as the producer names it: the resource or the transformation."""

    def describe(self) -> str:
        """``pipeline 'p'`` / ``transformation 't'`` / ``dbt transformation 'marts'``."""
        if self.kind == "dbt":
            return f"dbt transformation '{self.name}'"
        return f"{self.kind} '{self.name}'"


@dataclass(frozen=True)
class DbtView:
    """A dbt project as read at load: its folder, ``dbt_project.yml`` and manifest."""

    project_dir: Path
    project_file: dict[str, Any]
    manifest_path: Path
    manifest: DbtManifest


@dataclass
class TableLineage:
    """Producers of every table and the analysed SQL of every transformation."""

    producers: dict[tuple[str, str], Producer] = field(default_factory=dict)
    """By ``(dataset, table)`` in lower case; the first producer of a table (others are errors)."""
    duplicates: list[tuple[Producer, Producer]] = field(default_factory=list)
    """Second producers of a table, with the first."""
    sql: dict[str, SqlText] = field(default_factory=dict)
    """The SQL of each transformation that has readable SQL."""
    analyses: dict[str, SelectAnalysis] = field(default_factory=dict)
    """What each transformation's SQL reads (SQL-capable destinations only)."""
    datasets: dict[str, str] = field(default_factory=dict)
    """The dataset each transformation writes (a dbt project: its profile's schema), where known."""
    dbt: dict[str, DbtView] = field(default_factory=dict)
    """Each dbt transformation whose project and manifest could be read."""
    dbt_failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Each dbt transformation whose project or manifest could not be: (field, message)."""

    def producer_of(self, dataset: str, table: str) -> Producer | None:
        """The producer of ``dataset.table``; a dlt child table (``issues__labels``) is its parent's."""
        key = (dataset.lower(), table.lower())
        found = self.producers.get(key)
        if found is not None:
            return found
        parent = table.lower()
        while CHILD_TABLE_SEPARATOR in parent:
            parent = parent.rsplit(CHILD_TABLE_SEPARATOR, 1)[0]
            found = self.producers.get((dataset.lower(), parent))
            if found is not None and found.kind == "pipeline":
                return found
        return None


def sql_transformations(index: ProjectIndex) -> Iterator[LoadedObject[SqlTransformation]]:
    """The SQL models of ``index`` (``type: sql``)."""
    for obj in index.transformations:
        if isinstance(obj.model, SqlTransformation):
            yield cast("LoadedObject[SqlTransformation]", obj)


def dbt_transformations(index: ProjectIndex) -> Iterator[LoadedObject[DbtTransformation]]:
    """The dbt projects of ``index`` (``type: dbt``)."""
    for obj in index.transformations:
        if isinstance(obj.model, DbtTransformation):
            yield cast("LoadedObject[DbtTransformation]", obj)


def _block_anchors(
    file_lines: list[str], line: int, column: int, text: str
) -> tuple[tuple[int, int, int], ...] | None:
    """For a ``|`` or ``>`` block scalar whose indicator stands at ``line:column``: where each of
    its content lines starts in ``text`` (the scalar's value) and in the file; None for a scalar
    written inline."""
    if line > len(file_lines):
        return None
    rest = file_lines[line - 1][column - 1 :].lstrip()
    if not rest.startswith(("|", ">")):
        return None
    anchors: list[tuple[int, int, int]] = []
    indent: int | None = None
    offset = 0
    for number in range(line + 1, len(file_lines) + 1):
        content = file_lines[number - 1]
        if not content.strip():
            continue
        width = len(content) - len(content.lstrip())
        if indent is None:
            indent = width
        elif width < indent:
            break  # the block ended: the next key
        piece = content[indent:]
        found = text.find(piece, offset)
        if found < 0:
            break
        anchors.append((found, number, indent + 1))
        offset = found + len(piece)
    return tuple(anchors) or ((0, line + 1, 1),)


def _flow_anchors(
    file_lines: list[str], line: int, column: int, text: str
) -> tuple[tuple[int, int, int], ...]:
    """For a plain or quoted scalar starting at ``line:column``: where each of its file lines
    starts in ``text``. YAML folds such a scalar's lines into one, joined by spaces, so without
    these an error on its second line would be put on the first."""
    anchors = [(0, line, column)]
    if line > len(file_lines):
        return ()
    before = file_lines[line - 1][column - 2 : column - 1] if column > 1 else ""
    quote = before if before in ("'", '"') else ""
    offset = len(file_lines[line - 1][column - 1 :].rstrip())
    number = line
    while offset < len(text) and number < len(file_lines):
        number += 1
        content = file_lines[number - 1]
        piece = content.strip()
        if not piece:
            continue
        if quote and piece.endswith(quote):
            piece = piece[:-1]
        found = text.find(piece[:24], offset)
        if found < 0:
            break
        anchors.append((found, number, len(content) - len(content.lstrip()) + 1))
        offset = found + len(piece)
    return tuple(anchors) if len(anchors) > 1 else ()


def sql_text(index: ProjectIndex, obj: LoadedObject[SqlTransformation]) -> SqlText | None:
    """The SQL of a transformation (read from ``sql_file`` if it names one); None if unreadable."""
    model = obj.model
    if model.sql is not None:
        position = obj.doc.position(("transformation", "sql"))
        line, column = position or (1, 1)
        try:
            file_lines = obj.file.read_text(encoding="utf-8").splitlines()
        except OSError:
            file_lines = []
        anchors = _block_anchors(file_lines, line, column, model.sql)
        if anchors is not None:
            return SqlText(model.sql, obj.file, line + 1, anchors[0][2], "transformation.sql", True, anchors)
        if line <= len(file_lines) and file_lines[line - 1][column - 1 : column] in ("'", '"'):
            column += 1
        flow = _flow_anchors(file_lines, line, column, model.sql)
        return SqlText(model.sql, obj.file, line, column, "transformation.sql", True, flow)
    if model.sql_file is not None:
        if sql_file_escape(model.sql_file, index.root):
            return None  # never read: the paths rule reports it
        path = (index.root / model.sql_file).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return SqlText(text, path, 1, 1, "transformation.sql_file", in_yaml=False)
    return None


def _dataset(
    index: ProjectIndex, model: SqlTransformation | DbtTransformation, destination: str | None
) -> str | None:
    if model.dataset_name:
        return model.dataset_name
    if destination is None:
        return None
    return index.destinations.objects[destination].model.settings.schema_name


def _add(lineage: TableLineage, producer: Producer) -> None:
    key = (producer.dataset.lower(), producer.table.lower())
    first = lineage.producers.setdefault(key, producer)
    if first is not producer and first != producer:
        lineage.duplicates.append((producer, first))


def read_dbt_view(root: Path, model: DbtTransformation) -> DbtView:
    """The project and manifest a dbt transformation names; :class:`DbtProjectError` if unreadable."""
    project_dir = (root / model.project_dir).resolve()
    project_file = read_project_file(project_dir)
    manifest_path = project_dir / model.manifest
    manifest = summarize_manifest(load_manifest_json(manifest_path))
    return DbtView(project_dir, project_file, manifest_path, manifest)


def _add_dbt(
    index: ProjectIndex,
    lineage: TableLineage,
    name: str,
    model: DbtTransformation,
    destination: str | None,
    dataset: str | None,
) -> None:
    if dataset is not None:
        lineage.datasets[name] = dataset
    try:
        view = read_dbt_view(index.root, model)
    except DbtProjectError as exc:
        where = "manifest" if "manifest" in str(exc) else "project_dir"
        lineage.dbt_failures[name] = (where, str(exc))
        return
    lineage.dbt[name] = view
    if destination is None:
        return
    for node in view.manifest.nodes:
        if node.materialized != "ephemeral":
            _add(lineage, Producer("dbt", name, destination, node.schema, node.table))


def table_lineage(index: ProjectIndex) -> TableLineage:
    """The lineage of ``index``, computed on first use and kept with it."""
    cached = index.cache.get("table_lineage")
    if isinstance(cached, TableLineage):
        return cached
    lineage = TableLineage()
    for obj in index.pipelines:
        pipeline = obj.model
        source = index.sources.model(pipeline.source.config_file)
        destination = index.destinations.lookup(pipeline.destination.config_file)
        if source is None or destination is None:
            continue
        dataset = (
            pipeline.destination.dataset_name
            or index.destinations.objects[destination].model.settings.schema_name
        )
        if dataset is None:
            continue
        available = source.resource_names()
        chosen = pipeline.source.resources
        for resource in available if chosen is None else [r for r in chosen if r in available]:
            _add(lineage, Producer("pipeline", obj.name, destination, dataset, resource))
    for tobj in index.transformations:
        model = tobj.model
        destination = index.destinations.lookup(model.destination)
        dataset = _dataset(index, model, destination)
        if isinstance(model, DbtTransformation):
            _add_dbt(index, lineage, tobj.name, model, destination, dataset)
            continue
        if dataset is not None:
            lineage.datasets[tobj.name] = dataset
            if destination is not None:
                _add(lineage, Producer("transformation", tobj.name, destination, dataset, model.name))
        text = sql_text(index, cast("LoadedObject[SqlTransformation]", tobj))
        if text is None:
            continue
        lineage.sql[tobj.name] = text
        if destination is None:
            continue
        dialect = DIALECT_BY_DESTINATION.get(index.destinations.objects[destination].model.type)
        if dialect is not None:
            lineage.analyses[tobj.name] = analyze_select(text.text, dialect)
    index.cache["table_lineage"] = lineage
    return lineage


def upstream_of(lineage: TableLineage, name: str) -> list[tuple[TableRead, Producer | None]]:
    """Each table transformation ``name`` reads (its own ``{this}`` excluded), with its producer."""
    analysis = lineage.analyses.get(name)
    if analysis is None:
        return []
    return [
        (read, lineage.producer_of(read.dataset, read.table) if read.dataset else None)
        for read in analysis.reads
        if not read.is_this
    ]

"""Loading time windows: each record gets its partition key, only the window's records load, and
the window's rows in the table are replaced.

A partitioned table carries the column ``_dwh_partition`` (the Dagster partition key of each row,
``2024-01-31``). A partition run (or a single-run backfill of a range):

1. computes each record's key from its ``cursor_field`` (:class:`PartitionKeyStep`, on dict
   records and on Arrow tables alike);
2. keeps the records of the window with dlt's incremental on that column, bounded by
   ``initial_value`` and ``end_value`` (dlt keeps no state for a bounded incremental, so the
   pipeline's moving cursor is neither used nor moved);
3. writes them with dlt's ``merge`` / ``delete-insert`` on ``merge_key: _dwh_partition`` (and the
   ``primary_key``, when there is one): in one transaction dlt deletes the rows of every window
   that got records and inserts the new ones;
4. deletes, in one more transaction, the rows of the windows in the range that got no record now
   (:func:`delete_stale_rows`), so a day emptied at the source is emptied in the table too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dwh_dagster.config.models.partitions import PARTITION_COLUMN, Partitions

ISO_UTC = "+00:00"


class PartitionCursorError(ValueError):
    """A record whose cursor value cannot place it in a window."""


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The time zone of a partitions spelling."""
    return ZoneInfo("UTC" if name.lower() == "utc" else name)


def key_of_local(local: datetime | date, kind: str) -> str:
    """The partition key of a wall-clock time (or a date) in the partitions' time zone."""
    if kind == "hourly":
        if not isinstance(local, datetime):
            return f"{local.isoformat()}-00:00"
        return f"{local:%Y-%m-%d-%H}:00"
    day = local.date() if isinstance(local, datetime) else local
    if kind == "weekly":  # Dagster's weeks start on Sunday
        day = day - timedelta(days=(day.weekday() + 1) % 7)
    elif kind == "monthly":
        day = day.replace(day=1)
    return day.isoformat()


def _parse(value: str) -> datetime | date:
    text = value.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", ISO_UTC) if text.endswith("Z") else text)


@dataclass(frozen=True)
class PartitionKeyStep:
    """Each record, page of records or Arrow table gets its ``_dwh_partition`` from ``cursor_field``.

    Aware timestamps are converted to the partitions' time zone, naive ones are taken as wall-clock
    times there, dates are their own day; ISO strings are parsed. A record without a cursor value,
    or with one that is no date or time, fails the load with the field and value named.
    """

    partitions: Partitions
    cursor_field: str
    table: str

    def key(self, value: Any) -> str:
        """The partition key of one cursor value."""
        raw = value
        if isinstance(value, str):
            try:
                value = _parse(value)
            except ValueError:
                raise PartitionCursorError(self._problem(raw, "is not an ISO date or timestamp")) from None
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(zone(self.partitions.timezone))
            return key_of_local(value, self.partitions.type)
        if isinstance(value, date):
            return key_of_local(value, self.partitions.type)
        if value is None:
            raise PartitionCursorError(self._problem(raw, "is missing"))
        raise PartitionCursorError(self._problem(raw, "is not a date or a timestamp"))

    def _problem(self, value: Any, what: str) -> str:
        return (
            f"table '{self.table}': a record's partition cursor '{self.cursor_field}' {what} "
            f"(value {value!r}), so it cannot be placed in a {self.partitions.type} partition; "
            "set partitions.cursor_field to a date or timestamp field every record has"
        )

    def __call__(self, item: Any) -> Any:
        """A record, a list of them (a page) or an Arrow table, with keys."""
        if isinstance(item, list):
            return [self._record(record) for record in item]
        return self._record(item)

    def _record(self, record: Any) -> Any:
        if not isinstance(record, dict):
            return self._arrow(record)
        record[PARTITION_COLUMN] = self.key(record.get(self.cursor_field))
        return record

    def _arrow(self, table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.cursor_field not in table.column_names:
            raise PartitionCursorError(self._problem(None, "is missing"))
        column = table.column(self.cursor_field)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # ISO timestamps with an offset or Z: parsed by Arrow, no Python per row; dates, naive
            # times or mixed text stay text and are parsed one distinct value at a time
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(pa.timestamp("us", tz="UTC"))
        keys: Any = None
        if pa.types.is_timestamp(column.type) and column.type.tz is not None and column.null_count == 0:
            local = column.cast(pa.timestamp(column.type.unit, tz=str(zone(self.partitions.timezone))))
            fmt = "%Y-%m-%d-%H:00" if self.partitions.type == "hourly" else "%Y-%m-%d"
            keys = pc.strftime(local, format=fmt)
            if self.partitions.type in ("weekly", "monthly"):
                keys = self._map_unique(keys, lambda text: self.key(date.fromisoformat(text)))
        else:
            keys = self._map_unique(column, self.key)
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if PARTITION_COLUMN in table.column_names:
            table = table.drop_columns([PARTITION_COLUMN])
        return table.append_column(PARTITION_COLUMN, keys)

    @staticmethod
    def _map_unique(column: Any, key: Callable[[Any], str]) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        values = pc.unique(column)
        keys = pa.array([key(v) for v in values.to_pylist()], pa.string())
        return pc.take(keys, pc.index_in(column, value_set=values))


@dataclass(frozen=True)
class PartitionWindow:
    """The window a run loads: one partition, or the whole range of a single-run backfill."""

    partitions: Partitions
    start: datetime
    end: datetime
    keys: tuple[str, ...]

    @property
    def start_key(self) -> str:
        """The key of the first partition (dlt's ``initial_value``)."""
        return key_of_local(self.start.astimezone(zone(self.partitions.timezone)), self.partitions.type)

    @property
    def end_key(self) -> str:
        """The key of the partition after the window (dlt's exclusive ``end_value``)."""
        return key_of_local(self.end.astimezone(zone(self.partitions.timezone)), self.partitions.type)

    def describe(self) -> str:
        """``2024-01-01`` or ``2024-01-01 .. 2024-01-30 (30 partitions)``."""
        if len(self.keys) == 1:
            return self.keys[0]
        return f"{self.keys[0]} .. {self.keys[-1]} ({len(self.keys)} partitions)"


def window_of(context: Any, partitions: Partitions) -> PartitionWindow:
    """The window of the run's partition (or partition range)."""
    window = context.partition_time_window
    return PartitionWindow(
        partitions=partitions, start=window.start, end=window.end, keys=tuple(context.partition_keys)
    )


def partition_hints(primary_key: str | Sequence[str] | None) -> dict[str, Any]:
    """The dlt write hints of a partitioned table: delete-insert on the partition column."""
    hints: dict[str, Any] = {
        "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
        # nullable: a table loaded before it was partitioned gets the column without failing
        "columns": {PARTITION_COLUMN: {"data_type": "text", "merge_key": True, "nullable": True}},
    }
    if primary_key is not None:
        hints["primary_key"] = primary_key
    return hints


KEY_STEP_AFFINITY = 1.07
WINDOW_STEP_AFFINITY = 1.08
"""Where the partition steps sit among a resource's steps: behind the page-to-Arrow step (1.05),
so that both work on whole Arrow pages (vectorized, no Python per row), and ahead of
``add_limit`` (1.1): first the key, then dlt's incremental bounded by the window."""


def add_partition_steps(resource: Any, step: PartitionKeyStep, window: PartitionWindow | None) -> None:
    """Append the key step to a dlt resource and, with a ``window``, dlt's incremental bounded by
    it on the partition column (no state: the pipeline's moving cursor is neither read nor moved)."""
    import dlt
    from dlt.extract.items_transform import ItemTransform

    class _PartitionKeys(ItemTransform[Any, Any]):
        placement_affinity = KEY_STEP_AFFINITY

        def __call__(self, item: Any, meta: Any = None) -> Any:
            return step(item)

    resource.add_step(_PartitionKeys(step))
    if window is None:
        return
    bounded = dlt.sources.incremental(
        PARTITION_COLUMN,
        initial_value=window.start_key,
        end_value=window.end_key,
        range_start="closed",
        range_end="open",
        primary_key=(),  # exact bounds: no de-duplication of the rows at the start value
    )
    bounded.placement_affinity = WINDOW_STEP_AFFINITY  # type: ignore[misc]
    resource.add_step(bounded)


def delete_stale_rows(
    pipeline: Any, tables: Sequence[str], window: PartitionWindow, load_ids: Sequence[str]
) -> int:
    """Delete the rows of the window's partitions that this load did not write (windows that got no
    record now), with their nested child rows, in one transaction; the number of root rows deleted."""
    if pipeline.default_schema_name is None:
        return 0  # nothing was ever loaded
    schema = pipeline.default_schema
    deleted = 0
    with pipeline.sql_client() as client:
        literals = ", ".join(f"'{load_id}'" for load_id in load_ids)
        written = f" AND _dlt_load_id NOT IN ({literals})" if load_ids else ""
        with client.begin_transaction():
            for table in tables:
                if table not in schema.tables:
                    continue
                root = client.make_qualified_table_name(table)
                stale = (
                    f"{PARTITION_COLUMN} >= '{window.start_key}' AND {PARTITION_COLUMN} < '{window.end_key}'"
                    + written
                )
                rows = client.execute_sql(f"SELECT count(*) FROM {root} WHERE {stale}")
                count = int(rows[0][0]) if rows else 0
                if not count:
                    continue
                for child in _child_tables(schema, table):
                    qualified = client.make_qualified_table_name(child)
                    roots = f"SELECT _dlt_id FROM {root} WHERE {stale}"
                    client.execute_sql(f"DELETE FROM {qualified} WHERE _dlt_root_id IN ({roots})")
                client.execute_sql(f"DELETE FROM {root} WHERE {stale}")
                deleted += count
    return deleted


def _child_tables(schema: Any, table: str) -> list[str]:
    """Nested tables under ``table`` (dlt's ``<table>__<field>``), deepest first."""
    children = [
        name
        for name, meta in schema.tables.items()
        if name.startswith(f"{table}__") and meta.get("parent") is not None
    ]
    return sorted(children, key=lambda name: name.count("__"), reverse=True)

"""The fast path of ``rest_api`` sources: API pages become Arrow tables before dlt sees them.

dlt's row path normalizes every JSON object in Python; on a local API that caps a load at a few
thousand rows per second with dlt's defaults. Here each page (a list of JSON objects) becomes one
Arrow table in a few milliseconds, and dlt writes it as parquet without touching single rows.

What lands is what dlt's row path would land, for the shapes this path accepts:
- nested objects are flattened into ``<parent>__<child>`` columns, as dlt does;
- strings that look like ISO timestamps (``2024-01-31T12:00:00+00:00``) become timestamp columns,
  as dlt's ``iso_timestamp`` detection does (a page where one of them does not parse goes the row
  path, where dlt adds a variant column for it);
- columns that are null on a whole page are left out until a value appears, as dlt does;
- a column has the type the table already has from earlier runs, else the type of its first
  values in this run; later pages must fit it (integers in a double column are cast, anything
  else goes the row path, where dlt coerces or adds a variant column);
- every row gets a random ``_dlt_id`` here (16 base64 characters; dlt's row path writes 14) and
  a ``_dlt_load_id`` from dlt (its parquet normalizer setting), so that dlt moves the parquet
  files to the destination without rewriting them.

A page that this path cannot represent exactly goes through dlt's row path unchanged: a list
anywhere in a record (dlt makes a child table of it), values of mixed types in one field, integers
beyond 64 bits, a value that does not fit the column's type, items that are not objects. Pages of
both kinds land in the same tables; after the first row-path page, the rest of the run takes the
row path too (dlt may have typed new columns from it in ways this module does not know).
"""

from __future__ import annotations

import array
import base64
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_NESTED_SEPARATOR = "__"
DLT_ID = "_dlt_id"
_ID_BYTES = 12  # 96 random bits per row, 16 base64 characters without padding


def random_row_ids(count: int) -> pa.Array:
    """``count`` random row ids for dlt's ``_dlt_id`` column, made in one go (no per-row Python)."""
    import pyarrow as pa

    width = _ID_BYTES * 4 // 3
    text = base64.b64encode(os.urandom(_ID_BYTES * count))
    offsets = array.array("i", range(0, (count + 1) * width, width))
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _flatten_structs(table: pa.Table) -> pa.Table:
    """Struct columns become ``<parent>__<child>`` columns, recursively (dlt's nesting of objects)."""
    import pyarrow as pa

    while any(pa.types.is_struct(field.type) for field in table.schema):
        names: list[str] = []
        for field in table.schema:  # Table.flatten puts a struct's children where the struct was
            if pa.types.is_struct(field.type):
                names.extend(f"{field.name}{_NESTED_SEPARATOR}{child.name}" for child in field.type)
            else:
                names.append(field.name)
        table = table.flatten().rename_columns(names)
    return table


def _leaf_paths(fields: Any, prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Flattened column name -> the keys leading to it in a record."""
    import pyarrow as pa

    paths: dict[str, tuple[str, ...]] = {}
    for field in fields:
        path = (*prefix, field.name)
        if pa.types.is_struct(field.type):
            paths.update(_leaf_paths(field.type, path))
        else:
            paths[_NESTED_SEPARATOR.join(path)] = path
    return paths


def _first_record_value(page: Sequence[Any], path: tuple[str, ...]) -> Any:
    for record in page:
        value = record
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _contains_list(data_type: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type) or pa.types.is_map(data_type):
        return True
    if pa.types.is_struct(data_type):
        return any(_contains_list(field.type) for field in data_type)
    return False


def _first_value(column: pa.ChunkedArray) -> Any:
    import pyarrow.compute as pc

    for chunk in column.chunks:
        present = pc.drop_null(chunk)
        if len(present):
            return present[0].as_py()
    return None


def _as_timestamp(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """An ISO-timestamp text column as UTC timestamps (naive values read as UTC, as dlt does)."""
    import pyarrow as pa

    utc = pa.timestamp("us", tz="UTC")
    try:
        return column.cast(utc)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return column.cast(pa.timestamp("us")).cast(utc)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


StoredTypes = Callable[[], Mapping[str, str]]
"""dlt data types of the table's columns from earlier runs (normalized name -> ``bigint``, ...)."""


def _arrow_type(dlt_type: str) -> pa.DataType | None:
    """The Arrow type a page column must have to land in a dlt column of ``dlt_type`` unchanged."""
    import pyarrow as pa

    return {
        "bigint": pa.int64(),
        "double": pa.float64(),
        "text": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }.get(dlt_type)


def _fit(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray | None:
    """The column as ``target`` where dlt's row path would coerce the same way; else None."""
    import pyarrow as pa

    if column.type == target:
        return column
    if pa.types.is_integer(column.type) and pa.types.is_floating(target):
        return column.cast(target)  # dlt stores integers in a double column as doubles
    if pa.types.is_string(column.type) and pa.types.is_timestamp(target):
        return _as_timestamp(column)  # ISO text into a timestamp column
    return None  # anything else: dlt decides (a variant column, a coercion) on the row path


class ArrowPageConverter:
    """Turns the pages of one resource into Arrow tables typed exactly as dlt's row path types them.

    A column's type comes from the table's columns of earlier runs (``stored_types``), else from
    the first page that has a value for it; later pages must fit it. Once a page has gone the row
    path, the rest of the run does too: dlt may have typed new columns from it in ways this
    converter does not know.
    """

    def __init__(self, stored_types: StoredTypes | None = None) -> None:
        self.column_types: dict[str, pa.DataType] = {}
        self._stored_types = stored_types
        self._stored: Mapping[str, str] | None = None
        self._normalize: Callable[[str], str] | None = None
        self.arrow_pages = 0
        self.row_pages = 0

    def convert(self, page: Any) -> Any:
        """The page as an Arrow table, or unchanged when the row path must take it."""
        if not isinstance(page, list) or not page:
            return page
        table = None if self.row_pages else self._to_table(page)
        if table is None:
            self.row_pages += 1
            return page
        self.arrow_pages += 1
        return table

    def _stored_type(self, name: str) -> str | None:
        if self._stored is None:
            from dlt.common.normalizers.naming.snake_case import NamingConvention

            self._stored = dict(self._stored_types()) if self._stored_types else {}
            self._normalize = NamingConvention().normalize_path
        if not self._stored:
            return None
        assert self._normalize is not None
        return self._stored.get(self._normalize(name))

    def _new_column(self, name: str, column: pa.ChunkedArray, page: Sequence[Any], path: Any) -> Any:
        """The first values of a column in this run, typed as dlt would type them; None: row path."""
        import pyarrow as pa

        stored = self._stored_type(name)
        if stored is not None:
            target = _arrow_type(stored)
            return None if target is None else _fit(column, target)
        if pa.types.is_string(column.type) and _ISO_TIMESTAMP.match(str(_first_value(column))):
            return _as_timestamp(column)  # None: dlt makes a timestamp column and a variant for the rest
        if pa.types.is_floating(column.type) and path is not None:
            first = _first_record_value(page, path)
            if isinstance(first, int) and not isinstance(first, bool):
                return None  # integers, then decimals: dlt types the column by its first value
        return column

    def _to_table(self, page: Sequence[Any]) -> pa.Table | None:
        import pyarrow as pa

        try:  # types inferred from every record (Table.from_pylist reads only the first one's keys)
            records = pa.array(page)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            return None  # mixed types in one field, integers beyond 64 bits
        if not pa.types.is_struct(records.type) or records.null_count:
            return None  # items that are not objects
        table = pa.Table.from_struct_array(records)
        if any(_contains_list(field.type) for field in table.schema):
            return None  # lists become child tables: dlt's row path does that
        paths = _leaf_paths(table.schema)
        table = _flatten_structs(table)
        names: list[str] = []
        columns: list[Any] = []
        new_types: dict[str, pa.DataType] = {}
        for name, column in zip(table.column_names, table.columns, strict=True):
            if pa.types.is_null(column.type):
                continue  # no value yet: dlt adds no column for it
            known = self.column_types.get(name)
            fitted = (
                self._new_column(name, column, page, paths.get(name))
                if known is None
                else _fit(column, known)
            )
            if fitted is None:
                return None
            if known is None:
                new_types[name] = fitted.type
            names.append(name)
            columns.append(fitted)
        self.column_types.update(new_types)
        if not names:
            return None
        fields = [pa.field(name, column.type) for name, column in zip(names, columns, strict=True)]
        fields.append(pa.field(DLT_ID, pa.string(), nullable=False))
        columns.append(random_row_ids(table.num_rows))
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def add_arrow_pages_step(resource: Any, stored_types: StoredTypes | None = None) -> ArrowPageConverter:
    """Append the page-to-Arrow step to a dlt resource (after its incremental step); return its state.

    The step comes after dlt's incremental filter so that cursor paths into nested objects and
    cursor values as the API sends them (text timestamps) behave exactly as on dlt's row path.
    ``_dlt_id`` gets dlt's own column hints (not null, unique, row key), as on the row path.
    """
    from dlt.common.schema.utils import dlt_id_column
    from dlt.extract.items_transform import ItemTransform

    converter = ArrowPageConverter(stored_types)

    class _ArrowPages(ItemTransform[Any, Any]):
        placement_affinity = 1.05  # behind dlt's incremental (1), ahead of add_limit (1.1)

        def __call__(self, item: Any, meta: Any = None) -> Any:
            return converter.convert(item)

    resource.add_step(_ArrowPages(converter.convert))
    resource.apply_hints(columns={DLT_ID: dlt_id_column()})
    return converter


def parse_json_once(session: Any) -> Any:
    """Make a requests session parse each response body once, with orjson.

    dlt's REST client calls ``response.json()`` for the data and again for the paginator; requests
    parses with the standard library (or simplejson) each time. A body orjson rejects (NaN, huge
    integers) is parsed the usual way.
    """
    import orjson

    send = session.send

    def send_and_parse_once(request: Any, **kwargs: Any) -> Any:
        response = send(request, **kwargs)
        parse_as_usual = response.json
        parsed: list[Any] = []

        def json(**json_kwargs: Any) -> Any:
            if not parsed:
                try:
                    parsed.append(orjson.loads(response.content))
                except orjson.JSONDecodeError:
                    parsed.append(parse_as_usual(**json_kwargs))
            return parsed[0]

        response.json = json
        return response

    session.send = send_and_parse_once
    return session

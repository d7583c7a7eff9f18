"""What a transformation's SQL reads, found by parsing it with sqlglot (never with a regex).

:func:`analyze_select` parses one ``select`` in a destination's dialect and returns the tables it
reads with the line and column of each, or the parse problem. Names bound by a ``with`` clause
are not tables; ``{this}`` (the model's own table) is read as :data:`THIS_PLACEHOLDER`.
:func:`add_filter` puts an incremental filter into the outermost ``where``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

THIS_TOKEN = "{this}"
THIS_PLACEHOLDER = "_this_"
"""What ``{this}`` is parsed as: a name of the same length, so columns after it stay right."""
WINDOW_PLACEHOLDERS = {"{start}": "_start_", "{end}": "_end_"}
"""What a partitioned model's ``{start}`` and ``{end}`` are parsed as (names of the same length)."""

DIALECT_BY_DESTINATION: dict[str, str] = {
    "duckdb": "duckdb",
    "motherduck": "duckdb",
    "postgres": "postgres",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
}
"""The sqlglot dialect of each destination type that can run SQL (``filesystem`` cannot)."""


@dataclass(frozen=True)
class TableRead:
    """One table a query reads: ``dataset.table`` as written (``dataset`` empty when unqualified)."""

    dataset: str
    table: str
    line: int
    column: int
    quoted: bool = False

    @property
    def is_this(self) -> bool:
        """Whether this is the model's own table (``{this}``)."""
        return not self.dataset and self.table == THIS_PLACEHOLDER

    @property
    def qualified(self) -> str:
        """``dataset.table`` (or ``table`` when unqualified)."""
        return f"{self.dataset}.{self.table}" if self.dataset else self.table


@dataclass(frozen=True)
class SqlProblem:
    """Why a query cannot be used, and where (1-based line and column of the SQL text)."""

    message: str
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class SelectAnalysis:
    """The tables a query reads, or the problem that kept it from being read."""

    reads: tuple[TableRead, ...] = ()
    problem: SqlProblem | None = None


@dataclass(frozen=True)
class SqlText:
    """A transformation's SQL and where its first character stands (for located errors)."""

    text: str
    file: Path
    line: int
    """Line of the file holding the SQL's first line."""
    column: int
    """Column of the file where the SQL's lines start (its indentation in a YAML block)."""
    field: str
    """``transformation.sql`` or ``transformation.sql_file``."""
    in_yaml: bool
    anchors: tuple[tuple[int, int, int], ...] = ()
    """For a YAML block: ``(offset in text, file line, file column)`` where each content line of
    the block starts; a folded (``>``) block joins several file lines into one line of text."""

    def locate(self, line: int, column: int) -> tuple[int, int]:
        """File line and column of a 1-based line and column of the SQL text."""
        if not self.in_yaml:
            return line, column
        if not self.anchors:
            return self.line + line - 1, self.column + column - 1
        lines = self.text.split("\n")
        offset = sum(len(text) + 1 for text in lines[: max(0, line - 1)]) + column - 1
        start, file_line, file_column = self.anchors[0]
        for anchor in self.anchors:
            if anchor[0] > offset:
                break
            start, file_line, file_column = anchor
        return file_line, file_column + offset - start


def with_placeholder(sql: str) -> str:
    """``sql`` with ``{this}`` (and ``{start}``, ``{end}``) replaced by parseable names of the
    same length."""
    sql = sql.replace(THIS_TOKEN, THIS_PLACEHOLDER)
    for token, placeholder in WINDOW_PLACEHOLDERS.items():
        sql = sql.replace(token, placeholder)
    return sql


def parse_select(sql: str, dialect: str) -> exp.Expr:
    """The parsed query; raises ``ParseError`` / ``TokenError`` / ``ValueError`` with sqlglot's detail.

    Empty statements and a comment after the last ``;`` (which sqlglot returns as a ``Semicolon``
    statement) are not statements.
    """
    statements = [
        s
        for s in sqlglot.parse(with_placeholder(sql), read=dialect)
        if s is not None and not isinstance(s, exp.Semicolon)
    ]
    if len(statements) != 1:
        raise ValueError(f"expected one select statement, found {len(statements)}")
    return statements[0]


_CLASS_REPR = re.compile(r"<class '(?:\w+\.)*(\w+)'>")
_TOKEN_REPR = re.compile(r"<Token token_type: [^,]+, text: (.*?), line: \d+, col: \d+.*?>")


_PLACEHOLDER_WORD = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(THIS_PLACEHOLDER)}(?![A-Za-z0-9_])")


_WINDOW_WORDS = {
    token: re.compile(rf"(?<![A-Za-z0-9_]){re.escape(placeholder)}(?![A-Za-z0-9_])")
    for token, placeholder in WINDOW_PLACEHOLDERS.items()
}


def _as_written(text: str) -> str:
    """``text`` (from sqlglot) with the placeholders shown as the ``{this}``, ``{start}`` and
    ``{end}`` the user wrote."""
    text = _PLACEHOLDER_WORD.sub(THIS_TOKEN, text)
    for token, word in _WINDOW_WORDS.items():
        text = word.sub(token, text)
    return text


def _token_problem(parsed_text: str, dialect: str) -> SqlProblem:
    """Where tokenizing stops: just after the last token sqlglot could read (for an unterminated
    string or quoted name, its opening quote)."""
    from sqlglot.dialects.dialect import Dialect

    tokenizer = Dialect.get_or_raise(dialect).tokenizer()
    with contextlib.suppress(TokenError):  # it fails: the tokens it read before are what we need
        tokenizer.tokenize(parsed_text)
    tokens = tokenizer.tokens
    offset = tokens[-1].end + 1 if tokens else 0
    while offset < len(parsed_text) and parsed_text[offset].isspace():
        offset += 1
    line = parsed_text.count("\n", 0, offset) + 1
    column = offset - (parsed_text.rfind("\n", 0, offset) + 1) + 1
    found = parsed_text[offset : offset + 1]
    what = f"{found} is never closed" if found in ("'", '"', "`") else "cannot be read here"
    return SqlProblem(f"SQL does not parse: {what}", line, column)


def _parse_problem(exc: Exception, parsed_text: str = "", dialect: str = "") -> SqlProblem:
    if isinstance(exc, TokenError) and parsed_text and dialect:
        return _token_problem(parsed_text, dialect)
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        description = _TOKEN_REPR.sub(r"'\1'", str(first.get("description") or "invalid SQL"))
        description = _CLASS_REPR.sub(r"\1", description).replace(
            "Required keyword: 'expression' missing for ", "an operand is missing after "
        )
        highlight = first.get("highlight")
        near = f" (at '{highlight}')" if highlight and f"'{highlight}'" not in description else ""
        return SqlProblem(
            _as_written(f"SQL does not parse: {description}{near}"),
            int(first.get("line") or 1),
            max(1, int(first.get("col") or 1) - len(str(highlight or "x")) + 1),
        )
    return SqlProblem(_as_written(f"SQL does not parse: {str(exc).splitlines()[0]}"))


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def analyze_select(sql: str, dialect: str) -> SelectAnalysis:
    """The tables ``sql`` reads (each once, where it first appears, in the order of the text), or
    why it is not a select."""
    parsed_text = with_placeholder(sql)
    try:
        tree = parse_select(sql, dialect)
    except (ParseError, TokenError, ValueError) as exc:
        return SelectAnalysis(problem=_parse_problem(exc, parsed_text, dialect))
    if not isinstance(tree, exp.Query):
        kind = tree.key.upper()
        return SelectAnalysis(
            problem=SqlProblem(
                f"expected a select, got {kind}",
                *_position(tree, parsed_text),
            )
        )
    ctes = _cte_names(tree)
    first: dict[tuple[str, str], TableRead] = {}
    for table in tree.find_all(exp.Table):
        identifier = table.this
        if not isinstance(identifier, exp.Identifier):  # a table function: read_csv(...), unnest(...)
            continue
        name, dataset = table.name, table.db
        if not dataset and name.lower() in ctes:
            continue
        key = (dataset.lower(), name.lower())
        line, column = _position(table, parsed_text)
        read = TableRead(dataset, name, line, column, quoted=bool(identifier.args.get("quoted")))
        if key not in first or (line, column) < (first[key].line, first[key].column):
            first[key] = read
    return SelectAnalysis(reads=tuple(sorted(first.values(), key=lambda r: (r.line, r.column))))


def _position(node: exp.Expr, text: str = "") -> tuple[int, int]:
    """1-based line and column where ``node`` starts in ``text`` (the text sqlglot parsed)."""
    starts = [
        part.meta["start"]
        for part in (node, *node.walk())
        if isinstance(part, exp.Identifier) and part.meta and "start" in part.meta
    ]
    if not starts or not text:
        meta = next((part.meta for part in node.walk() if part.meta and "line" in part.meta), {})
        return int(meta.get("line", 1)), int(meta.get("col", 1))
    start = min(starts)
    line = text.count("\n", 0, start) + 1
    return line, start - (text.rfind("\n", 0, start) + 1) + 1


def output_columns(sql: str, dialect: str) -> list[str] | None:
    """The columns a select returns, when its text tells (None with a ``*`` or an unnamed
    expression, or when it does not parse)."""
    try:
        tree = parse_select(sql, dialect)
    except (ParseError, TokenError, ValueError):
        return None
    while isinstance(tree, exp.SetOperation):  # a union: the first select names the columns
        tree = tree.left
    if isinstance(tree, exp.Subquery):
        tree = tree.unnest()
    if not isinstance(tree, exp.Select):
        return None
    names = []
    for projection in tree.expressions:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and projection.is_star):
            return None
        name = projection.alias_or_name
        if not name:
            return None
        names.append(name)
    return names


def check_condition(condition: str, dialect: str) -> SqlProblem | None:
    """Why ``condition`` is not a SQL boolean expression, or None."""
    parsed_text = with_placeholder(condition)
    try:
        sqlglot.parse_one(parsed_text, read=dialect, into=exp.Condition)
    except (ParseError, TokenError, ValueError) as exc:
        return _parse_problem(exc, parsed_text, dialect)
    return None


def add_filter(sql: str, condition: str, dialect: str) -> str:
    """``sql`` with ``condition`` and-ed into the ``where`` of its outermost select.

    Both may use ``{this}``; it is kept as ``{this}`` in the result. A query that is not a plain
    select (a ``union`` at the top) is wrapped: ``select * from (<sql>) where <condition>``.
    """
    tree = parse_select(sql, dialect)
    if not isinstance(tree, exp.Query):
        raise ValueError("expected a select")
    where = sqlglot.parse_one(with_placeholder(condition), read=dialect)
    filtered: exp.Query
    if isinstance(tree, exp.Select):
        filtered = tree.where(where, copy=False)
    else:
        filtered = exp.select("*").from_(tree.subquery("_dwh_incremental")).where(where)
    # only the placeholder *table* goes back to {this}: a column is_this_week stays as it is
    marker = "dwh_this_table_7c1e4a"
    for table in filtered.find_all(exp.Table):
        if not table.db and isinstance(table.this, exp.Identifier) and table.name == THIS_PLACEHOLDER:
            table.set("this", exp.to_identifier(marker))
    return filtered.sql(dialect=dialect, pretty=True).replace(marker, THIS_TOKEN)

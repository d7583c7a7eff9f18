"""Unit tests of dwh_dagster.config.sql: what a transformation's select reads, its problems, and the
incremental filter put into its outermost ``where``."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from dwh_dagster.config.sql import (
    THIS_PLACEHOLDER,
    SelectAnalysis,
    TableRead,
    add_filter,
    analyze_select,
    check_condition,
)

DIALECTS = ("duckdb", "postgres")


def reads_of(sql: str, dialect: str = "duckdb") -> list[tuple[str, str, int, int]]:
    """``(dataset, table, line, column)`` of each read of a query that must analyse cleanly."""
    analysis = analyze_select(sql, dialect)
    assert analysis.problem is None, analysis.problem
    return [(r.dataset, r.table, r.line, r.column) for r in analysis.reads]


def problem_of(sql: str, dialect: str = "duckdb") -> tuple[str, int, int]:
    analysis = analyze_select(sql, dialect)
    assert analysis.problem is not None, analysis
    assert analysis.reads == ()
    return analysis.problem.message, analysis.problem.line, analysis.problem.column


# ----------------------------------------------------------------------------- analyze_select


@pytest.mark.parametrize("dialect", DIALECTS)
def test_qualified_reads_are_found_with_their_line_and_column(dialect: str) -> None:
    sql = "select u.id, p.title\nfrom raw.users u\n    join raw.posts p on p.user_id = u.id\n"
    assert reads_of(sql, dialect) == [("raw", "users", 2, 6), ("raw", "posts", 3, 10)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reads_in_subqueries_and_set_operations_are_found_in_order(dialect: str) -> None:
    sql = (
        "select * from raw.users\n"
        "where id in (select user_id from raw.posts)\n"
        "union all\n"
        "select * from (select * from archive.users) a"
    )
    assert reads_of(sql, dialect) == [
        ("raw", "users", 1, 15),
        ("raw", "posts", 2, 34),
        ("archive", "users", 4, 30),
    ]


def test_a_read_in_a_scalar_subquery_on_a_later_line_has_that_line() -> None:
    sql = "select * from raw.users\nwhere id = (select max(id) from\n    raw.posts)"
    assert reads_of(sql, "postgres")[1] == ("raw", "posts", 3, 5)


def test_duckdb_from_first_syntax_is_a_select() -> None:
    assert reads_of("from raw.users select id") == [("raw", "users", 1, 6)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_names_bound_by_with_are_not_tables(dialect: str) -> None:
    sql = (
        "with recent as (select * from raw.posts where id > 10),\n"
        "     Authors as (select distinct user_id from recent)\n"
        "select * from authors a join recent r on r.user_id = a.user_id join raw.users u on true"
    )
    assert [(d, t) for d, t, _, _ in reads_of(sql, dialect)] == [("raw", "posts"), ("raw", "users")]


def test_a_recursive_cte_reading_itself_is_not_a_table() -> None:
    sql = "with recursive t(n) as (select 1 union all select n + 1 from t where n < 3) select * from t"
    assert reads_of(sql, "postgres") == []


def test_a_cte_name_does_not_hide_a_qualified_table_of_that_name() -> None:
    sql = "with users as (select * from raw.users) select * from users join raw.users r on true"
    assert [(d, t) for d, t, _, _ in reads_of(sql)] == [("raw", "users")]


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("select * from read_csv('data/*.csv') c join raw.users u on true", "duckdb"),
        ("select * from read_parquet('x.parquet'), raw.users", "duckdb"),
        ("select * from raw.users, unnest([1, 2, 3]) as t(n)", "duckdb"),
        ("select * from raw.users, generate_series(1, 3) g", "postgres"),
        ("select * from generate_series(1, 3) g cross join raw.users", "postgres"),
    ],
)
def test_table_functions_are_not_reads(sql: str, dialect: str) -> None:
    assert [(d, t) for d, t, _, _ in reads_of(sql, dialect)] == [("raw", "users")]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_table_read_several_times_is_listed_once_at_its_first_read(dialect: str) -> None:
    sql = (
        "select * from raw.users a\n"
        "join raw.users b on a.id = b.manager_id\n"
        "join RAW.Users c on c.id = b.manager_id\n"
        "where a.id in (select id from raw.users)"
    )
    assert reads_of(sql, dialect) == [("raw", "users", 1, 15)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reads_are_in_text_order_even_when_the_first_is_nested_deeper(dialect: str) -> None:
    sql = (
        "with recent as (select * from raw.posts)\n"
        "select * from (select * from raw.users) s\n"
        "join raw.users u on u.id = s.id\n"
        "join recent r on r.user_id = u.id\n"
        "join raw.posts p on true"
    )
    assert reads_of(sql, dialect) == [("raw", "posts", 1, 31), ("raw", "users", 2, 30)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_quoted_identifiers_keep_their_spelling_and_are_marked_quoted(dialect: str) -> None:
    analysis = analyze_select('select * from "Raw"."My Users" m join raw.posts p on true', dialect)
    assert analysis.problem is None
    assert analysis.reads == (
        TableRead("Raw", "My Users", 1, 15, quoted=True),
        TableRead("raw", "posts", 1, 39, quoted=False),
    )
    assert analysis.reads[0].qualified == "Raw.My Users"


def test_unqualified_and_three_part_names() -> None:
    analysis = analyze_select("select * from users join wh.raw.posts on true", "duckdb")
    assert analysis.problem is None
    users, posts = analysis.reads
    assert (users.dataset, users.table, users.qualified) == ("", "users", "users")
    assert not users.is_this
    assert (posts.dataset, posts.table) == ("raw", "posts")  # the catalog is not part of the name


@pytest.mark.parametrize("dialect", DIALECTS)
def test_this_is_read_as_the_models_own_table(dialect: str) -> None:
    sql = "select * from raw.posts\nwhere id > (select max(id) from {this})"
    analysis = analyze_select(sql, dialect)
    assert analysis.problem is None
    posts, this = analysis.reads
    assert not posts.is_this
    assert this.is_this
    assert (this.dataset, this.table, this.line, this.column) == ("", THIS_PLACEHOLDER, 2, 33)


def test_the_column_of_a_read_after_this_on_the_same_line_is_its_column_in_the_written_sql() -> None:
    sql = "select * from {this} t join raw.posts p on p.id = t.id"
    assert reads_of(sql)[1] == ("raw", "posts", 1, 29)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_parse_error_has_its_message_line_and_column(dialect: str) -> None:
    message, line, column = problem_of("select id,\n       name\n  frm raw.users\n", dialect)
    assert message.startswith("SQL does not parse: ")
    assert "raw" in message
    assert (line, column) == (3, 7)


def test_a_missing_operand_is_described_in_plain_words() -> None:
    message, line, column = problem_of("select *\nfrom raw.users\nwhere id >")
    assert message == "SQL does not parse: an operand is missing after GT (at '>')"
    assert (line, column) == (3, 10)


def test_an_unclosed_parenthesis_is_located_on_its_line() -> None:
    message, line, column = problem_of("select * from\nraw.users where (", "postgres")
    assert message.startswith("SQL does not parse: ")
    assert (line, column) == (2, 17)


def test_an_unterminated_string_is_located_on_its_line() -> None:
    message, line, _ = problem_of("select *\nfrom raw.users\nwhere name = 'abc\n")
    assert message.startswith("SQL does not parse: ")
    assert line == 3


@pytest.mark.parametrize(
    ("sql", "kind", "line"),
    [
        ("insert into raw.users select * from raw.posts", "INSERT", 1),
        ("delete from raw.users", "DELETE", 1),
        ("-- no\ncreate table mart.x as select 1", "CREATE", 2),
        ("update raw.users set name = 'x'", "UPDATE", 1),
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_statement_that_is_not_a_select_is_a_problem(sql: str, kind: str, line: int, dialect: str) -> None:
    message, found_line, _ = problem_of(sql, dialect)
    assert message == f"expected a select, got {kind}"
    assert found_line == line


@pytest.mark.parametrize("dialect", DIALECTS)
def test_two_statements_are_a_problem(dialect: str) -> None:
    message, _, _ = problem_of("select * from raw.users;\nselect * from raw.posts", dialect)
    assert message == "SQL does not parse: expected one select statement, found 2"


@pytest.mark.parametrize("sql", ["", "   \n", "-- only a comment\n"])
def test_no_statement_is_a_problem(sql: str) -> None:
    message, _, _ = problem_of(sql)
    assert "expected one select statement, found 0" in message


def test_one_trailing_semicolon_is_still_one_select() -> None:
    assert reads_of("select * from raw.users;\n") == [("raw", "users", 1, 15)]


def test_a_clean_select_without_tables_reads_nothing() -> None:
    assert analyze_select("select 1 as one, current_date as today", "postgres") == SelectAnalysis()


# ----------------------------------------------------------------------------- check_condition


@pytest.mark.parametrize(
    "condition",
    [
        "id > 3",
        "created_at > (select max(created_at) from {this})",
        "a = 1 or b = 2",
        "id in (select id from {this})",
        "exists (select 1 from {this} t where t.id = id)",
        "coalesce(updated_at, created_at) >= date '2024-01-01'",
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_valid_conditions_have_no_problem(condition: str, dialect: str) -> None:
    assert check_condition(condition, dialect) is None


@pytest.mark.parametrize(
    ("condition", "fragment", "column"),
    [
        ("id >", "an operand is missing after GT", 4),
        ("id > 1 and", "an operand is missing after And", 8),
        ("id > 1; drop table x", "'drop'", 9),
        ("id = 1 order by id", "'order by'", 8),
        ("select 1", "'select'", 1),
        ("", "No expression was parsed", 1),
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_invalid_conditions_are_problems(condition: str, fragment: str, column: int, dialect: str) -> None:
    problem = check_condition(condition, dialect)
    assert problem is not None
    assert problem.message.startswith("SQL does not parse: ")
    assert fragment in problem.message
    assert (problem.line, problem.column) == (1, column)


# ----------------------------------------------------------------------------- add_filter


def _where(sql: str, dialect: str) -> exp.Expr:
    tree = sqlglot.parse_one(sql.replace("{this}", "this_table"), read=dialect)
    where = tree.args.get("where")
    assert isinstance(where, exp.Where), sql
    return where.this


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_filter_becomes_the_where_of_a_select_without_one(dialect: str) -> None:
    out = add_filter("select * from raw.users", "id > 1", dialect)
    assert _where(out, dialect) == sqlglot.parse_one("id > 1", read=dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_filter_is_anded_to_an_existing_where_keeping_or_precedence(dialect: str) -> None:
    out = add_filter("select * from raw.users where a = 1 or b = 2", "c = 3 or d = 4", dialect)
    condition = _where(out, dialect)
    assert isinstance(condition, exp.And)
    assert condition.left.unnest() == sqlglot.parse_one("a = 1 or b = 2", read=dialect)
    assert condition.right.unnest() == sqlglot.parse_one("c = 3 or d = 4", read=dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_filter_goes_before_group_by_and_keeps_limit(dialect: str) -> None:
    sql = "select d, count(*) as n from raw.users where active group by d having count(*) > 1 limit 5"
    out = add_filter(sql, "d > 1", dialect)
    tree = sqlglot.parse_one(out, read=dialect)
    assert isinstance(tree, exp.Select)
    assert tree.args["group"] is not None and tree.args["having"] is not None
    assert tree.args["limit"] is not None
    assert isinstance(tree.args["where"].this, exp.And)
    assert out.index("WHERE") < out.index("GROUP BY") < out.index("HAVING")


def test_a_filter_on_a_cte_query_goes_into_the_outermost_where_only() -> None:
    sql = "with x as (select * from raw.users where id < 10) select * from x"
    out = add_filter(sql, "id > 1", "duckdb")
    tree = sqlglot.parse_one(out, read="duckdb")
    assert tree.args["where"].this == sqlglot.parse_one("id > 1")
    cte = next(tree.find_all(exp.CTE)).this
    assert cte.args["where"].this == sqlglot.parse_one("id < 10")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_union_at_the_top_is_wrapped(dialect: str) -> None:
    out = add_filter(
        "select id from raw.users union all select id from raw.posts",
        "id > (select max(id) from {this})",
        dialect,
    )
    tree = sqlglot.parse_one(out.replace("{this}", "this_table"), read=dialect)
    assert isinstance(tree, exp.Select)
    subquery = tree.args["from_"].this if "from_" in tree.args else tree.args["from"].this
    assert isinstance(subquery, exp.Subquery)
    assert isinstance(subquery.this, exp.Union)
    assert tree.args["where"] is not None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_this_is_kept_in_the_query_and_in_the_filter(dialect: str) -> None:
    out = add_filter(
        "select * from raw.posts p where not exists (select 1 from {this} t where t.id = p.id)",
        "p.created_at > (select max(created_at) from {this})",
        dialect,
    )
    assert out.count("{this}") == 2
    assert THIS_PLACEHOLDER not in out


def test_a_filtered_query_runs_and_filters_in_duckdb() -> None:
    connection = duckdb.connect()
    connection.execute("create schema raw")
    connection.execute("create table raw.t as select range as id, range % 2 = 0 as even from range(10)")
    connection.execute("create table raw.u as select range + 100 as id from range(3)")
    for sql, expected in [
        ("select id from raw.t where even or id = 1", [6, 8]),
        ("select id from raw.t where even union all select id from raw.u", [6, 8, 100, 101, 102]),
    ]:
        rows = connection.execute(add_filter(sql, "id > 4", "duckdb") + " order by id").fetchall()
        assert [r[0] for r in rows] == expected, sql


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("insert into raw.users select 1", "expected a select"),
        ("select 1; select 2", "expected one select statement, found 2"),
    ],
)
def test_add_filter_refuses_what_is_not_one_select(sql: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        add_filter(sql, "id > 1", "duckdb")


# ----------------------------------------------------------------------------- edge cases found in review


@pytest.mark.parametrize("dialect", DIALECTS)
def test_empty_statements_after_the_select_are_ignored(dialect: str) -> None:
    assert reads_of("select * from raw.users; ;\n", dialect) == [("raw", "users", 1, 15)]


@pytest.mark.parametrize(
    "sql",
    ["select * from raw.users;\n-- end of model\n", "select * from raw.users; -- done"],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_comment_after_the_final_semicolon_is_still_one_select(sql: str, dialect: str) -> None:
    assert reads_of(sql, dialect) == [("raw", "users", 1, 15)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_this_inside_a_string_literal_is_not_a_read(dialect: str) -> None:
    assert reads_of("select * from raw.users where note = '{this}'", dialect) == [("raw", "users", 1, 15)]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_parenthesised_select_at_the_top_is_a_select(dialect: str) -> None:
    assert reads_of("(select * from raw.users)", dialect) == [("raw", "users", 1, 16)]
    out = add_filter("(select * from raw.users)", "id > 1", dialect)
    assert sqlglot.parse_one(out, read=dialect).args["where"] is not None


@pytest.mark.parametrize("sql", ["from raw.users select is_this_week", "select * from raw.my_this_table"])
def test_names_containing_the_placeholder_are_ordinary_reads(sql: str) -> None:
    analysis = analyze_select(sql, "duckdb")
    assert analysis.problem is None
    assert not any(read.is_this for read in analysis.reads)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_add_filter_keeps_names_that_contain_the_placeholder(dialect: str) -> None:
    out = add_filter(
        "select is_this_week, id from raw.my_this_table", "id > (select max(id) from {this})", dialect
    )
    assert out.count("{this}") == 1
    assert "is_this_week" in out and "raw.my_this_table" in out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_problem_near_this_names_this_as_written(dialect: str) -> None:
    condition = "created_at > (select max(created_at) from {this}"
    problem = check_condition(condition, dialect)
    assert problem is not None
    assert THIS_PLACEHOLDER not in problem.message
    message, _, _ = problem_of(f"select * from raw.posts where {condition}", dialect)
    assert THIS_PLACEHOLDER not in message

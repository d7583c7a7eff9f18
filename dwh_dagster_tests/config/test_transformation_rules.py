"""Unit tests of the transformation rules, of the job and trigger rules about transformations, and of
how transformations resolve: each over a small inline project (source ``api`` with ``users`` and
``posts``, DuckDB destination ``wh``, pipeline ``p`` loading both into dataset ``raw``)."""

from __future__ import annotations

import textwrap

import pytest

from dwh_dagster.config.errors import ConfigError, ProjectConfigError
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.loader import load_project
from dwh_dagster.config.rules import RULES
from dwh_dagster.config.rules.jobs import check_jobs
from dwh_dagster.config.rules.run_order import check_run_order
from dwh_dagster.config.rules.transformations import check_transformations
from dwh_dagster.config.rules.triggers import check_triggers
from dwh_dagster_tests.config.support import base_files, headlines, index_of, pipeline
from dwh_dagster_tests.conftest import WriteProject

FILESYSTEM = """
destination:
  name: lake
  type: filesystem
  connection: {bucket_url: data/lake}
  settings: {schema: raw}
"""
POSTGRES = """
destination:
  name: pg
  type: postgres
  connection: {database: dwh, username: loader}
"""


def model(name: str, sql: str | None = None, extra: str = "", *, dataset: str | None = "mart") -> str:
    """A transformation of ``wh``: lines 1-4 are the header (3 without ``dataset``), then ``extra``,
    then ``sql`` as a ``sql: |`` block."""
    text = f"transformation:\n  name: {name}\n  destination: wh\n"
    if dataset:
        text += f"  dataset_name: {dataset}\n"
    text += extra
    if sql is not None:
        text += "  sql: |\n" + textwrap.indent(textwrap.dedent(sql).strip("\n") + "\n", "    ")
    return text


def project(**files: str) -> dict[str, str]:
    """:func:`base_files` plus pipeline ``p`` (all of ``api`` into ``raw``)."""
    return base_files(pipelines__p=pipeline("p"), **files)


Located = tuple[str, int | None, int | None, str, str]


def located(errors: list[ConfigError]) -> list[Located]:
    """``(file name, line, column, field, message)`` of each error."""
    return [(e.file.name, e.line, e.column, e.field, e.message) for e in errors]


def transformation_errors(write_project: WriteProject, files: dict[str, str]) -> list[ConfigError]:
    return check_transformations(index_of(write_project, files))


def all_rule_errors(index: ProjectIndex) -> list[str]:
    return headlines([error for rule in RULES for error in rule(index)])


# ----------------------------------------------------------------------------- a clean project

CLEAN = {
    "transformations__stg_users": model(
        "stg_users",
        """
        select id, lower(email) as email
        from raw.users
        """,
        "  materialized: view\n",
    ),
    "transformations__user_roles": model(
        "user_roles",
        """
        select u.id, r.value as role
        from raw.users u
        join raw.users__roles r on r._dlt_parent_id = u._dlt_id
        """,
    ),
    "transformations__user_posts": model(
        "user_posts",
        """
        with counts as (select user_id, count(*) as n from raw.posts group by user_id)
        select s.id, s.email, c.n, a.region
        from mart.stg_users s
        left join counts c on c.user_id = s.id
        left join crm.accounts a on a.user_id = s.id
        """,
        "  external_tables: [crm.accounts]\n",
    ),
    "transformations__post_log": model(
        "post_log",
        """
        select id, user_id, created_at
        from raw.posts
        """,
        "  materialized: incremental\n  unique_key: [id]\n"
        "  incremental_filter: created_at > (select max(created_at) from {this})\n",
    ),
    "transformations__latest": model(
        "latest",
        """
        select * from mart.post_log p
        where not exists (select 1 from {this} t where t.id = p.id)
        """,
        "  materialized: incremental\n",
    ),
    "jobs__models": """
        job:
          name: models
          transformations:
            - {name: user_posts, order: 3}
            - {name: stg_users.yaml, order: 1}
            - {name: user_roles, enabled: false}
            - {name: post_log, order: 2}
        """,
    "jobs__ingest": """
        job:
          name: ingest
          pipelines: [{name: p}]
          transformations: [{name: latest}]
        """,
    "triggers__after_posts": """
        trigger:
          name: after_posts
          type: event
          job: models
          event:
            type: asset_materialized
            pipelines: [p]
            transformations: [latest, user_roles]
        """,
}


def test_every_rule_passes_a_clean_project_with_transformations(write_project: WriteProject) -> None:
    index = index_of(write_project, project(**CLEAN))
    assert all_rule_errors(index) == []
    assert check_run_order(index) == []


def test_a_clean_project_resolves_datasets_dependencies_and_job_order(write_project: WriteProject) -> None:
    resolved = load_project(write_project(project(**CLEAN)))
    models = resolved.transformations
    assert sorted(models) == ["latest", "post_log", "stg_users", "user_posts", "user_roles"]
    assert {name: m.dataset for name, m in models.items()} == dict.fromkeys(models, "mart")
    assert models["stg_users"].upstream == (("raw", "users"),)
    assert models["stg_users"].upstream_transformations == ()
    assert models["user_roles"].upstream == (("raw", "users"),)  # the child table is its parent's
    assert models["user_posts"].upstream == (("raw", "posts"), ("mart", "stg_users"))
    assert models["user_posts"].upstream_transformations == ("stg_users",)
    assert models["user_posts"].external == (("crm", "accounts"),)
    assert models["post_log"].upstream == (("raw", "posts"),)
    assert models["latest"].upstream == (("mart", "post_log"),)  # {this} is not a dependency
    assert models["latest"].upstream_transformations == ("post_log",)
    assert models["latest"].dialect == "duckdb"
    assert models["latest"].destination_name == "wh"
    sql = models["stg_users"].sql
    assert (sql.field, sql.in_yaml, sql.line) == ("transformation.sql", True, 7)
    assert sql.text.startswith("select id, lower(email)")
    jobs = resolved.jobs
    assert [t.name for t in jobs["models"].transformations] == ["stg_users", "post_log", "user_posts"]
    assert [e.transformation.name for e in jobs["models"].all_transformation_entries] == [
        "stg_users",
        "user_roles",  # no order: its position (2) is its order
        "post_log",
        "user_posts",
    ]
    assert jobs["models"].pipelines == ()
    assert [p.name for p in jobs["ingest"].pipelines] == ["p"]
    assert [t.name for t in jobs["ingest"].transformations] == ["latest"]
    trigger = resolved.triggers["after_posts"]
    assert [t.name for t in trigger.watched_transformations] == ["latest", "user_roles"]
    assert [p.name for p in trigger.watched_pipelines] == ["p"]


def test_dataset_falls_back_on_the_destination_schema_and_sql_file_resolves(
    write_project: WriteProject,
) -> None:
    files = project(
        transformations__counts=model("counts", dataset=None, extra="  sql_file: sql/counts.sql\n"),
        transformations__top="""
            transformation:
              name: top
              destination: wh.yaml
              sql: "select * from analytics.counts order by n desc limit 10"
            """,
    )
    files["destinations/wh.yaml"] += "  settings: {schema: analytics}\n"
    files["sql/counts.sql"] = "-- posts per user\nselect user_id, count(*) as n\nfrom raw.posts\ngroup by 1\n"
    resolved = load_project(write_project(files))
    counts, top = resolved.transformations["counts"], resolved.transformations["top"]
    assert (counts.dataset, counts.upstream) == ("analytics", (("raw", "posts"),))
    assert (counts.sql.field, counts.sql.in_yaml, counts.sql.line) == ("transformation.sql_file", False, 1)
    assert counts.sql.file.name == "counts.sql"
    assert (top.dataset, top.upstream, top.upstream_transformations) == (
        "analytics",
        (("analytics", "counts"),),
        ("counts",),
    )


# ----------------------------------------------------------------------------- sql and sql_file


def test_sql_and_sql_file_both_given(write_project: WriteProject) -> None:
    files = project(transformations__m=model("m", "select 1", "  sql_file: sql/m.sql\n"))
    files["sql/m.sql"] = "select 1\n"
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        ("m.yaml", 5, 13, "transformation.sql_file", "both sql and sql_file are given")
    ]
    assert errors[0].hint == "keep one of them"


def test_neither_sql_nor_sql_file(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", extra="  tags: {a: b}\n"))
    )
    assert located(errors) == [("m.yaml", 2, 3, "transformation", "missing sql")]
    assert "add 'sql:' with a select, or 'sql_file:'" in errors[0].hint


def test_a_missing_sql_file(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", extra="  sql_file: sql/nope.sql\n"))
    )
    assert len(errors) == 1
    assert located(errors)[0][:4] == ("m.yaml", 5, 13, "transformation.sql_file")
    assert errors[0].message.startswith("sql_file 'sql/nope.sql' does not exist (looked for ")
    assert errors[0].message.endswith("yaml_defs/sql/nope.sql)")
    assert errors[0].hint == "paths are relative to yaml_defs/"


def test_a_sql_file_that_is_a_folder(write_project: WriteProject) -> None:
    files = project(transformations__m=model("m", extra="  sql_file: sql\n"))
    files["sql/other.sql"] = "select 1\n"
    errors = transformation_errors(write_project, files)
    assert len(errors) == 1 and errors[0].message.startswith("sql_file 'sql' is not a file"), headlines(
        errors
    )


def test_a_sql_file_that_is_not_utf8_is_reported_as_such(write_project: WriteProject) -> None:
    root = write_project(project(transformations__m=model("m", extra="  sql_file: sql/m.sql\n")))
    (root / "sql").mkdir()
    (root / "sql" / "m.sql").write_bytes("select 'café' as x from raw.users\n".encode("latin-1"))
    errors = check_transformations(index_of(write_project, {}))
    assert len(errors) == 1, headlines(errors)
    assert "is not a file" not in errors[0].message
    assert "UTF-8" in errors[0].message


def test_empty_sql_is_one_error(write_project: WriteProject) -> None:
    errors = transformation_errors(write_project, project(transformations__m=model("m", extra="  sql: ''\n")))
    assert [e.message for e in errors] == ["the SQL is empty"]


# ----------------------------------------------------------------------------- destination and dataset


def test_a_filesystem_destination_cannot_run_sql(write_project: WriteProject) -> None:
    text = model("m", "select * from raw.users").replace("destination: wh", "destination: lake.yaml")
    errors = transformation_errors(
        write_project, project(destinations__lake=FILESYSTEM, transformations__m=text)
    )
    assert located(errors) == [
        (
            "m.yaml",
            3,
            16,
            "transformation.destination",
            "destination 'lake' is a filesystem destination, which cannot run SQL",
        )
    ]
    assert "'duckdb'" in errors[0].hint and "'postgres'" in errors[0].hint


def test_an_unknown_destination_is_reported_once(write_project: WriteProject) -> None:
    text = model("m", "select * from raw.users").replace("destination: wh", "destination: whh")
    errors = transformation_errors(write_project, project(transformations__m=text))
    assert located(errors) == [("m.yaml", 3, 16, "transformation.destination", "unknown destination 'whh'")]
    assert "did you mean 'wh'?" in errors[0].hint


def test_no_dataset_name_and_no_destination_schema(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from raw.users", dataset=None))
    )
    assert located(errors) == [("m.yaml", 3, 16, "transformation.destination", "missing dataset_name")]
    assert "destination 'wh' has no settings.schema" in errors[0].hint


# ----------------------------------------------------------------------------- incremental fields


def test_unique_key_and_incremental_filter_on_a_table_model(write_project: WriteProject) -> None:
    extra = "  unique_key: [id]\n  incremental_filter: id > 1\n"
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from raw.users", extra))
    )
    assert located(errors) == [
        (
            "m.yaml",
            5,
            3,
            "transformation.unique_key",
            "unique_key only applies to incremental models, this one is 'table'",
        ),
        (
            "m.yaml",
            6,
            3,
            "transformation.incremental_filter",
            "incremental_filter only applies to incremental models, this one is 'table'",
        ),
    ]


def test_unique_key_on_a_view_model(write_project: WriteProject) -> None:
    extra = "  materialized: view\n  unique_key: [id]\n"
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from raw.users", extra))
    )
    assert [e.message for e in errors] == [
        "unique_key only applies to incremental models, this one is 'view'"
    ]


def test_a_broken_incremental_filter(write_project: WriteProject) -> None:
    extra = "  materialized: incremental\n  incremental_filter: created_at >\n"
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from raw.posts", extra))
    )
    assert located(errors) == [
        (
            "m.yaml",
            6,
            23,
            "transformation.incremental_filter",
            "SQL does not parse: an operand is missing after GT (at '>')",
        )
    ]
    assert errors[0].hint == "write one SQL condition"


def test_a_unique_key_column_listed_twice(write_project: WriteProject) -> None:
    extra = "  materialized: incremental\n  unique_key: [id, id]\n"
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from raw.posts", extra))
    )
    assert [(e.field, e.message) for e in errors] == [
        ("transformation.unique_key", "a column is listed twice")
    ]


# ----------------------------------------------------------------------------- SQL located in the YAML file


def test_sql_that_does_not_parse_is_located_on_its_yaml_line(write_project: WriteProject) -> None:
    text = """\
        transformation:
          name: m
          destination: wh
          dataset_name: mart
          description: "users with their post counts"
          sql: |
            select u.id,
                   count(p.id) as posts
            from raw.users u
            left join raw.posts p on p.user_id = u.id
            group by u.id
            having count(*) >
          tags: {team: data}
        """
    errors = transformation_errors(write_project, project(transformations__m=text))
    assert located(errors) == [
        (
            "m.yaml",
            12,
            21,
            "transformation.sql",
            "SQL does not parse: an operand is missing after GT (at '>')",
        )
    ]
    assert errors[0].hint == "write one select statement"


@pytest.mark.parametrize(
    ("sql_line", "line", "column"),
    [
        ("  sql: select * from raw.userz\n", 5, 22),
        ('  sql: "select * from raw.userz"\n', 5, 23),
        ("  sql: 'select * from raw.userz'\n", 5, 23),
        ("  sql: |  # the model\n    select *\n    from raw.userz\n", 7, 10),
        ("  sql: |-\n    select *\n    from raw.userz\n", 7, 10),
        ("  sql: |\n      select *\n      from raw.userz\n", 7, 12),
    ],
    ids=["plain", "double_quoted", "single_quoted", "block_with_comment", "block_strip", "deeper_block"],
)
def test_a_table_error_points_at_the_table_in_the_yaml_file(
    write_project: WriteProject, sql_line: str, line: int, column: int
) -> None:
    errors = transformation_errors(write_project, project(transformations__m=model("m", extra=sql_line)))
    assert [(e.line, e.column) for e in errors] == [(line, column)], headlines(errors)


def test_a_blank_first_line_in_a_sql_block_does_not_shift_error_lines(write_project: WriteProject) -> None:
    text = model("m", extra="  sql: |\n\n    select *\n    from raw.userz\n")
    errors = transformation_errors(write_project, project(transformations__m=text))
    assert [(e.line, e.column) for e in errors] == [(8, 10)], headlines(errors)


def test_an_error_in_a_folded_sql_block_is_on_its_yaml_line(write_project: WriteProject) -> None:
    text = model("m", extra="  sql: >\n    select *\n    from raw.userz\n")
    errors = transformation_errors(write_project, project(transformations__m=text))
    assert [(e.line, e.column) for e in errors] == [(7, 10)], headlines(errors)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select 1;\nselect 2", "SQL does not parse: expected one select statement, found 2"),
        ("-- load\ninsert into mart.m select * from raw.users", "expected a select, got INSERT"),
    ],
)
def test_sql_that_is_not_one_select(write_project: WriteProject, sql: str, message: str) -> None:
    errors = transformation_errors(write_project, project(transformations__m=model("m", sql)))
    assert [(e.field, e.message) for e in errors] == [("transformation.sql", message)]
    assert errors[0].line in (6, 7)


# ----------------------------------------------------------------------------- the tables a model reads


def test_an_unqualified_table(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project,
        project(transformations__m=model("m", "select *\nfrom users u\njoin raw.posts p on true")),
    )
    assert located(errors) == [("m.yaml", 7, 10, "transformation.sql", "table 'users' has no dataset")]
    assert errors[0].hint == "write 'raw.users'"


def test_an_unqualified_table_nobody_produces(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from orders"))
    )
    assert [(e.message, e.hint) for e in errors] == [
        ("table 'orders' has no dataset", "write <dataset>.<table>")
    ]


@pytest.mark.parametrize(
    ("table", "near"),
    [("raw.user", "raw.users"), ("raw.Userz", "raw.users"), ("staging.posts", "raw.posts")],
)
def test_an_unknown_table_with_a_near_miss(write_project: WriteProject, table: str, near: str) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", f"select *\nfrom {table}"))
    )
    assert located(errors) == [
        (
            "m.yaml",
            7,
            10,
            "transformation.sql",
            f"unknown table '{table}': no pipeline or transformation produces it",
        )
    ]
    assert errors[0].hint.startswith(f"did you mean '{near}'?")
    assert "external_tables" in errors[0].hint


def test_an_unknown_table_without_a_near_miss(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select * from billing.invoices"))
    )
    assert len(errors) == 1
    assert errors[0].hint.startswith("check the dataset and table name")


def test_child_tables_map_to_loaded_resources_only(write_project: WriteProject) -> None:
    files = base_files(
        pipelines__p=pipeline("p", extra="").replace(
            "{config_file: api.yaml}", "{config_file: api, resources: [users]}"
        ),
        transformations__ok=model("ok", "select * from raw.users__roles__names"),
        transformations__nope=model("nope", "select * from raw.posts__tags"),
        transformations__base=model("base", "select 1 as id"),
        transformations__child_of_model=model("child_of_model", "select * from mart.base__items"),
    )
    found = headlines(transformation_errors(write_project, files))
    assert len(found) == 2, found
    assert any("nope.yaml:6:" in h and "unknown table 'raw.posts__tags'" in h for h in found), found
    assert any("child_of_model.yaml:6:" in h and "unknown table 'mart.base__items'" in h for h in found), (
        found
    )


def test_external_tables_entries_that_are_not_names_or_not_external(write_project: WriteProject) -> None:
    extra = "  external_tables: [orders, crm.a.b, raw.users, raw.users__roles, mart.other, crm.accounts]\n"
    files = project(
        transformations__m=model("m", "select * from crm.accounts", extra),
        transformations__other=model("other", "select 1"),
    )
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        ("m.yaml", 5, 21, "transformation.external_tables[0]", "'orders' is not a <dataset>.<table> name"),
        ("m.yaml", 5, 29, "transformation.external_tables[1]", "'crm.a.b' is not a <dataset>.<table> name"),
        (
            "m.yaml",
            5,
            38,
            "transformation.external_tables[2]",
            "'raw.users' is not external: pipeline 'p' produces it",
        ),
        (
            "m.yaml",
            5,
            49,
            "transformation.external_tables[3]",
            "'raw.users__roles' is not external: pipeline 'p' produces it",
        ),
        (
            "m.yaml",
            5,
            67,
            "transformation.external_tables[4]",
            "'mart.other' is not external: transformation 'other' produces it",
        ),
    ]


def test_external_tables_match_reads_case_insensitively(write_project: WriteProject) -> None:
    files = project(
        transformations__m=model("m", "select * from crm.accounts", "  external_tables: [CRM.Accounts]\n")
    )
    assert transformation_errors(write_project, files) == []


@pytest.mark.parametrize("materialized", ["table", "view"])
def test_a_non_incremental_model_reading_this(write_project: WriteProject, materialized: str) -> None:
    sql = "select * from raw.posts\nwhere id > (select max(id) from {this})"
    files = project(transformations__m=model("m", sql, f"  materialized: {materialized}\n"))
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        (
            "m.yaml",
            8,
            37,
            "transformation.sql",
            f"{{this}} is the model's own table, which a '{materialized}' model cannot read",
        )
    ]


def test_a_model_reading_its_own_table(write_project: WriteProject) -> None:
    errors = transformation_errors(
        write_project, project(transformations__m=model("m", "select *\nfrom raw.users\njoin MART.M on true"))
    )
    assert located(errors) == [
        ("m.yaml", 8, 10, "transformation.sql", "the model reads its own table 'MART.M'")
    ]
    assert "{this}" in errors[0].hint


def test_an_incremental_model_may_read_its_own_table_by_name(write_project: WriteProject) -> None:
    files = project(transformations__m=model("m", "select * from mart.m", "  materialized: incremental\n"))
    assert transformation_errors(write_project, files) == []


def test_a_table_of_another_destination(write_project: WriteProject) -> None:
    text = model("m", "select *\nfrom raw.users").replace("destination: wh", "destination: pg")
    errors = transformation_errors(write_project, project(destinations__pg=POSTGRES, transformations__m=text))
    assert located(errors) == [
        (
            "m.yaml",
            7,
            10,
            "transformation.sql",
            "table 'raw.users' is in destination 'wh', this model runs in 'pg'",
        )
    ]


def test_sql_file_errors_are_located_in_the_sql_file(write_project: WriteProject) -> None:
    files = project(transformations__m=model("m", extra="  sql_file: sql/m.sql\n"))
    files["sql/m.sql"] = (
        "-- users and posts\nselect *\nfrom raw.users u\n  join raw.postz p on p.user_id = u.id\n"
    )
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        (
            "m.sql",
            4,
            8,
            "transformation.sql_file",
            "unknown table 'raw.postz': no pipeline or transformation produces it",
        )
    ]
    assert errors[0].file.parent.name == "sql"


def test_sql_file_parse_errors_use_the_sql_files_own_lines(write_project: WriteProject) -> None:
    files = project(transformations__m=model("m", extra="  sql_file: sql/m.sql\n"))
    files["sql/m.sql"] = "select id,\n       email\nfrm raw.users\n"
    errors = transformation_errors(write_project, files)
    assert [(e.file.name, e.line, e.column, e.field) for e in errors] == [
        ("m.sql", 3, 5, "transformation.sql_file")
    ]
    assert errors[0].message.startswith("SQL does not parse")


# ----------------------------------------------------------------------------- one writer per table, no cycle


def test_two_transformations_writing_one_table(write_project: WriteProject) -> None:
    files = project(
        transformations__orders=model("orders", "select 1 as id"),
        transformations__orders_v2=model("Orders", "select 2 as id"),
    )
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        (
            "orders_v2.yaml",
            2,
            9,
            "transformation.name",
            "table 'mart.Orders' is also written by transformation 'orders'",
        )
    ]


def test_a_transformation_writing_a_table_a_pipeline_loads(write_project: WriteProject) -> None:
    files = project(transformations__users=model("users", "select 1 as id", dataset="raw"))
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        ("users.yaml", 2, 9, "transformation.name", "table 'raw.users' is also written by pipeline 'p'")
    ]
    assert "each table has one writer" in errors[0].hint


def test_a_cycle_is_reported_once_at_the_read_that_closes_it(write_project: WriteProject) -> None:
    files = project(
        transformations__a=model("a", "select *\nfrom mart.b"),
        transformations__b=model("b", "select * from raw.users\nunion all\nselect * from mart.a"),
    )
    errors = transformation_errors(write_project, files)
    assert located(errors) == [
        ("a.yaml", 7, 10, "transformation.sql", "transformations read each other in a cycle: a -> b -> a")
    ]


def test_a_cycle_of_three(write_project: WriteProject) -> None:
    files = project(
        transformations__a=model("a", "select * from mart.c"),
        transformations__b=model("b", "select * from mart.a"),
        transformations__c=model("c", "select * from mart.b"),
        transformations__d=model("d", "select * from mart.a"),
    )
    found = [e.message for e in transformation_errors(write_project, files)]
    assert found == ["transformations read each other in a cycle: a -> c -> b -> a"]


def test_every_problem_of_a_project_is_reported_in_one_pass(write_project: WriteProject) -> None:
    files = project(
        transformations__a=model("a", "select * from raw.user", "  unique_key: [id]\n"),
        transformations__b=model("b", "select * frm raw.users"),
        transformations__c=model("c", "select * from users"),
    )
    found = headlines(transformation_errors(write_project, files))
    assert len(found) == 4, found


# ----------------------------------------------------------------------------- jobs

MODELS = {
    "transformations__stg": model("stg", "select * from raw.users"),
    "transformations__report": model("report", "select * from mart.stg"),
}


def job_errors(write_project: WriteProject, job_yaml: str) -> list[ConfigError]:
    return check_jobs(index_of(write_project, project(**MODELS, jobs__j=job_yaml)))


def test_a_job_naming_an_unknown_transformation(write_project: WriteProject) -> None:
    errors = job_errors(write_project, "job:\n  name: j\n  transformations:\n    - name: reprot\n")
    assert located(errors) == [
        ("j.yaml", 4, 13, "job.transformations[0].name", "unknown transformation 'reprot'")
    ]
    assert errors[0].hint == "did you mean 'report'? known transformations: 'report', 'stg'"


def test_a_job_listing_a_transformation_twice(write_project: WriteProject) -> None:
    text = "job:\n  name: j\n  transformations:\n    - name: stg\n    - name: report\n    - name: stg.yaml\n"
    errors = job_errors(write_project, text)
    assert located(errors) == [
        ("j.yaml", 6, 13, "job.transformations[2].name", "transformation 'stg' is listed twice in this job")
    ]
    assert errors[0].hint == "remove the repeat (first at transformations[0])"


def test_a_job_with_neither_pipelines_nor_transformations(write_project: WriteProject) -> None:
    errors = job_errors(write_project, "job:\n  name: j\n  description: nothing to do\n")
    assert located(errors) == [("j.yaml", 2, 3, "job", "this job has no pipelines and no transformations")]


def test_a_job_of_only_transformations_is_valid(write_project: WriteProject) -> None:
    text = (
        "job:\n  name: j\n  transformations:\n"
        "    - {name: report, order: 2}\n    - {name: stg.yaml, order: 1}\n"
    )
    index = index_of(write_project, project(**MODELS, jobs__j=text))
    assert all_rule_errors(index) == []
    assert check_run_order(index) == []


def test_a_job_whose_transformations_are_all_disabled(write_project: WriteProject) -> None:
    errors = job_errors(
        write_project, "job:\n  name: j\n  transformations:\n    - {name: stg, enabled: false}\n"
    )
    assert [(e.line, e.field, e.message) for e in errors] == [
        (3, "job.transformations", "every entry of this job is disabled")
    ]


def test_a_job_with_a_disabled_pipeline_and_an_enabled_transformation_is_valid(
    write_project: WriteProject,
) -> None:
    text = "job:\n  name: j\n  pipelines: [{name: p, enabled: false}]\n  transformations: [{name: stg}]\n"
    assert job_errors(write_project, text) == []


# ----------------------------------------------------------------------------- triggers

JOB_J = (
    "job:\n  name: j\n  pipelines: [{name: p}]\n"
    "  transformations: [{name: stg}, {name: report, enabled: false}]\n"
)


def trigger(name: str, event: str) -> str:
    return (
        f"trigger:\n  name: {name}\n  type: event\n  job: j\n  event:\n    type: asset_materialized\n{event}"
    )


def trigger_errors(write_project: WriteProject, **triggers: str) -> list[ConfigError]:
    return check_triggers(index_of(write_project, project(**MODELS, jobs__j=JOB_J, **triggers)))


def test_an_event_watching_an_unknown_transformation(write_project: WriteProject) -> None:
    errors = trigger_errors(write_project, triggers__t=trigger("t", "    transformations: [stgg]\n"))
    assert located(errors) == [
        ("t.yaml", 7, 23, "trigger.event.transformations[0]", "unknown transformation 'stgg'")
    ]
    assert errors[0].hint.startswith("did you mean 'stg'?")


def test_an_event_watching_a_transformation_its_job_builds(write_project: WriteProject) -> None:
    errors = trigger_errors(
        write_project, triggers__t=trigger("t", "    transformations: [report, stg.yaml]\n")
    )
    assert located(errors) == [
        (
            "t.yaml",
            7,
            31,
            "trigger.event.transformations[1]",
            "job 'j' builds 'stg' itself: each run would start the next",
        )
    ]


def test_an_event_watching_nothing(write_project: WriteProject) -> None:
    errors = trigger_errors(write_project, triggers__t=trigger("t", ""))
    assert located(errors) == [
        ("t.yaml", 5, 3, "trigger.event", "an asset_materialized event watches nothing")
    ]


def test_an_event_with_empty_lists_watches_nothing(write_project: WriteProject) -> None:
    errors = trigger_errors(
        write_project, triggers__t=trigger("t", "    pipelines: []\n    transformations: []\n")
    )
    assert [e.message for e in errors] == ["an asset_materialized event watches nothing"]


def test_an_event_watching_transformations_of_another_job_is_valid(write_project: WriteProject) -> None:
    files = project(
        **MODELS,
        jobs__j=JOB_J,
        jobs__k="job:\n  name: k\n  transformations: [{name: report}]\n",
        triggers__t="trigger:\n  name: t\n  type: event\n  job: k\n"
        "  event: {type: asset_materialized, transformations: [stg]}\n",
    )
    assert all_rule_errors(index_of(write_project, files)) == []


# ----------------------------------------------------------------------------- through the loader


def test_load_project_raises_every_transformation_error(write_project: WriteProject) -> None:
    files = project(
        transformations__a=model("a", "select * from raw.user"),
        jobs__j="job:\n  name: j\n  transformations: [{name: b}]\n",
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(write_project(files))
    found = headlines(info.value.errors)
    assert any("a.yaml:6:19: transformation.sql: unknown table 'raw.user'" in h for h in found), found
    assert any("j.yaml:3:" in h and "unknown transformation 'b'" in h for h in found), found
    assert len(found) == 2, found


# ----------------------------------------------------------------------------- SQL located: more YAML forms


def test_an_error_in_the_sql_of_an_environment_overlay_is_located_in_the_overlay(
    write_project: WriteProject,
) -> None:
    overlay = (
        "  sql: select * from raw.users\n"
        "  environments:\n"
        "    prod:\n"
        "      sql: |\n"
        "        select *\n"
        "        from raw.userz\n"
    )
    files = project(transformations__m=model("m", extra=overlay))
    assert check_transformations(index_of(write_project, files)) == []
    errors = check_transformations(index_of(write_project, files, "prod"))
    assert located(errors) == [
        (
            "m.yaml",
            10,
            14,
            "transformation.sql",
            "unknown table 'raw.userz': no pipeline or transformation produces it",
        )
    ]


def test_a_block_with_an_indentation_indicator_is_located_right(write_project: WriteProject) -> None:
    text = model("m", extra="  sql: |2\n      select *\n      from raw.userz\n")
    errors = transformation_errors(write_project, project(transformations__m=text))
    assert [(e.line, e.column) for e in errors] == [(7, 12)], headlines(errors)


@pytest.mark.parametrize(
    "sql_lines",
    ["  sql: select *\n    from raw.userz\n", '  sql: "select *\n    from raw.userz"\n'],
    ids=["plain", "double_quoted"],
)
def test_an_error_in_a_multi_line_flow_scalar_is_on_its_yaml_line(
    write_project: WriteProject, sql_lines: str
) -> None:
    errors = transformation_errors(write_project, project(transformations__m=model("m", extra=sql_lines)))
    assert [(e.line, e.column) for e in errors] == [(6, 10)], headlines(errors)


def test_a_sql_block_ending_with_a_semicolon_and_a_comment_is_valid(write_project: WriteProject) -> None:
    text = model("m", "select * from raw.users;\n-- one row per user")
    assert transformation_errors(write_project, project(transformations__m=text)) == []

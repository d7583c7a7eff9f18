"""dbt projects as transformations, with real dbt (dbt-duckdb, dbt-postgres) on real databases.

The dbt project ``fixtures/dbt_shop`` has two staging views over ``source('ds_shop', 'orders')``
and ``source('ds_crm', 'customers')``, the table ``customer_totals`` joining them, an ephemeral
model, and five tests, one of which fails when an order has a negative amount. It runs over the
shop project of ``transformation_support.py``: its tables are loaded by real pipeline runs from
files, and dbt builds its models in the same DuckDB file (or PostgreSQL database). The manifest
is written by ``dwh dbt-parse`` (real ``dbt parse``) once per module and copied into each test's
project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dwh_dagster.cli import main
from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.conftest import FIXTURES, RunJob, WriteProject, duckdb_rows
from dwh_dagster_tests.orchestration.transformation_support import (
    CUSTOMERS,
    CUSTOMERS_TABLE,
    ORDERS_TABLE,
    tables_in,
    write_shop_project,
)

pytestmark = pytest.mark.slow

DBT_SHOP = FIXTURES / "dbt_shop"
STG_ORDERS = "marts/stg_orders"
STG_CUSTOMERS = "marts/stg_customers"
CUSTOMER_TOTALS = "marts/customer_totals"
DBT_MODELS = (STG_CUSTOMERS, STG_ORDERS, CUSTOMER_TOTALS)
CLEAN_ORDERS = [(1, 1, 10.0), (2, 1, 5.0), (3, 2, 7.5), (4, 3, 20.0)]
NEGATIVE_ORDERS = [*CLEAN_ORDERS, (5, 3, -1.0)]

MARTS = """
    transformation:
      name: marts
      type: dbt
      description: The shop's dbt project
      project_dir: ../dbt_shop
      destination: wh
      dataset_name: marts
      tags: {team: finance}
"""
ALL_JOB = """
    job:
      name: all
      pipelines: [{name: crm}, {name: shop}]
      transformations: [{name: marts}]
"""


@pytest.fixture(scope="module")
def parsed_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``target/manifest.json`` of the dbt project, written by ``dwh dbt-parse marts``."""
    root = tmp_path_factory.mktemp("parse")
    shutil.copytree(DBT_SHOP, root / "dbt_shop")
    defs = root / "yaml_defs"
    (defs / "transformations").mkdir(parents=True)
    (defs / "destinations").mkdir()
    (defs / "transformations" / "marts.yaml").write_text(_dedent(MARTS))
    (defs / "destinations" / "wh.yaml").write_text(
        "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n"
    )
    assert main(["dbt-parse", "--defs", str(defs), "marts"]) == 0
    manifest = root / "dbt_shop" / "target" / "manifest.json"
    assert manifest.is_file()
    return manifest


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip("\n")


def _project(
    write_project: WriteProject,
    manifest: Path | None,
    *,
    marts: str = MARTS,
    models: dict[str, str] | None = None,
    orders: list[tuple[int, int, float]] | None = None,
    jobs: dict[str, str] | None = None,
) -> Path:
    """The shop project with the dbt transformation ``marts``; the defs directory."""
    defs = write_shop_project(
        write_project,
        {"all": ALL_JOB} if jobs is None else jobs,
        models={"marts": marts, **(models or {})},
        orders=CLEAN_ORDERS if orders is None else orders,
    )
    project_dir = defs.parent / "dbt_shop"
    shutil.copytree(DBT_SHOP, project_dir, dirs_exist_ok=True)
    if manifest is not None:
        (project_dir / "target").mkdir(exist_ok=True)
        shutil.copyfile(manifest, project_dir / "target" / "manifest.json")
    return defs


def _errors(defs: Path) -> list[str]:
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    return [e.render(with_snippet=False) for e in info.value.errors]


def _check_results(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    out = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            out[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation.passed  # type: ignore[union-attr]
    return out


# -- definitions --------------------------------------------------------------------------------


def test_dbt_models_are_assets_over_the_loaded_tables_and_tests_are_checks(
    write_project: WriteProject, parsed_manifest: Path
) -> None:
    defs = build_definitions(load_project(_project(write_project, parsed_manifest)))
    graph = defs.resolve_asset_graph()
    for key in DBT_MODELS:
        assert graph.has(dg.AssetKey.from_user_string(key)), key
    # the ephemeral model is inlined by dbt: no relation, so no asset (and no key in the job)
    assert not graph.has(dg.AssetKey(["marts", "int_paid_orders"]))
    node = graph.get(dg.AssetKey.from_user_string(STG_ORDERS))
    # source('ds_shop', 'orders') is the table the pipeline shop loads
    assert node.parent_keys == {dg.AssetKey.from_user_string(ORDERS_TABLE)}
    assert graph.get(dg.AssetKey.from_user_string(STG_CUSTOMERS)).parent_keys == {
        dg.AssetKey.from_user_string(CUSTOMERS_TABLE)
    }
    assert graph.get(dg.AssetKey.from_user_string(CUSTOMER_TOTALS)).parent_keys == {
        dg.AssetKey.from_user_string(STG_ORDERS),
        dg.AssetKey.from_user_string(STG_CUSTOMERS),
    }
    assert node.group_name == "transformations"
    assert node.tags["team"] == "finance"
    assert set(node.kinds) >= {"dbt", "duckdb"}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert (STG_ORDERS, "assert_no_negative_amounts") in checks
    assert (CUSTOMER_TOTALS, "unique_customer_totals_customer_id") in checks
    assert (CUSTOMER_TOTALS, "not_null_customer_totals_customer_id") in checks
    job = defs.resolve_job_def("all")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} >= set(DBT_MODELS)


def test_a_sql_model_reads_a_dbt_model_and_a_dbt_source_nothing_loads_is_external(
    write_project: WriteProject, parsed_manifest: Path, tmp_path: Path
) -> None:
    top = """
        transformation:
          name: top_customers
          destination: wh
          dataset_name: analytics
          sql: select name, revenue from marts.customer_totals where revenue > 10
    """
    defs_dir = _project(write_project, parsed_manifest, models={"top_customers": top})
    # the crm pipeline no longer loads customers: that dbt source becomes an external table
    (defs_dir / "pipelines" / "crm.yaml").unlink()
    (defs_dir / "jobs" / "all.yaml").write_text(
        _dedent("""
            job:
              name: all
              pipelines: [{name: shop}]
              transformations: [{name: marts}, {name: top_customers}]
        """)
    )
    defs = build_definitions(load_project(defs_dir))
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["analytics", "top_customers"])).parent_keys == {
        dg.AssetKey.from_user_string(CUSTOMER_TOTALS)
    }
    external = graph.get(dg.AssetKey.from_user_string(CUSTOMERS_TABLE))
    assert not external.is_materializable
    assert graph.get(dg.AssetKey.from_user_string(STG_CUSTOMERS)).parent_keys == {external.key}


# -- running ------------------------------------------------------------------------------------


def test_a_job_loads_then_builds_the_dbt_models_and_runs_its_tests(
    write_project: WriteProject, parsed_manifest: Path, run_job: RunJob
) -> None:
    defs = _project(write_project, parsed_manifest)
    result = run_job(defs, "all")
    assert result.success
    database = defs.parent / "wh.duckdb"
    names = dict(CUSTOMERS)
    expected = sorted(
        (
            cid,
            names[cid],
            len([a for _, c, a in CLEAN_ORDERS if c == cid]),
            sum(a for _, c, a in CLEAN_ORDERS if c == cid),
        )
        for cid in {c for _, c, _ in CLEAN_ORDERS}
    )
    rows = duckdb_rows(
        database, "select customer_id, name, orders, revenue from marts.customer_totals order by 1"
    )
    assert rows == expected
    assert tables_in(defs.parent, "marts") == {"stg_orders", "stg_customers", "customer_totals"}
    materialized = {
        e.asset_key.to_user_string()  # type: ignore[union-attr]
        for e in result.get_asset_materialization_events()
    }
    assert materialized >= {*DBT_MODELS, ORDERS_TABLE, CUSTOMERS_TABLE}
    checks = _check_results(result)
    assert len(checks) == 5 and all(checks.values()), checks
    # nothing of the run is left in the user's dbt project but the committed manifest
    assert sorted(p.name for p in (defs.parent / "dbt_shop" / "target").iterdir()) == ["manifest.json"]
    assert not (defs.parent / "dbt_shop" / "logs").exists()


def test_a_failing_dbt_test_is_a_failed_check_and_its_downstream_model_is_not_built(
    write_project: WriteProject, parsed_manifest: Path, run_job: RunJob
) -> None:
    defs = _project(write_project, parsed_manifest, orders=NEGATIVE_ORDERS)
    result = run_job(defs, "all")
    assert not result.success
    checks = _check_results(result)
    assert checks[(STG_ORDERS, "assert_no_negative_amounts")] is False
    assert checks[(STG_ORDERS, "unique_stg_orders_order_id")] is True
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "assert_no_negative_amounts" in str(failure.event_specific_data.error)  # type: ignore[union-attr]
    # dbt skips what is built from the failing model: customer_totals does not exist
    assert "customer_totals" not in tables_in(defs.parent, "marts")
    with dg.DagsterInstance.get() as instance:
        record = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(CUSTOMER_TOTALS))
    assert record is None


def test_a_postgres_password_reaches_dbt_as_an_env_var_never_in_the_profile_file(
    write_project: WriteProject, parsed_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dwh_dagster.transform.dbt import build_dbt_plan, profiles_dir

    defs = _project(write_project, parsed_manifest)
    (defs / "destinations" / "pg.yaml").write_text(
        _dedent("""
            destination:
              name: pg
              type: postgres
              settings: {schema: marts}
              connection:
                {host: 127.0.0.1, database: test, username: root, credentials_secret_key: pg_password}
        """)
    )
    (defs / "secrets_mapping.yaml").write_text(
        _dedent("""
            secrets:
              pg_password: {env_var: DWH_TEST_PG_PASSWORD}
        """)
    )
    project = load_project(defs)
    dbt = project.dbt_projects["marts"]
    plan = build_dbt_plan(project, dbt)
    pg_plan = type(plan)(**{**plan.__dict__, "destination": project.destinations["pg"]})
    monkeypatch.setenv("DWH_TEST_PG_PASSWORD", "s3cret-value")
    with profiles_dir(pg_plan) as folder:
        text = (folder / "profiles.yml").read_text()
    assert "s3cret-value" not in text
    output = yaml.safe_load(text)["shop"]["outputs"]["dwh"]
    assert output["password"] == '{{ env_var("DWH_TEST_PG_PASSWORD", "") }}'
    assert (output["host"], output["user"], output["dbname"], output["schema"]) == (
        "127.0.0.1",
        "root",
        "test",
        "marts",
    )
    monkeypatch.delenv("DWH_TEST_PG_PASSWORD")
    with pytest.raises(RuntimeError, match="export DWH_TEST_PG_PASSWORD"), profiles_dir(pg_plan):
        pass


# -- validation ---------------------------------------------------------------------------------


def test_a_project_without_a_manifest_says_how_to_write_one(write_project: WriteProject) -> None:
    errors = _errors(_project(write_project, None))
    assert len(errors) == 1
    assert "transformations/marts.yaml:5:" in errors[0]  # the project_dir line
    assert "no dbt manifest" in errors[0] and "uv run dwh dbt-parse marts" in errors[0]


def test_a_model_file_newer_than_the_manifest_is_an_error(
    write_project: WriteProject, parsed_manifest: Path
) -> None:
    defs = _project(write_project, parsed_manifest)
    (defs.parent / "dbt_shop" / "models" / "marts" / "big_customers.sql").write_text(
        "select * from {{ ref('customer_totals') }} where revenue > 10\n"
    )
    errors = _errors(defs)
    assert len(errors) == 1
    assert "models/marts/big_customers.sql missing" in errors[0]
    assert "dwh dbt-parse marts" in errors[0]


def test_wrong_project_dir_destination_and_dataset_are_each_reported(
    write_project: WriteProject, parsed_manifest: Path
) -> None:
    defs = _project(
        write_project,
        parsed_manifest,
        marts=MARTS.replace("../dbt_shop", "../dbt_shopp"),
    )
    errors = _errors(defs)
    assert any("project_dir" in e and "no dbt_project.yml" in e for e in errors), errors
    files = {
        "destinations/files.yaml": "destination: {name: files, type: filesystem, "
        "connection: {bucket_url: out}}\n"
    }
    defs = _project(
        write_project,
        parsed_manifest,
        marts=MARTS.replace("destination: wh", "destination: files").replace(
            "dataset_name: marts", "dataset_name: other"
        ),
    )
    (defs / "destinations" / "files.yaml").write_text(files["destinations/files.yaml"])
    errors = _errors(defs)
    assert any(
        "transformation.destination" in e and "use a destination of type 'duckdb', 'postgres'" in e
        for e in errors
    ), errors
    assert any(
        "transformation.dataset_name" in e and "schema 'marts', not in 'other'" in e for e in errors
    ), errors


def test_a_dbt_model_writing_a_loaded_table_is_an_error(
    write_project: WriteProject, parsed_manifest: Path
) -> None:
    defs = _project(
        write_project, parsed_manifest, marts=MARTS.replace("dataset_name: marts", "dataset_name: ds_shop")
    )
    manifest = json.loads((defs.parent / "dbt_shop" / "target" / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            node["schema"] = "ds_shop"
            if node["name"] == "stg_orders":
                node["alias"] = "orders"
    (defs.parent / "dbt_shop" / "target" / "manifest.json").write_text(json.dumps(manifest))
    errors = _errors(defs)
    assert any("'ds_shop.orders'" in e and "pipeline 'shop' also writes" in e for e in errors), errors


def test_an_unknown_type_lists_sql_and_dbt(write_project: WriteProject) -> None:
    defs = write_project(
        {
            "transformations/m.yaml": "transformation: {name: m, type: dbtt, destination: wh}\n",
            "destinations/wh.yaml": "destination: {name: wh, type: duckdb}\n",
        }
    )
    errors = _errors(defs)
    assert len(errors) == 1
    assert "transformations/m.yaml:1:" in errors[0] and "'dbt'" in errors[0] and "'sql'" in errors[0], errors


def test_a_dbt_project_builds_in_postgres_over_tables_loaded_there(
    write_project: WriteProject, run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema

    with (
        unique_schema("dbt_crm", create=False) as crm,
        unique_schema("dbt_shop", create=False) as shop,
        unique_schema("dbt_marts", create=False) as marts,
    ):
        monkeypatch.setenv("DBT_SHOP_SCHEMA", shop)
        monkeypatch.setenv("DBT_CRM_SCHEMA", crm)
        defs = _project(
            write_project,
            None,
            marts=MARTS.replace("destination: wh", "destination: pg").replace(
                "dataset_name: marts", f"dataset_name: {marts}"
            ),
        )
        (defs / "destinations" / "pg.yaml").write_text(
            f"destination: {{name: pg, type: postgres, connection: "
            f"{{host: 127.0.0.1, database: test, username: {PG_USER}}}}}\n"
        )
        for name, dataset in (("crm", crm), ("shop", shop)):
            text = (defs / "pipelines" / f"{name}.yaml").read_text()
            (defs / "pipelines" / f"{name}.yaml").write_text(
                text.replace("config_file: wh", "config_file: pg").replace(
                    f"dataset_name: ds_{name}", f"dataset_name: {dataset}"
                )
            )
        assert main(["dbt-parse", "--defs", str(defs)]) == 0
        graph = build_definitions(load_project(defs)).resolve_asset_graph()
        assert graph.get(dg.AssetKey([marts, "stg_orders"])).parent_keys == {dg.AssetKey([shop, "orders"])}
        result = run_job(defs, "all")
        assert result.success
        rows = pg_query(f'select customer_id, orders, revenue from "{marts}".customer_totals order by 1')
        assert [(int(c), int(n), float(r)) for c, n, r in rows] == [(1, 2, 15.0), (2, 1, 7.5), (3, 1, 20.0)]
        checks = _check_results(result)
        assert len(checks) == 5 and all(checks.values()), checks
        counts = {
            e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata.get(
                "dagster/row_count"
            )  # type: ignore[union-attr]
            for e in result.get_asset_materialization_events()
        }
        assert counts[f"{marts}/customer_totals"].value == 3


@pytest.mark.parametrize("mode", ["parallel", "dag"])
def test_loads_then_dbt_then_a_sql_model_over_it_in_each_step_per_process_mode(
    mode: str, write_project: WriteProject, parsed_manifest: Path, dagster_home: Path
) -> None:
    from dwh_dagster.config.naming import dbt_op_name, pipeline_op_name, transformation_op_name
    from dwh_dagster_tests.orchestration.support import EV, execute_job_like_the_daemon

    top = """
        transformation:
          name: top_customers
          destination: wh
          dataset_name: analytics
          sql: select name, revenue from marts.customer_totals where revenue > 10
    """
    job = f"""
        job:
          name: all
          execution: {{mode: {mode}}}
          pipelines: [{{name: crm}}, {{name: shop}}]
          transformations: [{{name: top_customers}}, {{name: marts}}]
    """
    defs = _project(write_project, parsed_manifest, models={"top_customers": top}, jobs={"all": job})
    events = execute_job_like_the_daemon(defs, "all", dagster_home)
    assert events.status == dg.DagsterRunStatus.SUCCESS, events.output
    dbt_step, sql_step = dbt_op_name("marts"), transformation_op_name("wh")
    [dbt_start] = events.times(EV.STEP_START, dbt_step)
    for load in (pipeline_op_name("crm"), pipeline_op_name("shop")):
        assert max(events.times(EV.STEP_SUCCESS, load)) <= dbt_start
    [sql_start] = events.times(EV.STEP_START, sql_step)
    assert max(events.times(EV.STEP_SUCCESS, dbt_step)) <= sql_start
    assert events.materialized() >= {*DBT_MODELS, "analytics/top_customers"}
    rows = duckdb_rows(
        defs.parent / "wh.duckdb", "select name, revenue from analytics.top_customers order by 1"
    )
    assert rows == [("ada", 15.0), ("grace", 20.0)]


def test_eager_dbt_models_are_watched_by_the_automation_sensor_and_selectable_by_name(
    write_project: WriteProject, parsed_manifest: Path
) -> None:
    from dwh_dagster.config.naming import EAGER_AUTOMATION_SENSOR
    from dwh_dagster.listing import project_summary, summary_line
    from dwh_dagster.selection import parse_selection

    defs_dir = _project(write_project, parsed_manifest, marts=MARTS + "      automation: eager\n")
    project = load_project(defs_dir)
    defs = build_definitions(project)
    graph = defs.resolve_asset_graph()
    for key in DBT_MODELS:
        assert graph.get(dg.AssetKey.from_user_string(key)).automation_condition is not None, key
    sensor = defs.resolve_sensor_def(EAGER_AUTOMATION_SENSOR)
    targeted = sensor.asset_selection.resolve(graph)  # type: ignore[union-attr]
    assert {k.to_user_string() for k in targeted} == set(DBT_MODELS)
    downstream = parse_selection("stg_orders+", project).resolve(graph)
    assert {k.to_user_string() for k in downstream} == {STG_ORDERS, CUSTOMER_TOTALS}
    [listed] = project_summary(project)["dbt_projects"]
    assert listed["assets"] == [CUSTOMER_TOTALS, STG_CUSTOMERS, STG_ORDERS]
    assert listed["reads"] == ["ds_crm.customers", "ds_shop.orders"]
    assert "1 dbt project" in summary_line(project)

"""Validation of ``checks:``: each mistake is one located error with a hint, all in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from dwh_dagster.config.errors import ConfigError, ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.orchestration.transformation_support import write_shop_project


def _errors(defs: Path) -> list[ConfigError]:
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    return info.value.errors


def _shop_with(write_project: WriteProject, checks: str) -> Path:
    defs = write_shop_project(write_project)
    path = defs / "pipelines" / "shop.yaml"
    path.write_text(path.read_text() + checks)
    return defs


def test_valid_checks_load_and_resolve(write_project: WriteProject) -> None:
    defs = _shop_with(
        write_project,
        "  checks:\n    orders:\n      - {type: not_null, columns: [order_id]}\n"
        "      - {type: relationships, column: customer_id, to: ds_crm.customers, field: id}\n",
    )
    project = load_project(defs)
    assert [c.type for c in project.pipelines["shop"].model.checks["orders"]] == ["not_null", "relationships"]
    from dwh_dagster.listing import project_summary, render_listing

    [shop] = [p for p in project_summary(project)["pipelines"] if p["name"] == "shop"]
    assert shop["checks"] == {"orders": ["not_null_order_id (error)", "relationships_customer_id (error)"]}
    assert "    Checks of orders: not_null_order_id (error), relationships_customer_id (error)" in (
        render_listing(project).splitlines()
    )


def test_every_check_mistake_is_reported_in_one_pass_on_its_line(write_project: WriteProject) -> None:
    checks = [
        "  checks:",
        "    order:",  # +2: not a table of the pipeline
        "      - {type: not_null, columns: [order_id]}",
        "    orders:",
        "      - {type: unique, columns: [order_id]}",
        "      - {type: unique, columns: [order_id]}",  # +6: same name
        "      - {type: expression, expression: 'amount >'}",  # +7
        "      - {type: not_null, columns: [amount], where: 'and x'}",  # +8
        "      - {type: relationships, column: customer_id, to: ds_crm.customer, field: id}",  # +9
        "      - {type: row_count, min: 5, max: 2}",  # +10
    ]
    defs = write_shop_project(write_project)
    base = len((defs / "pipelines" / "shop.yaml").read_text().splitlines())
    errors = _errors(_shop_with(write_project, "\n".join(checks) + "\n"))
    text = "\n".join(e.render(with_snippet=False) for e in errors)
    assert sorted(e.line - base for e in errors) == [2, 6, 7, 8, 9, 10], text
    assert all(str(e.file).endswith("pipelines/shop.yaml") for e in errors)
    assert "'order' is not a table this pipeline loads; did you mean 'orders'?" in text
    assert "two checks of this table are named 'unique_order_id'" in text
    assert "table 'ds_crm.customer' is not written by this project; did you mean 'ds_crm.customers'?" in text
    assert "max 2 is below min 5" in text


def test_an_unknown_check_type_names_the_near_miss_and_nothing_else(write_project: WriteProject) -> None:
    defs = _shop_with(
        write_project, "  checks:\n    orders:\n      - {type: accepted_value, column: x, values: [1]}\n"
    )
    errors = _errors(defs)
    text = "\n".join(e.render(with_snippet=False) for e in errors)
    assert len(errors) == 1, text  # the models reading the pipeline's tables are not reported
    assert (
        "pipeline.checks.orders[0].type: unknown type 'accepted_value'; did you mean 'accepted_values'?"
        in text
    )


def test_checks_into_a_filesystem_destination_are_an_error(write_project: WriteProject) -> None:
    defs = _shop_with(
        write_project, "  checks:\n    orders:\n      - {type: not_null, columns: [order_id]}\n"
    )
    (defs / "destinations" / "lake.yaml").write_text(
        "destination: {name: lake, type: filesystem, connection: {bucket_url: out}}\n"
    )
    path = defs / "pipelines" / "shop.yaml"
    path.write_text(path.read_text().replace("config_file: wh", "config_file: lake"))
    for name in ("stg_orders", "big_orders", "customer_revenue"):
        (defs / "transformations" / f"{name}.yaml").unlink()
    errors = _errors(defs)
    assert len(errors) == 1, [e.render(with_snippet=False) for e in errors]
    assert "filesystem destination: checks run SQL" in errors[0].render(with_snippet=False)


def test_a_check_on_a_column_the_models_select_does_not_return_is_an_error(
    write_project: WriteProject,
) -> None:
    defs = write_shop_project(write_project)
    path = defs / "transformations" / "stg_orders.yaml"
    path.write_text(
        path.read_text()
        + "  checks:\n"
        + "    - {type: not_null, columns: [order_idd]}\n"
        + "    - {type: accepted_values, column: customer_id, values: [1]}\n"
        + "    - {type: schema, columns: {amount: double, total: double}}\n"
    )
    base = len(path.read_text().splitlines()) - 3
    errors = _errors(defs)
    text = "\n".join(e.render(with_snippet=False) for e in errors)
    assert [(e.line - base) for e in errors] == [1, 3], text
    assert "column 'order_idd' is not one the model's select returns; did you mean 'order_id'?" in text
    assert "column 'total' is not one the model's select returns" in text
    # with a star the columns are not known at validation: the check finds out at run time
    path.write_text(path.read_text().replace("select order_id, customer_id, amount", "select *"))
    assert len(load_project(defs).transformations["stg_orders"].model.checks) == 3

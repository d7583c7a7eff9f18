"""One run order for all jobs: sequential orders and depends_on must agree, or validation says where."""

from __future__ import annotations

from itertools import pairwise

import pytest

from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import WriteProject

BASE = {
    "sources/files.yaml": """
        source:
          name: files
          type: filesystem
          connection: {bucket_url: data}
          resources:
            - {name: a, file_glob: "a*.csv", format: csv}
            - {name: b, file_glob: "b*.csv", format: csv}
            - {name: c, file_glob: "c*.csv", format: csv}
    """,
    "destinations/wh.yaml": "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n",
    **{
        f"pipelines/p_{x}.yaml": f"""
            pipeline:
              name: p_{x}
              source: {{config_file: files, resources: [{x}]}}
              destination: {{config_file: wh, dataset_name: raw_{x}}}
        """
        for x in "abc"
    },
}


def job(name: str, mode: str, entries: str) -> str:
    return f"""
        job:
          name: {name}
          execution: {{mode: {mode}}}
          pipelines:
{entries}
    """


def test_run_order_follows_sequential_jobs_and_dependencies(write_project: WriteProject) -> None:
    defs = write_project(
        {
            **BASE,
            "jobs/first.yaml": job(
                "first",
                "sequential",
                "            - {name: p_c, order: 1}\n            - {name: p_a, order: 2}\n",
            ),
            "jobs/second.yaml": job(
                "second", "dag", "            - {name: p_b, depends_on: [p_a]}\n            - {name: p_a}\n"
            ),
        }
    )
    project = load_project(defs, "dev")
    order = project.run_order()
    assert order.index("p_c") < order.index("p_a") < order.index("p_b")
    assert project.run_order_constraints()["p_b"] == ["p_a"]
    assert project.pipelines["p_b"].depends_on == ()  # a job's depends_on is not lineage


def test_sequential_jobs_with_opposite_orders_are_reported(write_project: WriteProject) -> None:
    defs = write_project(
        {
            **BASE,
            "jobs/first.yaml": job(
                "first",
                "sequential",
                "            - {name: p_a, order: 1}\n            - {name: p_b, order: 2}\n",
            ),
            "jobs/second.yaml": job(
                "second",
                "sequential",
                "            - {name: p_b, order: 1}\n            - {name: p_a, order: 2}\n",
            ),
        }
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs, "dev")
    [error] = info.value.errors
    assert error.file.name == "second.yaml"
    assert error.field == "job.pipelines"
    assert "conflicts with depends_on or with the sequential jobs 'first'" in error.message
    assert "p_a -> p_b -> p_a" in error.message or "p_b -> p_a -> p_b" in error.message


def test_sequential_order_against_a_dependency_is_reported(write_project: WriteProject) -> None:
    files = dict(BASE)
    files["pipelines/p_b.yaml"] = """
        pipeline:
          name: p_b
          source: {config_file: files, resources: [b]}
          destination: {config_file: wh, dataset_name: raw_b}
          depends_on: [p_a]
    """
    files["jobs/first.yaml"] = job(
        "first", "sequential", "            - {name: p_b, order: 1}\n            - {name: p_a, order: 2}\n"
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(write_project(files), "dev")
    assert "conflicts with depends_on" in info.value.errors[0].message


def test_dag_jobs_whose_dependencies_cross_are_reported(write_project: WriteProject) -> None:
    defs = write_project(
        {
            **BASE,
            "jobs/first.yaml": job(
                "first", "dag", "            - {name: p_a, depends_on: [p_b]}\n            - {name: p_b}\n"
            ),
            "jobs/second.yaml": job(
                "second", "dag", "            - {name: p_b, depends_on: [p_a]}\n            - {name: p_a}\n"
            ),
        }
    )
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs, "dev")
    [error] = info.value.errors
    assert "depends_on across pipelines and dag jobs form a cycle" in error.message


def test_long_chains_are_ordered_and_checked_without_recursion() -> None:
    """A sequential job of 5,000 pipelines listed in reverse name order: a chain far deeper than
    Python's recursion limit (the recursive version raised RecursionError at about 1,000)."""
    from dwh_dagster.config.ordering import find_cycles, has_cycle_through, topological_order

    names = [f"p_{i:05d}" for i in range(5000)]
    before = {later: [earlier] for earlier, later in pairwise(reversed(names))}
    assert topological_order(before, names) == list(reversed(names))
    assert find_cycles(before) == []
    assert not has_cycle_through(before, names[:1])
    looped = {**before, names[-1]: [names[0]]}  # close the chain into one big cycle
    assert has_cycle_through(looped, names[:1])
    assert len(find_cycles(looped)) == 1

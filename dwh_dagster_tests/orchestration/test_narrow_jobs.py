"""Jobs resolved against only the definitions they touch are the jobs Dagster itself would resolve.

``NarrowAssetJobDefinition`` exists for load time (``benchmarks/definitions.py``). These tests
build the same code location twice: as shipped, and with ``build_job`` handing Dagster the job
``define_asset_job`` made, untouched. They compare what Dagster serves the webserver and daemon:
the whole repository snapshot, every job's asset graph, and the subsets of a job the UI launches.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

import dwh_dagster.jobs
from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster.narrow_jobs import NarrowAssetJobDefinition
from dwh_dagster_tests.conftest import YAML_DEFS, WriteProject

# two sources, a two-resource pipeline, a pipeline that depends on another, and jobs that take
# a pipeline without the one it depends on, both of them, or a pipeline whose source another
# pipeline also reads
CHAINED_PROJECT = {
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
    "sources/more.yaml": """
        source:
          name: more
          type: filesystem
          connection: {bucket_url: more}
          resources:
            - {name: d, file_glob: "d*.csv", format: csv}
    """,
    "destinations/wh.yaml": """
        destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}
    """,
    "pipelines/first.yaml": """
        pipeline:
          name: first
          source: {config_file: files, resources: [a, b]}
          destination: {config_file: wh, dataset_name: raw}
    """,
    "pipelines/second.yaml": """
        pipeline:
          name: second
          source: {config_file: files, resources: [c]}
          destination: {config_file: wh, dataset_name: staged}
          depends_on: [first]
    """,
    "pipelines/third.yaml": """
        pipeline:
          name: third
          source: {config_file: more, resources: [d]}
          destination: {config_file: wh, dataset_name: other}
    """,
    "jobs/only_second.yaml": """
        job:
          name: only_second
          pipelines: [{name: second}]
    """,
    "jobs/chain.yaml": """
        job:
          name: chain
          pipelines: [{name: first}, {name: second}]
          execution: {mode: dag}
    """,
    "jobs/all.yaml": """
        job:
          name: all
          pipelines: [{name: first}, {name: second}, {name: third}]
          execution: {mode: parallel, max_parallelism: 2}
    """,
    "triggers/nightly.yaml": """
        trigger:
          name: nightly
          type: cron
          job: chain
          schedule: {cron: "0 2 * * *"}
    """,
}


def _ours_and_dagsters(
    project_dir: Path, environment: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dg.Definitions, dg.Definitions]:
    """The project's definitions as shipped, and with Dagster's own asset jobs (not narrowed)."""
    project = load_project(project_dir, environment)
    ours = build_definitions(project)
    with monkeypatch.context() as patched:
        patched.setattr(dwh_dagster.jobs, "narrow", lambda job: job)
        theirs = build_definitions(project)
    assert all(type(j) is NarrowAssetJobDefinition for j in ours.jobs or [])
    assert all(type(j) is UnresolvedAssetJobDefinition for j in theirs.jobs or [])
    return ours, theirs


def _snapshot(defs: dg.Definitions) -> str:
    return serialize_value(RepositorySnap.from_def(defs.get_repository_def()))


def _job_graphs(defs: dg.Definitions) -> dict[str, list[tuple[object, ...]]]:
    """Each job's asset graph, node by node: what execution and the job's page read from it."""
    graphs = {}
    for job in defs.resolve_all_job_defs():
        graph = job.asset_layer.asset_graph
        graphs[job.name] = [
            (
                node.key.to_user_string(),
                node.is_executable,
                node.group_name,
                sorted(node.kinds),
                serialize_value(dict(node.metadata)),
                node.partitions_def,
                sorted(k.to_user_string() for k in node.parent_keys),
                sorted(k.to_user_string() for k in node.child_keys),
            )
            for node in sorted(graph.asset_nodes, key=lambda n: n.key.to_user_string())
        ]
    return graphs


def _project(name: str, write_project: WriteProject) -> Path:
    return YAML_DEFS if name == "yaml_defs" else write_project(CHAINED_PROJECT)


@pytest.mark.parametrize(
    ("project_name", "environment"), [("yaml_defs", "dev"), ("yaml_defs", "prod"), ("chained", "dev")]
)
def test_repository_snapshot_is_dagsters_own(
    project_name: str, environment: str, write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = _ours_and_dagsters(_project(project_name, write_project), environment, monkeypatch)
    assert _snapshot(ours) == _snapshot(theirs)
    assert _job_graphs(ours) == _job_graphs(theirs)


def test_job_graph_holds_its_assets_and_their_inputs_only(write_project: WriteProject) -> None:
    defs = build_definitions(load_project(write_project(CHAINED_PROJECT), "dev"))
    job = defs.resolve_job_def("only_second")
    graph = job.asset_layer.asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    # second's table, what it reads (its source, and first's tables through depends_on): not third's
    assert {k.to_user_string() for k in graph.executable_asset_keys} == {"staged/c"}
    assert keys == {"staged/c", "raw/a", "raw/b", "sources/files"}
    # the graph Dagster resolved it against, where Dagster's own job would have the whole location
    parent = {k.to_user_string() for k in graph.source_asset_graph.get_all_asset_keys()}
    assert parent == keys
    everything = defs.get_repository_def().asset_graph.get_all_asset_keys()
    assert "other/d" in {k.to_user_string() for k in everything}


@pytest.mark.parametrize(
    ("job_name", "subset"),
    [("chain", {"raw/a"}), ("chain", {"raw/b", "staged/c"}), ("all", {"other/d", "raw/a"})],
)
def test_ui_subsets_of_a_job_are_dagsters_own(
    job_name: str, subset: set[str], write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = _ours_and_dagsters(write_project(CHAINED_PROJECT), "dev", monkeypatch)
    selection = {dg.AssetKey.from_user_string(k) for k in subset}
    snaps = []
    for defs in (ours, theirs):
        sub = defs.resolve_job_def(job_name).get_subset(asset_selection=selection)
        assert sub.asset_layer.executable_asset_keys == selection
        snaps.append(serialize_value(sub.get_job_snapshot()))
    assert snaps[0] == snaps[1]

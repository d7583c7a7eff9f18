"""Dagster asset jobs from job models."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dwh_dagster.models.jobs import Job
from dwh_dagster.models.pipelines import Pipeline
from dwh_dagster.naming import table_asset_key
from dwh_dagster.project import Project
from dwh_dagster.tags import yaml_tags


def pipeline_asset_keys(project: Project, pipeline: Pipeline) -> list[dg.AssetKey]:
    """The tables a pipeline loads."""
    dataset = project.dataset_for(pipeline)
    return [dg.AssetKey(table_asset_key(dataset, r)) for r in project.resources_for(pipeline)]


def job_asset_keys(project: Project, job: Job) -> list[dg.AssetKey]:
    """The tables of a job's enabled pipelines."""
    return [
        key for _, pipeline in project.job_pipelines(job) for key in pipeline_asset_keys(project, pipeline)
    ]


def job_step_count(project: Project, job: Job) -> int:
    """Steps in a run of the whole job: one per enabled pipeline (a pipeline is one multi-asset op)."""
    return len({pipeline.name for _, pipeline in project.job_pipelines(job)})


def build_executor(project: Project, job: Job) -> dg.ExecutorDefinition:
    """How a job's steps run.

    ``sequential``: one step at a time in this process, in the shared run order (op priorities).
    ``parallel`` and ``dag``: one process per step, at most ``max_parallelism`` at a time (a dag
    step waits for its depends_on inside the step; the shared run order starts them first).
    Retries are done by the steps themselves (see ``assets/pipeline_assets.py``).

    A job of one step runs it in the run's process whatever its mode: a step process would only
    add a second Python start and code load (about a second of CPU, more on a busy machine;
    ``benchmarks/run_overhead.py``) and nothing would run beside it. The step keeps its mode's
    policy (retries through Dagster for ``parallel`` and ``dag``), which the in-process executor
    honours too.
    """
    if job.execution.mode == "sequential" or job_step_count(project, job) == 1:
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": job.execution.max_parallelism})


class NarrowAssetJobDefinition(UnresolvedAssetJobDefinition):
    """An asset job that Dagster resolves against only the definitions it touches.

    Dagster resolves every asset job against the whole code location: ``get_asset_graph_for_job``
    walks all asset definitions once per job, so N one-pipeline jobs over N pipelines cost N x N
    (at 2,000 pipelines most of the load time; ``benchmarks/definitions.py``). This job first
    picks, by key look-ups, the definitions of its selected assets, of their inputs and of the
    checks on them, and lets Dagster resolve it against a graph of just those. The resolved job is
    the same: Dagster's job graph holds exactly these definitions either way (the selected assets
    executable, their inputs as unexecutable external assets). Subsets of the job launched from the
    UI are taken within that graph, so within the job, as before.
    """

    def resolve(
        self,
        asset_graph: AssetGraph,
        default_executor_def: dg.ExecutorDefinition | None = None,
        resource_defs: Mapping[str, dg.ResourceDefinition] | None = None,
    ) -> dg.JobDefinition:
        """The job resolved against the part of ``asset_graph`` that it touches."""
        return super().resolve(
            asset_graph=narrow_asset_graph(asset_graph, self.selection),
            default_executor_def=default_executor_def,
            resource_defs=resource_defs,
        )


def narrow_asset_graph(asset_graph: AssetGraph, selection: dg.AssetSelection) -> AssetGraph:
    """The definitions of the selected assets, of the assets they read and of checks on them.

    Unknown selected keys raise as Dagster does (``selection.resolve``); inputs that no definition
    provides stay out, as they would in Dagster's own job graph.
    """
    by_id: dict[int, dg.AssetsDefinition] = {}
    for key in selection.resolve(asset_graph):
        assets_def = asset_graph.assets_def_for_key(key)
        by_id[id(assets_def)] = assets_def
        for upstream in assets_def.node_keys_by_input_name.values():
            if asset_graph.has(upstream):
                upstream_def = asset_graph.assets_def_for_key(upstream)
                by_id[id(upstream_def)] = upstream_def
    for check_key in selection.resolve_checks(asset_graph):
        checks_def = asset_graph.assets_def_for_key(check_key)
        by_id[id(checks_def)] = checks_def
    return AssetGraph.from_assets(list(by_id.values()))


def build_job(project: Project, job: Job) -> NarrowAssetJobDefinition:
    """An asset job over the assets of the job's enabled pipelines, run as its execution mode says."""
    asset_job = dg.define_asset_job(
        name=job.name,
        selection=dg.AssetSelection.assets(*job_asset_keys(project, job)),
        description=job.description,
        tags={
            **yaml_tags(job.tags),
            "dwh/job": job.name,
            "dwh/execution_mode": job.execution.mode,
            # with run monitoring on (dagster.yaml), Dagster terminates runs that outlive this
            **(
                {"dagster/max_runtime": str(job.sla.duration)}
                if job.sla and job.sla.action == "terminate"
                else {}
            ),
        },
        executor_def=build_executor(project, job),
    )
    return NarrowAssetJobDefinition(
        **{field: getattr(asset_job, field) for field in UnresolvedAssetJobDefinition.__annotations__}
    )

"""Asset jobs that Dagster resolves in time proportional to the job, not to the code location.

Imports only Dagster, so the hand-written floor of ``benchmarks/definitions.py`` can use it too.

Why private Dagster modules: Dagster has no public way to resolve an asset job against part of
the code location. ``dg.define_asset_job`` returns an ``UnresolvedAssetJobDefinition`` (not
exported by ``dagster``) that ``Definitions`` resolves against the whole ``AssetGraph`` (not
exported either), and neither ``Definitions`` nor ``define_asset_job`` takes an asset graph or a
resolution hook. So this module subclasses the one and builds the other, and relies on exactly:
``UnresolvedAssetJobDefinition.resolve(asset_graph, default_executor_def, resource_defs)``, its
record fields (``__annotations__`` = the keyword arguments of its constructor),
``AssetGraph.from_assets``, ``AssetGraph.has`` and ``AssetGraph.assets_def_for_key``.
``dwh_dagster_tests/orchestration/test_narrow_jobs_dagster_contract.py`` checks each of these on
the installed Dagster and fails, naming what moved, when an upgrade changes them;
``test_narrow_jobs.py`` checks that the jobs are the ones Dagster itself resolves. Drop this
module when Dagster resolves asset jobs without a pass over the whole location.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


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

    Costs look-ups of the selected keys, and the pass over the location's asset checks that
    Dagster's ``resolve_checks`` makes (none when there are no checks), never a pass over all
    asset definitions. Unknown selected keys raise as in Dagster's own resolution.
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


def narrow(job: UnresolvedAssetJobDefinition) -> NarrowAssetJobDefinition:
    """The same job (every field kept) resolved as :class:`NarrowAssetJobDefinition` does."""
    return NarrowAssetJobDefinition(
        **{field: getattr(job, field) for field in UnresolvedAssetJobDefinition.__annotations__}
    )

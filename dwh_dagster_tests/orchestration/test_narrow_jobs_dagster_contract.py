"""The private Dagster API that ``dwh_dagster.narrow_jobs`` relies on is still there and unchanged.

``narrow_jobs`` subclasses Dagster's ``UnresolvedAssetJobDefinition`` and builds an ``AssetGraph``
itself, because no public Dagster API resolves an asset job against part of a code location (see
its docstring). Each test names one thing it relies on, so a Dagster upgrade that moves it fails
here, saying what moved, before anything subtler breaks.
"""

from __future__ import annotations

import inspect

import dagster as dg
import pytest

from dwh_dagster import narrow_jobs
from dwh_dagster.narrow_jobs import NarrowAssetJobDefinition, narrow, narrow_asset_graph

UPGRADE_HINT = (
    "Dagster's private asset-job API changed: re-check dwh_dagster/narrow_jobs.py against the "
    "installed Dagster (see its module docstring) or drop it if Dagster now resolves jobs narrowly."
)


def _unresolved_job_class() -> type:
    """The class ``dg.define_asset_job`` returns: the one ``narrow_jobs`` subclasses."""
    return type(dg.define_asset_job("probe", selection="a"))


def test_define_asset_job_still_returns_the_class_that_narrow_jobs_subclasses() -> None:
    assert issubclass(NarrowAssetJobDefinition, _unresolved_job_class()), UPGRADE_HINT
    assert _unresolved_job_class() is narrow_jobs.UnresolvedAssetJobDefinition, UPGRADE_HINT


def test_the_job_record_fields_are_its_constructor_arguments() -> None:
    """``narrow`` copies ``__annotations__``: they must be every argument, or a field is lost."""
    job_class = _unresolved_job_class()
    fields = set(job_class.__annotations__)
    arguments = set(inspect.signature(job_class.__new__).parameters) - {"cls"}
    assert fields == arguments, f"{UPGRADE_HINT}\nfields {sorted(fields)} != arguments {sorted(arguments)}"


def test_resolve_takes_the_arguments_that_narrow_jobs_passes() -> None:
    parameters = list(inspect.signature(_unresolved_job_class().resolve).parameters)
    assert parameters == ["self", "asset_graph", "default_executor_def", "resource_defs"], UPGRADE_HINT


@pytest.mark.parametrize("method", ["from_assets", "has", "assets_def_for_key"])
def test_asset_graph_still_has_what_narrow_asset_graph_calls(method: str) -> None:
    assert callable(getattr(narrow_jobs.AssetGraph, method, None)), (
        f"AssetGraph.{method} is gone. {UPGRADE_HINT}"
    )


def test_narrow_keeps_every_field_of_a_job() -> None:
    """A job with its fields set comes out of ``narrow`` with the same value in each field."""
    upstream = dg.AssetSpec("upstream")

    @dg.asset(deps=[upstream])
    def downstream() -> None:
        pass

    @dg.success_hook
    def on_success(_context: dg.HookContext) -> None:
        pass

    job = dg.define_asset_job(
        "every_field",
        selection=[downstream],
        config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
        description="a job with every field set",
        tags={"team": "data"},
        run_tags={"run": "tag"},
        metadata={"owner": "data-team"},
        executor_def=dg.multiprocess_executor,
        hooks={on_success},
        op_retry_policy=dg.RetryPolicy(max_retries=2),
        owners=["team:data"],
    )
    narrowed = narrow(job)
    assert isinstance(narrowed, NarrowAssetJobDefinition)
    for field in type(job).__annotations__:
        assert getattr(narrowed, field) == getattr(job, field), field


def test_narrow_asset_graph_holds_the_selected_assets_their_inputs_and_checks_only() -> None:
    @dg.asset
    def a() -> None:
        pass

    @dg.asset(deps=[a])
    def b() -> None:
        pass

    @dg.asset
    def unrelated() -> None:
        pass

    @dg.asset_check(asset=b)
    def b_has_rows() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    graph = narrow_jobs.AssetGraph.from_assets([a, b, unrelated, b_has_rows])
    narrowed = narrow_asset_graph(graph, dg.AssetSelection.assets(b))
    assert {key.to_user_string() for key in narrowed.get_all_asset_keys()} == {"a", "b"}
    assert {key.name for key in narrowed.asset_check_keys} == {"b_has_rows"}

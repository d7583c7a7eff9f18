"""dbt projects as assets: dagster-dbt's manifest-based multi-asset, one per dbt transformation.

Every model, seed and snapshot of the manifest is an asset keyed ``<schema>/<relation>`` like every
table here; a ``source('demo', 'orders')`` is the asset of whatever loads or builds ``demo.orders``
(a pipeline resource, a SQL model), so dbt models join the one lineage graph. dbt tests are
Dagster asset checks. The step runs ``dbt build`` with a profile generated from the destination's
YAML; for DuckDB it holds the file's one-writer lock and pool, as loads and SQL models do.

dagster-dbt (and dbt-core, which it imports) is imported only by projects that have a dbt
transformation: it costs about a second of definitions load.
"""

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dwh_dagster.assets.pipeline_assets import StepPolicy, failed_steps, writer_pool
from dwh_dagster.assets.transformation_assets import eager_condition
from dwh_dagster.config.dbt_project import load_manifest_json
from dwh_dagster.config.models.destinations import DuckDbDestination
from dwh_dagster.config.naming import dbt_op_name
from dwh_dagster.config.resolved import ResolvedDbtProject, ResolvedProject
from dwh_dagster.ingestion.locks import destination_write_lock
from dwh_dagster.tags import yaml_tags
from dwh_dagster.transform.dbt import PROFILE_TARGET, DbtPlan, build_dbt_plan, dbt_executable, profiles_dir

DEFAULT_GROUP = "transformations"


class YamlDbtTranslator(DagsterDbtTranslator):
    """Asset keys, groups, tags, owners and automation of one dbt transformation's resources."""

    def __init__(self, dbt: ResolvedDbtProject):
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.dbt = dbt
        self.source_keys = {source.unique_id: source.asset_key for source in dbt.sources}

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """``<schema>/<relation>``; a source: the key of the table's producer."""
        key = self.source_keys.get(dbt_resource_props["unique_id"])
        if key is not None:
            return dg.AssetKey(list(key))
        props = dbt_resource_props
        return dg.AssetKey([props["schema"], props.get("alias") or props.get("identifier") or props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The dbt ``group``, else the YAML ``group``, else ``transformations``."""
        return super().get_group_name(dbt_resource_props) or self.dbt.model.group or DEFAULT_GROUP

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        """dbt's tags and the YAML ``tags``."""
        return {**super().get_tags(dbt_resource_props), **yaml_tags(self.dbt.model.tags)}

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        """dbt's owner, else the YAML ``owners``."""
        return super().get_owners(dbt_resource_props) or list(self.dbt.model.owners) or None

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        """dbt's metadata, the transformation and the table's name."""
        key = self.get_asset_key(dbt_resource_props).path
        return {
            **super().get_metadata(dbt_resource_props),
            "dwh/transformation": self.dbt.name,
            "dwh/destination": self.dbt.destination_name,
            "dagster/table_name": ".".join(key),
        }

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        """Eager for every resource when the YAML says ``automation: eager``."""
        if self.dbt.model.automation == "eager":
            return eager_condition()
        return super().get_automation_condition(dbt_resource_props)


def dbt_target_path(context: AssetExecutionContext, plan: DbtPlan) -> Path:
    """Where one step attempt's dbt artifacts and ``dbt.log`` go: beside the run's other files in
    the instance's storage, not in the user's project."""
    attempt = f"{plan.name}-{context.retry_number}"
    return Path(context.instance.storage_directory()) / "dbt" / context.run.run_id / attempt


def _dbt_build(context: AssetExecutionContext, plan: DbtPlan) -> Iterator[Any]:
    with profiles_dir(plan) as profiles:
        dbt = DbtCliResource(
            project_dir=str(plan.project_dir),
            profiles_dir=str(profiles),
            profile=plan.profile,
            target=PROFILE_TARGET,
            dbt_executable=dbt_executable(),
            global_config_flags=["--no-use-colors"],
        )
        with destination_write_lock(plan.destination, plan.local_path, context.log.info):
            invocation = dbt.cli(["build"], context=context, target_path=dbt_target_path(context, plan))
            if not isinstance(plan.destination, DuckDbDestination):
                yield from invocation.stream().fetch_row_counts()
                return
            # dbt-duckdb's in-process adapter (what fetch_row_counts uses) cannot open a file this
            # process already has open with dlt's settings; and while dbt runs, its process holds
            # the file. So: the events once dbt has finished, with counts read over our connection.
            events: list[Any] = []
            failure: Exception | None = None
            try:
                events.extend(invocation.stream())
            except Exception as exc:
                failure = exc
            database = Path(plan.local_path(plan.destination.connection.database))
            yield from with_duckdb_row_counts(events, database, plan.asset_keys)
            if failure is not None:
                raise failure


def with_duckdb_row_counts(
    events: list[Any], database: Path, asset_keys: Sequence[tuple[str, str]]
) -> Iterator[Any]:
    """``events`` with ``dagster/row_count`` on the outputs and materializations of the tables
    among ``asset_keys`` (views are not counted: that would run their query)."""
    import duckdb

    by_output = {dg.AssetKey(list(key)).to_python_identifier(): key for key in asset_keys}

    keyed = [e for e in events if isinstance(e, dg.Output | dg.AssetMaterialization)]
    if not keyed:
        yield from events
        return
    connection = duckdb.connect(str(database))
    try:
        relations = {
            (str(schema), str(name))
            for schema, name in connection.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE'"
            ).fetchall()
        }
        for event in events:
            if isinstance(event, dg.Output):
                path: tuple[str, ...] = by_output.get(event.output_name, ())
            elif isinstance(event, dg.AssetMaterialization):
                path = tuple(event.asset_key.path)
            else:
                path = ()
            if len(path) == 2 and path in relations:
                (count,) = connection.execute(f'select count(*) from "{path[0]}"."{path[1]}"').fetchone() or (
                    0,
                )
                event = event.with_metadata({**(event.metadata or {}), "dagster/row_count": int(count)})
            yield event
    finally:
        connection.close()


def build_dbt_assets(
    project: ResolvedProject, dbt: ResolvedDbtProject, policies: Mapping[str, StepPolicy]
) -> dg.AssetsDefinition:
    """The resources of one dbt project as one subsettable multi-asset with its tests as checks."""
    plan = build_dbt_plan(project, dbt)
    default = StepPolicy()

    @dbt_assets(
        manifest=load_manifest_json(dbt.manifest_path),
        dagster_dbt_translator=YamlDbtTranslator(dbt),
        name=dbt_op_name(dbt.name),
        op_tags={"dagster/priority": "0"},
        pool=writer_pool(dbt.destination, plan.local_path),
    )
    def _dbt(context: AssetExecutionContext) -> Iterator[Any]:
        policy = policies.get(context.job_name, default)
        if policy.fail_fast:
            failed = failed_steps(context)
            if failed:
                context.log.warning(
                    f"dbt project {dbt.name} not built: {', '.join(failed)} failed earlier in this run "
                    f"and job {context.job_name} stops at the first failure (continue_on_failure: false)"
                )
                return
        try:
            yield from _dbt_build(context, plan)
        except Exception as exc:
            retry = policy.retry
            if context.retry_number + 1 < retry.max_attempts:
                wait = retry.delay_before(context.retry_number + 2)
                context.log.warning(f"dbt build failed; the step runs again in {wait:g} s")
                raise dg.RetryRequested(max_retries=retry.max_attempts - 1, seconds_to_wait=wait) from exc
            raise

    return _dbt


def build_all_dbt_assets(
    project: ResolvedProject, policies: Mapping[str, StepPolicy]
) -> list[dg.AssetsDefinition]:
    """One multi-asset per dbt transformation."""
    return [build_dbt_assets(project, dbt, policies) for dbt in project.dbt_projects.values()]

"""Run one pipeline step: build the dlt source, destination and pipeline, load, report metadata."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from dwh_dagster.causes import first_line, innermost
from dwh_dagster.config.naming import dlt_pipeline_name
from dwh_dagster.config.secrets import SecretResolver
from dwh_dagster.ingestion.dlt_destinations import build_dlt_destination, loader_file_format
from dwh_dagster.ingestion.dlt_sources import BuildContext, build_dlt_source
from dwh_dagster.ingestion.locks import dead_holder, destination_write_lock, exclusive_file_lock
from dwh_dagster.ingestion.partitioning import delete_stale_rows, window_of
from dwh_dagster.ingestion.plan import LoadPlan
from dwh_dagster.ingestion.progress import progress_collector, repeated_warnings_collapsed
from dwh_dagster.ingestion.redaction import SecretRedactor
from dwh_dagster.tags import FULL_REFRESH_TAG

STATE_DIR_VAR = "DWH_STATE_DIR"
_MAX_TRACE_CHARS = 4000
STEP_LOCK = ".dwh-step-lock"
"""Held in a step's dlt working folder while the step runs; it names the step's process (locks.py)."""

_PACKAGE_FOLDERS = {
    "normalize/extracted": "extracted",
    "load/new": "being normalized",
    "load/normalized": "normalized",
    "load/loaded": "loaded",
}


class IngestionError(Exception):
    """A pipeline step failed; the message is already free of secret values."""


def state_root(project_root: Path) -> Path:
    """Where dlt working directories live.

    ``$DWH_STATE_DIR``, else ``$DAGSTER_HOME/dwh_state``, else ``.dwh/`` in the project root.
    """
    if os.environ.get(STATE_DIR_VAR):
        return Path(os.environ[STATE_DIR_VAR]).expanduser()
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).expanduser() / "dwh_state"
    return project_root / ".dwh"


def configure_dlt_runtime() -> None:
    """dlt defaults for runs (the user's own env vars win).

    No telemetry, quiet logs; tables loaded from Arrow tables get dlt's ``_dlt_load_id`` column
    like tables loaded row by row (``rest_api`` pages add their own ``_dlt_id``: arrow_pages.py).
    """
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")


def _load_packages(folder: Path) -> str:
    """The load packages in a dlt working folder with the stages they reached: ``1765...(extracted)``."""
    stages: dict[str, list[str]] = {}
    for where, stage in _PACKAGE_FOLDERS.items():
        for package in sorted(folder.glob(f"*/{where}/*")):
            stages.setdefault(package.name, []).append(stage)
    return ", ".join(f"{load_id} ({', '.join(reached)})" for load_id, reached in stages.items()) or "none"


def _remove_folders_of_dead_steps(work_dir: Path, log: Callable[[str], None]) -> None:
    """Remove the dlt working folders that this pipeline's steps left when their process died.

    A step holds the lock on ``STEP_LOCK`` in its folder while it runs and removes the folder when
    it succeeds; a failed step keeps it for inspection, its lock file emptied. A lock file that
    still names a process which no longer holds it (:func:`dead_holder`) was left by a step killed
    in the middle of its work (SIGKILL, OOM, a power cut). Nothing else ever uses that folder (it
    is named after its run), so without this it would stay forever.

    Its load packages are dropped, not finished: dlt counts a load once it wrote it to the
    destination's ``_dlt_loads``, and a new run restores the incremental state from the last load
    counted there, so what the dead step fetched is fetched again. Finishing an old package could
    write older versions of rows over newer ones that a later run loaded meanwhile.
    """
    for folder in sorted(work_dir.parent.iterdir()):
        if folder == work_dir or not folder.is_dir():
            continue
        holder = dead_holder(folder / STEP_LOCK)
        if holder is None:  # a live step's, a failed step's, or one from before this lock file
            continue
        packages = _load_packages(folder)
        shutil.rmtree(folder, ignore_errors=True)
        log(
            f"removed the dlt working folder of run {folder.name} ({folder}): its step died in the "
            f"middle of its work ({holder}, killed or crashed) and left load packages: {packages}; "
            "what it did not get recorded as loaded in the destination is fetched again, from the "
            "incremental state of the last load recorded there"
        )


def _row_count(pipeline: Any, table: str) -> int | None:
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(f"SELECT count(*) FROM {qualified}")
            return int(rows[0][0]) if rows else None
    except Exception:  # filesystem destinations have no SQL client; a count is only a nicety
        return None


def _stored_types(pipeline: Any, schema_name: str, table: str) -> dict[str, str]:
    """dlt data types of ``table``'s columns as the pipeline's schema knows them (earlier runs)."""
    if schema_name not in pipeline.schema_names:
        return {}
    schema = pipeline.schemas[schema_name]
    if table not in schema.tables:
        return {}
    return {
        name: column["data_type"]
        for name, column in schema.get_table_columns(table).items()
        if column.get("data_type")
    }


def _make_translator(keys: dict[str, dg.AssetKey]) -> Any:
    from dagster_dlt import DagsterDltTranslator
    from dagster_dlt.translator import DltResourceTranslatorData

    class _KeyTranslator(DagsterDltTranslator):
        def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
            return dg.AssetSpec(key=keys[data.resource.name])

    return _KeyTranslator()


def _load(
    context: dg.AssetExecutionContext,
    plan: LoadPlan,
    selected: Sequence[str],
    ctx: BuildContext,
    work_dir: Path,
) -> list[dg.MaterializeResult]:
    import dlt
    from dagster_dlt import DagsterDltResource

    file_format = loader_file_format(plan.destination)
    destination = build_dlt_destination(plan.destination, ctx)
    pipeline = dlt.pipeline(
        pipeline_name=dlt_pipeline_name(plan.pipeline.name),
        destination=destination,
        dataset_name=plan.dataset,
        pipelines_dir=str(work_dir),
        progress=progress_collector(context.log.info, plan.pipeline.name),
    )
    # pages as Arrow tables only where dlt writes them as they are (parquet), typed like the
    # tables' columns of earlier runs (restored from the destination before extraction starts)
    window = window_of(context, plan.partitions) if plan.partitions is not None else None
    ctx = dataclasses.replace(
        ctx,
        arrow_pages=file_format == "parquet",
        stored_types=functools.partial(_stored_types, pipeline),
        window=window,
        partition_cursors=plan.partition_cursors,
    )
    if window is not None:
        context.log.info(f"partition window {window.describe()}: {window.start} to {window.end}")
    source = build_dlt_source(plan.source, selected, ctx)
    run_kwargs: dict[str, Any] = {}
    if file_format:
        run_kwargs["loader_file_format"] = file_format
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        # dlt drops the selected tables and their incremental state, then loads everything again
        context.log.info(f"full refresh ({FULL_REFRESH_TAG}): {', '.join(selected)} dropped and reloaded")
        run_kwargs["refresh"] = "drop_resources"
    translator = _make_translator({name: dg.AssetKey(plan.asset_key(name)) for name in plan.resources})
    events = list(
        DagsterDltResource().run(
            context, dlt_source=source, dlt_pipeline=pipeline, dagster_dlt_translator=translator, **run_kwargs
        )
    )
    load_info = pipeline.last_trace.last_load_info if pipeline.last_trace else None
    load_ids = list(load_info.loads_ids) if load_info else []
    if window is not None:
        emptied = delete_stale_rows(pipeline, selected, window, load_ids)
        if emptied:
            context.log.info(f"{emptied} rows of windows that have no record any more deleted")
    results: list[dg.MaterializeResult] = []
    for event in events:
        table = event.asset_key.path[-1] if event.asset_key else ""
        metadata: dict[str, Any] = dict(event.metadata or {})
        rows_loaded = metadata.get("rows_loaded")
        metadata["rows_loaded"] = int(getattr(rows_loaded, "value", rows_loaded) or 0)
        metadata["dwh/load_id"] = ", ".join(load_ids) or "-"
        metadata["dwh/pipeline"] = plan.pipeline.name
        if window is not None:
            metadata["dwh/partition_window"] = f"{window.describe()}: {window.start} to {window.end}"
        count = _row_count(pipeline, table)
        if count is not None:
            metadata["dagster/row_count"] = count
        context.log.info(
            f"{plan.dataset}.{table}: {metadata['rows_loaded']} rows loaded"
            + (f", {count} rows in table" if count is not None else "")
        )
        results.append(dg.MaterializeResult(asset_key=event.asset_key, metadata=metadata))
    return results


def run_pipeline(context: dg.AssetExecutionContext, plan: LoadPlan) -> Iterator[dg.MaterializeResult]:
    """Load the selected tables of one pipeline and yield one materialization per table.

    Secrets are read now, from the env vars of ``secrets_mapping.yaml``; their values are masked
    in log records while the step runs and never reach an error message.
    """
    configure_dlt_runtime()
    selected = [
        name for name in plan.resources if dg.AssetKey(plan.asset_key(name)) in context.selected_asset_keys
    ]
    redactor = SecretRedactor()
    ctx = BuildContext(
        resolve=redactor.recording(SecretResolver(plan.secrets, plan.environment).resolve),
        local_path=plan.local_path,
    )
    work_dir = state_root(plan.project_root) / plan.pipeline.name / context.run.run_id
    context.log.info(
        f"loading {', '.join(selected)} from {plan.source.type} source '{plan.source.name}' into "
        f"{plan.destination.type} destination '{plan.destination.name}', dataset '{plan.dataset}'"
    )
    failure: str | None = None
    results: list[dg.MaterializeResult] = []
    with redactor.masking_logs():
        try:
            with (
                exclusive_file_lock(work_dir / STEP_LOCK, context.log.info),  # this folder is in use
                destination_write_lock(plan.destination, plan.local_path, context.log.info),
                repeated_warnings_collapsed(context.log.warning),
            ):
                _remove_folders_of_dead_steps(work_dir, context.log.info)
                results = _load(context, plan, selected, ctx, work_dir)
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc))[-_MAX_TRACE_CHARS:]
            cause = innermost(exc)
            headline = f"{type(cause).__name__}: {first_line(cause)}"
            if cause is not exc:
                headline += f"\n\n{type(exc).__name__}: {exc}"
            failure = redactor.redact(f"{headline}\n\nTraceback (last part):\n{detail}")
    if failure is not None:
        # raised outside the except block so that the original exception (and any secret in it)
        # is not chained onto this one
        redactor.scrub_files(work_dir)  # dlt's saved trace may quote a secret (e.g. a URL with an api key)
        context.log.error(f"pipeline {plan.pipeline.name} failed; dlt working directory kept at {work_dir}")
        raise IngestionError(f"pipeline '{plan.pipeline.name}' failed: {failure}")
    shutil.rmtree(work_dir, ignore_errors=True)
    yield from results

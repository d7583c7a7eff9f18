"""Checks of loaded tables, run in the load's step right after dlt committed the load."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import dagster as dg

from dwh_dagster.checks.evaluate import CheckOutcome, TableChecks, check_result, evaluate_check
from dwh_dagster.config.models.destinations import DestinationModel
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.secrets import SecretResolver
from dwh_dagster.ingestion.dlt_sources import BuildContext
from dwh_dagster.ingestion.locks import destination_write_lock
from dwh_dagster.ingestion.redaction import SecretRedactor
from dwh_dagster.transform.sessions import open_session
from dwh_dagster.transform.statements import Statements


def run_table_checks(
    destination: DestinationModel,
    dialect: str,
    tables: Sequence[TableChecks],
    *,
    local_path: Callable[[str], str],
    secrets: Mapping[str, SecretEntry],
    environment: str,
    log: Callable[[str], None],
) -> dict[dg.AssetKey, list[CheckOutcome]]:
    """Evaluate the checks of ``tables`` over one session on ``destination``."""
    redactor = SecretRedactor()
    ctx = BuildContext(
        resolve=redactor.recording(SecretResolver(secrets, environment).resolve), local_path=local_path
    )
    sql = Statements(dialect)
    out: dict[dg.AssetKey, list[CheckOutcome]] = {}
    with (
        redactor.masking_logs(),
        destination_write_lock(destination, local_path, log),
        open_session(destination, ctx) as session,
    ):
        for table in tables:
            outcomes = [evaluate_check(session, sql, table.dataset, table.table, p) for p in table.plans]
            for outcome in outcomes:
                outcome.detail = redactor.redact(outcome.detail)
                log(f"{table.dataset}.{table.table}: {outcome.describe()}")
            out[table.asset_key] = outcomes
    return out


def with_check_results(
    result: dg.MaterializeResult, outcomes: Mapping[dg.AssetKey, list[CheckOutcome]]
) -> dg.MaterializeResult:
    """``result`` carrying the results of its table's checks."""
    key = result.asset_key
    if key is None or key not in outcomes:
        return result
    checks = [check_result(o, key) for o in outcomes[key]]
    return dg.MaterializeResult(
        asset_key=key,
        metadata=result.metadata,
        check_results=[*(result.check_results or []), *checks],
        data_version=result.data_version,
        tags=result.tags,
    )

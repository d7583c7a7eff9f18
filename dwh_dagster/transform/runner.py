"""Build the selected models of one destination, in order, inside that destination.

``table`` builds the new table and swaps it in within one transaction (readers see the old table
until the commit, never a half-built one); ``view`` creates or replaces the view; ``incremental``
creates the table on its first run, and later inserts the rows of the query with its
``incremental_filter`` (deleting first the rows with the same ``unique_key``) in one transaction.

A model that fails does not stop the models that do not read it; those that do are skipped. The
step fails at the end with every failure's database message and the file and line of the SQL.
DuckDB files are written under the same one-writer file lock as loads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import dagster as dg

from dwh_dagster.checks.evaluate import CheckOutcome, check_result, evaluate_check
from dwh_dagster.config.models.partitions import PARTITION_COLUMN
from dwh_dagster.config.naming import transformation_work_table
from dwh_dagster.config.secrets import SecretResolver
from dwh_dagster.config.sql import add_filter
from dwh_dagster.ingestion.dlt_sources import BuildContext
from dwh_dagster.ingestion.locks import destination_write_lock
from dwh_dagster.ingestion.redaction import SecretRedactor
from dwh_dagster.tags import FULL_REFRESH_TAG
from dwh_dagster.transform.plan import ModelPlan, TransformPlan
from dwh_dagster.transform.sessions import SqlSession, open_session
from dwh_dagster.transform.statements import REPLACE_IN_PLACE, SQL_FIRST_LINE, Statements, Window

_LINE_RE = re.compile(r"\bLINE (\d+):")


class TransformationError(Exception):
    """One or more models failed; the message is free of secret values."""


@dataclass(frozen=True)
class BuiltModel:
    """What building one model did."""

    model: ModelPlan
    row_count: int
    columns: tuple[tuple[str, str], ...]
    seconds: float
    rows_inserted: int | None = None
    action: str = ""

    def metadata(self) -> dict[str, Any]:
        """Materialization metadata: row count, column schema, duration."""
        meta: dict[str, Any] = {
            "dagster/row_count": self.row_count,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name=name, type=str(kind)) for name, kind in self.columns]
            ),
            "dwh/duration_seconds": round(self.seconds, 3),
            "dwh/materialized": self.model.materialized,
            "dwh/action": self.action,
        }
        if self.rows_inserted is not None:
            meta["dwh/rows_inserted"] = self.rows_inserted
        return meta


@dataclass
class ModelFailure(Exception):
    """A statement of a model failed."""

    model: ModelPlan
    detail: str
    statement_line: int | None = None
    embeds_sql: bool = True

    def describe(self) -> str:
        """``<file>:<line>: transformation 'x' (dataset.x) failed: <database message>``."""
        sql = self.model.sql
        where = f"{sql.file}"
        if self.statement_line is not None and self.embeds_sql:
            line = self.statement_line - SQL_FIRST_LINE + 1
            if line >= 1:
                file_line, _ = sql.locate(line, 1)
                where = f"{sql.file}:{file_line}"
        elif sql.in_yaml:
            where = f"{sql.file}:{sql.line}"
        text = f"{where}: transformation '{self.model.name}' ({self.model.qualified}) failed: {self.detail}"
        return text


class ModelBuilder:
    """Builds models through one session."""

    def __init__(self, session: SqlSession, dialect: str, full_refresh: bool = False):
        self.session = session
        self.full_refresh = full_refresh
        """Incremental models are built again from their whole query, as on their first run."""
        self.sql = Statements(dialect)
        self.dialect = dialect
        self._relations: dict[str, dict[str, str]] = {}
        """The tables and views of each dataset this builder has looked at, kept up to date."""

    def _run(self, model: ModelPlan, statement: str, *, embeds_sql: bool = False) -> None:
        try:
            self.session.execute(statement)
        except Exception as exc:
            raise _failure(model, exc, embeds_sql) from None

    def _query(self, model: ModelPlan, statement: str) -> list[tuple[Any, ...]]:
        try:
            return self.session.query(statement)
        except Exception as exc:
            raise _failure(model, exc, embeds_sql=False) from None

    def kind_of(self, model: ModelPlan, dataset: str, name: str) -> str | None:
        """``table``, ``view`` or None (missing); the dataset is created and listed on first use."""
        if dataset not in self._relations:
            self._run(model, self.sql.create_schema(dataset))
            self._relations[dataset] = {
                str(table): "view" if "VIEW" in str(kind).upper() else "table"
                for table, kind in self._query(model, self.sql.relations(dataset))
            }
        return self._relations[dataset].get(name)

    def columns_of(self, model: ModelPlan, dataset: str, name: str) -> tuple[tuple[str, str], ...]:
        """Column names and types."""
        return tuple((str(n), str(t)) for n, t in self._query(model, self.sql.describe(dataset, name)))

    def build(self, model: ModelPlan, windows: Sequence[Window] = ()) -> BuiltModel:
        """Build one model (a partitioned one: the partitions of ``windows``); raises
        :class:`ModelFailure`."""
        started = time.perf_counter()
        dataset, name = model.dataset, model.name
        query = self.sql.render(model.sql.text, dataset, name)
        existing = self.kind_of(model, dataset, name)
        inserted: int | None = None
        try:
            if windows:
                inserted = self._replace_partitions(model, windows, existing)
                action = (
                    f"partition {windows[0].key} replaced"
                    if len(windows) == 1
                    else f"{len(windows)} partitions replaced ({windows[0].key} .. {windows[-1].key})"
                )
            elif model.materialized == "view":
                action = self._build_view(model, query, existing)
            elif model.materialized == "table" or existing != "table" or self.full_refresh:
                action = self._build_table(model, query, existing)
                if model.materialized == "incremental":
                    action = "rebuilt (full refresh)" if existing == "table" else "table created"
            else:
                inserted = self._insert_increment(model)
                action = "merged" if model.unique_key else "appended"
        except ModelFailure:
            self._relations.pop(dataset, None)  # what the failed statements left: list it again
            raise
        self._relations[dataset][name] = "view" if model.materialized == "view" else "table"
        rows = self._query(model, self.sql.count(dataset, name))
        return BuiltModel(
            model=model,
            row_count=int(rows[0][0]) if rows else 0,
            columns=self.columns_of(model, dataset, name),
            seconds=time.perf_counter() - started,
            rows_inserted=inserted,
            action=action,
        )

    def _build_view(self, model: ModelPlan, query: str, existing: str | None) -> str:
        dataset, name = model.dataset, model.name
        if existing == "view" and self.dialect not in REPLACE_IN_PLACE:
            # PostgreSQL replaces a view in place only while its columns stay the same; otherwise
            # it is dropped and created again (which fails, with its message, while views read it)
            try:
                with self._transaction(model):
                    self._run(model, self.sql.create_view_as(dataset, name, query), embeds_sql=True)
                return "view replaced"
            except ModelFailure:
                pass
        with self._transaction(model):
            if existing is not None:
                self._run(model, self.sql.drop(existing, dataset, name))
            self._run(model, self.sql.create_view_as(dataset, name, query), embeds_sql=True)
        return "view replaced" if existing else "view created"

    def _build_table(self, model: ModelPlan, query: str, existing: str | None) -> str:
        dataset, name = model.dataset, model.name
        if self.dialect in REPLACE_IN_PLACE:
            replace = self.sql.create_table_as(dataset, name, query, replace=True)
            if existing != "view":  # one statement: atomic by itself
                self._run(model, replace, embeds_sql=True)
            else:
                with self._transaction(model):
                    self._run(model, self.sql.drop("view", dataset, name))
                    self._run(model, replace, embeds_sql=True)
            return "table replaced" if existing else "table created"
        work = transformation_work_table(name)
        with self._transaction(model):
            self._run(model, self.sql.drop("table", dataset, work))
            self._run(model, self.sql.create_table_as(dataset, work, query), embeds_sql=True)
            new_columns = self.columns_of(model, dataset, work)
            if existing == "table" and self.columns_of(model, dataset, name) == new_columns:
                # same columns: refill in place, so views over the table keep working
                self._run(model, self.sql.truncate(dataset, name))
                self._run(model, self.sql.insert_from(dataset, name, work, [c for c, _ in new_columns]))
                self._run(model, self.sql.drop("table", dataset, work))
                return "table refilled"
            if existing is not None:
                self._run(model, self.sql.drop(existing, dataset, name))
            self._run(model, self.sql.rename_table(dataset, work, name))
        return "table replaced" if existing else "table created"

    def _replace_partitions(self, model: ModelPlan, windows: Sequence[Window], existing: str | None) -> int:
        """Compute each window's rows (tagged with its partition key) into a work table, then
        replace those partitions' rows of the table in one transaction."""
        dataset, name = model.dataset, model.name
        work = transformation_work_table(name)
        with self._transaction(model):
            self._run(model, self.sql.drop("table", dataset, work))
            for position, window in enumerate(windows):
                query = self.sql.render(model.sql.text, dataset, name, window)
                statement = self.sql.fill_partition(dataset, work, query, window.key, create=position == 0)
                self._run(model, statement, embeds_sql=True)
            new_columns = [c for c, _ in self.columns_of(model, dataset, work)]
            inserted = int(self._query(model, self.sql.count(dataset, work))[0][0])
            if existing is None:
                self._run(model, self.sql.rename_table(dataset, work, name))
                return inserted
            existing_columns = [c for c, _ in self.columns_of(model, dataset, name)]
            if existing != "table" or set(existing_columns) != set(new_columns):
                shown_new = ", ".join(c for c in new_columns if c != PARTITION_COLUMN)
                shown_old = ", ".join(c for c in existing_columns if c != PARTITION_COLUMN)
                what = (
                    f"{model.qualified} is a view"
                    if existing != "table"
                    else f"the query's columns ({shown_new}) differ from {model.qualified}'s ({shown_old})"
                    if PARTITION_COLUMN in existing_columns
                    else f"{model.qualified} was built before it had partitions (it has no "
                    f"{PARTITION_COLUMN} column)"
                )
                raise ModelFailure(
                    model,
                    f"{what}; a partition run replaces only its window's rows and keeps the table: "
                    f"drop {model.qualified} and backfill every partition (dwh backfill JOB --from "
                    "FIRST --to LAST --all)",
                    embeds_sql=False,
                )
            self._run(model, self.sql.delete_partitions(dataset, name, [w.key for w in windows]))
            self._run(model, self.sql.insert_from(dataset, name, work, new_columns))
            self._run(model, self.sql.drop("table", dataset, work))
        return inserted

    def _insert_increment(self, model: ModelPlan) -> int:
        dataset, name = model.dataset, model.name
        text = model.sql.text
        embeds = True
        if model.incremental_filter:
            text = add_filter(text, model.incremental_filter, self.dialect)
            embeds = False  # the query was rewritten: its lines are not the file's
        query = self.sql.render(text, dataset, name)
        work = transformation_work_table(name)
        with self._transaction(model):
            self._run(model, self.sql.drop("table", dataset, work))
            self._run(model, self.sql.create_table_as(dataset, work, query), embeds_sql=embeds)
            new_columns = [c for c, _ in self.columns_of(model, dataset, work)]
            existing_columns = [c for c, _ in self.columns_of(model, dataset, name)]
            missing = [k for k in model.unique_key if k not in new_columns]
            if missing:
                raise ModelFailure(
                    model,
                    f"unique_key column(s) {', '.join(missing)} not in the query's columns "
                    f"({', '.join(new_columns)})",
                    embeds_sql=False,
                )
            extra = [c for c in new_columns if c not in existing_columns]
            if extra:
                raise ModelFailure(
                    model,
                    f"the query returns column(s) {', '.join(extra)} that {model.qualified} does not have; "
                    "an incremental model keeps its columns: add them to the table, or rebuild it "
                    "(drop the table, or run it once as materialized: table)",
                    embeds_sql=False,
                )
            inserted = int(self._query(model, self.sql.count(dataset, work))[0][0])
            if model.unique_key:
                self._run(model, self.sql.delete_matching(dataset, name, work, model.unique_key))
            self._run(model, self.sql.insert_from(dataset, name, work, new_columns))
            self._run(model, self.sql.drop("table", dataset, work))
        return inserted

    @contextmanager
    def _transaction(self, model: ModelPlan) -> Iterator[None]:
        try:
            with self.session.transaction():
                yield
        except ModelFailure:
            raise
        except Exception as exc:  # the commit itself failed
            raise _failure(model, exc, embeds_sql=False) from None


def _failure(model: ModelPlan, exc: Exception, embeds_sql: bool) -> ModelFailure:
    original = getattr(exc, "dbapi_exception", None) or exc
    detail = str(original).strip() or type(original).__name__
    match = _LINE_RE.search(detail)
    line = int(match.group(1)) if match else None
    if match and embeds_sql:
        # the database counts lines of the whole statement; the user's SQL starts on line 2
        detail = _LINE_RE.sub(lambda m: f"SQL line {int(m.group(1)) - SQL_FIRST_LINE + 1}:", detail)
    return ModelFailure(model, detail, statement_line=line, embeds_sql=embeds_sql)


@dataclass
class StepOutcome:
    """What a transformation step did."""

    built: list[BuiltModel] = field(default_factory=list)
    failures: list[ModelFailure] = field(default_factory=list)
    skipped: list[tuple[ModelPlan, str]] = field(default_factory=list)
    checks: dict[str, list[CheckOutcome]] = field(default_factory=dict)
    """The check outcomes of each built model, by name."""
    blocked: list[tuple[ModelPlan, str]] = field(default_factory=list)
    """Models not built because a blocking check of a model they read failed (not retried:
    the data stays as it is until the next run)."""


class ProgressLog:
    """A step's progress lines, written at most once every ``every`` seconds, several lines in
    one message: each message is an event in Dagster's event log (some ms each), so a chain of
    quick models writes one, and a model that takes longer than that gets a message of its own."""

    def __init__(self, log: Callable[[str], None], every: float = 1.0) -> None:
        self._log = log
        self._every = every
        self._lines: list[str] = []
        self._last = time.monotonic()

    def add(self, line: str, *, now: bool = False) -> None:
        """Add a line; ``now``: write it (and those before it) at once."""
        self._lines.append(line)
        if now or time.monotonic() - self._last >= self._every:
            self.flush()

    def flush(self) -> None:
        """Write the lines not written yet."""
        if self._lines:
            self._log("\n".join(self._lines))
            self._lines = []
        self._last = time.monotonic()


def build_models(
    session: SqlSession,
    dialect: str,
    models: Sequence[ModelPlan],
    log: Callable[[str], None],
    windows: Sequence[Window] = (),
    full_refresh: bool = False,
) -> StepOutcome:
    """Build ``models`` (in build order; partitioned ones for ``windows``); a failure skips the
    models that read it."""
    builder = ModelBuilder(session, dialect, full_refresh)
    outcome = StepOutcome()
    broken: set[str] = set()
    failed_checks: dict[str, str] = {}
    progress = ProgressLog(log)
    for model in models:
        held = [f"{name} ({failed_checks[name]})" for name in model.reads_models if name in failed_checks]
        if held:
            failed_checks[model.name] = "upstream check"
            outcome.blocked.append((model, ", ".join(held)))
            progress.add(
                f"{model.qualified}: not built, a blocking check failed on what it reads: {', '.join(held)}",
                now=True,
            )
            continue
        blocked = [name for name in model.reads_models if name in broken]
        if blocked:
            broken.add(model.name)
            outcome.skipped.append((model, ", ".join(blocked)))
            progress.add(
                f"{model.qualified}: skipped, it reads {', '.join(blocked)} which failed in this step",
                now=True,
            )
            continue
        try:
            built = builder.build(model, windows)
        except ModelFailure as failure:
            broken.add(model.name)
            outcome.failures.append(failure)
            progress.add(failure.describe(), now=True)
            continue
        outcome.built.append(built)
        extra = f", {built.rows_inserted} rows inserted" if built.rows_inserted is not None else ""
        progress.add(
            f"{model.qualified}: {built.action}, {built.row_count} rows{extra} in {built.seconds:.2f} s"
        )
        if model.checks:
            results = [
                evaluate_check(session, builder.sql, model.dataset, model.name, plan) for plan in model.checks
            ]
            outcome.checks[model.name] = results
            blocking = [r.plan.name for r in results if r.blocks]
            for result in results:
                progress.add(f"{model.qualified}: {result.describe()}", now=bool(blocking))
            if blocking:
                failed_checks[model.name] = ", ".join(blocking)
    progress.flush()
    return outcome


@dataclass
class StepReport:
    """The materializations of one attempt, and what failed (None: every model was built)."""

    results: list[dg.MaterializeResult]
    error: str | None = None
    unbuilt: tuple[ModelPlan, ...] = ()
    """The models that failed or were skipped, in build order: what a retry builds."""


def run_transformations(
    context: dg.AssetExecutionContext,
    plan: TransformPlan,
    models: Sequence[ModelPlan],
    windows: Sequence[Window] = (),
) -> StepReport:
    """Build ``models`` of ``plan``'s destination (one attempt); partitioned models for ``windows``.

    Secrets are read now and masked in the step's logs and in the report's error.
    """
    redactor = SecretRedactor()
    ctx = BuildContext(
        resolve=redactor.recording(SecretResolver(plan.secrets, plan.environment).resolve),
        local_path=plan.local_path,
    )
    selected = context.selected_asset_check_keys
    models = [
        replace(
            m,
            checks=tuple(
                c for c in m.checks if dg.AssetCheckKey(dg.AssetKey(m.asset_key), c.name) in selected
            ),
        )
        for m in models
    ]
    span = ""
    if windows:
        span = (
            f" for partition {windows[0].key}"
            if len(windows) == 1
            else f" for {len(windows)} partitions {windows[0].key} .. {windows[-1].key}"
        )
    context.log.info(
        f"building {', '.join(m.qualified for m in models)} in {plan.destination.type} destination "
        f"'{plan.destination.name}'{span}"
    )
    outcome = StepOutcome()
    connect_failure: str | None = None
    with redactor.masking_logs():
        try:
            with (
                destination_write_lock(plan.destination, plan.local_path, context.log.info),
                open_session(plan.destination, ctx) as session,
            ):
                full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
                outcome = build_models(
                    session, models[0].dialect, models, context.log.info, windows, full_refresh
                )
        except Exception as exc:
            connect_failure = redactor.redact(f"{type(exc).__name__}: {exc}")
    results: list[dg.MaterializeResult] = [
        dg.MaterializeResult(
            asset_key=dg.AssetKey(built.model.asset_key),
            metadata=built.metadata(),
            check_results=[
                check_result(o, dg.AssetKey(built.model.asset_key))
                for o in outcome.checks.get(built.model.name, [])
            ],
        )
        for built in outcome.built
    ]
    if connect_failure is not None:
        message = (
            f"could not build transformations in destination '{plan.destination.name}': {connect_failure}"
        )
        return StepReport(results, message, tuple(models))
    if not outcome.failures:
        return StepReport(results)
    lines = [redactor.redact(f.describe()) for f in outcome.failures]
    lines += [f"{m.qualified}: not built, it reads {why} which failed" for m, why in outcome.skipped]
    built = {b.model.name for b in outcome.built}
    return StepReport(results, "\n".join(lines), tuple(m for m in models if m.name not in built))

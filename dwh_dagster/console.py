"""What ``dwh run`` (and ``dwh backfill``, ``dwh check``) print while a run goes on, and after.

The run's console logger prints one short line per log record: the time, the level, the step and
the message. An event that carries an error (a failed step, a retry) prints the error's own
message, one line; its traceback only with ``--verbose``. The Dagster event log keeps everything,
tracebacks included, whatever the console shows. After the run, :func:`failure_summary` gives one
line per failed step with its cause.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import dagster as dg

from dwh_dagster.causes import one_line_cause

CONSOLE_LOGGER = "dwh_console"
"""The name of the logger in the run config of the commands' runs."""


class ConsoleLine(logging.Filter):
    """Writes each record as ``12:03:44 INFO load_demo: message`` (an error event: its cause on
    one line, the traceback too when ``verbose``).

    A filter rather than a formatter: the line is made in ``record.msg`` before the filters that
    mask secret values (:mod:`dwh_dagster.ingestion.redaction`) read it, so they mask this line.
    """

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        where = meta.get("step_key") or meta.get("job_name") or "dwh"
        message = str(meta.get("orig_message") or record.getMessage())
        event = meta.get("dagster_event")
        error = getattr(getattr(event, "event_specific_data", None), "error", None) if event else None
        if error is not None:
            message = f"{message} {one_line_cause(error)}"
            if self.verbose:
                message += "\n\n" + error.to_string()
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        record.msg, record.args = f"{stamp} {record.levelname:<7} {where}: {message}", None
        return True


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO", description="Threshold."),
        "verbose": dg.Field(
            bool, is_required=False, default_value=False, description="Print the tracebacks of errors."
        ),
    },
    description="dwh's console logger: one short line per record, errors by their cause.",
)
def dwh_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """The console logger of the commands' runs."""
    config = init_context.logger_config
    # a registered logger: the step's secret masking finds its handler (logging.getLogger)
    logger = logging.getLogger(CONSOLE_LOGGER)
    logger.setLevel(str(config["log_level"]).upper())
    logger.propagate = False
    for old in list(logger.handlers):  # the handler of an earlier run in this process
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ConsoleLine(bool(config["verbose"])))
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


def with_console(job: dg.JobDefinition) -> dg.JobDefinition:
    """``job`` with the commands' console logger instead of Dagster's."""
    return job.with_logger_defs({CONSOLE_LOGGER: dwh_console_logger})


def console_run_config(log_level: str, verbose: bool) -> dict[str, Any]:
    """The run config that selects the console logger."""
    return {"loggers": {CONSOLE_LOGGER: {"config": {"log_level": log_level.upper(), "verbose": verbose}}}}


def failure_summary(results: Iterable[dg.ExecuteInProcessResult]) -> list[str]:
    """One line per failed step of the runs: ``FAILED <step>: <cause>``."""
    lines = []
    for result in results:
        for event in result.all_events:
            if event.is_step_failure:
                error = getattr(event.event_specific_data, "error", None)
                lines.append(f"FAILED {event.step_key}: {one_line_cause(error)}")
    return lines

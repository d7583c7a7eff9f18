"""The one-line cause of an error: what a user reads first when a run fails.

Errors come wrapped: dlt's ``PipelineStepFailed`` around the HTTP error, Dagster's step error
around our ``Failure``. The cause is the innermost error, on one line, without module paths.
"""

from __future__ import annotations

import re
from typing import Any

_MAX_DEPTH = 20
_QUALIFIED = re.compile(r"^(?:[A-Za-z_][\w]*\.)+([A-Za-z_]\w*): ")
_WRAPPERS = ("Failure: ", "DagsterExecutionStepExecutionError: ")


def _is_wrapper(exc: BaseException) -> bool:
    """dlt's own errors, which wrap what went wrong (``PipelineStepFailed`` around the extract's)."""
    return type(exc).__module__.split(".")[0] == "dlt"


def innermost(exc: BaseException) -> BaseException:
    """What went wrong under the wrappers: the first error of the chain (``exception`` of dlt's
    wrappers, ``__cause__``, ``__context__``) that is not one of dlt's own; the deepest one when
    all of them are (a requests ``ConnectionError`` keeps its URL: its causes are not unwrapped)."""
    for _ in range(_MAX_DEPTH):
        if not _is_wrapper(exc):
            return exc
        inner = getattr(exc, "exception", None)
        if not isinstance(inner, BaseException):
            inner = exc.__cause__ or exc.__context__
        if inner is None or inner is exc:
            return exc
        exc = inner
    return exc


def first_line(value: object) -> str:
    """The first non-empty line of ``str(value)``."""
    return next((line.strip() for line in str(value).splitlines() if line.strip()), "")


def short(message: str) -> str:
    """``message``'s first line without module paths and without Dagster's ``Failure:`` wrapper."""
    line = _QUALIFIED.sub(r"\1: ", first_line(message))
    for wrapper in _WRAPPERS:
        line = line.removeprefix(wrapper)
    return line


def serialized_root(error: Any) -> Any:
    """The innermost error of a serialized chain (Dagster's ``SerializableErrorInfo``)."""
    for _ in range(_MAX_DEPTH):
        inner = getattr(error, "cause", None) or getattr(error, "context", None)
        if inner is None:
            return error
        error = inner
    return error


def one_line_cause(error: Any) -> str:
    """The cause of a serialized error on one line: ``SecretNotSetError: secret 'x' is not set:
    export X`` (Dagster's step-error wrapper and module paths left out)."""
    if error is None:
        return "unknown error"
    found = short(str(getattr(serialized_root(error), "message", "") or ""))
    return found or short(str(getattr(error, "message", ""))) or "unknown error"

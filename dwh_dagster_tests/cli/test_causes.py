"""The one-line cause of an error: the innermost error under dlt's and Dagster's wrappers."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.error import serializable_error_info_from_exc_info

from dwh_dagster.causes import first_line, innermost, one_line_cause, short


class SecretNotSet(Exception):
    """An error of ours, defined in this test module."""


def test_short_drops_module_paths_and_dagsters_failure_wrapper() -> None:
    assert short("dagster._core.definitions.events.Failure: pipeline 'p' failed: X: y\n\nmore") == (
        "pipeline 'p' failed: X: y"
    )
    assert short("dwh_dagster.config.secrets.SecretNotSetError: secret 'a' is not set") == (
        "SecretNotSetError: secret 'a' is not set"
    )
    assert first_line("\n\n  second line\nthird") == "second line"


def test_the_cause_of_a_serialized_chain_is_its_innermost_message() -> None:
    try:
        try:
            raise SecretNotSet("secret 'token' is not set: export TOKEN_DEV")
        except SecretNotSet as exc:
            raise dg.Failure(description="step failed") from exc
    except dg.Failure:
        info = serializable_error_info_from_exc_info(sys.exc_info())
    assert one_line_cause(info) == "SecretNotSet: secret 'token' is not set: export TOKEN_DEV"
    assert one_line_cause(None) == "unknown error"


def test_innermost_unwraps_dlts_errors_only(tmp_path: Path) -> None:
    import dlt
    import requests

    pipeline = dlt.pipeline(pipeline_name="causes_test", pipelines_dir=str(tmp_path))

    @dlt.resource
    def broken() -> object:
        raise requests.ConnectionError("HTTPConnectionPool(host='x', port=9): Max retries exceeded")
        yield  # pragma: no cover

    with pytest.raises(Exception) as caught:
        pipeline.extract(broken())
    assert type(caught.value).__module__.startswith("dlt")  # dlt's PipelineStepFailed
    cause = innermost(caught.value)
    assert isinstance(cause, requests.ConnectionError)  # not unwrapped further: it has the URL
    assert "host='x', port=9" in str(cause)
    plain = ValueError("plain")
    assert innermost(plain) is plain

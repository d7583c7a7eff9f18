"""Fixtures of the partition tests: a threaded HTTP server on 127.0.0.1 and the dated API on it."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster_tests.partitions.support import DatedApi, serve


@pytest.fixture
def api(server: HTTPServer) -> DatedApi:
    """40 days of records from 2024-01-01, four a day, served at /events."""
    dated = DatedApi()
    dated.fill(40)
    serve(server, dated)
    return dated

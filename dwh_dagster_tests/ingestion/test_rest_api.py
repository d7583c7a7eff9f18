"""rest_api sources end to end: a local HTTP server, a real Dagster instance and a DuckDB file."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dwh_dagster_tests.conftest import RunJob, WriteProject
from dwh_dagster_tests.ingestion.rest_api_support import (
    DATASET,
    JOB,
    base_url,
    event_log_texts,
    files_containing,
    json_response,
    request_args,
    rows,
    secret_forms,
    step_failure_message,
    tables,
    write_rest_project,
)

DLT_TABLES = {"_dlt_loads", "_dlt_pipeline_state", "_dlt_version"}
ITEMS = [{"id": i, "name": f"item {i}"} for i in range(1, 8)]  # 7 rows: pages of 3 end part-full


@pytest.fixture
def api() -> Iterator[HTTPServer]:
    """A threaded HTTP server on 127.0.0.1, one per test."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def loaded_ids(defs_dir: Path, table: str = "items") -> list[object]:
    return [r[0] for r in rows(defs_dir, f"select id from {DATASET}.{table} order by id")]


# --------------------------------------------------------------------------- 1. pagination


def test_page_number_without_total_stops_at_the_first_empty_page(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    def handler(request: Request) -> Response:
        page = int(request.args["page"])
        return json_response({"data": ITEMS[(page - 1) * 3 : page * 3]})

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [
            {
                "name": "items",
                "endpoint": {"path": "/items", "data_selector": "data"},
                "paginator": {"type": "page_number", "base_page": 1, "total_path": None},
            }
        ],
    )
    result = run_job(defs, JOB)
    assert result.success
    assert [a["page"] for a in request_args(api, "/items")] == ["1", "2", "3", "4"]
    assert loaded_ids(defs) == [item["id"] for item in ITEMS]


def test_offset_paginator_sends_limit_and_offset(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    def handler(request: Request) -> Response:
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        return json_response({"items": ITEMS[offset : offset + limit]})

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [
            {
                "name": "items",
                "endpoint": {"path": "/items", "data_selector": "items"},
                "paginator": {"type": "offset", "limit": 3, "total_path": None},
            }
        ],
    )
    assert run_job(defs, JOB).success
    assert [(a["offset"], a["limit"]) for a in request_args(api, "/items")] == [
        ("0", "3"),
        ("3", "3"),
        ("6", "3"),
        ("9", "3"),
    ]
    assert loaded_ids(defs) == [item["id"] for item in ITEMS]


def test_cursor_paginator_sends_the_cursor_from_the_body(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    def handler(request: Request) -> Response:
        start = int(request.args.get("after", "0"))
        page = ITEMS[start : start + 3]
        more = start + 3 < len(ITEMS)
        return json_response({"results": page, "meta": {"next": str(start + 3) if more else None}})

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [
            {
                "name": "items",
                "endpoint": {"path": "/items", "data_selector": "results"},
                "paginator": {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"},
            }
        ],
    )
    assert run_job(defs, JOB).success
    assert [a.get("after") for a in request_args(api, "/items")] == [None, "3", "6"]
    assert loaded_ids(defs) == [item["id"] for item in ITEMS]


def test_header_link_paginator_follows_the_link_header(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    accepts: list[str | None] = []

    def handler(request: Request) -> Response:
        accepts.append(request.headers.get("Accept"))
        page = int(request.args.get("page", "1"))
        headers = {}
        if page * 3 < len(ITEMS):
            next_url = f"{base_url(api)}/v1/items?page={page + 1}"
            headers["Link"] = f'<{next_url}>; rel="next", <{base_url(api)}/v1/items?page=3>; rel="last"'
        return json_response(ITEMS[(page - 1) * 3 : page * 3], headers=headers)

    api.expect_request("/v1/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [{"name": "items", "endpoint": "/items"}],
        connection={
            "base_url": f"{base_url(api)}/v1",  # endpoint paths are relative to the base path
            "paginator": "header_link",
            "headers": {"Accept": "application/vnd.test+json"},
        },
    )
    assert run_job(defs, JOB).success
    assert [a.get("page") for a in request_args(api, "/v1/items")] == [None, "2", "3"]
    assert accepts == ["application/vnd.test+json"] * 3
    assert loaded_ids(defs) == [item["id"] for item in ITEMS]


# --------------------------------------------------------------------------- 2. auth

SECRET_ENV = "TEST_API_TOKEN"
AUTH_CASES = {
    "bearer": {"type": "bearer"},
    "api_key_header": {"type": "api_key", "name": "X-API-Key", "location": "header"},
    "api_key_query": {"type": "api_key", "name": "api_key", "location": "query"},
    # a parameter name that dlt's own URL sanitizer does not know
    "api_key_query_custom": {"type": "api_key", "name": "access", "location": "query"},
    "http_basic": {"type": "http_basic", "username": "reporter"},
}


def presented_secret(case: str, request: Request) -> str | None:
    """The credential a request carries, read the way the API of ``case`` reads it."""
    if case == "bearer":
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
    if case == "api_key_header":
        return request.headers.get("X-API-Key")
    if case == "api_key_query":
        return request.args.get("api_key")
    if case == "api_key_query_custom":
        return request.args.get("access")
    auth = request.authorization
    return auth.password if auth is not None and auth.username == "reporter" else None


def auth_project(case: str, api: HTTPServer, write_project: WriteProject, expected_secret: str) -> Path:
    def handler(request: Request) -> Response:
        if presented_secret(case, request) != expected_secret:
            return json_response({"error": "bad credentials"}, status=401)
        return json_response({"data": ITEMS[:3]})

    api.expect_request("/items").respond_with_handler(handler)
    return write_rest_project(
        write_project,
        api,
        [
            {
                "name": "items",
                "endpoint": {"path": "/items", "data_selector": "data"},
                "paginator": "single_page",
            }
        ],
        connection={"auth": {**AUTH_CASES[case], "credentials_secret_key": "api_token_secret_key"}},
        secrets={"api_token": SECRET_ENV},
    )


def assert_secret_nowhere(
    secret: str, run_id: str, failure: str, dagster_home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Neither the secret nor its URL or basic-auth encodings are in any output of the run."""
    forms = secret_forms(secret) | {base64.b64encode(f"reporter:{secret}".encode()).decode()}
    captured = capfd.readouterr()
    places = {
        "failure message": failure,
        "event log": "\n".join(event_log_texts(run_id)),
        "stdout": captured.out,
        "stderr": captured.err,
    }
    leaks = [place for place, text in places.items() if any(form in text for form in forms)]
    leaks += [f"file {name}" for name in files_containing(dagster_home, forms)]
    assert leaks == [], f"secret value found in: {leaks}"


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
@pytest.mark.slow
def test_auth_sends_the_secret_and_loads(
    case: str,
    api: HTTPServer,
    write_project: WriteProject,
    run_job: RunJob,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = f"CANARY-g00d-{case}-7d1f"
    monkeypatch.setenv(SECRET_ENV, secret)
    defs = auth_project(case, api, write_project, expected_secret=secret)
    result = run_job(defs, JOB)
    assert result.success
    assert loaded_ids(defs) == [1, 2, 3]
    assert_secret_nowhere(secret, result.run_id, "", dagster_home, capfd)


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
@pytest.mark.slow
def test_rejected_credentials_fail_the_run_without_leaking_the_secret(
    case: str,
    api: HTTPServer,
    write_project: WriteProject,
    run_job: RunJob,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = f"CANARY-s3cr3t-{case}-91ab"
    monkeypatch.setenv(SECRET_ENV, secret)
    defs = auth_project(case, api, write_project, expected_secret="the-right-one")
    result = run_job(defs, JOB)
    assert not result.success
    failure = step_failure_message(result)
    assert "401 Client Error" in failure
    assert presented_secret(case, api.log[0][0]) == secret  # the canary really went over the wire
    assert_secret_nowhere(secret, result.run_id, failure, dagster_home, capfd)


def test_unreachable_api_fails_without_leaking_a_query_api_key(
    write_project: WriteProject,
    run_job: RunJob,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    closed = HTTPServer(host="127.0.0.1", port=0)
    closed.start()
    closed.stop()  # nothing listens on this port any more: connection refused
    secret = "CANARY-s3cr3t-unreachable-5e0c"
    monkeypatch.setenv(SECRET_ENV, secret)
    defs = write_rest_project(
        write_project,
        closed,
        [{"name": "items", "endpoint": "/items", "paginator": "single_page"}],
        connection={
            "auth": {**AUTH_CASES["api_key_query"], "credentials_secret_key": "api_token_secret_key"}
        },
        secrets={"api_token": SECRET_ENV},
    )
    result = run_job(defs, JOB)
    assert not result.success
    failure = step_failure_message(result)
    assert "ConnectionError" in failure
    assert_secret_nowhere(secret, result.run_id, failure, dagster_home, capfd)


# --------------------------------------------------------------------------- 3. incremental


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.slow
def test_incremental_param_fetches_only_newer_records_and_merge_never_duplicates(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    records = {
        1: {"id": 1, "name": "one", "updated_at": "2024-01-02T00:00:00Z"},
        2: {"id": 2, "name": "two", "updated_at": "2024-01-03T00:00:00Z"},
        3: {"id": 3, "name": "three", "updated_at": "2024-01-04T00:00:00Z"},
    }

    def handler(request: Request) -> Response:
        since = parse_time(request.args["since"])
        newer = [r for r in records.values() if parse_time(str(r["updated_at"])) >= since]
        return json_response({"data": newer})

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [
            {
                "name": "items",
                "endpoint": {"path": "/items", "data_selector": "data"},
                "paginator": "single_page",
                "incremental": {
                    "cursor_field": "updated_at",
                    "initial_value": "2024-01-01T00:00:00Z",
                    "param": "since",
                },
                "primary_key": ["id"],
                "write_disposition": "merge",
            }
        ],
    )

    def sent_since() -> str:
        return request_args(api, "/items")[-1]["since"]

    assert run_job(defs, JOB).success
    assert sent_since() == "2024-01-01T00:00:00Z"  # initial_value
    assert rows(defs, f"select id, name from {DATASET}.items order by id") == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]

    records[2] = {"id": 2, "name": "two v2", "updated_at": "2024-01-06T00:00:00Z"}  # updated
    records[4] = {"id": 4, "name": "four", "updated_at": "2024-01-05T00:00:00Z"}  # new
    assert run_job(defs, JOB).success
    assert sent_since() == "2024-01-04T00:00:00Z"  # the last cursor value of run 1

    # run 3 gets the updated record 2 a second time (it sits on the cursor value)
    assert run_job(defs, JOB).success
    assert sent_since() == "2024-01-06T00:00:00Z"
    assert len(request_args(api, "/items")) == 3
    assert rows(defs, f"select id, name from {DATASET}.items order by id") == [
        (1, "one"),
        (2, "two v2"),
        (3, "three"),
        (4, "four"),
    ]
    assert rows(defs, f"select count(*), count(distinct id) from {DATASET}.items") == [(4, 4)]


# --------------------------------------------------------------------------- 4. parent and child

USERS = [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]
POSTS = {1: [{"id": 11, "title": "a1"}, {"id": 12, "title": "a2"}], 2: [{"id": 21, "title": "b1"}]}


def serve_users_and_posts(api: HTTPServer) -> None:
    api.expect_request("/users").respond_with_json(USERS)
    for user_id, posts in POSTS.items():
        api.expect_request(f"/users/{user_id}/posts").respond_with_json(posts)


POSTS_RESOURCE = {
    "name": "posts",
    "endpoint": "/users/{resources.users.id}/posts",
    "paginator": "single_page",
    "include_from_parent": ["id", "name"],
    "primary_key": ["id"],
}


def test_child_resource_reads_each_parent_and_carries_parent_fields(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    serve_users_and_posts(api)
    defs = write_rest_project(
        write_project,
        api,
        [{"name": "users", "endpoint": "/users", "paginator": "single_page"}, POSTS_RESOURCE],
    )
    assert run_job(defs, JOB).success
    assert rows(defs, f"select id, name from {DATASET}.users order by id") == [(1, "ada"), (2, "bob")]
    assert rows(defs, f"select id, title, _users_id, _users_name from {DATASET}.posts order by id") == [
        (11, "a1", 1, "ada"),
        (12, "a2", 1, "ada"),
        (21, "b1", 2, "bob"),
    ]


# --------------------------------------------------------------------------- 5. resilience


@pytest.mark.slow
def test_429_with_retry_after_is_waited_for_and_retried(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    seen: list[float] = []

    def handler(request: Request) -> Response:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return json_response({"error": "slow down"}, status=429, headers={"Retry-After": "1"})
        return json_response(ITEMS)

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [{"name": "items", "endpoint": "/items", "paginator": "single_page"}],
        connection={"retry": {"max_attempts": 3, "backoff_factor": 0.1}},
    )
    assert run_job(defs, JOB).success
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 0.9  # Retry-After: 1 was honoured, not the 0.1 s backoff
    assert loaded_ids(defs) == [item["id"] for item in ITEMS]


def test_transient_server_errors_are_retried(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    statuses = [500, 503]

    def handler(request: Request) -> Response:
        if statuses:
            return json_response({"error": "try again"}, status=statuses.pop(0))
        return json_response(ITEMS)

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [{"name": "items", "endpoint": "/items", "paginator": "single_page"}],
        connection={"retry": {"max_attempts": 3, "backoff_factor": 0.1}},
    )
    assert run_job(defs, JOB).success
    assert len(api.log) == 3
    assert loaded_ids(defs) == [item["id"] for item in ITEMS]


@pytest.mark.slow
def test_a_server_slower_than_the_timeout_fails_the_run(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    release = threading.Event()
    arrived: list[float] = []

    def handler(request: Request) -> Response:
        arrived.append(time.monotonic())
        release.wait(timeout=5)  # far longer than the 1 s timeout; released when the run is over
        return json_response(ITEMS)

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [{"name": "items", "endpoint": "/items", "paginator": "single_page"}],
        connection={"timeout": 1, "retry": {"max_attempts": 2, "backoff_factor": 0.1}},
    )
    started = time.monotonic()
    try:
        result = run_job(defs, JOB)
    finally:
        release.set()
    assert not result.success
    assert time.monotonic() - started < 15
    assert "read timed out" in step_failure_message(result).lower()
    assert len(arrived) == 2  # connection.retry.max_attempts


# --------------------------------------------------------------------------- 6. failure part-way


@pytest.mark.slow
def test_a_failure_on_page_3_loads_nothing_and_keeps_the_cursor(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    records = [{"id": i, "updated_at": f"2024-02-{i:02d}T00:00:00Z"} for i in range(1, 11)]
    broken = {"page": 3}

    def handler(request: Request) -> Response:
        page = int(request.args["page"])
        if page == broken["page"]:
            return json_response({"error": "boom"}, status=500)
        since = parse_time(request.args["since"])
        newer = [r for r in records if parse_time(str(r["updated_at"])) >= since]
        return json_response({"data": newer[(page - 1) * 2 : page * 2]})  # pages of 2

    api.expect_request("/items").respond_with_handler(handler)
    defs = write_rest_project(
        write_project,
        api,
        [
            {
                "name": "items",
                "endpoint": {"path": "/items", "data_selector": "data"},
                "paginator": {"type": "page_number", "base_page": 1, "total_path": None},
                "incremental": {
                    "cursor_field": "updated_at",
                    "initial_value": "2024-01-01T00:00:00Z",
                    "param": "since",
                },
                "write_disposition": "append",  # a second copy of a row would show
            }
        ],
        connection={"retry": {"max_attempts": 2, "backoff_factor": 0.1}},
    )

    def run(healthy: bool) -> list[dict[str, str]]:
        """Run the job against a healthy or a broken server; the requests it made."""
        api.clear_log()
        broken["page"] = 0 if healthy else 3
        result = run_job(defs, JOB)
        assert result.success is healthy
        if not healthy:
            assert "500 Server Error" in step_failure_message(result)
        return request_args(api, "/items")

    def since(requests: list[dict[str, str]]) -> str:
        (value,) = {a["since"] for a in requests}  # every page sends the same cursor
        return value

    # the very first load fails on page 3 after two pages were read: nothing lands
    sent = run(healthy=False)
    assert [a["page"] for a in sent] == ["1", "2", "3", "3"]  # page 3 tried twice (max_attempts 2)
    assert tables(defs) == set()

    # healthy again: the cursor did not move, and every record lands exactly once
    sent = run(healthy=True)
    assert since(sent) == "2024-01-01T00:00:00Z"
    assert [a["page"] for a in sent] == ["1", "2", "3", "4", "5", "6"]
    assert rows(defs, f"select count(*), count(distinct id) from {DATASET}.items") == [(10, 10)]
    assert rows(defs, f"select count(*), max(status) from {DATASET}._dlt_loads") == [(1, 0)]

    # new records, and page 3 breaks again: the table and the loads stay as they were
    records += [{"id": i, "updated_at": f"2024-02-{i:02d}T00:00:00Z"} for i in range(11, 17)]
    sent = run(healthy=False)
    assert since(sent) == "2024-02-10T00:00:00Z"
    assert rows(defs, f"select count(*), count(distinct id) from {DATASET}.items") == [(10, 10)]
    assert rows(defs, f"select count(*) from {DATASET}._dlt_loads") == [(1,)]

    # and the next healthy run starts from the last successful cursor
    sent = run(healthy=True)
    assert since(sent) == "2024-02-10T00:00:00Z"
    assert rows(defs, f"select count(*), count(distinct id) from {DATASET}.items") == [(16, 16)]
    assert rows(defs, f"select count(*), max(status) from {DATASET}._dlt_loads") == [(2, 0)]


# --------------------------------------------------------------------------- 7. one resource at a time


def test_each_resource_can_be_materialized_alone(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob
) -> None:
    serve_users_and_posts(api)
    api.expect_request("/orders").respond_with_json([{"id": 100, "total": 5}])
    defs = write_rest_project(
        write_project,
        api,
        [
            {"name": "users", "endpoint": "/users", "paginator": "single_page"},
            {"name": "orders", "endpoint": "/orders", "paginator": "single_page"},
            POSTS_RESOURCE,
        ],
    )

    def materialized(result: dg.ExecuteInProcessResult) -> list[str]:
        return [
            str(e.asset_key and e.asset_key.to_user_string())
            for e in result.get_asset_materialization_events()
        ]

    result = run_job(defs, JOB, asset_selection=[[DATASET, "orders"]])
    assert result.success
    assert materialized(result) == [f"{DATASET}/orders"]
    assert {r.path for r, _ in api.log} == {"/orders"}
    assert tables(defs) - DLT_TABLES == {"orders"}

    api.clear_log()
    result = run_job(defs, JOB, asset_selection=[[DATASET, "users"]])
    assert result.success
    assert materialized(result) == [f"{DATASET}/users"]
    assert {r.path for r, _ in api.log} == {"/users"}
    assert tables(defs) - DLT_TABLES == {"orders", "users"}

    api.clear_log()
    result = run_job(defs, JOB, asset_selection=[[DATASET, "posts"]])
    assert result.success
    assert materialized(result) == [f"{DATASET}/posts"]
    assert {r.path for r, _ in api.log} == {"/users", "/users/1/posts", "/users/2/posts"}
    assert tables(defs) - DLT_TABLES == {"orders", "users", "posts"}
    assert rows(defs, f"select count(*) from {DATASET}.posts") == [(3,)]
    assert rows(defs, f"select count(*) from {DATASET}.users") == [(2,)]  # the parent was read, not loaded


# --------------------------------------------------------------------------- 2b. oauth2 client credentials

ACCESS_TOKEN = "issued-access-token-4711"


def oauth2_project(
    api: HTTPServer, write_project: WriteProject, expected_client_secret: str, token_status: int = 200
) -> Path:
    def token(request: Request) -> Response:
        if token_status != 200:
            return json_response({"error": "unavailable"}, status=token_status)
        form = request.form
        if form.get("client_id") != "dwh" or form.get("client_secret") != expected_client_secret:
            return json_response({"error": "invalid_client"}, status=401)
        return json_response({"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600})

    def items(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return json_response({"error": "bad token"}, status=401)
        return json_response(ITEMS[:3])

    api.expect_request("/oauth/token", method="POST").respond_with_handler(token)
    api.expect_request("/items").respond_with_handler(items)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{base_url(api)}/oauth/token",
        "client_id": "dwh",
        "scopes": ["read", "write"],
        "credentials_secret_key": "api_token_secret_key",
    }
    return write_rest_project(
        write_project,
        api,
        [{"name": "items", "endpoint": "/items", "paginator": "single_page"}],
        connection={"auth": auth, "retry": {"max_attempts": 2, "backoff_factor": 0.1}},
        secrets={"api_token": SECRET_ENV},
    )


def token_requests(api: HTTPServer) -> list[Request]:
    return [request for request, _ in api.log if request.path == "/oauth/token"]


def test_oauth2_client_credentials_fetches_a_token_and_loads(
    api: HTTPServer,
    write_project: WriteProject,
    run_job: RunJob,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "CANARY-g00d-oauth2-c3d4"
    monkeypatch.setenv(SECRET_ENV, secret)
    defs = oauth2_project(api, write_project, expected_client_secret=secret)
    result = run_job(defs, JOB)
    assert result.success
    (request,) = token_requests(api)
    assert request.form["grant_type"] == "client_credentials"
    assert request.form["scope"] == "read write"
    assert loaded_ids(defs) == [1, 2, 3]
    assert_secret_nowhere(secret, result.run_id, "", dagster_home, capfd)


def test_oauth2_rejected_client_secret_fails_without_leaking_it(
    api: HTTPServer,
    write_project: WriteProject,
    run_job: RunJob,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "CANARY-s3cr3t-oauth2-e5f6"
    monkeypatch.setenv(SECRET_ENV, secret)
    defs = oauth2_project(api, write_project, expected_client_secret="the-right-one")
    result = run_job(defs, JOB)
    assert not result.success
    failure = step_failure_message(result)
    assert "401" in failure
    assert token_requests(api)[0].form["client_secret"] == secret
    assert_secret_nowhere(secret, result.run_id, failure, dagster_home, capfd)


def test_oauth2_token_requests_follow_the_source_retry_policy(
    api: HTTPServer, write_project: WriteProject, run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "client-secret")
    defs = oauth2_project(api, write_project, expected_client_secret="client-secret", token_status=503)
    started = time.monotonic()
    result = run_job(defs, JOB)
    assert not result.success
    assert time.monotonic() - started < 15
    assert "503" in step_failure_message(result)
    assert len(token_requests(api)) == 2  # connection.retry.max_attempts, not dlt's global default of 5

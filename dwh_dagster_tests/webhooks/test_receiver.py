"""The real webhook receiver (``dwh webhook serve`` in a subprocess) and the sensor that runs its events.

Each test starts its own receiver on a free port with ``DAGSTER_HOME`` set to the ``dagster_home``
fixture and the secrets in its env vars, talks HTTP to it with :mod:`urllib`, reads the SQLite
store directly, and evaluates the trigger's sensor as the daemon does (``evaluate_tick`` with a
context on the instance of ``DAGSTER_HOME``). The receiver is always stopped in ``finally``; every
wait is bounded. The project is described in :mod:`dwh_dagster_tests.webhooks.support`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.webhooks.support import (
    BEARER_SECRET,
    HMAC_SECRET,
    HMAC_VAR,
    REQUEST_TIMEOUT,
    TOKEN_VAR,
    Receiver,
    clean_env,
    serve,
    signed_headers,
    stored_events,
    write_webhook_project,
)

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

MIB = 1024 * 1024
PUSH = {
    "ref": "refs/heads/main",
    "repository": {"full_name": "acme/shop", "id": 42},
    "commits": [{"id": "c0ffee"}, {"id": "beef"}],
    "action": "push",
}


@pytest.fixture
def defs_dir(tmp_path: Path) -> Path:
    return write_webhook_project(tmp_path / "project")


@pytest.fixture
def store(dagster_home: Path) -> Path:
    return dagster_home / "dwh_webhooks.sqlite"


def _secrets() -> dict[str, str]:
    return {HMAC_VAR: HMAC_SECRET, TOKEN_VAR: BEARER_SECRET}


@pytest.fixture
def receiver(defs_dir: Path, dagster_home: Path, tmp_path: Path) -> Iterator[Receiver]:
    with serve(defs_dir, clean_env(dagster_home, **_secrets()), tmp_path / "logs") as running:
        yield running


def _sensor(defs_dir: Path, name: str, environment: str = "dev") -> dg.SensorDefinition:
    defs = build_definitions(load_project(defs_dir, environment))
    return defs.get_repository_def().get_sensor_def(name)


def _tick(sensor: dg.SensorDefinition, cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
    """The run requests and new cursor of one evaluation on the instance of DAGSTER_HOME."""
    with dg.DagsterInstance.get() as instance:
        data = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
    return list(data.run_requests or []), data.cursor


def _own_tags(request: dg.RunRequest) -> dict[str, str]:
    """The request's tags without those Dagster adds itself (``dagster/sensor_name``)."""
    return {k: v for k, v in request.tags.items() if not k.startswith("dagster/")}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the receiver --------------------------------------------------------------------------------


def test_signed_request_is_accepted_and_stored(receiver: Receiver, store: Path) -> None:
    answer = receiver.post_signed("hook_hmac", PUSH, delivery="delivery-1")
    assert answer.status == 202, answer.body
    assert answer.json() == {"status": "accepted", "run_key": "delivery-1", "duplicate": False}
    assert stored_events(store) == [("hook_hmac", "delivery-1", PUSH)]


def test_accepted_event_survives_a_killed_receiver(receiver: Receiver, store: Path) -> None:
    assert receiver.post_signed("hook_hmac", PUSH, delivery="durable-1").status == 202
    receiver.process.kill()  # SIGKILL right after the 202: no shutdown hook can flush anything
    receiver.process.wait(timeout=15)
    assert stored_events(store) == [("hook_hmac", "durable-1", PUSH)]


def test_redelivery_is_a_duplicate_and_stored_once(receiver: Receiver, store: Path) -> None:
    first = receiver.post_signed("hook_hmac", PUSH, delivery="delivery-2")
    again = receiver.post_signed("hook_hmac", PUSH, delivery="delivery-2")
    changed = receiver.post_signed("hook_hmac", {**PUSH, "ref": "other"}, delivery="delivery-2")
    assert (first.status, again.status, changed.status) == (202, 202, 202)
    assert first.json()["duplicate"] is False
    assert again.json() == {"status": "accepted", "run_key": "delivery-2", "duplicate": True}
    assert changed.json()["duplicate"] is True
    assert stored_events(store) == [("hook_hmac", "delivery-2", PUSH)]


def test_concurrent_redeliveries_store_one_event(receiver: Receiver, store: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda _: receiver.post_signed("hook_hmac", PUSH, delivery="burst"), range(8))
        )
    assert [a.status for a in answers] == [202] * 8
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 7
    assert stored_events(store) == [("hook_hmac", "burst", PUSH)]


def test_same_delivery_id_on_two_triggers_is_two_events(receiver: Receiver, store: Path) -> None:
    body = json.dumps(PUSH).encode()
    hmac_answer = receiver.post_signed("hook_hmac", PUSH, delivery="shared-id")
    bearer_answer = receiver.post(
        "hook_bearer", body, {**_bearer(BEARER_SECRET), "X-Delivery-Id": "shared-id"}
    )
    assert hmac_answer.status == bearer_answer.status == 202
    assert hmac_answer.json()["duplicate"] is bearer_answer.json()["duplicate"] is False
    assert [(t, k) for t, k, _ in stored_events(store)] == [
        ("hook_hmac", "shared-id"),
        ("hook_bearer", "shared-id"),
    ]


def test_without_delivery_id_the_run_key_is_the_sha256_of_the_body(receiver: Receiver, store: Path) -> None:
    body = b'{"ref": "refs/heads/dev",  "n": 1}'  # raw bytes, spacing kept: the hash is of the body as sent
    answer = receiver.post("hook_hmac", body, signed_headers(body))
    assert answer.status == 202, answer.body
    expected = hashlib.sha256(body).hexdigest()
    assert answer.json()["run_key"] == expected
    again = receiver.post("hook_hmac", body, signed_headers(body))
    assert again.json() == {"status": "accepted", "run_key": expected, "duplicate": True}
    assert stored_events(store) == [("hook_hmac", expected, {"ref": "refs/heads/dev", "n": 1})]


@pytest.mark.parametrize(
    "case",
    [
        "bad signature",
        "signed with another secret",
        "stale timestamp",
        "future timestamp",
        "non-numeric timestamp",
        "missing signature",
        "missing timestamp",
        "missing both",
        "signature over the body only",
    ],
)
def test_bad_hmac_requests_are_401_and_not_stored(receiver: Receiver, store: Path, case: str) -> None:
    body = json.dumps(PUSH).encode()
    now = int(time.time())
    headers = signed_headers(body, delivery=f"bad-{case}")
    if case == "bad signature":
        headers["X-Signature-256"] = "sha256=" + "0" * 64
    elif case == "signed with another secret":
        headers = signed_headers(body, secret="not-the-secret")
    elif case == "stale timestamp":
        headers = signed_headers(body, timestamp=str(now - 400))
    elif case == "future timestamp":
        headers = signed_headers(body, timestamp=str(now + 400))
    elif case == "non-numeric timestamp":
        headers = signed_headers(body, timestamp="yesterday")
    elif case == "missing signature":
        del headers["X-Signature-256"]
    elif case == "missing timestamp":
        del headers["X-Timestamp"]
    elif case == "missing both":
        headers = {}
    elif case == "signature over the body only":
        headers["X-Signature-256"] = "sha256=" + hmac.new(HMAC_SECRET.encode(), body, "sha256").hexdigest()
    answer = receiver.post("hook_hmac", body, headers)
    assert answer.status == 401, (case, answer.body)
    assert "error" in answer.json()
    text = answer.body.decode()
    assert HMAC_SECRET not in text
    expected_signature = signed_headers(body, timestamp=headers.get("X-Timestamp", str(now)))
    assert expected_signature["X-Signature-256"].removeprefix("sha256=") not in text
    assert stored_events(store) == []


def test_signed_nan_timestamp_is_401(receiver: Receiver, store: Path) -> None:
    body = json.dumps(PUSH).encode()
    answer = receiver.post("hook_hmac", body, signed_headers(body, timestamp="nan", delivery="nan-1"))
    assert answer.status == 401, answer.body
    assert stored_events(store) == []


def test_bearer_trigger_good_and_bad_tokens(receiver: Receiver, store: Path) -> None:
    body = json.dumps(PUSH).encode()
    good = receiver.post("hook_bearer", body, {**_bearer(BEARER_SECRET), "X-Delivery-Id": "b-1"})
    assert good.status == 202, good.body
    assert good.json() == {"status": "accepted", "run_key": "b-1", "duplicate": False}
    for headers in (
        _bearer("wrong-token"),
        _bearer(HMAC_SECRET),  # the other trigger's secret
        _bearer(""),
        {"Authorization": f"Basic {BEARER_SECRET}"},
        {},
        signed_headers(body, secret=BEARER_SECRET),  # an HMAC signature is not a bearer token
    ):
        bad = receiver.post("hook_bearer", body, {**headers, "X-Delivery-Id": "b-bad"})
        assert bad.status == 401, (headers, bad.body)
        assert BEARER_SECRET not in bad.body.decode()
    # a bearer token does not open an HMAC trigger either
    crossed = receiver.post("hook_hmac", body, _bearer(HMAC_SECRET))
    assert crossed.status == 401
    assert stored_events(store) == [("hook_bearer", "b-1", PUSH)]


@pytest.mark.parametrize("name", ["no_such_trigger", "hook_disabled", "nightly"])
def test_unknown_disabled_or_non_webhook_trigger_is_404(receiver: Receiver, store: Path, name: str) -> None:
    body = json.dumps(PUSH).encode()
    answer = receiver.post(name, body, signed_headers(body, delivery="x"))
    assert answer.status == 404, answer.body
    assert stored_events(store) == []


def test_trigger_disabled_by_an_environment_overlay_is_404(
    defs_dir: Path, dagster_home: Path, store: Path, tmp_path: Path
) -> None:
    env = clean_env(dagster_home, ENVIRONMENT="prod", **_secrets())
    with serve(defs_dir, env, tmp_path / "logs") as prod:
        body = json.dumps(PUSH).encode()
        assert prod.post("hook_bearer", body, _bearer(BEARER_SECRET)).status == 404
        assert prod.post("hook_hmac", body, signed_headers(body, delivery="p-1")).status == 202
    assert [(t, k) for t, k, _ in stored_events(store)] == [("hook_hmac", "p-1")]


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    skeleton = b'{"pad": ""}'
    body = b'{"pad": "' + b"x" * (size - len(skeleton)) + b'"}'
    assert len(body) == size
    return body


def _logged_statuses(receiver: Receiver, trigger: str, count: int) -> list[int]:
    """The access-log statuses of ``trigger`` once ``count`` are logged (bounded wait)."""
    deadline = time.monotonic() + 10
    while len(statuses := receiver.access_log_statuses(trigger)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return statuses


def test_body_above_1_mib_is_413_and_1_mib_is_accepted(receiver: Receiver, store: Path) -> None:
    too_big = _json_of_size(MIB + 1)
    status = receiver.post_expecting_continue("hook_hmac", too_big, signed_headers(too_big, delivery="big"))
    assert status == 413
    just_fits = _json_of_size(MIB)
    answer = receiver.post("hook_hmac", just_fits, signed_headers(just_fits, delivery="fits"))
    assert answer.status == 202, answer.body[:200]
    assert [k for _, k, _ in stored_events(store)] == ["fits"]


def test_chunked_body_above_1_mib_is_413(receiver: Receiver, store: Path) -> None:
    too_big = _json_of_size(2 * MIB)
    chunks = [too_big[i : i + 64 * 1024] for i in range(0, len(too_big), 64 * 1024)]
    request = urllib.request.Request(
        f"{receiver.base_url}/webhooks/hook_hmac",
        data=iter(chunks),  # no Content-Length: urllib sends Transfer-Encoding: chunked
        headers={"Content-Type": "application/json", **signed_headers(too_big, delivery="chunked")},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (ConnectionError, urllib.error.URLError):
        # The receiver answers and closes while the client is still sending; the client may then
        # lose the answer (a reset), so the status is read from the receiver's access log instead.
        status = None
    assert status in (413, None)
    assert _logged_statuses(receiver, "hook_hmac", 1) == [413]
    assert stored_events(store) == []


@pytest.mark.parametrize(
    "body", [b"not json", b"{'single': 'quotes'}", b"", b'{"truncated": ', b"\xff\xfe{}"], ids=repr
)
def test_signed_body_that_is_not_json_is_400(receiver: Receiver, store: Path, body: bytes) -> None:
    answer = receiver.post("hook_hmac", body, signed_headers(body, delivery="nj"))
    assert answer.status == 400, answer.body
    assert stored_events(store) == []


def test_secret_not_configured_is_refused_without_storing(receiver: Receiver, store: Path) -> None:
    body = json.dumps(PUSH).encode()
    answer = receiver.post("hook_unset", body, signed_headers(body, secret=""))
    assert answer.status not in (200, 202)
    assert stored_events(store) == []


def test_store_path_from_dwh_webhook_store(
    defs_dir: Path, dagster_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = tmp_path / "elsewhere" / "hooks.sqlite"
    env = clean_env(dagster_home, DWH_WEBHOOK_STORE=str(custom), **_secrets())
    with serve(defs_dir, env, tmp_path / "logs") as running:
        assert running.post_signed("hook_hmac", PUSH, delivery="custom-1").status == 202
        assert f"storing webhook events in {custom}" in running.output()
    assert stored_events(custom) == [("hook_hmac", "custom-1", PUSH)]
    assert not (dagster_home / "dwh_webhooks.sqlite").exists()
    monkeypatch.setenv("DWH_WEBHOOK_STORE", str(custom))
    requests, _ = _tick(_sensor(defs_dir, "hook_hmac"), None)
    assert [r.run_key for r in requests] == ["custom-1"]


def test_secrets_never_appear_in_output_or_answers(
    defs_dir: Path, dagster_home: Path, tmp_path: Path
) -> None:
    body = json.dumps(PUSH).encode()
    answers = []
    with serve(defs_dir, clean_env(dagster_home, **_secrets()), tmp_path / "logs") as running:
        answers.append(running.post("hook_hmac", body, signed_headers(body, delivery="ok")))
        answers.append(running.post("hook_hmac", body, {"X-Signature-256": "sha256=00", "X-Timestamp": "1"}))
        answers.append(running.post("hook_hmac", body, signed_headers(body, secret="wrong")))
        answers.append(running.post("hook_hmac", body, signed_headers(body, timestamp="0")))
        answers.append(running.post("hook_hmac", body, {}))
        answers.append(running.post("hook_bearer", body, _bearer(BEARER_SECRET)))
        answers.append(running.post("hook_bearer", body, _bearer("wrong")))
        answers.append(running.post("hook_unset", body, signed_headers(body)))
        answers.append(running.post("hook_hmac", b"nope", signed_headers(b"nope")))
    output = running.output()
    assert [a.status for a in answers] == [202, 401, 401, 401, 401, 202, 401, 503, 400]
    assert "storing webhook events in" in output  # the output was captured at all
    for secret in (HMAC_SECRET, BEARER_SECRET):
        assert secret not in output
        for answer in answers:
            assert secret.encode() not in answer.body


# -- the sensor ----------------------------------------------------------------------------------


def test_sensor_targets_the_triggers_job(defs_dir: Path) -> None:
    for trigger, job in [("hook_hmac", "job_a"), ("hook_bearer", "job_b"), ("hook_disabled", "job_a")]:
        sensor = _sensor(defs_dir, trigger)
        assert [t.job_name for t in sensor.targets] == [job]
        assert sensor.job_name == job
    assert _sensor(defs_dir, "hook_hmac").default_status == dg.DefaultSensorStatus.RUNNING
    assert _sensor(defs_dir, "hook_disabled").default_status == dg.DefaultSensorStatus.STOPPED


def test_sensor_requests_one_run_per_stored_event(receiver: Receiver, defs_dir: Path) -> None:
    sensor = _sensor(defs_dir, "hook_hmac")
    requests, cursor = _tick(sensor, None)
    assert requests == []

    assert receiver.post_signed("hook_hmac", PUSH, delivery="d-1").status == 202
    second = {"ref": "refs/heads/feature", "repository": {"full_name": "acme/web"}, "commits": []}
    assert receiver.post_signed("hook_hmac", second, delivery="d-2").status == 202
    no_id_body = json.dumps({"ref": "refs/tags/v1"}).encode()
    assert receiver.post("hook_hmac", no_id_body, signed_headers(no_id_body)).status == 202
    assert receiver.post_signed("hook_hmac", PUSH, delivery="d-1").json()["duplicate"] is True
    # deliveries of another trigger are not this sensor's
    assert receiver.post("hook_bearer", b"{}", _bearer(BEARER_SECRET)).status == 202

    requests, cursor = _tick(sensor, cursor)
    assert [r.run_key for r in requests] == ["d-1", "d-2", hashlib.sha256(no_id_body).hexdigest()]
    assert cursor is not None
    assert _own_tags(requests[0]) == {
        "webhook": "",
        "dwh/trigger": "hook_hmac",
        "repo": "acme/shop",
        "ref": "refs/heads/main",
        "first_commit": "c0ffee",
        "dwh/webhook_delivery": "d-1",
    }
    # a path missing from the payload gives no tag (not an empty one)
    assert requests[1].tags["repo"] == "acme/web"
    assert "first_commit" not in requests[1].tags
    assert "repo" not in requests[2].tags
    assert requests[2].tags["ref"] == "refs/tags/v1"
    for request in requests:
        assert request.job_name in (None, "job_a")

    again, same_cursor = _tick(sensor, cursor)
    assert again == []
    assert same_cursor == cursor

    # a replayed delivery adds nothing; a new one exactly one run
    assert receiver.post_signed("hook_hmac", PUSH, delivery="d-1").json()["duplicate"] is True
    assert receiver.post_signed("hook_hmac", second, delivery="d-2").json()["duplicate"] is True
    assert _tick(sensor, cursor)[0] == []
    assert receiver.post_signed("hook_hmac", {"ref": "r3"}, delivery="d-3").status == 202
    newest, _ = _tick(sensor, cursor)
    assert [r.run_key for r in newest] == ["d-3"]


def test_sensor_drains_a_backlog_one_run_per_event(receiver: Receiver, defs_dir: Path) -> None:
    deliveries = [f"backlog-{i:03d}" for i in range(105)]
    for delivery in deliveries:
        assert receiver.post_signed("hook_hmac", {"ref": delivery}, delivery=delivery).status == 202
    sensor = _sensor(defs_dir, "hook_hmac")
    seen: list[str] = []
    cursor = None
    for _ in range(5):  # bounded: the backlog must drain in a few ticks
        requests, cursor = _tick(sensor, cursor)
        if not requests:
            break
        seen.extend(r.run_key for r in requests if r.run_key)
    assert seen == deliveries


def test_bearer_sensor_tags_from_a_list_of_paths(receiver: Receiver, defs_dir: Path) -> None:
    body = json.dumps(PUSH).encode()
    assert (
        receiver.post("hook_bearer", body, {**_bearer(BEARER_SECRET), "X-Delivery-Id": "gh-7"}).status == 202
    )
    requests, _ = _tick(_sensor(defs_dir, "hook_bearer"), None)
    assert len(requests) == 1
    assert requests[0].run_key == "gh-7"
    assert _own_tags(requests[0]) == {
        "dwh/trigger": "hook_bearer",
        "repository.full_name": "acme/shop",
        "action": "push",
        "dwh/webhook_delivery": "gh-7",
    }


def test_sensor_request_runs_the_triggers_job(receiver: Receiver, defs_dir: Path, dagster_home: Path) -> None:
    assert receiver.post_signed("hook_hmac", PUSH, delivery="run-me").status == 202
    defs = build_definitions(load_project(defs_dir, "dev"))
    sensor = defs.get_repository_def().get_sensor_def("hook_hmac")
    (request,), _ = _tick(sensor, None)
    job_name = request.job_name or sensor.job_name
    assert job_name == "job_a"
    job = defs.resolve_job_def(job_name)
    assert job.name == "job_a"
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.tags["repo"] == "acme/shop"
    assert run.tags["dwh/webhook_delivery"] == "run-me"
    materialized = {e.asset_key for e in result.get_asset_materialization_events() if e.asset_key}
    assert materialized == {dg.AssetKey(["ds_a", "t_a"])}

"""``dwh run`` notifies the job's channels itself: Dagster's run-status sensors never see a run
started in-process (it belongs to no code location), so without this a failed ``dwh run`` in a
cron job would tell no one. The project of test_sensors: a real signed webhook channel on
127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.cli import main
from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_hmac
from dwh_dagster_tests.notifications.conftest import json_posts, requests_to
from dwh_dagster_tests.notifications.test_sensors import HMAC_SECRET, HOOK, UI, project  # noqa: F401

pytestmark = pytest.mark.usefixtures("dagster_home")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWH_UI_URL", UI)
    monkeypatch.setenv("TEST_NOTIFY_HMAC", HMAC_SECRET)


def test_a_failed_dwh_run_notifies_its_channels_once(
    project: Path,  # noqa: F811
    server: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "job_bad", "--defs", str(project)]) == 1
    out = capsys.readouterr().out
    assert "notified channel hook" in out
    [message] = json_posts(server, HOOK)
    assert message["job"] == "job_bad" and message["status"] == "FAILURE"
    assert [step["step"] for step in message["failed_steps"]] == ["load_load_bad"]
    assert message["run_id"] in out and message["run_url"] == f"{UI}/runs/{message['run_id']}"
    [request] = requests_to(server, HOOK)
    problem = verify_hmac(
        HMAC_SECRET, request.get_data(), request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER]
    )
    assert problem is None


def test_success_notifies_only_jobs_that_ask_and_a_dead_channel_is_one_line(
    project: Path,  # noqa: F811
    server: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "job_ok", "--defs", str(project)]) == 0  # on_success: true
    assert [m["status"] for m in json_posts(server, HOOK)] == ["SUCCESS"]
    assert main(["run", "job_quiet", "--defs", str(project)]) == 1  # no channels
    assert len(json_posts(server, HOOK)) == 1
    capsys.readouterr()
    assert main(["run", "job_bad_dead", "--defs", str(project)]) == 1  # dead channel first, then hook
    captured = capsys.readouterr()
    assert "notified channel hook" in captured.out
    [dead] = [line for line in captured.err.splitlines() if "channel dead" in line]
    assert dead.startswith("notification to channel dead failed: ")
    assert [m["status"] for m in json_posts(server, HOOK)] == ["SUCCESS", "FAILURE"]

"""Every channel type delivers a run summary to a real local server.

Email goes to a real aiosmtpd server on 127.0.0.1 (plain, STARTTLS and implicit TLS, with and
without login; the TLS certificate is self-signed and trusted through ``SSL_CERT_FILE``). Slack,
Teams and webhook messages go to a real HTTP server on 127.0.0.1. Channels come from YAML files
through the loader, default channels from the documented env vars.
"""

from __future__ import annotations

import email
import email.policy
import time
from dataclasses import replace
from email.message import EmailMessage

import pytest
from pytest_httpserver import HTTPServer

from dwh_dagster.config.loader import load_project
from dwh_dagster.config.resolved import ResolvedProject
from dwh_dagster.notifications.channels import deliver
from dwh_dagster.notifications.messages import FailedStep, RunSummary
from dwh_dagster.notifications.sensors import notify
from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_hmac
from dwh_dagster_tests.conftest import WriteProject
from dwh_dagster_tests.notifications.conftest import (
    StartSmtp,
    TlsFiles,
    closed_port,
    json_posts,
    requests_to,
    url_of,
)

RUN_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
UI = "https://dagster.example.com"
SUMMARY = RunSummary(
    job="daily_ingestion",
    environment="prod",
    status="FAILURE",
    run_id=RUN_ID,
    duration_seconds=125.0,
    failed_steps=[FailedStep("load_orders", "ValueError: bad row 7\nin file orders.jsonl")],
)
TITLE = "[prod] job daily_ingestion FAILURE"
SMTP_PASSWORD = "smtp-pa55word-xyz"
SECRETS_MAPPING = """
    secrets:
      smtp_password: {env_var: TEST_NOTIFY_SMTP_PASSWORD, required: false}
      slack_hook: {env_var: TEST_NOTIFY_SLACK_URL, required: false}
      teams_hook: {env_var: TEST_NOTIFY_TEAMS_URL, required: false}
      hook_hmac: {env_var: TEST_NOTIFY_HOOK_HMAC, required: false}
"""
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"  # the test server over plain SMTP
)
FAST = {"backoff_seconds": 0.01}  # retries without the production back-off


@pytest.fixture(autouse=True)
def _no_ambient_notification_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the caller's UI URL, default-channel env vars or CA bundle."""
    for name in (
        "DWH_UI_URL",
        "DWH_SMTP_HOST",
        "DWH_SMTP_PORT",
        "DWH_SMTP_SECURITY",
        "DWH_SMTP_USERNAME",
        "DWH_SMTP_PASSWORD",
        "DWH_EMAIL_FROM",
        "DWH_EMAIL_TO",
        "DWH_SLACK_WEBHOOK_URL",
        "DWH_MSTEAMS_WEBHOOK_URL",
        "DWH_WEBHOOK_URL",
        "DWH_WEBHOOK_HMAC_SECRET",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


def channels_project(write_project: WriteProject, channels: dict[str, str]) -> ResolvedProject:
    """A project of ``channels`` (``{name: yaml}``) and the secrets mapping above."""
    files = {f"channels/{name}.yaml": text for name, text in channels.items()}
    return load_project(write_project({**files, "secrets_mapping.yaml": SECRETS_MAPPING}), "prod")


def send(project: ResolvedProject, name: str, **kwargs: float) -> str | None:
    """Deliver SUMMARY through the project's channel ``name`` (a default channel when no file)."""
    options = {**FAST, **kwargs}
    return deliver(
        name,
        project.channels.get(name),
        SUMMARY,
        project.secret_resolver(),
        attempts=int(options.get("attempts", 3)),
        backoff_seconds=options["backoff_seconds"],
    )


def assert_summary_text(text: str, run_url: str | None) -> None:
    """The plain-text body names the run, its duration, the failed step with its error, the link."""
    lines = text.splitlines()
    assert lines[0] == TITLE
    assert f"run: {RUN_ID}" in lines
    assert "duration: 2m 05s" in lines
    assert "failed step load_orders:" in lines
    assert "    ValueError: bad row 7" in lines
    assert "    in file orders.jsonl" in lines
    if run_url is None:
        assert not any(line.startswith("open:") for line in lines)
    else:
        assert lines[-1] == f"open: {run_url}"


# --------------------------------------------------------------------------- email


def email_channel(port: int, security: str, *, login: bool, ui_url: str | None = None) -> str:
    credentials = "username: dwh-bot\n  credentials_secret_key: smtp_password_secret_key\n  " if login else ""
    ui = f"ui_url: {ui_url}\n  " if ui_url else ""
    return (
        f"channel:\n  name: mail\n  type: email\n  host: 127.0.0.1\n  port: {port}\n  security: {security}\n"
        f"  from: dwh@example.com\n  to: [data@example.com, oncall@example.com]\n  {credentials}{ui}"
    )


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_email(received_content: bytes, run_url: str | None) -> None:
    message = parse(received_content)
    assert message["Subject"] == TITLE
    assert message["From"] == "dwh@example.com"
    assert message["To"] == "data@example.com, oncall@example.com"
    assert_summary_text(message.get_content().rstrip("\n"), run_url)


def test_email_plain_without_login(
    write_project: WriteProject, smtp_server: StartSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DWH_UI_URL", UI + "/")  # a trailing slash is fine
    smtp = smtp_server("plain")
    project = channels_project(write_project, {"mail": email_channel(smtp.port, "plain", login=False)})

    assert send(project, "mail") is None

    [received] = smtp.messages
    assert received.mail_from == "dwh@example.com"
    assert received.rcpt_tos == ["data@example.com", "oncall@example.com"]
    assert not received.authenticated and not received.tls
    assert_email(received.content, f"{UI}/runs/{RUN_ID}")


@pytest.mark.parametrize("security", ["plain", "starttls", "ssl"])
def test_email_with_login_over_each_security(
    security: str,
    write_project: WriteProject,
    smtp_server: StartSmtp,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))  # trust the self-signed test certificate
    monkeypatch.setenv("TEST_NOTIFY_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("DWH_UI_URL", "https://ignored.example.com")
    smtp = smtp_server(security, credentials=("dwh-bot", SMTP_PASSWORD))
    channel = email_channel(smtp.port, security, login=True, ui_url=UI)  # the channel's ui_url wins
    project = channels_project(write_project, {"mail": channel})

    assert send(project, "mail") is None

    assert smtp.logins == [("dwh-bot", SMTP_PASSWORD)]
    [received] = smtp.messages
    assert received.authenticated
    assert received.tls is (security != "plain")
    assert_email(received.content, f"{UI}/runs/{RUN_ID}")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_tls_verifies_the_server_certificate(
    security: str, write_project: WriteProject, smtp_server: StartSmtp
) -> None:
    """A self-signed certificate nobody trusts is refused: no mail, a reason, no exception."""
    smtp = smtp_server(security)
    project = channels_project(write_project, {"mail": email_channel(smtp.port, security, login=False)})

    reason = send(project, "mail")

    assert reason is not None and "CERTIFICATE_VERIFY_FAILED" in reason
    assert reason.startswith("gave up after 3 attempts")
    assert smtp.messages == []


def test_email_wrong_password_is_retried_and_never_quoted(
    write_project: WriteProject, smtp_server: StartSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_NOTIFY_SMTP_PASSWORD", SMTP_PASSWORD)
    smtp = smtp_server("plain", credentials=("dwh-bot", "the-right-one"))
    project = channels_project(write_project, {"mail": email_channel(smtp.port, "plain", login=True)})

    reason = send(project, "mail")

    assert reason is not None and reason.startswith("gave up after 3 attempts: SMTPAuthenticationError")
    assert SMTP_PASSWORD not in reason
    assert set(smtp.logins) == {("dwh-bot", SMTP_PASSWORD)}
    assert smtp.mechanisms.count("PLAIN") == 3  # one login per attempt (smtplib then also tries LOGIN)
    assert smtp.messages == []


def test_email_password_secret_not_set_is_reported_without_retrying(
    write_project: WriteProject, smtp_server: StartSmtp
) -> None:
    smtp = smtp_server("plain", credentials=("dwh-bot", SMTP_PASSWORD))
    project = channels_project(write_project, {"mail": email_channel(smtp.port, "plain", login=True)})

    reason = send(project, "mail")

    assert reason is not None and "TEST_NOTIFY_SMTP_PASSWORD" in reason
    assert smtp.logins == [] and smtp.messages == []


# --------------------------------------------------------------------------- Slack and Teams

SLACK = "channel: {name: chat, type: slack, webhook_url_secret_key: slack_hook_secret_key}\n"
TEAMS = f"channel: {{name: teams, type: msteams, webhook_url_secret_key: teams_hook, ui_url: '{UI}'}}\n"


def test_slack_posts_the_text(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_request("/services/T0/B0/slack", method="POST").respond_with_data("ok")
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", url_of(server, "/services/T0/B0/slack"))
    monkeypatch.setenv("DWH_UI_URL", UI)
    project = channels_project(write_project, {"chat": SLACK})

    assert send(project, "chat") is None

    [payload] = json_posts(server, "/services/T0/B0/slack")
    assert set(payload) == {"text"}
    assert_summary_text(payload["text"], f"{UI}/runs/{RUN_ID}")


def test_msteams_posts_an_adaptive_card(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_request("/teams/hook", method="POST").respond_with_data("", status=202)
    monkeypatch.setenv("TEST_NOTIFY_TEAMS_URL", url_of(server, "/teams/hook"))
    project = channels_project(write_project, {"teams": TEAMS})

    assert send(project, "teams") is None

    [payload] = json_posts(server, "/teams/hook")
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    texts = [block["text"] for block in card["body"] if block["type"] == "TextBlock"]
    assert texts[0] == TITLE
    assert_summary_text(texts[1], f"{UI}/runs/{RUN_ID}")
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open run", "url": f"{UI}/runs/{RUN_ID}"}]


# --------------------------------------------------------------------------- generic webhook


def webhook_channel(url: str, *, signed: bool) -> str:
    hmac = "\n  hmac_secret_key: hook_hmac" if signed else ""
    return (
        f"channel:\n  name: hook\n  type: webhook\n  url: '{url}'{hmac}\n"
        "  headers: {X-Team: data-platform, Authorization: 'Token abc'}\n"
    )


def assert_webhook_payload(payload: dict[str, object], run_url: str | None) -> None:
    assert payload["job"] == "daily_ingestion"
    assert payload["environment"] == "prod"
    assert payload["status"] == "FAILURE"
    assert payload["run_id"] == RUN_ID
    assert payload["duration_seconds"] == 125.0
    assert payload["failed_steps"] == [
        {"step": "load_orders", "error": "ValueError: bad row 7\nin file orders.jsonl"}
    ]
    assert payload["run_url"] == run_url
    assert payload["title"] == TITLE


def test_webhook_posts_the_json_summary_with_its_headers(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_request("/ops/hook", method="POST").respond_with_data("", status=204)
    monkeypatch.setenv("DWH_UI_URL", UI)
    project = channels_project(
        write_project, {"hook": webhook_channel(url_of(server, "/ops/hook"), signed=False)}
    )

    assert send(project, "hook") is None

    [request] = requests_to(server, "/ops/hook")
    assert request.headers["X-Team"] == "data-platform"
    assert request.headers["Authorization"] == "Token abc"
    assert SIGNATURE_HEADER not in request.headers and TIMESTAMP_HEADER not in request.headers
    [payload] = json_posts(server, "/ops/hook")
    assert_webhook_payload(payload, f"{UI}/runs/{RUN_ID}")


def test_webhook_is_hmac_signed_like_the_receiver_expects(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_request("/ops/hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv("TEST_NOTIFY_HOOK_HMAC", "hmac-secret-123")
    project = channels_project(
        write_project, {"hook": webhook_channel(url_of(server, "/ops/hook"), signed=True)}
    )

    before = time.time()
    assert send(project, "hook") is None

    [request] = requests_to(server, "/ops/hook")
    body = request.get_data()
    signature, timestamp = request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER]
    assert verify_hmac("hmac-secret-123", body, signature, timestamp) is None
    assert verify_hmac("another-secret", body, signature, timestamp) == "bad signature"
    assert abs(float(timestamp) - before) < 60
    assert request.headers["X-Team"] == "data-platform"
    assert "hmac-secret-123" not in body.decode()
    [payload] = json_posts(server, "/ops/hook")
    assert_webhook_payload(payload, None)


# --------------------------------------------------------------------------- default channels


def defaults_project(write_project: WriteProject, channels: list[str]) -> ResolvedProject:
    """A project whose one job names channel types without channel files of those names."""
    files = {
        "sources/drop.yaml": """
            source:
              name: drop
              type: filesystem
              connection: {bucket_url: drop}
              resources: [{name: t, file_glob: "t.jsonl", format: jsonl}]
        """,
        "destinations/wh.yaml": "destination: {name: wh, type: duckdb, connection: {database: wh.duckdb}}\n",
        "pipelines/p.yaml": """
            pipeline:
              name: p
              source: {config_file: drop}
              destination: {config_file: wh, dataset_name: ds}
        """,
        "jobs/j.yaml": f"job: {{name: daily_ingestion, pipelines: [{{name: p}}], "
        f"notifications: {{channels: [{', '.join(channels)}]}}}}\n",
    }
    return load_project(write_project(files), "prod")


def test_default_channels_from_env_vars_for_every_type(
    write_project: WriteProject,
    server: HTTPServer,
    smtp_server: StartSmtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job naming `email`, `slack`, `msteams` and `webhook` with no channel files uses the env vars."""
    smtp = smtp_server("plain", credentials=("env-user", "env-password"))
    for path in ("/slack", "/teams", "/hook"):
        server.expect_request(path, method="POST").respond_with_data("ok")
    env = {
        "DWH_SMTP_HOST": "127.0.0.1",
        "DWH_SMTP_PORT": str(smtp.port),
        "DWH_SMTP_SECURITY": "plain",
        "DWH_SMTP_USERNAME": "env-user",
        "DWH_SMTP_PASSWORD": "env-password",
        "DWH_EMAIL_FROM": "dwh@example.com",
        "DWH_EMAIL_TO": "data@example.com, oncall@example.com",
        "DWH_SLACK_WEBHOOK_URL": url_of(server, "/slack"),
        "DWH_MSTEAMS_WEBHOOK_URL": url_of(server, "/teams"),
        "DWH_WEBHOOK_URL": url_of(server, "/hook"),
        "DWH_WEBHOOK_HMAC_SECRET": "env-hmac-secret",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    project = defaults_project(write_project, ["email", "slack", "msteams", "webhook"])
    assert project.channels == {}
    run_url = f"{UI}/runs/{RUN_ID}"
    summary_with_link = replace(SUMMARY, ui_url=UI)

    outcome = notify(project, project.jobs["daily_ingestion"], summary_with_link)

    assert outcome == {"email": None, "slack": None, "msteams": None, "webhook": None}
    assert smtp.logins == [("env-user", "env-password")]
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["data@example.com", "oncall@example.com"]
    assert_email(mail.content, run_url)
    [slack] = json_posts(server, "/slack")
    assert_summary_text(slack["text"], run_url)
    [teams] = json_posts(server, "/teams")
    assert teams["attachments"][0]["content"]["actions"][0]["url"] == run_url
    [hook_request] = requests_to(server, "/hook")
    assert (
        verify_hmac(
            "env-hmac-secret",
            hook_request.get_data(),
            hook_request.headers[SIGNATURE_HEADER],
            hook_request.headers[TIMESTAMP_HEADER],
        )
        is None
    )
    [hook] = json_posts(server, "/hook")
    assert_webhook_payload(hook, run_url)


def test_default_smtp_starttls_from_env_vars(
    write_project: WriteProject,
    smtp_server: StartSmtp,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``DWH_SMTP_SECURITY`` unset means STARTTLS (the documented default)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    smtp = smtp_server("starttls")
    monkeypatch.setenv("DWH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DWH_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("DWH_EMAIL_FROM", "dwh@example.com")
    monkeypatch.setenv("DWH_EMAIL_TO", "data@example.com,oncall@example.com")
    project = defaults_project(write_project, ["email"])

    assert send(project, "email") is None

    [received] = smtp.messages
    assert received.tls and not received.authenticated
    assert received.rcpt_tos == ["data@example.com", "oncall@example.com"]


@pytest.mark.parametrize(
    ("channel_type", "missing"),
    [
        ("email", "DWH_SMTP_HOST"),
        ("slack", "DWH_SLACK_WEBHOOK_URL"),
        ("msteams", "DWH_MSTEAMS_WEBHOOK_URL"),
        ("webhook", "DWH_WEBHOOK_URL"),
    ],
)
def test_default_channel_without_its_env_var_names_it(
    channel_type: str, missing: str, write_project: WriteProject
) -> None:
    project = defaults_project(write_project, [channel_type])
    started = time.monotonic()

    reason = send(project, channel_type, backoff_seconds=5)

    assert reason is not None and missing in reason
    assert time.monotonic() - started < 2  # a configuration problem is not retried


# --------------------------------------------------------------------------- dead channels

CANARY = "T0CANARY/B0CANARY/xoxSECRETcanary42"


def test_channel_answering_500_every_time_gives_up_after_the_attempts(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_request(f"/services/{CANARY}").respond_with_data("down", status=500)
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", url_of(server, f"/services/{CANARY}"))
    project = channels_project(write_project, {"chat": SLACK})

    reason = send(project, "chat", attempts=4)

    assert reason is not None and reason.startswith("gave up after 4 attempts")
    assert "500" in reason
    assert "CANARY" not in reason
    assert len(requests_to(server, f"/services/{CANARY}")) == 4


def test_channel_failing_once_is_retried_and_delivers(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_oneshot_request("/services/flaky").respond_with_data("busy", status=503)
    server.expect_request("/services/flaky").respond_with_data("ok")
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", url_of(server, "/services/flaky"))
    project = channels_project(write_project, {"chat": SLACK})

    assert send(project, "chat") is None
    assert len(requests_to(server, "/services/flaky")) == 2


def test_default_backoff_waits_between_attempts(
    write_project: WriteProject, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.expect_request("/services/down").respond_with_data("down", status=500)
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", url_of(server, "/services/down"))
    project = channels_project(write_project, {"chat": SLACK})
    started = time.monotonic()

    reason = deliver("chat", project.channels["chat"], SUMMARY, project.secret_resolver(), attempts=2)

    assert reason is not None and reason.startswith("gave up after 2 attempts")
    assert time.monotonic() - started >= 1.0  # backoff_seconds defaults to 1 s
    assert len(requests_to(server, "/services/down")) == 2


def test_closed_port_gives_up_after_the_attempts(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", f"http://127.0.0.1:{closed_port()}/services/plain")
    project = channels_project(write_project, {"chat": SLACK})

    reason = send(project, "chat")

    assert reason is not None and reason.startswith("gave up after 3 attempts: ConnectionError")


@pytest.mark.parametrize("configured", ["channel_file", "default_env_var"])
def test_closed_port_reason_never_quotes_the_secret_webhook_url(
    configured: str, write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_url = f"http://127.0.0.1:{closed_port()}/services/{CANARY}"
    if configured == "channel_file":
        monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", secret_url)
        project, name = channels_project(write_project, {"chat": SLACK}), "chat"
    else:
        monkeypatch.setenv("DWH_SLACK_WEBHOOK_URL", secret_url)
        project, name = defaults_project(write_project, ["slack"]), "slack"

    reason = send(project, name)

    assert reason is not None and reason.startswith("gave up after 3 attempts")
    assert "CANARY" not in reason, reason


def test_dead_email_server_gives_up_without_raising(write_project: WriteProject) -> None:
    project = channels_project(write_project, {"mail": email_channel(closed_port(), "plain", login=False)})

    reason = send(project, "mail")

    assert reason is not None and reason.startswith("gave up after 3 attempts: ConnectionRefusedError")

"""No secret value of a project is ever shown or stored: one canary scan over every place (issue 16).

Every secret of a small project holds a distinct canary (``canary-<key>-<uuid4 hex>``): an API key
sent in the query string (a parameter name dlt does not mask by itself) and a bearer token, of two
rest_api sources served by a local HTTP server; the password of a PostgreSQL destination and the
URL of a sql_database source (trust auth: both are used, neither is asked for); a Slack webhook
URL, a webhook channel's HMAC key and an SMTP password (all three used by the failure message);
a webhook trigger's secret (only set).

``dwh dev`` (webserver, daemon and code server) runs on a DAGSTER_HOME on disk. Each of two jobs
runs twice: with ``dwh run`` (debug logs; ``--verbose`` tracebacks), and launched through the
webserver (a run worker of the daemon's queue; the daemon's sensors notify about those runs).
``ok_job`` loads pages of both APIs and a PostgreSQL table into PostgreSQL; ``bad_job`` fails on an
HTTP 404 whose URL carries the API key, and its failure goes to Slack, the webhook and email.
Then no canary (nor its URL-encoded or base64 form) may appear in: any file of the test's folder
(DAGSTER_HOME: run and event-log SQLite storage value by value, decompressed; compute logs and
sensor tick logs; dlt's kept working folder; the output of every process and command), the
webserver's GraphQL answers about runs, their events and captured logs, assets, sensors and their
ticks, the messages received (a Slack URL's own path excepted: the secret is that URL), or the
loaded tables (dlt's state decoded).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sqlite3
import sys
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dwh_dagster.config.naming import NOTIFY_FAILURE_SENSOR, NOTIFY_SUCCESS_SENSOR
from dwh_dagster.webhooks.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_hmac
from dwh_dagster_tests.conftest import WriteProject, instance_settings_yaml
from dwh_dagster_tests.deployment.support import answers, clean_env, module_workspace
from dwh_dagster_tests.deployment.test_grpc_webserver import graphql
from dwh_dagster_tests.postgres_support import PG_USER, pg_query, unique_schema
from dwh_dagster_tests.processes import HOST, free_port, running, start, stop, wait_for

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

LOCATION = "dwh_canary"
REPOSITORY = "__repository__"
START_TIMEOUT = 90  # seconds for dwh dev to answer and its sensors to tick once
RUN_TIMEOUT = 90  # seconds for each `dwh run`
NOTIFY_TIMEOUT = 75  # seconds for the sensors' next tick (every 30 s) to send the messages

API_KEY_PARAM = "access"  # not in dlt's own list of masked parameters (api_key, token, ...)
SMTP_USER = "dwh-mailer"
HOOK = "/hook"
ITEMS = [{"id": i, "name": f"item {i}"} for i in range(1, 8)]  # pages of 3: 3 + 3 + 1, then empty
ORDERS = [{"order_id": i, "amount": i * 1.5} for i in range(1, 5)]
CUSTOMERS = 6

SECRET_KEYS = (
    "api_key",
    "api_token",
    "pg_password",
    "shop_db_url",
    "slack_url",
    "hook_hmac",
    "smtp_password",
    "trigger_secret",
)

METADATA = """
fragment MD on MetadataEntry {
  __typename label description
  ... on TextMetadataEntry { text }
  ... on UrlMetadataEntry { url }
  ... on JsonMetadataEntry { jsonString }
  ... on MarkdownMetadataEntry { mdStr }
  ... on PathMetadataEntry { path }
  ... on NotebookMetadataEntry { path }
  ... on IntMetadataEntry { intRepr }
  ... on FloatMetadataEntry { floatRepr }
  ... on PipelineRunMetadataEntry { runId }
  ... on JobMetadataEntry { jobName }
  ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
  ... on TableMetadataEntry { table { records schema { columns { name type } } } }
  ... on CodeReferencesMetadataEntry {
    codeReferences {
      __typename
      ... on LocalFileCodeReference { filePath lineNumber label }
      ... on UrlCodeReference { url label }
    }
  }
}
"""

ERROR = """
fragment Err on PythonError {
  className message stack
  causes { className message stack }
  errorChain { message error { className message stack } }
}
"""

EVENTS = (
    METADATA
    + ERROR
    + """
fragment Ev on DagsterRunEvent {
  __typename
  ... on MessageEvent { message stepKey eventType level }
  ... on ErrorEvent { error { ...Err } }
  ... on DisplayableEvent { label description metadataEntries { ...MD } }
  ... on ExecutionStepFailureEvent {
    errorSource
    failureMetadata { label description metadataEntries { ...MD } }
  }
  ... on LogsCapturedEvent { fileKey stepKeys logKey }
  ... on MaterializationEvent { assetKey { path } tags { key value } }
}
"""
)

RUNS = """
query {
  runsOrError {
    __typename
    ... on Runs {
      results {
        runId jobName status runConfigYaml
        tags { key value }
        stats { __typename ... on RunStatsSnapshot { stepsSucceeded stepsFailed materializations } }
        stepStats { stepKey status }
      }
    }
  }
}
"""

RUN_EVENTS = (
    EVENTS
    + """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status eventConnection(limit: 10000) { hasMore events { ...Ev } } }
  }
  logsForRun(runId: $runId, limit: 10000) {
    __typename
    ... on EventConnection { hasMore events { ...Ev } }
    ... on PythonError { message }
  }
}
"""
)

CAPTURED_LOGS = """
query Logs($runId: ID!, $fileKey: String!) {
  runOrError(runId: $runId) { ... on Run { capturedLogs(fileKey: $fileKey) { logKey stdout stderr } } }
}
"""

ASSETS = (
    METADATA
    + """
query {
  assetsOrError {
    __typename
    ... on AssetConnection {
      nodes {
        key { path }
        assetMaterializations(limit: 50) {
          runId message description stepKey
          metadataEntries { ...MD }
          tags { key value }
        }
        definition {
          description groupName jobNames opNames
          metadataEntries { ...MD }
          tags { key value }
          opTags { key value }
        }
      }
    }
  }
}
"""
)

SENSORS = (
    METADATA
    + ERROR
    + """
query Sensors($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors {
      results {
        name description
        metadataEntries { ...MD }
        sensorState {
          status
          ticks(limit: 100) {
            status skipReason cursor runIds logKey
            error { ...Err }
            logEvents { events { message level } }
          }
        }
      }
    }
  }
}
"""
)

INSTANCE = "query { instance { info } }"

LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
  }
}
"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


# --------------------------------------------------------------------------- the canaries


def secret_forms(value: str) -> set[str]:
    """A value as text, URL-encoded (path and form) and base64 (basic auth, logs of bytes)."""
    return {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(value.encode()).decode(),
    }


class Canaries:
    """One canary per secret key, and the secret values that hold them; finds which canaries (in
    any form) a text or bytes holds."""

    def __init__(self, api_port: int) -> None:
        self.tokens = {key: f"canary-{key}-{uuid.uuid4().hex}" for key in SECRET_KEYS}
        self.values = dict(self.tokens)
        # a URL secret holds its canary as the password, or in the path as Slack's do
        self.values["shop_db_url"] = f"postgresql://{PG_USER}:{self.tokens['shop_db_url']}@{HOST}:5432/test"
        self.values["slack_url"] = f"http://{HOST}:{api_port}/services/{self.tokens['slack_url']}"
        self._needles = {key: sorted(secret_forms(token)) for key, token in self.tokens.items()}
        for key, value in self.values.items():
            self._needles[key] += sorted(secret_forms(value))

    def __getitem__(self, key: str) -> str:
        """The secret value of ``key``, as its env var holds it."""
        return self.values[key]

    def env(self) -> dict[str, str]:
        """The env vars of ``secrets_mapping.yaml``."""
        return {f"SC_{key.upper()}": value for key, value in self.values.items()}

    def found_in(self, data: str | bytes) -> list[str]:
        """The keys whose canary ``data`` holds."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return sorted(key for key, needles in self._needles.items() if any(n in text for n in needles))


def sqlite_values(path: Path) -> Iterator[str]:
    """Every value of every table of a SQLite file, zlib-compressed blobs decompressed."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        tables = [r[0] for r in connection.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for row in connection.execute(f'select * from "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        with contextlib.suppress(zlib.error):
                            value = zlib.decompress(value)
                        yield value.decode("utf-8", "replace")
                    elif value is not None:
                        yield str(value)
    finally:
        connection.close()


def file_leaks(root: Path, canaries: Canaries) -> dict[str, list[str]]:
    """Per file under ``root`` (bytes; SQLite databases also value by value): the canaries in it."""
    leaks: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        found = set(canaries.found_in(data))
        if data.startswith(b"SQLite format 3\x00"):
            found.update(key for value in sqlite_values(path) for key in canaries.found_in(value))
        if found:
            leaks[str(path.relative_to(root))] = sorted(found)
    return leaks


# --------------------------------------------------------------------------- the project


def write_canary_project(
    write_project: WriteProject,
    api: HTTPServer,
    smtp_port: int,
    source_schema: str,
    dataset: str,
) -> Path:
    """Sources ``api_keyed`` (api key in the query), ``api_bearer`` and ``shop_db`` (PostgreSQL)
    into the PostgreSQL destination ``pg``; job ``ok_job`` loads all three (success notification
    to ``hook``), job ``bad_job`` reads an endpoint that answers 404 (failure notification to
    ``slack``, ``hook`` and ``mail``). Every secret is read from ``SC_<KEY>``."""
    base = f"http://{HOST}:{api.port}"
    connection = {"base_url": base, "timeout": 5, "retry": {"max_attempts": 1, "backoff_factor": 0}}
    paginator = {"type": "page_number", "base_page": 1, "total_path": None}
    once = {"max_attempts": 1}
    files: dict[str, Any] = {
        "secrets_mapping.yaml": {
            "secrets": {key: {"env_var": f"SC_{key.upper()}", "required": True} for key in SECRET_KEYS}
        },
        "sources/api_keyed.yaml": {
            "source": {
                "name": "api_keyed",
                "type": "rest_api",
                "connection": {
                    **connection,
                    "auth": {
                        "type": "api_key",
                        "name": API_KEY_PARAM,
                        "location": "query",
                        "credentials_secret_key": "api_key_secret_key",
                    },
                },
                "resources": [
                    {
                        "name": "items",
                        "endpoint": {"path": "/items", "data_selector": "data"},
                        "paginator": paginator,
                        "write_disposition": "replace",
                    },
                    {
                        "name": "missing",
                        "endpoint": {"path": "/missing", "data_selector": "data"},
                        "paginator": "single_page",
                    },
                ],
            }
        },
        "sources/api_bearer.yaml": {
            "source": {
                "name": "api_bearer",
                "type": "rest_api",
                "connection": {
                    **connection,
                    "auth": {"type": "bearer", "credentials_secret_key": "api_token_secret_key"},
                },
                "resources": [
                    {
                        "name": "orders",
                        "endpoint": {"path": "/orders", "data_selector": "orders"},
                        "paginator": "single_page",
                        "write_disposition": "replace",
                    }
                ],
            }
        },
        "sources/shop_db.yaml": {
            "source": {
                "name": "shop_db",
                "type": "sql_database",
                "connection": {"credentials_secret_key": "shop_db_url_secret_key", "schema": source_schema},
                "tables": [{"name": "customers", "primary_key": ["id"], "write_disposition": "replace"}],
            }
        },
        "destinations/pg.yaml": {
            "destination": {
                "name": "pg",
                "type": "postgres",
                "connection": {
                    "host": HOST,
                    "port": 5432,
                    "database": "test",
                    "username": PG_USER,
                    "credentials_secret_key": "pg_password_secret_key",
                    "connect_timeout": 5,
                },
                "settings": {"schema": dataset},
            }
        },
        "channels/slack.yaml": {
            "channel": {"name": "slack", "type": "slack", "webhook_url_secret_key": "slack_url_secret_key"}
        },
        "channels/hook.yaml": {
            "channel": {
                "name": "hook",
                "type": "webhook",
                "url": f"{base}{HOOK}",
                "hmac_secret_key": "hook_hmac_secret_key",
                "headers": {"X-Team": "data"},
            }
        },
        "channels/mail.yaml": {
            "channel": {
                "name": "mail",
                "type": "email",
                "host": HOST,
                "port": smtp_port,
                "security": "plain",
                "from": "dwh@example.com",
                "to": ["data-team@example.com"],
                "username": SMTP_USER,
                "credentials_secret_key": "smtp_password_secret_key",
            }
        },
        "triggers/pushed.yaml": {
            "trigger": {
                "name": "pushed",
                "type": "webhook",
                "enabled": True,
                "job": "ok_job",
                "webhook": {"auth": "hmac_sha256", "secret_key": "trigger_secret_secret_key"},
            }
        },
        "jobs/ok_job.yaml": {
            "job": {
                "name": "ok_job",
                "pipelines": [{"name": "load_items"}, {"name": "load_orders"}, {"name": "load_customers"}],
                "retries": once,
                "notifications": {"on_failure": True, "on_success": True, "channels": ["hook"]},
            }
        },
        "jobs/bad_job.yaml": {
            "job": {
                "name": "bad_job",
                "pipelines": [{"name": "load_missing"}],
                "retries": once,
                "notifications": {"on_failure": True, "channels": ["slack", "hook", "mail"]},
            }
        },
    }
    for pipeline, source, resource in (
        ("load_items", "api_keyed", "items"),
        ("load_missing", "api_keyed", "missing"),
        ("load_orders", "api_bearer", "orders"),
        ("load_customers", "shop_db", "customers"),
    ):
        files[f"pipelines/{pipeline}.yaml"] = {
            "pipeline": {
                "name": pipeline,
                "source": {"config_file": source, "resources": [resource]},
                "destination": {"config_file": "pg", "dataset_name": dataset},
                "retry": once,
            }
        }
    return write_project({path: yaml.safe_dump(body, sort_keys=False) for path, body in files.items()})


def serve_api(api: HTTPServer, canaries: Canaries) -> None:
    """Pages of items for the right API key, orders for the right token, 404 for ``/missing``;
    the Slack webhook (its secret path) and the signed hook take messages."""

    def items(request: Request) -> Response:
        if request.args.get(API_KEY_PARAM) != canaries["api_key"]:
            return Response("bad key", status=401)
        page = int(request.args.get("page", "1"))
        return json_response({"data": ITEMS[(page - 1) * 3 : page * 3]})

    def orders(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {canaries['api_token']}":
            return Response("bad token", status=401)
        return json_response({"orders": ORDERS})

    api.expect_request("/items").respond_with_handler(items)
    api.expect_request("/orders").respond_with_handler(orders)
    api.expect_request("/missing").respond_with_data("no such thing", status=404)
    api.expect_request(slack_path(canaries), method="POST").respond_with_data("ok")
    api.expect_request(HOOK, method="POST").respond_with_data("ok")


def json_response(body: Any) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/json")


def slack_path(canaries: Canaries) -> str:
    return urllib.parse.urlsplit(canaries["slack_url"]).path


# --------------------------------------------------------------------------- SMTP


class Mailbox:
    """An aiosmtpd handler that keeps every message and login."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope.original_content or b"")
        return "250 OK"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True, handled=False)


# --------------------------------------------------------------------------- the test


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_no_secret_value_anywhere(write_project: WriteProject, server: HTTPServer, tmp_path: Path) -> None:
    canaries = Canaries(server.port)
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(
        mailbox,
        hostname=HOST,
        port=smtp_port,
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    smtp.start()
    try:
        with (
            unique_schema("sc_src", create=True) as source_schema,
            unique_schema("sc_dwh", create=True) as dataset,
        ):
            pg_query(
                f'CREATE TABLE "{source_schema}".customers (id int PRIMARY KEY, name text);'
                f'INSERT INTO "{source_schema}".customers '
                f"SELECT g, 'customer ' || g FROM generate_series(1, {CUSTOMERS}) g"
            )
            serve_api(server, canaries)
            defs_dir = write_canary_project(write_project, server, smtp_port, source_schema, dataset)
            seen = run_everything(defs_dir, tmp_path, canaries)
            assert_paths_taken(seen, server, canaries, mailbox, dataset)
            leaks = scan(seen, server, canaries, mailbox, tmp_path)
            leaks |= destination_leaks(dataset, canaries)
    finally:
        smtp.stop()
    assert leaks == {}, "secret values found in:\n" + "\n".join(f"  {p}: {k}" for p, k in leaks.items())


class Seen:
    """What the test gathered: the GraphQL answers, the runs by how they were started, DAGSTER_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.answers: dict[str, Any] = {}
        self.cli_outputs: dict[str, str] = {}
        self.launched: dict[str, str] = {}  # job -> run id, launched through the webserver
        self.cli_runs: dict[str, str] = {}  # job -> run id, run by `dwh run`


def run_everything(defs_dir: Path, tmp_path: Path, canaries: Canaries) -> Seen:
    """``dwh dev`` on a fresh DAGSTER_HOME; each job run by ``dwh run`` and launched through the
    webserver (the daemon's sensors notify about the launched runs: runs of ``dwh run`` have no
    code location, and Dagster's run-status sensors only watch runs of their own); then every
    GraphQL answer the test scans."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_settings_yaml())
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs()  # its SQLite storage is created now, not by three processes at once
    seen = Seen(home)
    env = clean_env(home, DWH_DEFS_DIR=str(defs_dir), DWH_UI_URL=f"http://{HOST}:3000", **canaries.env())
    workspace = module_workspace(tmp_path / "workspace.yaml", LOCATION)
    port = free_port()
    logs = tmp_path / "logs"
    dev_log = logs / "dwh_dev.log"
    dev_command = [sys.executable, "-m", "dwh_dagster.cli", "dev", "--defs", str(defs_dir)]
    dev_command += ["-w", str(workspace), "-h", HOST, "-p", str(port)]
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    started = time.monotonic()

    def since() -> str:
        return f"{time.monotonic() - started:.1f} s"

    with running(dev_command, env, dev_log, cwd=defs_dir.parent) as dev:
        watched = {"dwh dev": (dev, dev_log)}
        # while dwh dev starts: both jobs with `dwh run`, on the same instance, talking as much as
        # they can (debug logs, tracebacks of the failure)
        cli: dict[str, Any] = {}
        for job, extra in (("ok_job", []), ("bad_job", ["--verbose"])):
            output = logs / f"dwh_run_{job}.log"
            command = [sys.executable, "-m", "dwh_dagster.cli", "run", job, "--defs", str(defs_dir)]
            command += ["--log-level", "debug", *extra]
            cli[job] = (start(command, env, output, cwd=defs_dir.parent), output)
        try:
            codes = {job: process.wait(timeout=RUN_TIMEOUT) for job, (process, _) in cli.items()}
        finally:
            for process, _ in cli.values():
                stop(process)
        seen.cli_outputs = {job: output.read_text() for job, (_, output) in cli.items()}
        print(f"dwh run done after {since()}")
        ok_out, bad_out = seen.cli_outputs["ok_job"], seen.cli_outputs["bad_job"]
        assert codes == {"ok_job": 0, "bad_job": 1}, f"{ok_out[-3000:]}\n---\n{bad_out[-3000:]}"
        for job, out in seen.cli_outputs.items():
            seen.cli_runs[job] = re.findall(rf"job {job} \w+ \(run ([0-9a-f-]+),", out)[0]
        assert re.search(
            r"FAILED \S+: pipeline 'load_missing' failed: HTTPError: 404 Client Error", bad_out
        ), bad_out[-3000:]

        wait_for(
            lambda: answers(f"http://{HOST}:{port}/server_info"), START_TIMEOUT, "the webserver", watched
        )

        def ticks(name: str) -> list[dict[str, Any]]:
            answer = graphql(port, SENSORS, {"selector": selector})["sensorsOrError"]
            if answer["__typename"] != "Sensors":
                return []
            by_name = {s["name"]: s for s in answer["results"]}
            return list(by_name[name]["sensorState"]["ticks"]) if name in by_name else []

        # a run-status sensor's first tick only sets its cursor: the runs it reports come after it
        wait_for(
            lambda: bool(ticks(NOTIFY_FAILURE_SENSOR)) and bool(ticks(NOTIFY_SUCCESS_SENSOR)),
            START_TIMEOUT,
            "the first ticks of the notification sensors",
            watched,
            interval=0.5,
        )
        print(f"sensors ticked after {since()}")
        for job in ("ok_job", "bad_job"):
            launch = graphql(
                port, LAUNCH_RUN, {"executionParams": {"selector": {**selector, "jobName": job}}}
            )
            assert launch["launchRun"]["__typename"] == "LaunchRunSuccess", launch
            seen.launched[job] = launch["launchRun"]["run"]["runId"]

        def launched_runs_done() -> bool:
            status = {r["runId"]: r["status"] for r in graphql(port, RUNS)["runsOrError"]["results"]}
            return all(status.get(run_id) in FINISHED for run_id in seen.launched.values())

        wait_for(launched_runs_done, RUN_TIMEOUT, "the launched runs", watched, interval=0.5)
        print(f"launched runs done after {since()}")

        def notified() -> bool:
            failure = [t["skipReason"] for t in ticks(NOTIFY_FAILURE_SENSOR)]
            success = [t["skipReason"] for t in ticks(NOTIFY_SUCCESS_SENSOR)]
            return "notified 3 channel(s)" in failure and "notified 1 channel(s)" in success

        wait_for(notified, NOTIFY_TIMEOUT, "the notification sensors to send", watched, interval=0.5)
        print(f"notified after {since()}")

        # everything the webserver answers about runs, their events and logs, assets and sensors
        runs = graphql(port, RUNS)["runsOrError"]["results"]
        seen.answers["runs"] = runs
        for run in runs:
            answer = graphql(port, RUN_EVENTS, {"runId": run["runId"]})
            seen.answers[f"run {run['runId']} ({run['jobName']})"] = answer
            events = answer["runOrError"]["eventConnection"]["events"]
            for key in sorted({e["fileKey"] for e in events if e["__typename"] == "LogsCapturedEvent"}):
                captured = graphql(port, CAPTURED_LOGS, {"runId": run["runId"], "fileKey": key})
                seen.answers[f"captured logs {key} of run {run['runId']}"] = captured
        seen.answers["assets"] = graphql(port, ASSETS)
        seen.answers["sensors"] = graphql(port, SENSORS, {"selector": selector})
        seen.answers["instance"] = graphql(port, INSTANCE)
    print(f"dwh dev stopped after {since()}")
    return seen


def run_answer(seen: Seen, run_id: str) -> dict[str, Any]:
    [answer] = [a for place, a in seen.answers.items() if place.startswith(f"run {run_id} ")]
    return dict(answer["runOrError"])


def assert_paths_taken(
    seen: Seen, api: HTTPServer, canaries: Canaries, mailbox: Mailbox, dataset: str
) -> None:
    """The loads loaded, the failures failed on HTTP, the secrets went over the wire, the messages
    arrived: the scan looks where secrets could have gone."""
    statuses = {r["runId"]: r["status"] for r in seen.answers["runs"]}
    for runs in (seen.cli_runs, seen.launched):
        assert {job: statuses[run_id] for job, run_id in runs.items()} == {
            "ok_job": "SUCCESS",
            "bad_job": "FAILURE",
        }
    assert [r[0] for r in pg_query(f'select id from "{dataset}".items order by id')] == [
        i["id"] for i in ITEMS
    ]
    assert pg_query(f'select count(*) from "{dataset}".orders') == [(len(ORDERS),)]
    assert pg_query(f'select count(*) from "{dataset}".customers') == [(CUSTOMERS,)]
    for run_id in (seen.cli_runs["bad_job"], seen.launched["bad_job"]):
        events = run_answer(seen, run_id)["eventConnection"]["events"]
        [failure] = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
        message = failure["error"]["message"]
        assert "HTTPError: 404 Client Error" in message, message
        assert f"/missing?{API_KEY_PARAM}=" in message, message  # the URL is quoted (the scan: masked)

    key_requests = [r for r, _ in api.log if r.path in ("/items", "/missing")]
    assert [r.path for r in key_requests].count("/missing") == 2
    assert [r.path for r in key_requests].count("/items") == 2 * 4  # two runs, pages 1 to 4
    assert all(r.args.get(API_KEY_PARAM) == canaries["api_key"] for r in key_requests)
    orders = [r for r, _ in api.log if r.path == "/orders"]
    assert [r.headers.get("Authorization") for r in orders] == [f"Bearer {canaries['api_token']}"] * 2

    # `dwh run` notifies for its own runs, the daemon's sensors for the launched ones
    slacks = [r for r, _ in api.log if r.path == slack_path(canaries)]
    assert len(slacks) == 2
    for slack in slacks:
        assert canaries["slack_url"] == f"http://{HOST}:{api.port}{slack.path}"
        assert "job bad_job FAILURE" in json.loads(slack.get_data())["text"]
    hooks = [r for r, _ in api.log if r.path == HOOK]
    for request in hooks:  # signed with the HMAC canary
        signature, timestamp = request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
        assert verify_hmac(canaries["hook_hmac"], request.get_data(), signature, timestamp) is None
    messages = sorted((m["job"], m["status"], m["run_id"]) for m in (json.loads(r.get_data()) for r in hooks))
    assert messages == sorted(
        [
            ("bad_job", "FAILURE", seen.launched["bad_job"]),
            ("bad_job", "FAILURE", seen.cli_runs["bad_job"]),
            ("ok_job", "SUCCESS", seen.launched["ok_job"]),
            ("ok_job", "SUCCESS", seen.cli_runs["ok_job"]),
        ]
    )
    for request in (r for r in hooks if b"FAILURE" in r.get_data()):
        [failed_step] = json.loads(request.get_data())["failed_steps"]
        assert "404 Client Error" in failed_step["error"], failed_step  # the cause, URL and all
    assert mailbox.logins == [(SMTP_USER, canaries["smtp_password"])] * 2
    assert len(mailbox.messages) == 2

    compute_logs = [p for p in (seen.home / "storage").rglob("*") if p.suffix in (".out", ".err")]
    assert any(seen.launched["bad_job"] in str(p) for p in compute_logs), "no compute log of the launched run"
    captured = [a for place, a in seen.answers.items() if place.startswith("captured logs ")]
    assert any(c["runOrError"]["capturedLogs"]["stderr"] for c in captured), "no captured log in the UI"


def destination_leaks(dataset: str, canaries: Canaries) -> dict[str, list[str]]:
    """Per table of the loaded dataset (dlt's own tables too): the canaries in its rows, values
    that are zlib and base64 (dlt's stored state) decoded."""
    leaks: dict[str, list[str]] = {}
    decoded: list[str] = []
    tables = pg_query(
        "select table_schema, table_name from information_schema.tables where table_schema in (%s, %s)",
        (dataset, f"{dataset}_staging"),
    )
    for schema, table in tables:
        texts = [str(row[0]) for row in pg_query(f'select t::text from "{schema}"."{table}" t')]
        for word in re.findall(r"[A-Za-z0-9+/=]{16,}", "\n".join(texts)):
            with contextlib.suppress(ValueError, zlib.error):
                decoded.append(
                    zlib.decompress(base64.b64decode(word, validate=True)).decode("utf-8", "replace")
                )
                texts.append(decoded[-1])
        if found := sorted({key for text in texts for key in canaries.found_in(text)}):
            leaks[f"PostgreSQL table {schema}.{table}"] = found
    assert any("_state_version" in text for text in decoded), "dlt's state was not decoded"
    return leaks


def scan(
    seen: Seen, api: HTTPServer, canaries: Canaries, mailbox: Mailbox, tmp_path: Path
) -> dict[str, list[str]]:
    """Where each canary shows: every GraphQL answer, command output, message and file."""
    # the scan finds a canary where it is: in the API's query strings, in the Slack webhook's path
    api_requests = [r for r, _ in api.log if r.path in ("/items", "/missing")]
    assert {tuple(canaries.found_in(r.query_string)) for r in api_requests} == {("api_key",)}
    assert canaries.found_in(slack_path(canaries)) == ["slack_url"]
    assert canaries.found_in(zlib.compress(canaries["hook_hmac"].encode())) == []  # hence sqlite_values
    leaks: dict[str, list[str]] = {}
    for place, answer in seen.answers.items():
        if found := canaries.found_in(json.dumps(answer)):
            leaks[f"GraphQL: {place}"] = found
    for job, output in seen.cli_outputs.items():
        if found := canaries.found_in(output):
            leaks[f"output of dwh run {job}"] = found
    for number, (request, _) in enumerate(api.log):
        if request.path in ("/items", "/missing", "/orders"):
            continue  # requests to the APIs: where the API key and the token belong
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        # a Slack webhook URL's path is the secret itself: everything else of the request is scanned
        parts: dict[str, str | bytes] = {
            "body": request.get_data(),
            "headers": headers,
            "query": request.query_string,
        }
        for part, text in parts.items():
            if found := canaries.found_in(text):
                where = "the Slack webhook" if request.path == slack_path(canaries) else request.path
                leaks[f"request {number} to {where}: {part}"] = found
    for number, message in enumerate(mailbox.messages):
        if found := canaries.found_in(message):
            leaks[f"email {number}"] = found
    for name, found in file_leaks(tmp_path, canaries).items():
        leaks[f"file {name}"] = found
    return leaks

"""``dwh`` CLI: validate, list, secrets and schema, in-process through ``main`` and as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dwh_dagster.cli import main
from dwh_dagster.config.models.files import ALL_KINDS
from dwh_dagster_tests.conftest import ORIGINAL_DESIGN, REPO_ROOT, WriteProject
from dwh_dagster_tests.loader.test_property import RICH_PROJECT_TEXT

ORIGINAL = str(ORIGINAL_DESIGN)
CANARY = "canary-Kp3rW8-secret-value-never-printed"


@pytest.fixture(autouse=True)
def _no_secret_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MY_API_TOKEN_DEV", "MY_API_TOKEN_STAGE", "MY_API_TOKEN_PROD", "DWH_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "GITHUB_TOKEN",
        "DB_URL_DEV",
        "DB_URL_PROD",
        "SLACK_HOOK_URL",
        "WEBHOOK_HMAC",
        "PG_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def broken(write_project) -> Path:
    return write_project(
        {
            "sources/api.yaml": """
                source:
                  name: api
                  type: rest_api
                  connection: {base_url: "https://x"}
                  resources:
                    - {name: r, endpoint: /r, write_disposition: upsert}
                """,
            "pipelines/p.yaml": """
                pipeline:
                  name: p
                  source: {config_file: api.yaml}
                  destination: {config_file: nowhere.yaml}
                """,
        }
    )


@pytest.fixture
def rich(write_project) -> Path:
    return write_project(RICH_PROJECT_TEXT)


# --------------------------------------------------------------------------- validate


def test_validate_original_design(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "--defs", ORIGINAL)
    assert code == 0
    assert err == ""
    assert out.strip() == (
        "OK: 1 source, 1 destination, 1 pipeline, 1 job, 1 trigger, 1 channel, 1 secret "
        f"(environment dev, {ORIGINAL_DESIGN})"
    )


def test_validate_rich_project_counts(capsys: pytest.CaptureFixture[str], rich: Path) -> None:
    code, out, _ = run(capsys, "validate", "--defs", str(rich), "--env", "prod")
    assert code == 0
    assert out.startswith(
        "OK: 3 sources, 2 destinations, 3 pipelines, 2 jobs, 7 triggers, 4 channels, 5 secrets "
        "(environment prod"
    )


def test_validate_broken_project(capsys: pytest.CaptureFixture[str], broken: Path) -> None:
    code, out, err = run(capsys, "validate", "--defs", str(broken))
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert any(
        "sources/api.yaml:6:" in line
        and "source.resources[0].write_disposition: invalid value 'upsert'" in line
        for line in lines
    ), err
    assert any(
        "pipelines/p.yaml:4:" in line and "unknown destination 'nowhere.yaml'" in line for line in lines
    ), err
    assert lines[-1] == "2 errors in the YAML project."
    assert any(line.lstrip().startswith("6 |") for line in lines)  # source snippet
    assert any(line.strip().endswith("^") for line in lines)


def test_validate_no_snippet(capsys: pytest.CaptureFixture[str], broken: Path) -> None:
    code, _, err = run(capsys, "validate", "--defs", str(broken), "--no-snippet")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 3
    assert not any(" | " in line for line in lines)


def test_validate_missing_defs_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", "--defs", str(tmp_path / "nope"))
    assert code == 1
    assert "defs directory not found" in err
    assert "Traceback" not in err


def test_validate_uses_dwh_defs_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DWH_DEFS_DIR", ORIGINAL)
    code, out, _ = run(capsys, "validate")
    assert code == 0
    assert f"{ORIGINAL_DESIGN})" in out


def test_env_option_and_environment_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "(environment prod," in run(capsys, "validate", "--defs", ORIGINAL, "--env", "prod")[1]
    monkeypatch.setenv("ENVIRONMENT", "stage")
    assert "(environment stage," in run(capsys, "validate", "--defs", ORIGINAL)[1]
    assert "(environment dev," in run(capsys, "validate", "--defs", ORIGINAL, "--env", "dev")[1]


@pytest.mark.parametrize("command", ["validate", "list", "secrets"])
def test_unknown_environment_exits_2(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run(capsys, command, "--defs", ORIGINAL, "--env", "prd")
    assert code == 2
    assert out == ""
    assert err.startswith("error: --env='prd' is not a known environment")
    assert "did you mean 'prod'?" in err


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: dwh" in capsys.readouterr().err


def test_validate_never_crashes_on_odd_characters(capsys: pytest.CaptureFixture[str], write_project) -> None:
    defs = write_project({"sources/x.yaml": "source:\n  name: a\x01b\n"})
    code, _, err = run(capsys, "validate", "--defs", str(defs))
    assert code == 1
    assert "sources/x.yaml:2:" in err


# --------------------------------------------------------------------------- list


def test_list_text_shows_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--defs", ORIGINAL)
    assert code == 0
    assert "YAML CONFIGURATIONS - Environment: DEV" in out
    for section in (
        "SOURCES (1):",
        "DESTINATIONS (1):",
        "PIPELINES (1):",
        "JOBS (1):",
        "TRIGGERS (1):",
        "CHANNELS (1):",
    ):
        assert section in out, section
    for text in (
        "• my_api (rest_api)",
        "Resources: 1 (users)",
        "• my_warehouse (duckdb)",
        "• my_pipeline",
        "Source: my_api.yaml (users)",
        "Destination: my_warehouse.yaml (dataset my_dataset)",
        "• daily_ingestion",
        "Mode: sequential",
        "• daily_schedule [✓ ENABLED]",
        "Job: daily_ingestion.yaml",
        "Schedule: 0 2 * * * (UTC)",
        "• email (email, default)",
    ):
        assert text in out, text
    sections = ["SOURCES", "DESTINATIONS", "PIPELINES", "JOBS", "TRIGGERS", "CHANNELS"]
    assert [out.index(s) for s in sections] == sorted(out.index(s) for s in sections)


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json", "--defs", ORIGINAL)
    assert code == 0
    data = json.loads(out)
    assert data["environment"] == "dev"
    assert data["defs_dir"] == str(ORIGINAL_DESIGN)
    assert data["sources"] == [
        {"name": "my_api", "type": "rest_api", "resources": ["users"], "file": "sources/my_api.yaml"}
    ]
    assert data["destinations"] == [
        {"name": "my_warehouse", "type": "duckdb", "file": "destinations/my_warehouse.yaml"}
    ]
    [pipeline] = data["pipelines"]
    assert pipeline["name"] == "my_pipeline"
    assert pipeline["source"] == "my_api"
    assert pipeline["destination"] == "my_warehouse"
    assert pipeline["dataset"] == "my_dataset"
    assert pipeline["resources"] == ["users"]
    [job] = data["jobs"]
    assert job == {
        "name": "daily_ingestion",
        "mode": "sequential",
        "pipelines": ["my_pipeline"],
        "transformations": [],
        "disabled_pipelines": [],
        "channels": ["email"],
        "file": "jobs/daily_ingestion.yaml",
    }
    [trigger] = data["triggers"]
    assert trigger["name"] == "daily_schedule"
    assert trigger["job"] == "daily_ingestion"
    assert trigger["job_ref"] == "daily_ingestion.yaml"
    assert trigger["schedule"] == "0 2 * * * (UTC)"
    assert trigger["enabled"] is True
    assert data["channels"] == [{"name": "email", "type": "email", "default": True}]
    assert data["secrets"] == [{"name": "my_api_token", "env_var": "MY_API_TOKEN_DEV", "required": True}]


def test_list_json_prod(capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(run(capsys, "list", "--json", "--defs", ORIGINAL, "--env", "prod")[1])
    assert data["environment"] == "prod"
    assert data["secrets"][0]["env_var"] == "MY_API_TOKEN_PROD"
    assert "Environment: PROD" in run(capsys, "list", "--defs", ORIGINAL, "--env", "prod")[1]


def test_list_json_of_the_rich_project_per_environment(
    capsys: pytest.CaptureFixture[str], rich: Path
) -> None:
    dev = json.loads(run(capsys, "list", "--json", "--defs", str(rich), "--env", "dev")[1])
    prod = json.loads(run(capsys, "list", "--json", "--defs", str(rich), "--env", "prod")[1])
    names = {
        section: sorted(item["name"] for item in dev[section]) for section in ("sources", "triggers", "jobs")
    }
    assert names == {
        "sources": ["crm_db", "github", "landing_files"],
        "triggers": ["after_nightly", "by_hand", "every_15m", "hook", "nightly_cron", "on_file", "on_tables"],
        "jobs": ["files_only", "nightly"],
    }
    enabled = {
        env: {t["name"]: t["enabled"] for t in data["triggers"]}
        for env, data in (("dev", dev), ("prod", prod))
    }
    assert enabled["dev"]["every_15m"] is False
    assert enabled["prod"]["every_15m"] is True
    schedules = {t["name"]: t["schedule"] for t in prod["triggers"]}
    assert schedules["every_15m"].startswith("every ")  # 15 minutes 30 seconds
    assert schedules["nightly_cron"] == "@daily (Europe/Berlin)"
    assert schedules["after_nightly"] == "on job_succeeded: nightly"
    assert schedules["hook"] == "POST /webhooks/hook (hmac_sha256)"
    assert schedules["by_hand"] is None
    nightly = {j["name"]: j for j in prod["jobs"]}["nightly"]
    assert nightly["mode"] == "dag"
    assert nightly["disabled_pipelines"] == ["files_pipeline"]
    assert nightly["channels"] == ["team_email", "slack_alerts", "ops_hook", "msteams"]
    channels = {c["name"]: c for c in prod["channels"]}
    assert channels["msteams"]["default"] is True
    assert channels["team_email"] == {"name": "team_email", "type": "email", "default": False}
    pipelines = {p["name"]: p for p in prod["pipelines"]}
    assert pipelines["files_pipeline"]["dataset"] == "raw"  # from the destination's settings.schema
    assert pipelines["crm"]["depends_on"] == ["github_pipeline"]
    assert pipelines["github_pipeline"]["resources"] == ["issues", "issue_comments", "search"]


def test_list_broken_project(capsys: pytest.CaptureFixture[str], broken: Path) -> None:
    code, out, err = run(capsys, "list", "--json", "--defs", str(broken))
    assert code == 1
    assert out == ""
    assert "2 errors in the YAML project." in err


# --------------------------------------------------------------------------- secrets


def test_secrets_missing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN_PROD", CANARY)  # set, but for another environment
    code, out, _ = run(capsys, "secrets", "--defs", ORIGINAL)
    assert code == 1
    assert "Secrets for environment dev:" in out
    assert "my_api_token" in out
    assert "MY_API_TOKEN_DEV" in out
    assert "MISSING" in out
    assert "1 required secret is not set." in out
    assert CANARY not in out


def test_secrets_set(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN_DEV", CANARY)
    code, out, err = run(capsys, "secrets", "--defs", ORIGINAL)
    assert code == 0
    assert "All required secrets are set." in out
    assert "MY_API_TOKEN_DEV" in out
    assert CANARY not in out + err


def test_secrets_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN_DEV", CANARY)
    code, out, _ = run(capsys, "secrets", "--json", "--defs", ORIGINAL, "--env", "prod")
    assert code == 1
    assert CANARY not in out
    assert json.loads(out) == {
        "environment": "prod",
        "secrets": [
            {"secret": "my_api_token", "env_var": "MY_API_TOKEN_PROD", "set": False, "required": True}
        ],
        "missing_required": 1,
    }
    monkeypatch.setenv("MY_API_TOKEN_PROD", CANARY)
    code, out, _ = run(capsys, "secrets", "--json", "--defs", ORIGINAL, "--env", "prod")
    assert code == 0
    assert json.loads(out)["secrets"][0]["set"] is True
    assert CANARY not in out


def test_empty_secret_counts_as_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_TOKEN_DEV", "")
    assert run(capsys, "secrets", "--defs", ORIGINAL)[0] == 1


def test_optional_secret_does_not_fail(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, rich: Path
) -> None:
    for name in ("GITHUB_TOKEN", "DB_URL_PROD", "WEBHOOK_HMAC", "PG_PASSWORD"):
        monkeypatch.setenv(name, CANARY)
    monkeypatch.setenv("PG_PASSWORD_PROD", CANARY)
    code, out, _ = run(capsys, "secrets", "--defs", str(rich), "--env", "prod")
    assert code == 0, out
    assert "not set (optional)" in out  # slack_hook
    assert "PG_PASSWORD_PROD" in out
    assert CANARY not in out
    monkeypatch.delenv("DB_URL_PROD")
    code, out, _ = run(capsys, "secrets", "--defs", str(rich), "--env", "prod")
    assert code == 1
    assert "DB_URL_PROD" in out and "MISSING" in out


# --------------------------------------------------------------------------- schema


def test_schema_writes_json_schemas_and_vscode_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "schema", "--defs", ORIGINAL, "--out", str(tmp_path))
    assert code == 0
    schema_dir = tmp_path / ".vscode" / "schemas"
    files = sorted(p.name for p in schema_dir.glob("*.schema.json"))
    assert files == sorted(f"{k.top_key}.schema.json" for k in ALL_KINDS)
    for path in schema_dir.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"].startswith("https://json-schema.org/")
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
    source = json.loads((schema_dir / "source.schema.json").read_text())
    assert "source" in source["properties"]
    settings = json.loads((tmp_path / ".vscode" / "settings.json").read_text())
    mapping = settings["yaml.schemas"]
    assert mapping["./.vscode/schemas/source.schema.json"] == [
        "original_design/sources/**/*.yaml",
        "original_design/sources/**/*.yml",
    ]
    assert mapping["./.vscode/schemas/secrets.schema.json"] == [
        "original_design/secrets_mapping.yaml",
        "original_design/secrets_mapping.yml",
    ]
    assert len(mapping) == len(ALL_KINDS)
    assert out.count("wrote ") == len(ALL_KINDS) + 1


def test_schema_titles_name_the_file_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "schema", "--defs", ORIGINAL, "--out", str(tmp_path))[0] == 0
    schema = json.loads((tmp_path / ".vscode" / "schemas" / "destination.schema.json").read_text())
    assert schema["title"] == "dwh-dagster destination file"


def test_schema_keeps_other_vscode_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "settings.json").write_text('{"editor.tabSize": 2, "yaml.schemas": {"old": "x"}}')
    assert run(capsys, "schema", "--defs", ORIGINAL, "--out", str(tmp_path))[0] == 0
    settings = json.loads((tmp_path / ".vscode" / "settings.json").read_text())
    assert settings["editor.tabSize"] == 2
    assert "old" not in settings["yaml.schemas"]


def test_schema_defaults_to_the_defs_dirs_parent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    defs = tmp_path / "yaml_defs"
    shutil.copytree(ORIGINAL_DESIGN, defs)
    assert run(capsys, "schema", "--defs", str(defs))[0] == 0
    settings = json.loads((tmp_path / ".vscode" / "settings.json").read_text())
    assert settings["yaml.schemas"]["./.vscode/schemas/job.schema.json"][0] == "yaml_defs/jobs/**/*.yaml"


# --------------------------------------------------------------------------- real processes


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "DWH_DEFS_DIR")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def test_module_entry_point_as_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dwh_dagster.cli", "validate", "--defs", ORIGINAL, "--env", "prod"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 1 source,")
    assert "(environment prod," in result.stdout


def test_console_script_as_subprocess(broken: Path) -> None:
    script = Path(sys.executable).parent / "dwh"
    if not script.exists():
        found = shutil.which("dwh")
        assert found, "the dwh console script is not installed"
        script = Path(found)
    result = subprocess.run(
        [str(script), "validate", "--defs", str(broken), "--no-snippet"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("2 errors in the YAML project.")


def test_validate_all_envs_reports_the_environment_that_breaks(
    write_project: WriteProject, capsys: pytest.CaptureFixture[str]
) -> None:
    defs = write_project(
        {
            "destinations/wh.yaml": """
                destination:
                  name: wh
                  type: duckdb
                  environments:
                    prod:
                      connection: {databse: /srv/wh.duckdb}
            """,
        }
    )
    assert main(["validate", "--defs", str(defs)]) == 0
    capsys.readouterr()
    assert main(["validate", "--all-envs", "--defs", str(defs)]) == 1
    captured = capsys.readouterr()
    assert "environment dev" in captured.out and "environment stage" in captured.out
    assert "environment prod: 1 error(s)" in captured.err
    assert "wh.yaml:6:20: destination.connection.databse: unknown field 'databse'" in captured.err

"""``dwh new KIND NAME``: a commented YAML file of each kind and type that validates once its
references are wired, placeholders that ``dwh validate`` points at until they are replaced,
refusals that leave the project as it was, commented defaults that are the model's defaults, the
secrets a new file names added to ``secrets_mapping.yaml``, and the prompts on a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from dwh_dagster.cli import main
from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster.config.models.files import FILE_KINDS
from dwh_dagster.scaffold.starters import KINDS
from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS

ENVIRONMENTS = ("dev", "stage", "prod")

WIRING: dict[str, list[str]] = {
    "pipeline": ["--source", "demo_files", "--destination", "duckdb_local"],
    "job": ["--pipeline", "demo_to_duckdb"],
    "trigger": ["--job", "demo_job"],
    "transformation": ["--destination", "duckdb_local"],
}
"""Flags that wire a new file's references to objects of the shipped project."""

SECRET_SUFFIX: dict[tuple[str, str | None], str] = {
    ("source", "sql_database"): "url",
    ("destination", "databricks"): "token",
    ("destination", "snowflake"): "password",
    ("destination", "bigquery"): "service_account",
    ("destination", "motherduck"): "token",
    ("trigger", "webhook"): "secret",
    ("channel", "slack"): "webhook_url",
    ("channel", "msteams"): "webhook_url",
}
"""The secret a new file of a (kind, type) names: ``<name>_<suffix>``."""

FILE_MODELS: dict[str, type[BaseModel]] = {kind.top_key: kind.model for kind in FILE_KINDS}

COMMENTED_KEY = re.compile(r"^(\s*)# ((- )?[A-Za-z_][A-Za-z0-9_]*:( .*)?)$")
NEEDS_NOTE = re.compile(r"  # with [a-z_]+: only$")


def test_a_default_valid_only_beside_another_field_says_so(
    defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``backfill`` applies to partitioned tables only: its line names ``partitions``, and written
    out alone it is refused with the rule's message (nothing the user writes is silently ignored)."""
    assert _new(defs, "pipeline", "p", "--source", "demo_files", "--destination", "duckdb_local") == 0
    path = defs / "pipelines" / "p.yaml"
    text = path.read_text()
    assert '  # backfill: "single_run"  # with partitions: only' in text.splitlines()
    path.write_text(text.replace('  # backfill: "single_run"', '  backfill: "single_run"'))
    with pytest.raises(ProjectConfigError, match="backfill: applies to partitioned tables"):
        load_project(defs, "dev")


"""A commented-out ``key: default`` line (or list item) of a generated file, with its indent."""

PLACEHOLDER_LINE = re.compile(r"^  (?P<path>\S+?):(?P<line>\d+): (?P<field>\S+): (?P<hint>.*)$")


def _kind_types() -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for kind, spec in KINDS.items():
        if spec.types:
            pairs.extend((kind, type_name) for type_name in spec.types)
        else:
            pairs.append((kind, None))
    return pairs


ALL_KIND_TYPES = _kind_types()
KIND_TYPES = [pair for pair in ALL_KIND_TYPES if pair != ("transformation", "dbt")]


@pytest.fixture(autouse=True)
def _no_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs never prompt, whatever pytest's stdin looks like."""
    monkeypatch.setenv("DWH_NO_PROMPT", "1")


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    """A copy of the shipped project."""
    return Path(shutil.copytree(YAML_DEFS, tmp_path / "yaml_defs"))


def _new(defs_dir: Path, *args: str) -> int:
    return main(["new", *args, "--defs", str(defs_dir)])


def _placeholders(out: str) -> list[tuple[Path, int, str, str]]:
    """The ``path:line: field: hint`` lines ``dwh new`` printed, as (file, line, field, hint)."""
    found = []
    for line in out.splitlines():
        match = PLACEHOLDER_LINE.match(line)
        if match:
            found.append(
                (Path(match["path"]), int(match["line"]), match["field"], match["hint"]),
            )
    return found


def _loads(defs_dir: Path) -> None:
    for environment in ENVIRONMENTS:
        try:
            load_project(defs_dir, environment)
        except ProjectConfigError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"ENVIRONMENT={environment}:\n{exc}")


def _uncommented(text: str) -> tuple[str, int]:
    """``text`` with every commented-out key line uncommented (indent kept), and how many."""
    lines = text.split("\n")
    count = 0
    for number, line in enumerate(lines):
        match = COMMENTED_KEY.match(line)
        if match and not NEEDS_NOTE.search(line):  # valid only beside another field: says so
            lines[number] = match[1] + match[2]
            count += 1
    return "\n".join(lines), count


# 1. every kind and type ----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "type_name"), KIND_TYPES, ids=[f"{k}-{t}" for k, t in KIND_TYPES])
def test_a_new_file_of_each_kind_and_type_validates_in_every_environment(
    defs: Path, kind: str, type_name: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = KINDS[kind]
    name = f"new_{kind}"
    mapping = defs / "secrets_mapping.yaml"
    mapping_before = mapping.read_text()
    args = [kind, name, *(["--type", type_name] if type_name else []), *WIRING.get(kind, [])]

    assert _new(defs, *args) == 0
    out = capsys.readouterr().out
    path = defs / spec.folder / f"{name}.yaml"
    assert path.is_file()
    assert f"wrote {path}" in out
    text = path.read_text()
    data = yaml.safe_load(text)
    assert list(data) == [spec.top_key]
    assert data[spec.top_key]["name"] == name
    if type_name is not None and kind != "transformation":
        assert data[spec.top_key]["type"] == type_name
    # the file validates against its own model, and every field is documented by a comment
    FILE_MODELS[spec.top_key].model_validate(data)
    assert text.count("\n  # ") >= 3

    _loads(defs)
    project = load_project(defs, "dev")
    if kind == "pipeline":
        pipeline = project.pipelines[name]
        assert (pipeline.source.name, pipeline.destination.name) == ("demo_files", "duckdb_local")
    elif kind == "job":
        assert [p.name for p in project.jobs[name].pipelines] == ["demo_to_duckdb"]
    elif kind == "trigger":
        assert project.triggers[name].job.name == "demo_job"
    elif kind == "transformation":
        assert project.transformations[name].destination_name == "duckdb_local"

    suffix = SECRET_SUFFIX.get((kind, type_name))
    secrets = yaml.safe_load(mapping.read_text())["secrets"]
    if suffix is None:
        assert mapping.read_text() == mapping_before
        return
    key = f"{name}_{suffix}"
    assert key in secrets, f"{key} not added to {mapping}"
    assert secrets[key]["env_var"] == key.upper()
    assert f'"{key}"' in text  # the new file names it
    assert f"added secret '{key}'" in out
    # the entries that were there are untouched
    assert yaml.safe_load(mapping_before)["secrets"].items() <= secrets.items()


def test_every_kind_and_type_is_covered() -> None:
    """The parametrization follows KINDS: a kind or type added there is tested here too."""
    assert len(ALL_KIND_TYPES) == 3 + 7 + 1 + 1 + 5 + 4 + 2
    assert ("pipeline", None) in KIND_TYPES and ("job", None) in KIND_TYPES
    assert {k for k, _ in SECRET_SUFFIX} <= set(KINDS)


# 2. placeholders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "folder", "field", "known", "replacements"),
    [
        (
            "pipeline",
            "pipelines",
            "pipeline.source.config_file",
            "known sources: 'demo_files', 'github_api', 'mock_api', 'youtube_api'",
            {"replace_with_a_source": "demo_files", "replace_with_a_destination": "duckdb_local"},
        ),
        (
            "job",
            "jobs",
            "job.pipelines[0].name",
            "known pipelines: 'demo_to_duckdb'",
            {"replace_with_a_pipeline": "demo_to_duckdb"},
        ),
        (
            "trigger",
            "triggers",
            "trigger.job",
            "known jobs: 'all_pipelines_job'",
            {"replace_with_a_job": "demo_job"},
        ),
    ],
)
def test_placeholders_ask_to_be_replaced(
    defs: Path,
    kind: str,
    folder: str,
    field: str,
    known: str,
    replacements: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _new(defs, kind, "p") == 0
    out = capsys.readouterr().out
    path = defs / folder / "p.yaml"
    text = path.read_text()
    printed = _placeholders(out)
    references = [p for p in printed if "replace_with_a_" in text.splitlines()[p[1] - 1]]
    assert len(references) == len(replacements), out
    for shown, line, _, _ in printed:
        assert shown.resolve() == path.resolve()
        assert "# replace: " in text.splitlines()[line - 1]

    with pytest.raises(ProjectConfigError) as caught:
        load_project(defs, "dev")
    message = str(caught.value)
    for shown, line, field_path, _ in references:
        assert f"{shown}:{line}:" in message
        assert any(
            e.file is not None and Path(e.file).resolve() == path.resolve() and e.line == line
            for e in caught.value.errors
        ), f"no error on line {line} of {path}:\n{message}"
        assert f"{kind}.{field_path}" in message
    assert field in message
    assert known in message
    assert all(Path(e.file or "").resolve() == path.resolve() for e in caught.value.errors), message

    for placeholder, value in replacements.items():
        assert f'"{placeholder}"' in text
        text = text.replace(placeholder, value)
    path.write_text(text)
    _loads(defs)


def test_a_pipeline_without_flags_is_named_after_itself_and_lists_the_choices(
    defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new(defs, "pipeline", "p") == 0
    printed = _placeholders(capsys.readouterr().out)
    assert [(f, h) for _, _, f, h in printed] == [
        ("source.config_file", "a source of this project (demo_files, github_api, mock_api, youtube_api)"),
        ("destination.config_file", "a destination of this project (databricks, duckdb_local)"),
    ]
    body = yaml.safe_load((defs / "pipelines" / "p.yaml").read_text())["pipeline"]
    assert body["destination"]["dataset_name"] == "p"


# 3. dbt ---------------------------------------------------------------------------------------


def test_a_dbt_transformation_asks_for_its_project_dir(
    defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new(defs, "transformation", "m", "--type", "dbt", "--destination", "duckdb_local") == 0
    out = capsys.readouterr().out
    path = defs / "transformations" / "m.yaml"
    lines = path.read_text().splitlines()
    project_dir_line = next(n for n, line in enumerate(lines, 1) if line.startswith("  project_dir: "))
    assert '"../dbt_project"' in lines[project_dir_line - 1]
    assert "# replace: " in lines[project_dir_line - 1]
    assert [(line, f) for _, line, f, _ in _placeholders(out)] == [(project_dir_line, "project_dir")]
    assert yaml.safe_load(path.read_text())["transformation"]["destination"] == "duckdb_local"

    with pytest.raises(ProjectConfigError) as caught:
        load_project(defs, "dev")
    errors = caught.value.errors
    assert len(errors) == 1, str(caught.value)
    error = errors[0]
    assert error.file is not None and Path(error.file).resolve() == path.resolve()
    assert error.line == project_dir_line
    assert "transformation.project_dir" in str(caught.value)
    assert "dbt_project.yml" in error.message


# 4. refusals ----------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_existing_file_is_not_overwritten(defs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _new(defs, "channel", "ops") == 0
    capsys.readouterr()
    path = defs / "channels" / "ops.yaml"
    path.write_text(path.read_text() + "# my edit\n")
    before = _tree(defs)

    assert _new(defs, "channel", "ops", "--type", "email") == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert f"{path} exists already" in captured.err
    assert captured.out == ""
    assert _tree(defs) == before


def test_a_yml_file_of_that_name_counts_as_existing(defs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (defs / "channels" / "ops.yml").write_text((defs / "channels" / "data_team_slack.yaml").read_text())
    before = _tree(defs)
    assert _new(defs, "channel", "ops") == 2
    assert "ops.yml exists already" in capsys.readouterr().err
    assert _tree(defs) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["source", "dup"], ["a source named 'dup' exists already in", "pick another name"]),
        (["source", "9x"], ["'9x' is not a valid name", "'_9x'"]),
        (["source", "my-api"], ["'my-api' is not a valid name", "'my_api'"]),
        (
            ["source", "s", "--type", "rest"],
            [
                "unknown source type 'rest'",
                "did you mean 'rest_api'?",
                "valid types: 'filesystem', 'rest_api', 'sql_database'",
            ],
        ),
        (
            ["pipeline", "p", "--source", "demo_file", "--destination", "duckdb_local"],
            ["unknown source 'demo_file'", "did you mean 'demo_files'?", "'github_api'"],
        ),
        (
            ["transformation", "t", "--destination", "duckdb_locl"],
            ["unknown destination 'duckdb_locl'", "did you mean 'duckdb_local'?"],
        ),
        (["job", "j", "--pipeline", "demo_to_duckdb", "--pipeline", "nope"], ["unknown pipeline 'nope'"]),
        (["trigger", "t", "--job", "demo_jb"], ["unknown job 'demo_jb'", "did you mean 'demo_job'?"]),
    ],
    ids=[
        "name-taken",
        "digit-first",
        "dash",
        "unknown-type",
        "unknown-source",
        "unknown-destination",
        "unknown-pipeline",
        "unknown-job",
    ],
)
def test_refusals_write_nothing(
    defs: Path, args: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (defs / "sources" / "other.yaml").write_text(
        "source:\n"
        "  name: dup\n"
        "  type: filesystem\n"
        "  connection:\n"
        '    bucket_url: "data"\n'
        "  resources:\n"
        "    - name: files\n"
        '      file_glob: "*.csv"\n'
        "      format: csv\n"
    )
    load_project(defs, "dev")  # the project is valid as it stands
    before = _tree(defs)

    assert _new(defs, *args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    for text in expected:
        assert text in captured.err
    assert _tree(defs) == before


def test_a_source_given_by_file_name_is_accepted(defs: Path) -> None:
    assert _new(defs, "pipeline", "p", "--source", "demo_files.yaml", "--destination", "duckdb_local") == 0
    _loads(defs)
    body = yaml.safe_load((defs / "pipelines" / "p.yaml").read_text())["pipeline"]
    assert body["destination"]["dataset_name"] == "demo_files"


def test_a_file_name_that_differs_from_the_name_is_a_valid_reference(defs: Path) -> None:
    (defs / "sources" / "other.yaml").write_text(
        "source:\n  name: dup\n  type: filesystem\n  connection: {bucket_url: data}\n"
        "  resources: [{name: files, file_glob: '*.csv', format: csv}]\n"
    )
    assert _new(defs, "pipeline", "p2", "--source", "other.yaml", "--destination", "duckdb_local") == 0
    assert load_project(defs, "dev").pipelines["p2"].source.name == "dup"


# 5. commented defaults are real ---------------------------------------------------------------


@pytest.mark.parametrize(("kind", "type_name"), KIND_TYPES, ids=[f"{k}-{t}" for k, t in KIND_TYPES])
def test_uncommenting_every_default_changes_nothing(
    defs: Path, kind: str, type_name: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = KINDS[kind]
    name = f"new_{kind}"
    assert _new(defs, kind, name, *(["--type", type_name] if type_name else []), *WIRING.get(kind, [])) == 0
    capsys.readouterr()
    path = defs / spec.folder / f"{name}.yaml"
    original = path.read_text()
    text, count = _uncommented(original)
    assert count >= 3
    assert text.splitlines()[0].startswith(f"# {kind} {name}: ")  # the header stays a comment

    model = FILE_MODELS[spec.top_key]
    before = model.model_validate(yaml.safe_load(original)).model_dump()
    after = model.model_validate(yaml.safe_load(text)).model_dump()
    assert after == before
    path.write_text(text)
    try:
        load_project(defs, "dev")
    except ProjectConfigError as exc:
        pytest.fail(f"uncommented {path.name} does not load:\n{exc}")


def test_an_uncommented_job_has_the_model_defaults(defs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _new(defs, "job", "j", "--pipeline", "demo_to_duckdb") == 0
    capsys.readouterr()
    path = defs / "jobs" / "j.yaml"
    original = path.read_text()
    written = load_project(defs, "dev").jobs["j"].model
    text, count = _uncommented(original)
    for line in ('    mode: "sequential"', "    max_parallelism: 4", "    on_failure: true", "  tags: {}"):
        assert line in text.splitlines()
        assert line.replace(line.strip(), "# " + line.strip()) in original.splitlines()
    assert "      enabled: true" in text.splitlines()
    path.write_text(text)
    uncommented = load_project(defs, "dev").jobs["j"].model
    assert uncommented.model_dump() == written.model_dump()
    assert uncommented.model_fields_set >= {"execution", "retries", "notifications", "tags"}
    assert uncommented.execution.mode == "sequential"
    assert uncommented.retries.max_attempts == 1
    assert count >= 15


def test_an_uncommented_rest_api_source_loads_with_its_defaults(
    defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new(defs, "source", "shop_api") == 0
    capsys.readouterr()
    path = defs / "sources" / "shop_api.yaml"
    original = path.read_text()
    written = load_project(defs, "dev").sources["shop_api"]
    text, count = _uncommented(original)
    assert "    timeout: 30" in text.splitlines()
    assert "      max_attempts: 5" in text.splitlines()  # connection.retry, a nested default block
    assert '        method: "GET"' in text.splitlines()
    assert '  page_format: "arrow"' in text.splitlines()
    path.write_text(text)
    uncommented = load_project(defs, "dev").sources["shop_api"]
    assert uncommented.model_dump() == written.model_dump()
    assert count >= 15


# 6. secrets_mapping.yaml ----------------------------------------------------------------------


def test_a_missing_secrets_mapping_is_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    defs = tmp_path / "defs"
    defs.mkdir()
    assert _new(defs, "channel", "ops", "--type", "slack") == 0
    out = capsys.readouterr().out
    mapping = defs / "secrets_mapping.yaml"
    assert mapping.is_file()
    secrets = yaml.safe_load(mapping.read_text())["secrets"]
    assert list(secrets) == ["ops_webhook_url"]
    assert secrets["ops_webhook_url"]["env_var"] == "OPS_WEBHOOK_URL"
    assert secrets["ops_webhook_url"]["required"] is True
    assert "added secret 'ops_webhook_url'" in out and "export OPS_WEBHOOK_URL=" in out
    assert (
        yaml.safe_load((defs / "channels" / "ops.yaml").read_text())["channel"]["webhook_url_secret_key"]
        == "ops_webhook_url"
    )
    load_project(defs, "dev")


ENVIRONMENTS_BLOCK = """
environments:
  prod:
    secrets:
      github_token:
        env_var: "GITHUB_TOKEN_PROD_OVERRIDE"
"""


def test_a_new_secret_lands_inside_secrets_before_an_environments_block(
    defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = defs / "secrets_mapping.yaml"
    mapping.write_text(mapping.read_text().rstrip("\n") + "\n" + ENVIRONMENTS_BLOCK)
    before = yaml.safe_load(mapping.read_text())
    load_project(defs, "prod")

    assert _new(defs, "channel", "ops", "--type", "slack") == 0
    assert "added secret 'ops_webhook_url'" in capsys.readouterr().out
    text = mapping.read_text()
    after = yaml.safe_load(text)
    assert set(after) == {"secrets", "environments"}
    assert after["environments"] == before["environments"]
    assert text.endswith(ENVIRONMENTS_BLOCK)
    assert after["secrets"]["ops_webhook_url"]["env_var"] == "OPS_WEBHOOK_URL"
    assert {k: v for k, v in after["secrets"].items() if k != "ops_webhook_url"} == before["secrets"]
    assert list(after["secrets"])[-1] == "ops_webhook_url"
    _loads(defs)
    # a second file naming another secret goes in the same place
    assert _new(defs, "destination", "lake", "--type", "databricks") == 0
    after2 = yaml.safe_load(mapping.read_text())
    assert list(after2["secrets"])[-2:] == ["ops_webhook_url", "lake_token"]
    assert after2["environments"] == before["environments"]
    _loads(defs)


def test_a_secret_already_mapped_is_not_added_twice(defs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = defs / "secrets_mapping.yaml"
    mapping.write_text(
        mapping.read_text() + '\n  ops_webhook_url:\n    env_var: "MY_OWN_VAR"\n    required: false\n'
    )
    before = mapping.read_bytes()
    assert _new(defs, "channel", "ops", "--type", "slack") == 0
    assert "added secret" not in capsys.readouterr().out
    assert mapping.read_bytes() == before


def test_a_flow_style_mapping_is_left_alone_and_the_lines_are_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defs = tmp_path / "defs"
    defs.mkdir()
    mapping = defs / "secrets_mapping.yaml"
    mapping.write_bytes(b'secrets: {a: {env_var: "A"}}\n')
    assert _new(defs, "channel", "ops", "--type", "slack") == 0
    out = capsys.readouterr().out
    assert mapping.read_bytes() == b'secrets: {a: {env_var: "A"}}\n'
    assert "could not be extended safely" in out
    printed = out.split("could not be extended safely):\n", 1)[1].split("\nthen check", 1)[0]
    assert printed.splitlines()[:3] == [
        "  secrets:",
        "    ops_webhook_url:",
        '      env_var: "OPS_WEBHOOK_URL"',
    ]
    # the printed lines are the entry to add: merged into the mapping, it validates
    entry = yaml.safe_load("\n".join(line[2:] for line in printed.splitlines()))
    assert entry["secrets"]["ops_webhook_url"]["env_var"] == "OPS_WEBHOOK_URL"
    mapping.write_text(yaml.safe_dump({"secrets": {"a": {"env_var": "A"}, **entry["secrets"]}}))
    load_project(defs, "dev")


# 7. prompts on a terminal ---------------------------------------------------------------------

Answer = Callable[[str], str]


def _on_terminal(
    args: list[str], prompts: list[tuple[str, Answer]], cwd: Path, timeout: float = 60.0
) -> tuple[int, str]:
    """Run ``args`` on a pseudo-terminal, answering each prompt (a regex, in order) with the answer
    its function gives for the output so far; returns the exit code and everything printed."""
    env = {k: v for k, v in os.environ.items() if k != "DWH_NO_PROMPT"}
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    output = ""
    position = 0
    pending = list(prompts)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s; output so far:\n{output}")
            ready, _, _ = select.select([master], [], [], min(remaining, 0.5))
            if not ready:
                if proc.poll() is not None and not pending:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk.decode(errors="replace")
            while pending:
                match = re.search(pending[0][0], output[position:])
                if match is None:
                    break
                position += match.end()
                _, answer = pending.pop(0)
                os.write(master, (answer(output) + "\n").encode())
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        assert not pending, f"prompts not seen: {[p for p, _ in pending]}; output:\n{output}"
        return returncode, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)


def _number_of(name: str) -> Answer:
    def answer(output: str) -> str:
        numbers = re.findall(rf"(\d+)\) {re.escape(name)}\r?\n", output)
        assert numbers, f"{name} not offered:\n{output}"
        return numbers[-1]

    return answer


def _say(text: str) -> Answer:
    return lambda _output: text


def test_a_pipeline_asks_for_its_source_and_destination_on_a_terminal(defs: Path) -> None:
    returncode, output = _on_terminal(
        [sys.executable, "-m", "dwh_dagster.cli", "new", "pipeline", "p", "--defs", str(defs)],
        [
            (r"(?:^|\n)source: ", _say("nope")),  # not a choice: asked again
            (r"answer with a number from 1 to 4 or one of the names\r?\nsource: ", _number_of("demo_files")),
            (r"(?:^|\n)destination: ", _say("duckdb_local")),
        ],
        cwd=REPO_ROOT,
    )
    assert returncode == 0, output
    # the project's own names are offered, and with two destinations there is no default
    for source in ("demo_files", "github_api", "mock_api", "youtube_api"):
        assert f") {source}" in output
    assert ") databricks" in output and ") duckdb_local" in output
    assert "destination [" not in output
    text = (defs / "pipelines" / "p.yaml").read_text()
    assert 'config_file: "demo_files"' in text
    assert 'config_file: "duckdb_local"' in text
    assert "  # replace: " not in text
    assert "replace the placeholders" not in output
    body = yaml.safe_load(text)["pipeline"]
    assert body["destination"]["dataset_name"] == "demo_files"
    _loads(defs)


def test_a_single_destination_is_the_default_on_a_terminal(tmp_path: Path) -> None:
    defs = tmp_path / "defs"
    (defs / "destinations").mkdir(parents=True)
    (defs / "transformations").mkdir()
    shutil.copy(YAML_DEFS / "destinations" / "duckdb_local.yaml", defs / "destinations")
    returncode, output = _on_terminal(
        [sys.executable, "-m", "dwh_dagster.cli", "new", "transformation", "m", "--defs", str(defs)],
        [
            (r"(?:^|\n)transformation type \[sql\]: ", _say("")),
            (r"(?:^|\n)destination \[duckdb_local\]: ", _say("")),
        ],
        cwd=tmp_path,
    )
    assert returncode == 0, output
    body = yaml.safe_load((defs / "transformations" / "m.yaml").read_text())["transformation"]
    assert body["destination"] == "duckdb_local"
    assert "type" not in body  # sql is the default type
    load_project(defs, "dev")


def test_an_empty_answer_takes_the_default_type_on_a_terminal(defs: Path) -> None:
    """slack is the default channel type but not the first choice (email is)."""
    returncode, output = _on_terminal(
        [sys.executable, "-m", "dwh_dagster.cli", "new", "channel", "ops", "--defs", str(defs)],
        [(r"(?:^|\n)channel type \[slack\]: ", _say(""))],
        cwd=REPO_ROOT,
    )
    assert returncode == 0, output
    assert re.search(r"1\) email\r?\n\s*2\) slack\r?\n", output), output
    body = yaml.safe_load((defs / "channels" / "ops.yaml").read_text())["channel"]
    assert body["type"] == "slack"
    assert "ops_webhook_url" in yaml.safe_load((defs / "secrets_mapping.yaml").read_text())["secrets"]


def test_a_job_takes_several_pipelines_comma_separated_on_a_terminal(defs: Path) -> None:
    returncode, output = _on_terminal(
        [sys.executable, "-m", "dwh_dagster.cli", "new", "job", "j", "--defs", str(defs)],
        [
            (
                r"(?:^|\n)pipelines \(comma-separated\): ",
                lambda out: f"{_number_of('demo_to_duckdb')(out)}, mock_to_duckdb",
            )
        ],
        cwd=REPO_ROOT,
    )
    assert returncode == 0, output
    body = yaml.safe_load((defs / "jobs" / "j.yaml").read_text())["job"]
    assert [p["name"] for p in body["pipelines"]] == ["demo_to_duckdb", "mock_to_duckdb"]
    project = load_project(defs, "dev")
    assert [p.name for p in project.jobs["j"].pipelines] == ["demo_to_duckdb", "mock_to_duckdb"]


# 8. --sql -------------------------------------------------------------------------------------


def test_sql_given_on_the_command_line_reads_its_tables(
    defs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "transformation",
        "cheap",
        "--destination",
        "duckdb_local",
        "--sql",
        "select id from demo.customers",
    ]
    assert _new(defs, *args) == 0
    out = capsys.readouterr().out
    assert "replace" not in out
    body = yaml.safe_load((defs / "transformations" / "cheap.yaml").read_text())["transformation"]
    assert body["sql"] == "select id from demo.customers\n"
    _loads(defs)
    model = load_project(defs, "dev").transformations["cheap"]
    assert model.upstream == (("demo", "customers"),)
    assert model.upstream_transformations == ()
    assert model.dataset == "analytics"
    assert model.destination_name == "duckdb_local"


def test_sql_reading_another_model_depends_on_it(defs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "transformation",
        "top",
        "--destination",
        "duckdb_local",
        "--dataset",
        "marts",
        "--sql",
        "select * from analytics.customer_orders",
    ]
    assert _new(defs, *args) == 0
    model = load_project(defs, "dev").transformations["top"]
    assert model.upstream_transformations == ("customer_orders",)
    assert model.dataset == "marts"

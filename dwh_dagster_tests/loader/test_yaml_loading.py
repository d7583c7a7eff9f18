"""``config.documents``: positions, duplicate keys, plain dates, merge keys, every unusable file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dwh_dagster.config.documents import Document, parse_yaml_file, parse_yaml_text
from dwh_dagster.config.errors import ConfigError, ProjectConfigError
from dwh_dagster.config.loader import load_project

FILE = Path("sources/x.yaml")


def parse(text: str) -> tuple[Document | None, list[ConfigError]]:
    return parse_yaml_text(textwrap.dedent(text).lstrip("\n"), FILE)


def parse_ok(text: str) -> Document:
    doc, errors = parse(text)
    assert doc is not None and not errors, [e.headline() for e in errors]
    return doc


def only_error(text: str) -> ConfigError:
    _, errors = parse(text)
    assert len(errors) == 1, [e.headline() for e in errors]
    assert errors[0].file == FILE
    return errors[0]


# --------------------------------------------------------------------------- positions

SOURCE = """
source:
  name: my_api
  connection:
    base_url: "https://x"
  resources:
    - name: users
      primary_key: [id, day]
    - {name: orders, endpoint: /orders}
"""


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (("source",), (1, 1), (2, 3)),
        (("source", "name"), (2, 3), (2, 9)),
        (("source", "connection"), (3, 3), (4, 5)),
        (("source", "connection", "base_url"), (4, 5), (4, 15)),
        (("source", "resources"), (5, 3), (6, 5)),
        (("source", "resources", 0, "name"), (6, 7), (6, 13)),
        (("source", "resources", 0, "primary_key"), (7, 7), (7, 20)),
        (("source", "resources", 1, "endpoint"), (8, 22), (8, 32)),
    ],
)
def test_positions_of_keys_and_values(
    path: tuple[str | int, ...], key: tuple[int, int], value: tuple[int, int]
) -> None:
    doc = parse_ok(SOURCE)
    assert doc.keys[path] == key
    assert doc.values[path] == value


def test_positions_of_list_items() -> None:
    doc = parse_ok(SOURCE)
    assert doc.values[("source", "resources", 0)] == (6, 7)
    assert doc.values[("source", "resources", 1)] == (8, 7)
    assert doc.values[("source", "resources", 0, "primary_key", 1)] == (7, 25)
    assert doc.values[()] == (1, 1)


def test_position_walks_up_to_the_nearest_existing_parent() -> None:
    doc = parse_ok(SOURCE)
    # a missing field is reported at its parent's key when asked for a key
    assert doc.position(("source", "connection", "auth"), prefer_key=False) == (3, 3)
    assert doc.position(("source", "resources", 0, "endpoint", "path")) == (6, 7)
    assert doc.position(("nothing", "here")) == (1, 1)
    assert doc.position(("source", "name"), prefer_key=True) == (2, 3)
    assert doc.position(("source", "name")) == (2, 9)


def test_document_error_carries_file_line_column_and_field() -> None:
    doc = parse_ok(SOURCE)
    error = doc.error(("source", "resources", 1, "endpoint"), "bad endpoint", "fix it")
    assert (error.file, error.line, error.column) == (FILE, 8, 32)
    assert error.field == "source.resources[1].endpoint"
    assert error.headline().endswith(
        "sources/x.yaml:8:32: source.resources[1].endpoint: bad endpoint; fix it"
    )
    at_key = doc.error(("source", "resources", 1, "endpoint"), "m", at_key=True)
    assert (at_key.line, at_key.column) == (8, 22)


def test_snippet_points_at_the_column(tmp_path: Path) -> None:
    file = tmp_path / "x.yaml"
    file.write_text(textwrap.dedent(SOURCE).lstrip("\n"))
    doc, _ = parse_yaml_file(file)
    assert doc is not None
    snippet = doc.error(("source", "name"), "m").snippet()
    assert snippet.splitlines() == [
        "  1 | source:",
        "  2 |   name: my_api",
        "    |         ^",
        "  3 |   connection:",
    ]


# --------------------------------------------------------------------------- scalars


def test_dates_and_timestamps_stay_strings() -> None:
    doc = parse_ok(
        """
        date: 2024-01-01
        timestamp: 2024-01-01T00:00:00Z
        spaced: 2024-01-01 10:30:00
        quoted: "2024-01-01"
        """
    )
    assert doc.data == {
        "date": "2024-01-01",
        "timestamp": "2024-01-01T00:00:00Z",
        "spaced": "2024-01-01 10:30:00",
        "quoted": "2024-01-01",
    }


def test_other_scalars_keep_their_yaml_types() -> None:
    doc = parse_ok("i: 1\nf: 1.5\nb: true\nn: null\ntilde: ~\ns: text\nq: '1'\n")
    assert doc.data == {"i": 1, "f": 1.5, "b": True, "n": None, "tilde": None, "s": "text", "q": "1"}


def test_non_string_scalar_keys_become_strings() -> None:
    assert parse_ok("1: a\n1.5: b\n").data == {"1": "a", "1.5": "b"}


@pytest.mark.parametrize(
    ("text", "line"), [("null: 1\n", 1), ("a: 1\n? [x, y]\n: 2\n", 2), ("a: {? {b: 1} : 2}\n", 1)]
)
def test_mapping_keys_must_be_plain(text: str, line: int) -> None:
    error = only_error(text)
    assert error.message == "mapping keys must be plain text"
    assert error.line == line


# --------------------------------------------------------------------------- duplicate keys


def test_duplicate_key_names_both_lines() -> None:
    doc, errors = parse(
        """
        source:
          name: a
          type: rest_api
          name: b
        """
    )
    assert len(errors) == 1
    error = errors[0]
    assert error.message == "duplicate key 'name' (first defined on line 2)"
    assert (error.line, error.column) == (4, 3)
    assert error.field == "source.name"
    assert "remove one of the two entries" in error.hint
    assert doc is not None and doc.data == {"source": {"name": "a", "type": "rest_api"}}


def test_every_duplicate_is_reported() -> None:
    _, errors = parse(
        """
        a: 1
        b:
          c: 2
          c: 3
        a: 4
        """
    )
    assert [(e.line, e.field, e.message) for e in errors] == [
        (4, "b.c", "duplicate key 'c' (first defined on line 3)"),
        (5, "a", "duplicate key 'a' (first defined on line 1)"),
    ]


def test_duplicate_keys_fail_the_project(write_project) -> None:
    defs = write_project({"destinations/d.yaml": "destination:\n  name: d\n  type: duckdb\n  name: e\n"})
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    [error] = info.value.errors
    assert error.file == defs / "destinations/d.yaml"
    assert error.line == 4
    assert "first defined on line 2" in error.message


# --------------------------------------------------------------------------- merge keys


def test_merge_key_copies_the_anchored_mapping() -> None:
    doc = parse_ok(
        """
        base: &retry
          max_attempts: 3
          backoff_factor: 2
        first:
          <<: *retry
        both:
          <<: [*retry, {timeout: 5}]
        """
    )
    assert doc.data["first"] == {"max_attempts": 3, "backoff_factor": 2}
    assert doc.data["both"] == {"max_attempts": 3, "backoff_factor": 2, "timeout": 5}
    # merged keys point at where they are written: the anchored mapping
    assert doc.keys[("first", "max_attempts")] == (2, 3)
    assert doc.values[("both", "timeout")] == (7, 26)


def test_explicit_key_overrides_a_merged_key() -> None:
    doc = parse_ok(
        """
        base: &b
          x: 1
          y: 2
        child:
          <<: *b
          y: 3
        """
    )
    assert doc.data["child"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("merge", ["<<: 5", "<<: [1, 2]"])
def test_merging_a_scalar_is_a_located_error(merge: str) -> None:
    error = only_error(f"a: 1\nb:\n  {merge}\n")
    assert "for merging" in error.message
    assert error.line == 3


# --------------------------------------------------------------------------- unusable files


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "  \n# a\n\n"])
def test_empty_file(text: str) -> None:
    doc, errors = parse_yaml_text(text, FILE)
    assert doc is None
    [error] = errors
    assert error.message == "file is empty"
    assert (error.line, error.column) == (1, 1)
    assert "write the configuration or delete the file" in error.hint


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a: 1\nb: c: d\n", 2, "mapping values are not allowed here"),
        ("a:\n  b: 1\n c: 2\n", 3, "expected <block end>"),
        # unclosed brackets and quotes are reported where they open: that is where the fix goes
        ("a: [1, 2\nb: 3\n", 1, "'['"),
        ("a: 1\nb: {c: 1\nd: 2\n", 2, "'{'"),
        ("a: 1\nb: [x, y", 2, "'['"),
        ('a: "open\nb: 1\n', 1, "quoted"),
        ("a: 'open\nb: 1\n", 1, "quoted"),
        ("a: 1\n\tb: 2\n", 2, "found character '\\t' that cannot start any token"),
        ("a: *nowhere\n", 1, "found undefined alias 'nowhere'"),
        ("a: 1\n---\nb: 2\n", 2, "a second document ('---')"),
    ],
)
def test_syntax_error_line(text: str, line: int, problem: str) -> None:
    doc, errors = parse_yaml_text(text, FILE)
    assert doc is None
    [error] = errors
    assert error.message.startswith(("YAML syntax error: ", "YAML error: ")), error.message
    assert problem in error.message
    assert error.line == line, error.headline()
    assert error.column is not None and error.column >= 1


def test_syntax_error_has_a_hint() -> None:
    error = only_error("a: 1\nb: c: d\n")
    assert "indentation" in error.hint


def test_second_document_says_how_to_fix_it() -> None:
    error = only_error("a: 1\n---\nb: 2\n")
    assert error.line == 2
    assert "one document" in error.hint


def test_python_tags_are_refused_at_their_value() -> None:
    doc, errors = parse_yaml_text("a: !!python/name:os.system ''\n", FILE)
    [error] = errors
    assert "could not determine a constructor" in error.message
    assert (error.line, error.field) == (1, "a")
    assert doc is None or doc.data == {"a": None}


@pytest.mark.parametrize("data", [b"a: caf\xe9\n", b"\xff\xfea\x00:\x00", b"source:\n  name: \xc3\n"])
def test_non_utf8_file(tmp_path: Path, data: bytes) -> None:
    file = tmp_path / "x.yaml"
    file.write_bytes(data)
    doc, errors = parse_yaml_file(file)
    assert doc is None
    [error] = errors
    assert error.file == file
    assert error.message.startswith("file is not valid UTF-8")
    assert "UTF-8" in error.hint
    bad_line = data[: next(i for i, b in enumerate(data) if b >= 0x80)].count(b"\n") + 1
    assert error.line in (None, bad_line)
    assert error.render()  # no crash


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "x.yaml"
    file.write_bytes("\ufeffa: café\n".encode())
    doc, errors = parse_yaml_file(file)
    assert not errors and doc is not None
    assert doc.data == {"a": "café"}


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: [\n", 1), ("a: {\n", 1), ("a: [1,\n", 1), ("a: {b: 1,\n", 1), ("a: 1\nb: [x,\n\n", 2)],
)
def test_flow_collection_open_at_the_end_of_the_file(text: str, line: int) -> None:
    doc, errors = parse_yaml_text(text, FILE)
    assert doc is None
    [error] = errors
    assert error.message.startswith("YAML syntax error")
    assert error.line == line


@pytest.mark.parametrize("text", ["---\n", "--- \n...\n", "null\n", "5\n", "text\n"])
def test_top_level_that_is_no_mapping_is_described_in_yaml_terms(write_project, text: str) -> None:
    defs = write_project({"sources/x.yaml": text})
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    [error] = info.value.errors
    for python_name in ("NoneType", "a int", "a str", "a float"):
        assert python_name not in error.message


@pytest.mark.parametrize("text", ["- a\n", "[1]\n"])
def test_top_level_list_is_reported(write_project, text: str) -> None:
    defs = write_project({"sources/x.yaml": text})
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    [error] = info.value.errors
    assert error.message == "expected a mapping with 'source:' at the top, got a list"
    assert error.line == 1
    assert "start the file with" in error.hint


def test_unreadable_path_is_an_error(tmp_path: Path) -> None:
    doc, errors = parse_yaml_file(tmp_path / "missing.yaml")
    assert doc is None
    assert errors[0].message.startswith("cannot read file")


# --------------------------------------------------------------------------- crashes (bugs)

CRASHING_TEXTS = [
    pytest.param("a: b\x01c\n", id="control-character"),
    pytest.param("a: 1\x7f\n", id="DEL-character"),
    pytest.param("a: \ufffe\n", id="noncharacter-U+FFFE"),
    pytest.param("a: !!int abc\n", id="explicit-int-tag"),
    pytest.param("a: !!float abc\n", id="explicit-float-tag"),
    pytest.param("a: !!bool maybe\n", id="explicit-bool-tag"),
    pytest.param("a: !!timestamp abc\n", id="explicit-timestamp-tag"),
    pytest.param("!!int abc: 1\n", id="explicit-int-tag-on-key"),
    pytest.param("a: " + "9" * 5000 + "\n", id="int-over-4300-digits"),
    pytest.param("a: &x [*x]\n", id="recursive-alias-list"),
    pytest.param("a: &x {b: *x}\n", id="recursive-alias-mapping"),
    pytest.param("a: " + "[" * 3000 + "]" * 3000 + "\n", id="deep-nesting"),
]


@pytest.mark.parametrize("text", CRASHING_TEXTS)
def test_any_text_gives_a_document_or_config_errors(text: str) -> None:
    doc, errors = parse_yaml_text(text, FILE)
    assert doc is not None or errors
    assert all(e.file == FILE and (e.line is None or e.line in (1, 2)) for e in errors)


@pytest.mark.parametrize("text", CRASHING_TEXTS)
def test_load_project_reports_unparsable_text(write_project, text: str) -> None:
    defs = write_project({"sources/x.yaml": "source:\n  name: x\n"})
    (defs / "sources/x.yaml").write_text(text)
    with pytest.raises(ProjectConfigError) as info:
        load_project(defs)
    assert all(e.file == defs / "sources/x.yaml" for e in info.value.errors)

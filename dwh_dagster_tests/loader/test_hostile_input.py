"""Hostile YAML: aliases of aliases ("billion laughs"), deep nesting, huge numbers, BOMs, tabs,
duplicate keys, unicode and binary garbage, put into valid projects by hypothesis. Every case must
end, within a few seconds and a bounded amount of memory, in a loaded project or in our own located
errors; never in a traceback, a hang or gigabytes.

The inputs that broke the loader once are kept under ``fixtures/hostile_corpus/`` and replayed on
every run, each next to the valid project it was found in.
"""

from __future__ import annotations

import re
import resource
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from dwh_dagster.config.documents import ALIAS_EXPANSION_LIMIT
from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import load_project
from dwh_dagster_tests.conftest import FIXTURES
from dwh_dagster_tests.loader.test_property import (
    PROPERTY_SETTINGS,
    VALID_PROJECTS,
    Files,
    _write,
    assert_loads_or_reports,
)

CASE_SECONDS = 20  # one case may take this long (generous: CI machines are shared)
CASE_MEGABYTES = 300  # Python memory one case may allocate at its peak
CORPUS = FIXTURES / "hostile_corpus"


class CaseTimeout(Exception):
    """A case ran longer than :data:`CASE_SECONDS`."""


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert match, f"no {field} in /proc/self/status"
    return int(match.group(1))


@contextmanager
def bounded() -> Iterator[None]:
    """Fail a case that runs longer than CASE_SECONDS or whose peak resident memory (Python's and
    libyaml's: the kernel's high-water mark, reset for the case) grows by more than CASE_MEGABYTES."""

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"a case ran longer than {CASE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
    before = _status_kb("VmRSS")
    # a runaway case gets a MemoryError at 2 GB more address space, not the machine's OOM killer
    limits = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_status_kb("VmSize") * 1024 + 2 * 1024**3, limits[1]))
    signal.alarm(CASE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, limits)
        signal.signal(signal.SIGALRM, previous)
    grown = (_status_kb("VmHWM") - before) / 1024
    assert grown < CASE_MEGABYTES, f"a case grew the resident memory by {grown:.0f} MB at its peak"


def laughs(depth: int, width: int) -> str:
    """A YAML block of anchors each repeating the previous one ``width`` times: width**depth values."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines)


# --------------------------------------------------------------------------- hostile fragments

deep_flow = st.integers(50, 20_000).map(lambda n: "[" * n + "]" * n)
deep_block = st.integers(50, 3_000).map(
    lambda n: "\n".join(" " * (2 * i) + f"k{i}:" for i in range(n)) + " x"
)
huge_number = st.sampled_from(
    ["9" * 5_000, "9" * 200_000, "-" + "1" * 10_000, "1e999999", "0x" + "f" * 50_000, ".inf", "-.nan"]
)
tagged = st.sampled_from(
    ["!!python/object:os.system ls", "!!binary ===", "!!int 12x", "!!float abc", "!!timestamp x", "!!set {a}"]
)
garbage = st.binary(min_size=1, max_size=300)
unicode_text = st.text(min_size=1, max_size=60)
bom = st.sampled_from(["\ufeff", "\ufeff\ufeff", "\ufffe"])


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


@st.composite
def hostile_file(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` (a valid file) with one hostile change."""
    lines = _lines(data)
    at = draw(st.integers(0, max(0, len(lines) - 1)))
    indent = len(lines[at]) - len(lines[at].lstrip()) if lines else 0
    pad = b" " * indent
    kind = draw(
        st.sampled_from(
            [
                "laughs",
                "laughs_merge",
                "deep_flow",
                "deep_block",
                "huge_number",
                "tagged",
                "garbage",
                "unicode",
                "bom",
                "tabs",
                "duplicate",
                "alias_unknown",
            ]
        )
    )
    if kind in ("laughs", "laughs_merge"):
        depth, width = draw(st.integers(2, 9)), draw(st.integers(2, 10))
        block = laughs(depth, width).encode()
        use = f"<<: {{x: *l{depth}}}" if kind == "laughs_merge" else f"description: *l{depth}"
        top = lines[0] if lines else b"source:"
        return b"\n".join([top, *(b"  " + line for line in block.split(b"\n")), b"  " + use.encode()]) + b"\n"
    if kind == "deep_flow":
        lines.insert(at, pad + b"description: " + draw(deep_flow).encode())
    elif kind == "deep_block":
        lines.insert(at, pad + draw(deep_block).replace("\n", "\n" + " " * indent).encode())
    elif kind == "huge_number":
        lines.insert(at, pad + b"port: " + draw(huge_number).encode())
    elif kind == "tagged":
        lines.insert(at, pad + b"description: " + draw(tagged).encode())
    elif kind == "garbage":
        lines.insert(at, draw(garbage))
    elif kind == "unicode":
        text = draw(unicode_text).encode("utf-8", errors="surrogatepass")
        lines.insert(at, pad + (text + b": x" if draw(st.booleans()) else b"description: " + text))
    elif kind == "bom":
        where = draw(st.sampled_from(["start", "line"]))
        mark = draw(bom).encode("utf-8", errors="surrogatepass")
        if where == "start":
            return mark + data
        lines.insert(at, mark + lines[at] if lines else mark)
    elif kind == "tabs":
        lines = [b"\t" * ((len(line) - len(line.lstrip())) // 2) + line.lstrip() for line in lines]
    elif kind == "duplicate" and lines:
        lines.insert(at + 1, lines[at])
    else:
        lines.insert(at, pad + b"description: *nowhere")
    return b"\n".join(lines)


@st.composite
def hostile_projects(draw: st.DrawFn) -> Files:
    """A valid project with one or two of its files made hostile."""
    files = dict(VALID_PROJECTS[draw(st.sampled_from(sorted(VALID_PROJECTS)))])
    names = sorted(name for name in files if name.endswith((".yaml", ".yml")))
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
        files[name] = draw(hostile_file(files[name]))
    return files


HOSTILE_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=150)  # the property tests' settings, fewer cases


@HOSTILE_SETTINGS
@given(files=hostile_projects(), environment=st.sampled_from(("dev", "prod")))
@pytest.mark.slow
def test_hostile_input_ends_in_a_project_or_located_errors(files: Files, environment: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        defs = _write(files, Path(tmp))
        with bounded():
            assert_loads_or_reports(defs, environment)


# --------------------------------------------------------------------------- the corpus

CORPUS_CASES = sorted(CORPUS.glob("*/*.y*ml"))


@pytest.mark.parametrize("case", CORPUS_CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_case_ends_in_located_errors(case: Path, tmp_path: Path) -> None:
    """A file that once broke the loader, dropped into the shipped-style rich project under the
    kind folder named by the case's own folder, gives located errors within the bounds."""
    files = dict(VALID_PROJECTS["rich"])
    files[f"{case.parent.name}/{case.name}"] = case.read_bytes()
    defs = _write(files, tmp_path)
    with bounded():
        assert_loads_or_reports(defs, "dev")
        with pytest.raises(ProjectConfigError) as raised:
            load_project(defs, "dev")
    assert any(error.file.name == case.name for error in raised.value.errors)


def test_billion_laughs_is_one_error_at_the_alias(tmp_path: Path) -> None:
    """Nine levels of nine aliases (387 million values) stop at the limit, with the field path."""
    defs = tmp_path / "yaml_defs"
    (defs / "sources").mkdir(parents=True)
    block = "\n".join("  " + line for line in laughs(9, 9).splitlines())
    (defs / "sources" / "lol.yaml").write_text(
        f"source:\n{block}\n  name: lol\n  type: rest_api\n  description: *l9\n"
    )
    with bounded(), pytest.raises(ProjectConfigError) as raised:
        load_project(defs, "dev")
    [error] = raised.value.errors
    assert f"aliases expand to more than {ALIAS_EXPANSION_LIMIT:,} values" in error.message
    assert error.field.startswith("source.") and error.line is not None


def test_one_level_of_aliases_stays_valid(tmp_path: Path) -> None:
    """A resource reused through an alias and merge keys, as real files do, is not limited."""
    defs = tmp_path / "yaml_defs"
    (defs / "sources").mkdir(parents=True)
    resources = "\n".join(f"    - {{<<: *first, name: r{i}}}" for i in range(1, 300))
    (defs / "sources" / "api.yaml").write_text(
        "source:\n  name: api\n  type: rest_api\n"
        "  connection: {base_url: 'https://example.com'}\n  resources:\n"
        "    - &first {name: r0, endpoint: {path: items, params: {limit: 100}}, write_disposition: replace}\n"
        f"{resources}\n"
    )
    project = load_project(defs, "dev")
    [source] = project.sources.values()
    assert len(source.resources) == 300

"""The Dagster UI shows the demo assets and their lineage.

Starts ``dagster_webserver`` on the code location built from ``yaml_defs/``, opens the asset graph of
the ``demo_to_duckdb`` group in headless Chromium (Debian's ``chromium`` and ``chromium-driver``
packages, driven by Selenium), checks the nodes and the edges drawn from the external source asset
``sources/demo_files`` to ``demo/customers``, ``demo/orders`` and ``demo/payments``, and saves a
screenshot under ``dwh_dagster_tests/ui/output/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dwh_dagster_tests.conftest import REPO_ROOT, YAML_DEFS
from dwh_dagster_tests.processes import free_port, start, stop, tail

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "apt-get update && apt-get install -y chromium chromium-driver"
OUTPUT = Path(__file__).resolve().parent / "output"
SCREENSHOT = OUTPUT / "asset_graph_demo_to_duckdb.png"

GROUP = "demo_to_duckdb"
SOURCE_NODE = "demo_files"  # sources/demo_files, labelled by the last part of its key
DEMO_NODES = ("customers", "orders", "payments")
# the demo's models downstream of the loaded tables, drawn in the group's graph as links to their
# own group (transformations), with the loaded table each reads
MODEL_EDGES = {
    ("orders", "stg_orders"),
    ("orders", "sku_sales"),
    ("customers", "customer_orders"),
    ("payments", "customer_orders"),
}

SERVER_START_TIMEOUT = 60.0
GRAPH_TIMEOUT = 30.0
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
)


def _clean_env(dagster_home: Path) -> dict[str, str]:
    """The caller's environment without secrets or per-environment values, on a fresh DAGSTER_HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_DEV", "_STAGE", "_PROD")) and "SECRET" not in k
    }
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "DWH_DEFS_DIR": str(YAML_DEFS),
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
    )
    env.pop("ENVIRONMENT", None)
    return env


@dataclass
class Webserver:
    url: str
    location: str


def _get_json(url: str, payload: dict[str, Any] | None = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _loaded_location(url: str) -> str | None:
    """The name of the code location once the webserver has loaded it, else None; fails on a load error."""
    query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
        " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    answer = _get_json(f"{url}/graphql", {"query": query})
    for entry in answer["data"]["workspaceOrError"].get("locationEntries") or []:
        if entry["loadStatus"] != "LOADED":
            continue
        error = entry["locationOrLoadError"] or {}
        if error.get("__typename") == "PythonError":
            pytest.fail(f"code location {entry['name']} failed to load: {error.get('message')}")
        return str(entry["name"])
    return None


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[Webserver]:
    """``dagster_webserver`` on a free port, on a temp DAGSTER_HOME holding the repo's dagster.yaml.

    It runs in a temp folder: the repo's dagster.yaml keeps its storage under ``.dagster_home/``
    relative to the working directory, so runs, logs and schedules of this test stay in tmp_path
    (``DWH_DEFS_DIR`` points at the repo's ``yaml_defs/``).
    """
    home = tmp_path / "dagster_home"
    workdir = tmp_path / "work"
    (home / ".nux").mkdir(parents=True)
    workdir.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")  # no "Join the Dagster community" dialog
    port = free_port()
    log = tmp_path / "webserver.log"
    command = [sys.executable, "-m", "dagster_webserver", "-m", "dwh_dagster.definitions"]
    # its own process group: the code server it spawns ends with it
    server = start([*command, "-h", "127.0.0.1", "-p", str(port)], _clean_env(home), log, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        location = None
        while location is None:
            if server.poll() is not None:
                pytest.fail(f"dagster_webserver exited with {server.returncode}:\n{_tail(tmp_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"dagster_webserver not ready in {SERVER_START_TIMEOUT:.0f}s:\n{_tail(tmp_path)}")
            try:
                _get_json(f"{url}/server_info")
                location = _loaded_location(url)
            except (urllib.error.URLError, OSError, KeyError, ValueError):
                pass
            if location is None:
                time.sleep(0.5)
        yield Webserver(url=url, location=location)
    finally:
        stop(server)


def _tail(tmp_path: Path) -> str:
    return tail(tmp_path / "webserver.log")


def _require_chromium() -> None:
    """Fail (never skip: CI installs the browser) when Debian's chromium or chromium-driver is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: install the browser with `{INSTALL_HINT}`")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium through chromedriver (Selenium), on a fresh profile."""
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(GRAPH_TIMEOUT)
        yield driver
    finally:
        driver.quit()  # ends Chromium and chromedriver


@dataclass
class Box:
    label: str
    x: float
    y: float
    width: float
    height: float

    def holds(self, x: float, y: float, slack: float) -> bool:
        return (
            self.x - slack <= x <= self.x + self.width + slack
            and self.y - slack <= y <= self.y + self.height + slack
        )


GRAPH_JS = """
const svg = document.querySelector('svg[class*="svgContainer"]');
if (!svg) return null;
const nodes = [...svg.querySelectorAll('foreignObject')].map(fo => ({
  // the node's HTML (an SVG element has no innerText): its first line is the asset's name
  label: ((fo.firstElementChild && fo.firstElementChild.innerText) || fo.textContent || '')
    .trim().split('\\n')[0].trim(),
  x: +fo.getAttribute('x'), y: +fo.getAttribute('y'),
  width: +fo.getAttribute('width'), height: +fo.getAttribute('height'),
}));
const edges = [...svg.querySelectorAll('path[marker-end]')].map(p => p.getAttribute('d'));
return {nodes: nodes, edges: edges};
"""


def _endpoints(path: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """First and last point of an SVG path (``M x,y C ... x,y``)."""
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    return (numbers[0], numbers[1]), (numbers[-2], numbers[-1])


def _edges(nodes: list[Box], paths: list[str]) -> set[tuple[str, str]]:
    """(upstream, downstream) labels of each edge, by the nodes its ends touch."""
    found = set()
    for path in paths:
        start, end = _endpoints(path)
        sources = [n.label for n in nodes if n.holds(*start, slack=2)]
        targets = [n.label for n in nodes if n.holds(*end, slack=12)]  # the arrowhead stops short
        if len(sources) == 1 and len(targets) == 1:
            found.add((sources[0], targets[0]))
    return found


def test_asset_graph_shows_demo_assets_and_lineage(request: pytest.FixtureRequest) -> None:
    _require_chromium()  # before the webserver starts, and reported as this test's failure
    webserver: Webserver = request.getfixturevalue("webserver")
    browser = request.getfixturevalue("browser")
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"{webserver.url}/locations/{webserver.location}/asset-groups/{GROUP}"
    expected = {SOURCE_NODE, *DEMO_NODES, *(model for _, model in MODEL_EDGES)}

    seen: list[Any] = [None]

    def graph_drawn(driver: Any) -> Any:
        graph = seen[0] = driver.execute_script(GRAPH_JS)
        if not graph:
            return False
        labels = {n["label"] for n in graph["nodes"]}
        return graph if expected <= labels and len(graph["edges"]) >= len(DEMO_NODES) else False

    browser.get(url)
    try:
        graph = WebDriverWait(browser, GRAPH_TIMEOUT, poll_frequency=0.5).until(graph_drawn)
    except TimeoutException:
        graph = None
    else:
        # the status rows of the nodes load after the graph: let them settle for the screenshot
        with contextlib.suppress(TimeoutException):
            WebDriverWait(browser, 10, poll_frequency=0.5).until(
                lambda d: (
                    d.find_element("tag name", "body").text.count("Never materialized") >= len(DEMO_NODES)
                )
            )
    OUTPUT.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT)), f"could not save {SCREENSHOT}"
    body = browser.find_element("tag name", "body").text
    assert graph, f"no graph of {GROUP} within {GRAPH_TIMEOUT:.0f}s at {url}:\n{seen[0]}\n{body}"

    assert GROUP in body
    for label in expected:
        assert label in body, f"{label!r} is not on the page {url}"
    nodes = [Box(**n) for n in graph["nodes"]]
    assert sorted(n.label for n in nodes) == sorted(expected), "unexpected nodes in the group's graph"
    assert _edges(nodes, graph["edges"]) == {(SOURCE_NODE, name) for name in DEMO_NODES} | MODEL_EDGES, graph[
        "edges"
    ]
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 10_000, "the screenshot looks empty"

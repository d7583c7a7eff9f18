"""The package's import graph: one way through the config layer, no cycle anywhere."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from dwh_dagster_tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "dwh_dagster"
CONFIG = "dwh_dagster.config"
# what the config layer may import besides itself and the standard library
CONFIG_THIRD_PARTY = {"pydantic", "pydantic_core", "yaml", "croniter", "sqlglot"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def test_config_layer_imports_only_itself_and_its_parsers() -> None:
    modules = _modules()
    wrong: list[str] = []
    for name, path in modules.items():
        if not name.startswith(CONFIG):
            continue
        for imported in _imports(path, top_level_only=False):
            root = imported.split(".")[0]
            if imported.startswith("dwh_dagster"):
                if not imported.startswith(CONFIG) and imported in modules:
                    wrong.append(f"{name} imports {imported}")
            elif (
                root not in sys.stdlib_module_names
                and root not in CONFIG_THIRD_PARTY
                and root != "__future__"
            ):
                wrong.append(f"{name} imports {imported}")
    assert wrong == [], "the config layer must not reach Dagster, dlt or the factories:\n" + "\n".join(wrong)


def test_module_import_graph_has_no_cycle() -> None:
    modules = _modules()
    graph = {
        name: sorted(i for i in _imports(path, top_level_only=True) if i in modules and i != name)
        for name, path in modules.items()
    }
    from dwh_dagster.config.ordering import find_cycles

    assert find_cycles(graph) == []


def test_loading_a_project_imports_neither_dagster_nor_dlt() -> None:
    code = (
        "import sys; from dwh_dagster.config.loader import load_project; "
        f"p = load_project({str(REPO_ROOT / 'yaml_defs')!r}, 'dev'); assert p.pipelines; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'dlt', 'dagster_dlt'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_the_code_location_loads_nothing(tmp_path: Path) -> None:
    # a broken ./yaml_defs in the working directory: importing must still succeed
    (tmp_path / "yaml_defs" / "sources").mkdir(parents=True)
    (tmp_path / "yaml_defs" / "sources" / "bad.yaml").write_text("source: [\n")
    code = "import dwh_dagster.definitions as d; print(type(d.defs).__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "LazyDefinitions"

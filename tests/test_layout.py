"""The shape of the code: no import cycles, the simulator apart, short functions, a true module map."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.import_graph import cycles, graph, modules

REPO = Path(__file__).resolve().parent.parent
PRODUCT = ("exporter", "extend_simulator", "grafana")
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 500
DESIGN = REPO / "docs" / "design.md"


def _product() -> dict[str, Path]:
    return modules(REPO, PRODUCT)


def test_the_cycle_finder_sees_a_cycle_behind_a_deferred_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing() -> None:\n    from . import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    edges = graph(modules(tmp_path, ["pkg"]))
    assert edges["pkg.c"] == {"pkg.a"}
    assert cycles(edges) == [["pkg.a", "pkg.b"]]


def test_no_import_cycle_in_the_product() -> None:
    assert cycles(graph(_product())) == []


def test_the_simulator_imports_nothing_of_the_exporter() -> None:
    edges = graph(_product())
    offenders = {
        name: sorted(t for t in targets if t.split(".")[0] == "exporter")
        for name, targets in edges.items()
        if name.split(".")[0] == "extend_simulator"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_dashboards_and_rules_stand_apart_from_the_exporter() -> None:
    edges = graph(_product())
    reaching = {
        n
        for n, targets in edges.items()
        if n.startswith("grafana")
        and any(t.split(".")[0] in ("exporter", "extend_simulator") for t in targets)
    }
    assert reaching == set()


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_function_over_100_lines_and_no_module_over_500() -> None:
    too_long: list[str] = []
    for path in _product().values():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(REPO)} ({lines} lines)")
        too_long += _long_functions(path)
    assert too_long == []


def _map_section() -> str:
    text = DESIGN.read_text()
    match = re.search(r"^## Map of the code\n(.*?)(?=^## )", text, re.S | re.M)
    assert match is not None, "docs/design.md lacks its '## Map of the code' section"
    return match.group(1)


def test_the_design_map_opens_the_design_document() -> None:
    headings = re.findall(r"^## (.+)$", DESIGN.read_text(), re.M)
    assert headings[0] == "Map of the code"


def _named_in_map() -> set[str]:
    """Module paths the map names: full paths, or names under the package whose bold heading
    (**`exporter/sync/`**) last appeared."""
    named: set[str] = set()
    package = ""
    for token in re.findall(r"\*\*`([\w/]+/)`\*\*|`([\w/]+\.py)`", _map_section()):
        heading, name = token
        if heading:
            package = heading
        elif name.split("/")[0] in PRODUCT:
            named.add(name)
        elif package:  # the opening paragraph names modules in passing
            named.add(package + name)
    return named


def test_the_design_map_has_a_line_for_every_module() -> None:
    named = _named_in_map()
    every = {str(path.relative_to(REPO)) for path in _product().values()}
    required = {p for p in every if not p.endswith("__init__.py")}
    assert sorted(required - named) == [], "modules missing from the map in docs/design.md"
    assert sorted(named - every) == [], "the map in docs/design.md names modules that do not exist"

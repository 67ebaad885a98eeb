"""The simulator package stands apart: it imports nothing of ``exporter``, and its modules form no cycle.

Read from the source with ``ast`` so that every import counts: module level, inside functions and
under ``if TYPE_CHECKING:`` alike.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Collection
from pathlib import Path

import extend_simulator

PACKAGE = Path(extend_simulator.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool, modules: Collection[str]) -> set[str]:
    """Absolute names of the modules ``module`` imports: ``from .x import y`` gives ``pkg.x.y`` when that
    is one of ``modules`` (a submodule), else ``pkg.x``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


_PATHS = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
MODULES = {
    name: _imports(path.read_text(encoding="utf-8"), name, path.stem == "__init__", _PATHS)
    for name, path in _PATHS.items()
}


def _within(name: str) -> str | None:
    """The simulator module that ``name`` is or lies in (``pkg.state.SimState`` -> ``pkg.state``)."""
    while name not in MODULES:
        if "." not in name:
            return None
        name = name.rpartition(".")[0]
    return name


def test_the_reader_sees_deferred_type_checking_and_relative_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from exporter.settings import Settings\n"
        "def f() -> None:\n    import exporter.cli\n"
        "from .state import SimState\n"
        "from . import derive\n"
    )
    found = _imports(source, "extend_simulator.probe", False, {"extend_simulator.derive"})
    assert found >= {"exporter.settings", "exporter.cli", "extend_simulator.state", "extend_simulator.derive"}
    assert "extend_simulator" not in found  # ``from . import derive`` names the submodule, not the package


def test_the_simulator_imports_nothing_of_the_exporter() -> None:
    assert "extend_simulator.simulator" in MODULES and len(MODULES) > 10, sorted(MODULES)
    offenders = {
        module: sorted(name for name in names if name == "exporter" or name.startswith("exporter."))
        for module, names in MODULES.items()
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_simulator_modules_form_no_import_cycle() -> None:
    graph = {module: {_within(n) for n in names} - {None, module} for module, names in MODULES.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle

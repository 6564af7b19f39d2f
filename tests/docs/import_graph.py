"""The project's import graph, read from the source with ``ast`` (nothing is imported).

Every ``import`` and ``from … import`` of a project module counts, wherever it stands: at the
top, inside a function (a lazy import is still a dependency) or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_PACKAGES = ("fleetwise_reconciler", "fleetwise_rehearsal", "fleetwise_cli")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a package's __init__ is the package)
    line: int


def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(src: Path) -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    return {
        module_name(src, path): path
        for package in PROJECT_PACKAGES
        for path in sorted((src / package).rglob("*.py"))
    }


def imports(src: Path) -> list[Import]:
    """Every import of a project module by a project module."""
    modules = project_modules(src)
    found: list[Import] = []
    for source, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import module` imports the module; `from module import name`
                # imports the module.
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module
                    for alias in node.names
                ]
            for target in targets:
                if target.split(".")[0] in PROJECT_PACKAGES and target != source:
                    found.append(Import(source, target, getattr(node, "lineno", 0)))
    return found


def unit_of(module: str, units: Iterable[str]) -> str | None:
    """The longest unit (a dotted package or module name) that ``module`` belongs to."""
    best = None
    for unit in units:
        if (module == unit or module.startswith(unit + ".")) and (
            best is None or len(unit) > len(best)
        ):
            best = unit
    return best


def unit_edges(found: Iterable[Import], units: Iterable[str]) -> dict[str, set[str]]:
    """unit -> the other units it imports."""
    units = list(units)
    edges: dict[str, set[str]] = {unit: set() for unit in units}
    for item in found:
        source, target = unit_of(item.source, units), unit_of(item.target, units)
        if source is None or target is None:
            raise AssertionError(f"{item.source} or {item.target} belongs to no unit")
        if source != target:
            edges[source].add(target)
    return edges


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (empty when the graph has none)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found

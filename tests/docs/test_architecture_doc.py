"""docs/architecture.md says which unit imports which; the code is held to it, both ways.

GIVEN every import in src/ (read with ast: lazy and type-checking imports count), THEN the
picture's arrows and the table's "imports" column are exactly the imports between units, no
circle runs between units or between modules, every rehearsal unit's ``May import:`` line
agrees with the table, and no module is longer than the layout allows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from doc_support import ROOT, read, section, table_rows
from import_graph import cycles, imports, project_modules, unit_edges

SRC = ROOT / "src"
DOC = "docs/architecture.md"
LONG = 500  # past this, a module says at its top why it is long
TOO_LONG = 800


def documented_units() -> dict[str, set[str]]:
    rows = table_rows(section(read(DOC), "## The units"))
    assert rows[0] == ["unit", "what it is", "imports"]
    return {row[0].strip("`"): set(re.findall(r"`([\w.]+)`", row[2])) for row in rows[1:]}


def pictured_edges() -> dict[str, set[str]]:
    block = re.search(r"```mermaid\n(.*?)```", read(DOC), re.S)
    assert block is not None, "the picture is a mermaid block"
    edges: dict[str, set[str]] = {}
    for source, target in re.findall(r"^\s*([\w.]+) --> ([\w.]+)\s*$", block.group(1), re.M):
        edges.setdefault(source, set()).add(target)
    return edges


@pytest.fixture(scope="module")
def actual() -> dict[str, set[str]]:
    units = [*documented_units(), "fleetwise_rehearsal"]
    edges = unit_edges(imports(SRC), units)
    # The rehearsal package's own __init__ holds a docstring only.
    assert edges.pop("fleetwise_rehearsal") == set()
    return edges


def test_every_module_belongs_to_a_documented_unit() -> None:
    units = documented_units()
    for module in project_modules(SRC):
        if module in ("fleetwise_rehearsal",):
            continue
        assert any(module == u or module.startswith(u + ".") for u in units), module


def test_the_table_lists_exactly_the_imports_between_units(actual: dict[str, set[str]]) -> None:
    assert documented_units() == actual


def test_the_picture_draws_exactly_the_imports_between_units(actual: dict[str, set[str]]) -> None:
    assert pictured_edges() == {unit: targets for unit, targets in actual.items() if targets}


def test_no_circle_between_units_or_modules(actual: dict[str, set[str]]) -> None:
    assert cycles(actual) == []
    by_module: dict[str, set[str]] = {}
    for item in imports(SRC):
        by_module.setdefault(item.source, set()).add(item.target)
    assert cycles(by_module) == []


def _may_import(docstring: str) -> set[str]:
    match = re.search(r"May import: (.*?)(?:\.\s|\.$)", docstring, re.S)
    assert match is not None, "no 'May import:' line"
    return set(re.findall(r"``([\w.]+)``", match.group(1)))


def _collapsed(units: set[str]) -> set[str]:
    return {"fleetwise_reconciler" if u.startswith("fleetwise_reconciler") else u for u in units}


@pytest.mark.parametrize(
    "unit",
    [u for u in documented_units() if u.startswith("fleetwise_rehearsal.")],
)
def test_each_rehearsal_unit_says_what_it_may_import(unit: str) -> None:
    base = SRC / Path(*unit.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert _may_import(docstring) == _collapsed(documented_units()[unit])


def test_the_rehearsal_top_level_holds_few_modules() -> None:
    top = sorted(p.name for p in (SRC / "fleetwise_rehearsal").glob("*.py"))
    assert top == ["__init__.py", "cli.py", "invariants.py"]


@pytest.mark.parametrize("module", sorted(project_modules(SRC)))
def test_no_module_is_too_long(module: str) -> None:
    path = project_modules(SRC)[module]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= TOO_LONG, f"{path.relative_to(ROOT)}: {lines} lines"
    if lines > LONG:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert "Why one module:" in docstring, (
            f"{path.relative_to(ROOT)} has {lines} lines: say at its top why it is one module"
        )

"""The parameters as the documents give them: docs/parameters.md is generated from template.yaml
(and must be regenerated when a parameter changes), and every row of the README's table of the
main parameters names real parameters with their real defaults."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

from doc_support import ROOT, read, section, table_rows


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts" / "docs_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docs_reference = load_generator()


def readme_parameter_rows() -> list[list[str]]:
    rows = table_rows(section(read("README.md"), "## Deploy"))
    assert rows[0] == ["parameter", "default", "meaning"]
    return rows[1:]


def documented_default(text: str) -> str:
    """A README default cell's value as CloudFormation takes it: "empty" (with or without a
    note in brackets) is the empty string, code spans are their text."""
    value = text.strip().strip("`")
    return "" if value == "empty" or value.startswith("empty (") else value


def test_the_parameter_reference_is_generated_from_the_template(template: dict[str, Any]) -> None:
    assert read("docs/parameters.md") == docs_reference.parameters_markdown(template), (
        "docs/parameters.md is stale: run `make docs`"
    )


def test_the_reference_lists_every_parameter_once(template: dict[str, Any]) -> None:
    rows = table_rows(read("docs/parameters.md"))
    named = [row[0].strip("`") for row in rows if row[0] != "parameter" and row[0] != "---"]
    assert sorted(named) == sorted(template["Parameters"])


def test_every_readme_row_names_parameters_with_their_defaults(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    rows = readme_parameter_rows()
    assert rows
    for names_cell, defaults_cell, meaning in rows:
        names = [name.strip().strip("`") for name in names_cell.split(",")]
        defaults = [documented_default(value) for value in defaults_cell.split(", ")]
        assert len(defaults) == len(names), names_cell
        for name, documented in zip(names, defaults, strict=True):
            assert name in parameters, f"README names {name}, which template.yaml lacks"
            assert documented == str(parameters[name]["Default"]), (
                f"README gives {name} the default {documented!r}; template.yaml: "
                f"{parameters[name]['Default']!r}"
            )
        assert meaning


def test_the_readme_links_the_reference() -> None:
    assert "[docs/parameters.md](docs/parameters.md)" in section(read("README.md"), "## Deploy")

"""`make docs`: the documentation generated from the template, so it cannot drift from it.

- docs/parameters.md: every template parameter, grouped as the template's
  AWS::CloudFormation::Interface groups them, with its default, allowed values and description.

Usage: python scripts/docs_reference.py [--check]

Writes the files; with --check writes nothing and exits 1 when one is stale (the tests under
tests/docs/ make the same comparison).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fleetwise_rehearsal.template import load_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
GENERATED = "<!-- Generated from template.yaml by `make docs`: edit the template, not this. -->"


def _cell(text: str) -> str:
    """One Markdown table cell: one line, pipes escaped (also inside code spans)."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def _default(spec: Mapping[str, Any]) -> str:
    if "Default" not in spec:
        return "(required)"
    value = spec["Default"]
    return "(empty)" if value in ("", None) else f"`{value}`"


def _allowed(spec: Mapping[str, Any]) -> str:
    if "AllowedValues" in spec:
        return ", ".join(f"`{value}`" for value in spec["AllowedValues"])
    if "MinValue" in spec or "MaxValue" in spec:
        return f"{spec.get('MinValue', '')} to {spec.get('MaxValue', '')}".strip()
    if "AllowedPattern" in spec:
        return f"`{spec['AllowedPattern']}`"
    if spec.get("Type") == "CommaDelimitedList":
        return "comma-separated list"
    return "any"


def parameters_markdown(template: Mapping[str, Any]) -> str:
    """docs/parameters.md: every parameter, in the template's groups and order."""
    parameters: Mapping[str, Mapping[str, Any]] = template["Parameters"]
    interface = (template.get("Metadata") or {}).get("AWS::CloudFormation::Interface") or {}
    groups = [
        (str(group["Label"]["default"]), list(group["Parameters"]))
        for group in interface.get("ParameterGroups") or []
    ]
    grouped = {name for _, names in groups for name in names}
    rest = [name for name in parameters if name not in grouped]
    if rest:
        groups.append(("Other", rest))
    lines = [
        "# Template parameters",
        "",
        GENERATED,
        "",
        "Every parameter of `template.yaml`, as `sam deploy --guided` asks for them. Set them with",
        "`sam deploy --parameter-overrides Name=Value ...` or in `samconfig.toml` (the `prod`",
        "environment overrides several: see its `parameter_overrides`).",
    ]
    for label, names in groups:
        lines += ["", f"## {label}", "", "| parameter | default | allowed | description |"]
        lines.append("|---|---|---|---|")
        for name in names:
            spec = parameters[name]
            lines.append(
                f"| `{name}` | {_cell(_default(spec))} | {_cell(_allowed(spec))} | "
                f"{_cell(str(spec.get('Description', '')))} |"
            )
    return "\n".join(lines) + "\n"


def generated_files() -> dict[Path, Callable[[], str]]:
    """Each generated file and how to produce its text."""
    return {
        ROOT / "docs" / "parameters.md": lambda: parameters_markdown(load_template(TEMPLATE)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, produce in generated_files().items():
        text = produce()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT).as_posix()}")
    if stale:
        print(f"stale (run `make docs`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

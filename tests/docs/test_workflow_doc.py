"""docs/workflow.md names tests, scenarios and states: each must exist, so the invariants
table cannot point at something renamed or removed."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "workflow.md").read_text(encoding="utf-8")
INVARIANTS = DOC[DOC.index("## The invariants") :]


def test_every_scenario_the_invariants_table_names_is_shipped() -> None:
    named = set(re.findall(r"`(?:scenarios/invariants/)?(\d+-[a-z0-9-]+\.yaml)`", INVARIANTS))
    shipped = {p.name for p in (ROOT / "scenarios" / "invariants").glob("*.yaml")}
    assert named
    assert named <= shipped
    # and every regression scenario is named somewhere in the table
    assert shipped <= named


def test_every_test_path_the_table_names_exists() -> None:
    paths = set(re.findall(r"`(tests/[\w/*.]+)`", INVARIANTS))
    assert paths
    for path in paths:
        assert list(ROOT.glob(path)), path


def test_every_e2e_invariant_test_the_table_names_exists() -> None:
    source = (ROOT / "tests/e2e/test_invariants.py").read_text(encoding="utf-8")
    tests = re.findall(r"^def (test_\w+)", source, re.M)
    patterns = set(re.findall(r"e2e `(test_\d+_[\w*]+)`", INVARIANTS))
    assert patterns
    for pattern in patterns:
        assert fnmatch.filter(tests, pattern), pattern


def test_every_state_of_the_definition_is_in_the_states_table() -> None:
    text = (ROOT / "statemachine" / "reconcile.asl.json").read_text(encoding="utf-8")
    states = json.loads(re.sub(r"\$\{\w+\}", "1", text))["States"]
    table = DOC[DOC.index("## States") : DOC.index("## Payloads")]
    listed = set(re.findall(r"`(\w+)`", table))
    assert set(states) <= listed


def _definition() -> dict[str, Any]:
    text = (ROOT / "statemachine" / "reconcile.asl.json").read_text(encoding="utf-8")
    return dict(json.loads(re.sub(r"\$\{\w+\}", "1", text)))


def _names(braces: str) -> set[str]:
    """``{a, b: bool, c}`` -> {"a", "b", "c"}."""
    return {re.sub(r":.*", "", part).strip() for part in braces.strip("{}").split(",")}


def test_each_task_payload_line_is_what_the_definition_sends_and_selects() -> None:
    payloads = re.sub(r"\s+", " ", DOC[DOC.index("## Payloads") : DOC.index("## The drift check")])
    states = _definition()["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    for name, state in tasks.items():
        line = re.search(rf"- {name} in `(\{{[^`]*\}})`[^→]* → `(\{{[^`]*\}})`", payloads)
        assert line is not None, f"docs/workflow.md has no payload line for {name}"
        sent = {key.removesuffix(".$") for key in state["Parameters"]["Payload"]}
        selected = {key.removesuffix(".$") for key in state.get("ResultSelector", {})}
        assert _names(line.group(1)) == sent, name
        assert _names(line.group(2)) == selected, name


def test_the_execution_input_is_what_init_reads_and_the_triggers_are_the_codes() -> None:
    block = DOC[DOC.index("## Execution input") : DOC.index("## States")]
    example = json.loads(re.search(r"```json\n(.*?)\n```", block, re.S).group(1))  # type: ignore[union-attr]
    init = _definition()["States"]["Init"]["Parameters"]
    read_from_input = {
        key.removesuffix(".$")
        for key, value in init.items()
        if isinstance(value, str) and value.startswith("$.")
    }
    assert set(example) == read_from_input
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (ROOT / "src" / "fleetwise_reconciler" / "handlers").glob("*.py")
    )
    produced = set(re.findall(r'trigger="(\w+)"', source))
    assert set(example["trigger"].split("|")) == produced

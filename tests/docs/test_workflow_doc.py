"""docs/workflow.md names tests, scenarios and states: each must exist, so the invariants
table cannot point at something renamed or removed."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

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

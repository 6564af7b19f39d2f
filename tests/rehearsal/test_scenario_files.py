"""Every scenario shipped in scenarios/ runs on today's stack and its expectations hold: the
operator examples at the top, and in scenarios/invariants/ the regression scenarios of the
invariants (each checks the running invariants after every step, and each failed on the
product before the fix it guards)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwise_rehearsal.scenarios.format import Scenario
from fleetwise_rehearsal.scenarios.runner import run_scenario

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(p for p in SCENARIOS.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
REGRESSIONS = SCENARIOS / "invariants"


def test_the_operator_examples_are_there() -> None:
    assert {p.name for p in FILES} >= {
        "registration.yaml",
        "throttling-storm.yaml",
        "aborted-run.yaml",
        "pause.yaml",
    }


def test_each_invariant_regression_checks_the_invariants_at_every_step() -> None:
    regressions = [p for p in FILES if p.parent == REGRESSIONS]
    # one file at least per violation the invariants issue found (1 to 8), then what the
    # generated interleavings found since (9 on)
    found = {int(p.name.split("-", 1)[0]) for p in regressions}
    assert found >= set(range(1, 9))
    assert found == set(range(1, max(found) + 1))
    for path in regressions:
        expectations = Scenario.from_file(path).expectations
        assert expectations is not None and expectations.invariants, path.name


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SCENARIOS)) for p in FILES])
def test_scenario_holds(path: Path) -> None:
    scenario = Scenario.from_file(path)
    assert scenario.expectations is not None, f"{path.name} checks nothing"
    result = run_scenario(scenario)
    assert result.failures == []
    assert result.skipped == []


def test_the_readme_example_is_the_shipped_aborted_run() -> None:
    readme = (SCENARIOS.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Scenarios") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    example = section[start : section.index("```", start)]
    assert example == (SCENARIOS / "aborted-run.yaml").read_text(encoding="utf-8")

"""MaxRegistrationAttempts: the bound on RegisterAccount is stated once, the same way, in the
template's parameter description (and so docs/parameters.md, generated from it), the README's
parameter table, docs/workflow.md and the runbook; and a rehearsed stack does it.

The bound: every call that reaches IoT FleetWise counts, whatever it answered and however it
was retried; per spec version, until Registered, at most MaxRegistrationAttempts that may have
acted and as many refused without acting; past either, Failed, alarmed and quiet until the
item or its reconcileToken changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from doc_support import TARGET, flat, read, section, table_rows

from fleetwise_rehearsal.fleetwise import Outcome
from fleetwise_rehearsal.rehearsal import Rehearsal

# What the statement must say, each fact in words any reader can check.
FACTS = (
    "Every RegisterAccount call that reaches IoT FleetWise counts",
    "whatever it answered and however it was retried",
    "per spec version, until it is Registered",
    "at most MaxRegistrationAttempts calls that may have acted",
    "at most as many refused without acting",
    "Past either bound the target is Failed",
    "alarmed",
    "RegisterAccount is not called again until the item or its reconcileToken changes",
    "both counts restart at 0 once Registered",
)


def default_attempts(template: dict[str, Any]) -> int:
    return int(template["Parameters"]["MaxRegistrationAttempts"]["Default"])


def the_statement(template: dict[str, Any]) -> str:
    """The bound as the template's parameter description states it."""
    return flat(template["Parameters"]["MaxRegistrationAttempts"]["Description"])


def the_texts() -> dict[str, str]:
    readme_row = next(
        row for row in table_rows(read("README.md")) if row[0] == "`MaxRegistrationAttempts`"
    )
    parameters_row = next(
        row
        for row in table_rows(read("docs/parameters.md"))
        if row[0] == "`MaxRegistrationAttempts`"
    )
    return {
        "README.md": flat(" | ".join(readme_row)),
        "docs/parameters.md": flat(" | ".join(parameters_row)),
        "docs/workflow.md": flat(section(read("docs/workflow.md"), "### The attempts bound")),
        "docs/runbook.md": flat(read("docs/runbook.md")),
    }


def test_the_statement_says_every_fact(template: dict[str, Any]) -> None:
    statement = the_statement(template)
    for fact in FACTS:
        assert fact in statement, f"the MaxRegistrationAttempts description does not say {fact!r}"
    n = default_attempts(template)
    assert f"{n} allows {n - 1} re-registrations" in statement


@pytest.mark.parametrize(
    "where", ["README.md", "docs/parameters.md", "docs/workflow.md", "docs/runbook.md"]
)
def test_every_text_states_the_bound_the_same_way(template: dict[str, Any], where: str) -> None:
    assert the_statement(template) in the_texts()[where], (
        f"{where} does not state the bound as the template's description does"
    )


def test_the_readme_row_gives_the_default(template: dict[str, Any]) -> None:
    readme_row = next(
        row for row in table_rows(read("README.md")) if row[0] == "`MaxRegistrationAttempts`"
    )
    assert readme_row[1] == str(default_attempts(template))
    assert f"`MaxRegistrationAttempts` (default {default_attempts(template)})" in flat(
        read("docs/runbook.md")
    )


@pytest.mark.e2e
def test_the_budget_counts_the_first_call_and_restarts_for_a_new_version(
    rehearse: Callable[..., Rehearsal], template: dict[str, Any]
) -> None:
    # GIVEN the template's default budget, and IoT FleetWise failing one call more than that
    n = default_attempts(template)
    r = rehearse()
    assert r.sim is not None
    r.sim.script_registrations([Outcome(pending_seconds=60, result="FAILURE")] * (n + 1))

    # WHEN the operator writes the spec item
    r.write_spec({"target": TARGET})
    r.settle()

    # THEN n calls are made, the first included, and the target is Failed with the count n
    status = r.status() or {}
    assert r.fleetwise_calls().get("RegisterAccount") == n
    assert (status["phase"], status["reason"]) == ("Failed", "RegistrationFailed")
    assert status["attempts"] == {"specHash": status["specHash"], "count": n, "refused": 0}

    # WHEN the drift schedule fires, nothing is tried again for this version
    r.tick()
    r.settle()
    assert r.fleetwise_calls().get("RegisterAccount") == n

    # WHEN a new reconcileToken makes a new version: its first call fails (the last scripted
    # failure), the next one succeeds, and the count restarts at 0 once Registered
    r.update_spec(TARGET, reconcileToken="after-the-fix")
    r.settle()
    status = r.status() or {}
    assert r.fleetwise_calls().get("RegisterAccount") == n + 2
    assert status["phase"] == "Registered"
    assert status["attempts"] == {"specHash": status["specHash"], "count": 0, "refused": 0}

"""MaxRegistrationAttempts: the template's description, the README's parameter table and the
runbook say one thing, and a rehearsed stack does it.

What they say: the setting bounds RegisterAccount calls per spec version until it is
Registered, the first call included, whatever IoT FleetWise answered (a setting of N allows
N - 1 re-registrations), and the count restarts at 0 once the target is Registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from doc_support import TARGET, flat, read, table_rows

from fleetwise_rehearsal.fleetwise import Outcome
from fleetwise_rehearsal.rehearsal import Rehearsal

# Each fact, as every one of the three texts must state it (whitespace aside).
FACTS = {
    "every call of a version until Registered, the first included": re.compile(
        r"RegisterAccount calls per spec version until it is Registered, the first call included"
    ),
    "whatever the service answered": re.compile(r"whatever IoT FleetWise answered"),
    "the count restarts once Registered": re.compile(
        r"restarts at 0 once (the target is )?Registered"
    ),
}


def default_attempts(template: dict[str, Any]) -> int:
    return int(template["Parameters"]["MaxRegistrationAttempts"]["Default"])


def the_three_texts(template: dict[str, Any]) -> dict[str, str]:
    readme_row = next(
        row for row in table_rows(read("README.md")) if row[0] == "`MaxRegistrationAttempts`"
    )
    runbook = flat(read("docs/runbook.md"))
    paragraph = runbook[runbook.index("`MaxRegistrationAttempts` (default") :]
    return {
        "template.yaml": flat(template["Parameters"]["MaxRegistrationAttempts"]["Description"]),
        "README.md": flat(" | ".join(readme_row)),
        "docs/runbook.md": paragraph[: paragraph.index("Do:")],
    }


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_the_description_the_readme_and_the_runbook_state_each_fact(
    template: dict[str, Any], fact: str
) -> None:
    for where, text in the_three_texts(template).items():
        assert FACTS[fact].search(text), f"{where} does not say: {fact}"


def test_each_text_gives_the_default_and_its_re_registrations(template: dict[str, Any]) -> None:
    n = default_attempts(template)
    example = f"{n} allows {n - 1} re-registrations"
    for where, text in the_three_texts(template).items():
        assert example in text, f"{where} does not say {example!r}"
    readme_row = next(
        row for row in table_rows(read("README.md")) if row[0] == "`MaxRegistrationAttempts`"
    )
    assert readme_row[1] == str(n)
    assert f"`MaxRegistrationAttempts` (default {n})" in flat(read("docs/runbook.md"))


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
    assert status["attempts"] == {"specHash": status["specHash"], "count": n}

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
    assert status["attempts"] == {"specHash": status["specHash"], "count": 0}

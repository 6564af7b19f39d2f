"""The one state of each target, which states are trouble, and what a target reports when.

``fleet_state`` puts a target in the first state that applies; ``watch`` says what the drift
check reports for it on a tick and what it remembers; ``recorded_change`` says what the Record
step reports for a status it writes. Together they decide every per-target alarm's state
(docs/runbook.md, "The alarm model")."""

from __future__ import annotations

from typing import Any

import pytest

from fleetwise_reconciler.logic.health import (
    TROUBLE,
    WATCHED,
    FleetState,
    Graces,
    Watch,
    fleet_state,
    recorded_change,
    recorded_trouble,
    watch,
)
from fleetwise_reconciler.logic.plan import Phase

NONE: dict[str, Any] = {
    "invalid": False,
    "recorded": None,
    "unobserved": False,
    "healthy": False,
    "paused": False,
    "drift_detected": False,
    "acting": False,
}
GRACES = Graces(unhealthy=3600, drift=5400)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"healthy": True}, FleetState.HEALTHY),
        ({"healthy": True, "paused": True}, FleetState.PAUSED),
        ({}, FleetState.RECONCILING),
        # A drift being repaired is a registration under way; one nothing repairs is Drifted.
        ({"drift_detected": True, "acting": True}, FleetState.RECONCILING),
        ({"drift_detected": True}, FleetState.DRIFTED),
        ({"drift_detected": True, "paused": True}, FleetState.DRIFTED),
        ({"unobserved": True}, FleetState.UNOBSERVED),
        # What the status records for the current version outranks what cannot be observed.
        ({"unobserved": True, "recorded": Phase.FAILED}, FleetState.FAILED),
        ({"unobserved": True, "recorded": Phase.BLOCKED}, FleetState.BLOCKED),
        ({"healthy": True, "recorded": Phase.FAILED}, FleetState.FAILED),
        ({"recorded": Phase.DRIFTED, "drift_detected": True}, FleetState.DRIFTED),
        # An invalid item is Invalid whatever else is true of it.
        ({"invalid": True, "recorded": Phase.FAILED, "unobserved": True}, FleetState.INVALID),
    ],
)
def test_the_first_state_that_applies(facts: dict[str, Any], expected: FleetState) -> None:
    assert fleet_state(**{**NONE, **facts}) is expected


def test_the_states_are_the_dimension_values_the_dashboard_and_docs_name() -> None:
    assert [str(s) for s in FleetState] == [
        "Healthy",
        "Paused",
        "Reconciling",
        "Drifted",
        "Unobserved",
        "Blocked",
        "Failed",
        "Invalid",
    ]


def test_every_state_but_the_settled_ones_is_trouble_with_one_alarm_each() -> None:
    assert set(FleetState) - set(TROUBLE) == {FleetState.HEALTHY, FleetState.PAUSED}
    alarms = [t.alarm for t in TROUBLE.values()]
    assert len(alarms) == len(set(alarms))
    assert frozenset(TROUBLE) == WATCHED


def test_a_trouble_without_grace_is_reported_at_once_and_on_every_tick() -> None:
    # GIVEN a target seen Failed for the first time
    first = watch(FleetState.FAILED, None, 1000.0, GRACES)
    # THEN it is reported (1) and remembered as reported since now
    assert first.values == {FleetState.FAILED: 1}
    assert first.memory == Watch(FleetState.FAILED, 1000.0, True)
    # AND the next tick reports it again and keeps the same memory (no write)
    second = watch(FleetState.FAILED, first.memory, 1900.0, GRACES)
    assert second.values == {FleetState.FAILED: 1}
    assert second.memory == first.memory
    assert not second.changed(first.memory)


def test_a_graced_state_is_remembered_silently_until_its_grace_has_passed() -> None:
    first = watch(FleetState.DRIFTED, None, 0.0, GRACES)
    assert first.values == {}
    assert first.memory == Watch(FleetState.DRIFTED, 0.0, False)
    within = watch(FleetState.DRIFTED, first.memory, 5399.0, GRACES)
    assert (within.values, within.changed(first.memory)) == ({}, False)
    past = watch(FleetState.DRIFTED, within.memory, 5400.0, GRACES)
    assert past.values == {FleetState.DRIFTED: 1}
    assert past.memory == Watch(FleetState.DRIFTED, 0.0, True)
    assert past.changed(within.memory)


def test_a_reported_trouble_is_cleared_once_when_it_stops() -> None:
    reported = Watch(FleetState.INVALID, 0.0, True)
    healthy = watch(FleetState.HEALTHY, reported, 60.0, GRACES)
    assert healthy.values == {FleetState.INVALID: 0}
    assert healthy.memory is None
    # AND a settled target with no memory reports nothing
    assert watch(FleetState.HEALTHY, None, 120.0, GRACES).values == {}
    assert watch(FleetState.PAUSED, None, 120.0, GRACES).values == {}


def test_a_trouble_that_turns_into_another_clears_the_first_and_reports_the_second() -> None:
    reported = Watch(FleetState.UNOBSERVED, 0.0, True)
    failed = watch(FleetState.FAILED, reported, 60.0, GRACES)
    assert failed.values == {FleetState.UNOBSERVED: 0, FleetState.FAILED: 1}
    assert failed.memory == Watch(FleetState.FAILED, 60.0, True)
    # AND one that turns into a graced state clears the first and starts the grace
    reconciling = watch(FleetState.RECONCILING, failed.memory, 120.0, GRACES)
    assert reconciling.values == {FleetState.FAILED: 0}
    assert reconciling.memory == Watch(FleetState.RECONCILING, 120.0, False)


def test_a_graced_state_never_reported_leaves_nothing_to_clear() -> None:
    silent = Watch(FleetState.RECONCILING, 0.0, False)
    done = watch(FleetState.HEALTHY, silent, 600.0, GRACES)
    assert (done.values, done.memory) == ({}, None)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, Phase.FAILED, {FleetState.FAILED: 1}),
        (Phase.REGISTERED, Phase.INVALID, {FleetState.INVALID: 1}),
        (Phase.FAILED, Phase.REGISTERED, {FleetState.FAILED: 0}),
        (Phase.FAILED, Phase.FAILED, {FleetState.FAILED: 1}),
        (Phase.BLOCKED, Phase.FAILED, {FleetState.BLOCKED: 0, FleetState.FAILED: 1}),
        (Phase.INVALID, Phase.UNMANAGED, {FleetState.INVALID: 0}),
        # Phases that are no trouble at once report nothing (the drift check's grace decides)
        (Phase.REGISTERED, Phase.DRIFTED, {}),
        (Phase.REGISTERING, Phase.PAUSED, {}),
        ("SomethingNewer", Phase.REGISTERED, {}),
    ],
)
def test_what_the_record_step_reports_for_a_status_it_writes(
    before: str | None, after: str, expected: dict[FleetState, float]
) -> None:
    assert recorded_change(before, after) == expected


def test_only_failed_blocked_and_invalid_are_trouble_the_moment_they_are_recorded() -> None:
    assert {p for p in Phase if recorded_trouble(p) is not None} == {
        Phase.FAILED,
        Phase.BLOCKED,
        Phase.INVALID,
    }
    assert recorded_trouble(None) is None


def test_graces_name_the_state_they_delay() -> None:
    assert GRACES.of(FleetState.RECONCILING) == 3600
    assert GRACES.of(FleetState.DRIFTED) == 5400
    assert GRACES.of(FleetState.FAILED) == 0
    assert GRACES.of(FleetState.HEALTHY) == 0

"""How a drift tick counts a target in the fleet: the first state that applies."""

from __future__ import annotations

import pytest

from fleetwise_reconciler.logic.health import FleetState, fleet_state


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"healthy": True}, FleetState.HEALTHY),
        ({}, FleetState.FAILING),
        ({"drift_detected": True}, FleetState.DRIFTED),
        # A paused target is counted paused, drifted or not, healthy or not.
        ({"paused": True, "healthy": True}, FleetState.PAUSED),
        ({"paused": True, "drift_detected": True}, FleetState.PAUSED),
        # An invalid one is invalid whatever else is true of it.
        ({"invalid": True, "paused": True, "drift_detected": True}, FleetState.INVALID),
    ],
)
def test_the_first_state_that_applies(flags: dict[str, bool], expected: FleetState) -> None:
    arguments = {"healthy": False, "invalid": False, "paused": False, "drift_detected": False}
    assert fleet_state(**{**arguments, **flags}) is expected


def test_the_states_are_the_dimension_values_the_dashboard_and_docs_name() -> None:
    assert [str(s) for s in FleetState] == [
        "Healthy",
        "Failing",
        "Drifted",
        "Paused",
        "Invalid",
        "Unobserved",
    ]

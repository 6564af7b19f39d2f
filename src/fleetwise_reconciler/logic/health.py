"""How a drift tick counts the fleet, and which targets report a health series of their own.

A CloudWatch custom metric series is billed for every hour it receives data, so a gauge per
target on every tick would cost every target a series for the whole month, healthy or not. A
target reports its own ``RegistrationHealthy`` (0) only while it is unhealthy; the fleet as a
whole is counted on every tick, one ``Targets`` series per ``FleetState``. The alarms on
Metrics Insights queries see each unhealthy target as a contributor; once it reports nothing
(healthy again), its periods are missing data, which those alarms treat as not breaching, so
the contributor returns to OK.
"""

from __future__ import annotations

from enum import StrEnum


class FleetState(StrEnum):
    """What a drift tick counts each target as (the ``state`` dimension of ``Targets``)."""

    HEALTHY = "Healthy"
    FAILING = "Failing"
    DRIFTED = "Drifted"
    PAUSED = "Paused"
    INVALID = "Invalid"
    UNOBSERVED = "Unobserved"


def fleet_state(*, healthy: bool, invalid: bool, paused: bool, drift_detected: bool) -> FleetState:
    """The one state a drift tick counts a target as: the first that applies of invalid,
    paused, drifted, healthy, and failing otherwise (not registered as declared: a failure, a
    block, a registration under way or not yet made)."""
    if invalid:
        return FleetState.INVALID
    if paused:
        return FleetState.PAUSED
    if drift_detected:
        return FleetState.DRIFTED
    if healthy:
        return FleetState.HEALTHY
    return FleetState.FAILING

"""The one state each target is in, which of them are trouble, and what a target reports.

Every drift tick puts each target in exactly one ``FleetState`` (the first that applies, in the
order of ``fleet_state``) and counts the fleet by state (``Targets``), so the counts add up to
the fleet. The states in ``TROUBLE`` are the ones an operator is paged for: each is watched by
one per-target alarm (a Metrics Insights query on ``TargetInTrouble`` grouped by target, in
template.yaml), after a grace for the two that a working reconciler passes through on its own
(a registration under way, a drift about to be reported). A new kind of trouble plugs in with
one ``FleetState`` and one line of ``TROUBLE``, plus its alarm in the template (a contract test
holds the two together).

A CloudWatch custom metric series is billed for every hour it receives data, so a target
reports ``TargetInTrouble`` (1, under its ``state``) only while it is in trouble, and once (0)
when it stops being: a healthy fleet keeps no per-target series. The 0 is what turns the
target's contributor OK: the alarms take each period's minimum, and CloudWatch evaluates the
most recent datapoints it has (docs/runbook.md, "The alarm model"), so without it the last 1
would keep the contributor in ALARM long after the trouble is gone. Knowing that a target was
reported takes memory across ticks: the drift check keeps a ``Watch`` per target that is not
healthy (``watch`` says what to report and what to remember); the Record step, which reports
the outcome it records at once, knows the previous one from the status (``recorded_change``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fleetwise_reconciler.logic.plan import Phase


class FleetState(StrEnum):
    """What a drift tick counts each target as (the ``state`` dimension of ``Targets`` and of
    ``TargetInTrouble``). docs/runbook.md defines each."""

    HEALTHY = "Healthy"
    PAUSED = "Paused"
    RECONCILING = "Reconciling"
    DRIFTED = "Drifted"
    UNOBSERVED = "Unobserved"
    BLOCKED = "Blocked"
    FAILED = "Failed"
    INVALID = "Invalid"


class Grace(StrEnum):
    """Which setting says how long a state may last before it is trouble."""

    UNHEALTHY = "unhealthy"
    DRIFT = "drift"


@dataclass(frozen=True)
class Trouble:
    """How one trouble state is alarmed: the template alarm whose query selects it, and the
    grace before it is reported (None: at once)."""

    alarm: str
    grace: Grace | None = None


# The states a target is in trouble in, each with the alarm that names it.
TROUBLE: dict[FleetState, Trouble] = {
    FleetState.INVALID: Trouble("InvalidSpecAlarm"),
    FleetState.FAILED: Trouble("RegistrationFailedAlarm"),
    FleetState.BLOCKED: Trouble("RegistrationBlockedAlarm"),
    FleetState.UNOBSERVED: Trouble("TargetUnobservedAlarm"),
    FleetState.DRIFTED: Trouble("DriftPersistsAlarm", Grace.DRIFT),
    FleetState.RECONCILING: Trouble("RegistrationUnhealthyAlarm", Grace.UNHEALTHY),
}
# The states the drift check remembers a target in (everything but a settled target).
WATCHED = frozenset(TROUBLE)
# The status phases a run records that are trouble at once (the Record step reports them).
_RECORDED_TROUBLE = {
    Phase.FAILED: FleetState.FAILED,
    Phase.BLOCKED: FleetState.BLOCKED,
    Phase.INVALID: FleetState.INVALID,
}


def fleet_state(
    *,
    invalid: bool,
    recorded: Phase | None,
    unobserved: bool,
    healthy: bool,
    paused: bool,
    drift_detected: bool,
    acting: bool,
) -> FleetState:
    """The one state a drift tick counts a target as: the first that applies of

    - ``Invalid``: the spec item fails validation;
    - ``Failed`` / ``Blocked``: the status records that for the item's current version
      (``recorded``), whether or not the target can be observed now;
    - ``Unobserved``: the drift check could not observe it (access denied, throttling, the
      member role, STS);
    - ``Paused`` / ``Healthy``: registered as declared (a paused target without drift);
    - ``Drifted``: IoT FleetWise differs from a reconciled spec and nothing will repair it
      (observe-only, or paused);
    - ``Reconciling``: anything else not registered as declared: a registration under way or
      about to start, a drift being repaired, a status not yet written for this version.
    """
    if invalid:
        return FleetState.INVALID
    if recorded == Phase.FAILED:
        return FleetState.FAILED
    if recorded == Phase.BLOCKED:
        return FleetState.BLOCKED
    if unobserved:
        return FleetState.UNOBSERVED
    if healthy:
        return FleetState.PAUSED if paused else FleetState.HEALTHY
    if drift_detected and not acting:
        return FleetState.DRIFTED
    return FleetState.RECONCILING


@dataclass(frozen=True)
class Graces:
    """Seconds each graced state may last before it is trouble."""

    unhealthy: float
    drift: float

    def of(self, state: FleetState) -> float:
        trouble = TROUBLE.get(state)
        if trouble is None or trouble.grace is None:
            return 0.0
        return self.unhealthy if trouble.grace == Grace.UNHEALTHY else self.drift


@dataclass(frozen=True)
class Watch:
    """The drift check's memory of a target that is not settled: its state, since when the
    drift check has seen it in that state (epoch seconds), and whether it reported it."""

    state: FleetState
    since: float
    reported: bool


@dataclass(frozen=True)
class Report:
    """What one tick reports for a target (``TargetInTrouble`` value per state) and the
    memory to keep (None: none)."""

    values: dict[FleetState, float]
    memory: Watch | None

    def changed(self, before: Watch | None) -> bool:
        return self.memory != before


def watch(state: FleetState, memory: Watch | None, now: float, graces: Graces) -> Report:
    """What to report for a target in ``state`` at ``now``, given what was remembered of it.

    A trouble state is reported (1) on every tick once its grace has passed since the drift
    check first saw it; the state reported before is cleared (0) once, on the first tick it
    no longer applies."""
    since = memory.since if memory is not None and memory.state == state else now
    now_reported = state if state in TROUBLE and now - since >= graces.of(state) else None
    before = memory.state if memory is not None and memory.reported else None
    values: dict[FleetState, float] = {}
    if before is not None and before != now_reported:
        values[before] = 0
    if now_reported is not None:
        values[now_reported] = 1
    kept = Watch(state, since, now_reported is not None) if state in WATCHED else None
    return Report(values, kept)


def recorded_trouble(phase: str | None) -> FleetState | None:
    """The trouble a recorded phase is at once, if any (``Failed``, ``Blocked``, ``Invalid``)."""
    return _RECORDED_TROUBLE.get(Phase(phase)) if phase in set(Phase) else None


def recorded_change(before: str | None, after: str | None) -> dict[FleetState, float]:
    """What the Record step reports when the status goes from phase ``before`` to ``after``:
    the new phase's trouble (1), and the old one's cleared (0) when it is another."""
    old, new = recorded_trouble(before), recorded_trouble(after)
    values: dict[FleetState, float] = {}
    if old is not None and old != new:
        values[old] = 0
    if new is not None:
        values[new] = 1
    return values

"""Drift end to end: the template's schedule invokes the real drift check, which starts the real
workflow, against the FleetWise simulator changed out of band. Each scenario asserts the
FleetWise calls made, the status recorded, the metrics emitted and the alarms that would fire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import TARGET, operator_managed
from fleetwise_rehearsal.fleetwise import Campaign
from fleetwise_rehearsal.rehearsal import Rehearsal

ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"
OTHER_ROLE = "arn:aws:iam::123456789012:role/SomeoneElsesRole"
LEGACY = {
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": ROLE,
}
# The simulator's IAM error for an out-of-band REGISTRATION_FAILURE without a message of its own.
FAILURE_MESSAGE = (
    "IoT FleetWise could not assume the service-linked role AWSServiceRoleForIoTFleetWise. IAM "
    "changes can take time to propagate; try again later."
)
PERIOD = 1800  # HealthAlarmPeriodSeconds' default
TICK = 900  # DriftCheckRateMinutes' default
DRIFT_GRACE = 3 * PERIOD  # DriftAlarmPeriods' default, in health periods


def registered(rehearse: Callable[..., Rehearsal], **spec: Any) -> Rehearsal:
    """A rehearsal whose target registered as ``spec`` declares, then one quiet tick."""
    r = rehearse(parameters=operator_managed())
    # observe-only never registers: the account is registered under enforce first
    r.write_spec({"target": TARGET, **{k: v for k, v in spec.items() if k != "policy"}})
    r.settle()
    if "policy" in spec:
        r.write_spec({"target": TARGET, **spec})
        r.settle()
    expected = "Paused" if spec.get("paused") else "Registered"
    assert r.status()["phase"] == expected  # type: ignore[index]
    return r


def tick(r: Rehearsal, seconds: float = TICK) -> list[str]:
    """Let a schedule interval pass, fire the schedule, run what it started."""
    r.advance(seconds)
    started = r.tick()
    r.settle()
    return started


def calls_since(r: Rehearsal, before: dict[str, int]) -> dict[str, int]:
    after = r.fleetwise_calls()
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def emitted_since(r: Rehearsal, count: int) -> list[dict[str, Any]]:
    """The metric values of the EMF documents emitted after the first ``count``."""
    return [
        {k: v for k, v in doc.items() if k not in ("_aws", "service", "target")}
        for doc in r.metrics()[count:]
    ]


def fleet(**counts: int) -> list[dict[str, Any]]:
    """What ends every tick: the fleet's count in each state (zeros included), the heartbeat."""
    states = ("Healthy", "Paused", "Reconciling", "Drifted", "Unobserved", "Blocked", "Failed",
              "Invalid")  # fmt: skip
    counted = [{"state": s, "Targets": [float(counts.get(s, 0))]} for s in states]
    return [*counted, {"DriftChecks": [1.0]}]


def troubles_since(r: Rehearsal, count: int) -> list[dict[str, Any]]:
    """The ``TargetInTrouble`` reports emitted after the first ``count`` documents."""
    return [m for m in emitted_since(r, count) if "TargetInTrouble" in m]


def trouble(state: str, value: float = 1.0) -> dict[str, Any]:
    return {"state": state, "TargetInTrouble": [value]}


# -- steady state ---------------------------------------------------------------------------


def test_steady_state_tick_costs_one_status_call_and_no_execution(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = registered(rehearse)
    before, metrics_before = r.fleetwise_calls(), len(r.metrics())
    for _ in range(4):
        assert tick(r) == []
    assert calls_since(r, before) == {"GetRegisterAccountStatus": 4}
    # A healthy target keeps no series of its own: each tick counts it healthy and beats
    assert emitted_since(r, metrics_before) == fleet(Healthy=1) * 4
    assert r.alarms_in_alarm() == []


# -- drift under enforce and observe-only -----------------------------------------------------


def _drift_out_of_band_failure(r: Rehearsal) -> None:
    assert r.sim is not None
    r.sim.set_account_status("REGISTRATION_FAILURE")


def _drift_timestream_left_behind(r: Rehearsal) -> None:
    assert r.sim is not None
    r.sim.attach_timestream("fleet", "signals", ROLE)


def _drift_another_role(r: Rehearsal) -> None:
    assert r.sim is not None
    r.sim.attach_timestream("fleet", "signals", OTHER_ROLE)


def _drift_slr_deleted(r: Rehearsal) -> None:
    assert r.sim is not None
    r.sim.delete_service_linked_role()


DRIFTS = [
    pytest.param({}, _drift_out_of_band_failure, "RegistrationFailed", "Failed", id="failure"),
    pytest.param({}, _drift_timestream_left_behind, "DriftDetected", "Drifted", id="timestream"),
    pytest.param(LEGACY, _drift_another_role, "DriftDetected", "Drifted", id="another-role"),
    pytest.param({}, _drift_slr_deleted, "RegistrationFailed", "Failed", id="slr-deleted"),
]


# Under enforce, what observe-only would record does not matter: the run repairs it.
ENFORCED_DRIFTS = [pytest.param(*drift.values[:2], id=drift.id) for drift in DRIFTS]


@pytest.mark.parametrize(("spec", "cause"), ENFORCED_DRIFTS)
def test_enforced_drift_is_repaired_by_one_run(
    rehearse: Callable[..., Rehearsal],
    spec: dict[str, Any],
    cause: Callable[[Rehearsal], None],
) -> None:
    # GIVEN a registered target, then a change behind the reconciler's back
    r = registered(rehearse, **spec)
    cause(r)
    before, metrics_before = r.fleetwise_calls(), len(r.metrics())
    # WHEN the schedule fires
    started = tick(r)
    # THEN one run re-registers and the registration matches the spec again
    assert started == ["drift-123456789012-us-east-1-20261126T1220Z"]
    calls = calls_since(r, before)
    assert calls["RegisterAccount"] == 1
    # Timestream left behind under a modern spec: the campaigns are checked first (none)
    blocker_check = cause is _drift_timestream_left_behind
    assert calls.get("ListCampaigns", 0) == (1 if blocker_check else 0)
    status = r.status()
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Registered", "Registered")
    assert status["history"][0]["execution"].endswith(started[0])
    # the drift check counted the target Reconciling (the run repairs it: no trouble), the run
    # reported its repair
    metrics = emitted_since(r, metrics_before)
    assert metrics[:9] == fleet(Reconciling=1)
    assert metrics[-1]["RegistrationSucceeded"] == [1.0]
    assert troubles_since(r, metrics_before) == []
    # AND later ticks are quiet; a drift repaired by its run alarms nothing
    assert tick(r) == []
    r.advance(60)
    assert r.alarms_in_alarm() == []
    assert [n for n in r.notifications() if n.contributor is not None] == []


@pytest.mark.parametrize(("spec", "cause", "reason", "observed_phase"), DRIFTS)
def test_observe_only_drift_is_recorded_once_and_reported_every_tick(
    rehearse: Callable[..., Rehearsal],
    spec: dict[str, Any],
    cause: Callable[[Rehearsal], None],
    reason: str,
    observed_phase: str,
) -> None:
    r = registered(rehearse, policy="observe-only", **spec)
    cause(r)
    before, metrics_before = r.fleetwise_calls(), len(r.metrics())
    # WHEN the schedule fires: one run records what was observed, and acts on nothing
    first = tick(r)
    assert len(first) == 1
    status = r.status()
    assert status is not None
    assert (status["phase"], status["reason"]) == (observed_phase, reason)
    # THEN the following ticks (until the drift's grace has passed) start nothing, never
    # register, and report the target in its state
    later = DRIFT_GRACE // TICK
    started = [tick(r) for _ in range(later)]
    assert started == [[]] * later
    calls = calls_since(r, before)
    assert "RegisterAccount" not in calls
    assert calls["GetRegisterAccountStatus"] == later + 1 + 1  # the ticks, one Observe
    reported = troubles_since(r, metrics_before)
    if observed_phase == "Failed":
        # a failure the service reports is Failed at once: the run records it (the first tick
        # counted it Reconciling), then every later tick reports it
        assert reported == [trouble("Failed")] * (later + 1)
        named = "RegistrationFailedAlarm"
    else:
        # a drift nothing repairs is reported once its grace (from the first tick) is over
        assert reported == [trouble("Drifted")]
        named = "DriftPersistsAlarm"
    # AND exactly that alarm names the target, with one notification: no other pages
    r.advance(60)
    assert r.alarm_targets() == {named: [TARGET]}
    pages = [(n.alarm, n.state) for n in r.notifications() if n.contributor is not None]
    assert pages == [(named, "ALARM")]


def test_a_drift_that_re_registration_does_not_cure_ends_blocked_not_looping(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN the service keeps Timestream whatever is sent (a drift RegisterAccount cannot cure)
    r = registered(rehearse)
    assert r.sim is not None
    r.sim.attach_timestream("fleet", "signals", ROLE)
    original = r.sim.handle_register_account

    def keeps_timestream(body: dict[str, Any]) -> dict[str, Any]:
        answer = original(body)
        r.sim.attach_timestream("fleet", "signals", ROLE)  # type: ignore[union-attr]
        return answer

    r.sim.handle_register_account = keeps_timestream  # type: ignore[method-assign]
    before = r.fleetwise_calls()
    tick(r)
    status = r.status()
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Blocked", "DriftNotCured")
    # WHEN the schedule keeps firing THEN nothing more is registered
    assert [tick(r) for _ in range(4)] == [[]] * 4
    assert calls_since(r, before)["RegisterAccount"] == 1
    assert r.alarm_targets() == {"RegistrationBlockedAlarm": [TARGET]}


# -- paused, terminal failures ---------------------------------------------------------------


def test_a_paused_target_is_reported_every_tick_and_never_acted_on(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = registered(rehearse, paused=True)
    assert r.sim is not None
    r.sim.set_account_status("REGISTRATION_FAILURE")
    before = r.fleetwise_calls()
    # the first tick sees what the status does not say yet: one run records it (observing,
    # never registering); the later ticks only report
    ticks = [tick(r) for _ in range(4)]
    assert [len(started) for started in ticks] == [1, 0, 0, 0]
    [recording] = [e for e in r.executions() if e.name == ticks[0][0]]
    assert recording.path == (
        "Init", "Acquire", "LeaseAcquired", "Observe", "Decide", "Record", "Again", "Done"
    )  # fmt: skip
    assert calls_since(r, before) == {"GetRegisterAccountStatus": 5}
    status = r.status()
    assert status is not None
    assert (status["phase"], status["drift"]) == (
        "Paused",
        [f"IoT FleetWise reports REGISTRATION_FAILURE ({FAILURE_MESSAGE})"],
    )
    # a paused target that drifted is Drifted: nothing repairs it; within its grace (from the
    # first tick that saw it) it is counted, not reported
    metrics_before = len(r.metrics())
    assert tick(r) == []
    assert emitted_since(r, metrics_before) == fleet(Drifted=1)
    # AND once the grace (from the first of these ticks) has passed it is reported, and the
    # drift-persists alarm names it
    for _ in range(DRIFT_GRACE // TICK - len(ticks)):
        tick(r)
    assert troubles_since(r, metrics_before) == [trouble("Drifted")]
    r.advance(60)
    assert r.alarm_targets() == {"DriftPersistsAlarm": [r.default_target]}


def test_a_terminal_failure_is_observed_by_ticks_never_re_registered(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN the first registration is refused (AccessDenied: terminal)
    r = rehearse(parameters=operator_managed())
    assert r.sim is not None
    r.sim.fail_next("RegisterAccount", "AccessDeniedException", "not allowed")
    r.write_spec({"target": TARGET})
    r.settle()
    status = r.status()
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", "AccessDeniedException")
    r.advance(60)  # the minute of the run's report has ended
    assert r.alarm_targets() == {"RegistrationFailedAlarm": [TARGET]}
    before = r.fleetwise_calls()
    # WHEN the schedule fires again and again
    assert [tick(r) for _ in range(4)] == [[]] * 4
    # THEN each tick observes (one call) and nothing is registered again
    assert calls_since(r, before) == {"GetRegisterAccountStatus": 4}
    assert r.status()["phase"] == "Failed"  # type: ignore[index]
    # AND the failure is still named, by its alarm alone, notified once
    assert r.alarm_targets() == {"RegistrationFailedAlarm": [TARGET]}
    pages = [(n.alarm, n.state) for n in r.notifications() if n.contributor is not None]
    assert pages == [("RegistrationFailedAlarm", "ALARM")]


# -- the migration blocker -------------------------------------------------------------------


def test_campaigns_without_a_destination_block_the_switch_from_timestream(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN a legacy registration with three campaigns, two without a data destination
    r = registered(rehearse, **LEGACY)
    assert r.sim is not None
    r.sim.set_campaigns(
        [
            Campaign(name="engine-temps"),
            Campaign(
                name="to-s3",
                data_destination_configs=({"s3Config": {"bucketArn": "arn:aws:s3:::fleet-data"}},),
            ),
            Campaign(name="brake-wear"),
        ]
    )
    before = r.fleetwise_calls()
    # WHEN the operator switches the spec to the modern mode
    r.write_spec({"target": TARGET})
    r.settle()
    # THEN the run reads every campaign, registers nothing and names the blockers
    assert calls_since(r, before) == {
        "GetRegisterAccountStatus": 1,
        "ListCampaigns": 1,
        "GetCampaign": 3,
    }
    status = r.status()
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Blocked", "MigrationBlocked")
    assert "brake-wear, engine-temps" in status["message"]
    # AND the schedule reports it without reading the campaigns again or starting runs
    before = r.fleetwise_calls()
    assert [tick(r) for _ in range(3)] == [[]] * 3
    assert calls_since(r, before) == {"GetRegisterAccountStatus": 3}

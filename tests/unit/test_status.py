"""Status and condition transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetwise_reconciler.logic.plan import Phase
from fleetwise_reconciler.logic.status import Outcome, build_status, conditions, history

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def by_type(items: list[dict[str, object]]) -> dict[object, tuple[object, object]]:
    return {c["type"]: (c["status"], c["reason"]) for c in items}


def test_registered_is_ready_synced_and_not_drifted() -> None:
    result = conditions(Outcome(Phase.REGISTERED, "Registered", "ok"), None, spec_hash="h1", now=T0)
    assert by_type(result) == {
        "Ready": ("True", "Registered"),
        "Synced": ("True", "Registered"),
        "Drifted": ("False", "InSync"),
    }
    assert {c["lastTransitionTime"] for c in result} == {"2026-11-26T12:00:00.000Z"}
    assert {c["specHash"] for c in result} == {"h1"}


def test_drift_under_observe_only() -> None:
    outcome = Outcome(Phase.DRIFTED, "DriftDetected", "observe-only", ("table differs",))
    result = conditions(outcome, None, spec_hash="h1", now=T0)
    assert by_type(result) == {
        "Ready": ("False", "DriftDetected"),
        "Synced": ("False", "DriftDetected"),
        "Drifted": ("True", "DriftDetected"),
    }
    assert result[2]["message"] == "table differs"


def test_invalid_and_paused() -> None:
    invalid = conditions(Outcome(Phase.INVALID, "InvalidSpec", "bad"), None, spec_hash="h", now=T0)
    assert by_type(invalid) == {
        "Ready": ("Unknown", "InvalidSpec"),
        "Synced": ("False", "InvalidSpec"),
        "Drifted": ("Unknown", "InvalidSpec"),
    }
    paused = conditions(Outcome(Phase.PAUSED, "Paused", "p"), None, spec_hash="h", now=T0)
    assert by_type(paused)["Ready"] == ("True", "Paused")
    drifted = conditions(Outcome(Phase.PAUSED, "Paused", "p", ("x",)), None, spec_hash="h", now=T0)
    assert by_type(drifted)["Ready"] == ("False", "Paused")
    assert by_type(drifted)["Drifted"] == ("True", "Paused")


def test_transition_time_kept_until_the_status_changes() -> None:
    first = conditions(
        Outcome(Phase.FAILED, "AccessDeniedException", "no"), None, spec_hash="h", now=T0
    )
    later = T0 + timedelta(minutes=15)
    second = conditions(
        Outcome(Phase.FAILED, "RegistrationTimedOut", "slow"), first, spec_hash="h", now=later
    )
    assert [c["lastTransitionTime"] for c in second] == [
        "2026-11-26T12:00:00.000Z",
        "2026-11-26T12:00:00.000Z",
        "2026-11-26T12:00:00.000Z",
    ]
    healed = conditions(
        Outcome(Phase.REGISTERED, "Registered", "ok"), second, spec_hash="h", now=later
    )
    assert [c["lastTransitionTime"] for c in healed] == [
        "2026-11-26T12:15:00.000Z",
        "2026-11-26T12:15:00.000Z",
        "2026-11-26T12:00:00.000Z",  # Drifted stayed False
    ]


def test_history_is_bounded_and_expires() -> None:
    old = [{"at": "2026-10-01T00:00:00.000Z", "phase": "Registered"}]
    recent = [{"at": f"2026-11-2{i}T00:00:00.000Z", "phase": "Failed"} for i in range(5)]
    entry = {"at": "2026-11-26T12:00:00.000Z", "phase": "Registered"}
    kept = history(recent + old, entry, now=T0, limit=4, max_age_days=30)
    assert kept == [entry, *recent[:3]]


def test_build_status_records_error_attempts_and_history_once_per_change() -> None:
    outcome = Outcome(
        Phase.FAILED,
        "AccessDeniedException",
        "denied",
        ("the account is not registered with IoT FleetWise",),
        error={
            "code": "AccessDeniedException",
            "message": "no",
            "retryable": False,
            "operation": "RegisterAccount",
        },
    )
    common: dict[str, Any] = {
        "spec": {"target": "123456789012:us-east-1"},
        "spec_hash": "h1",
        "observation": {"registered": False},
        "attempts": {"specHash": "h1", "count": 1},
        "execution": "arn:exec:1",
        "started_at": T0,
        "history_limit": 20,
        "history_days": 30,
    }
    first = build_status(None, outcome, now=T0, acted=True, **common)
    stamp = "2026-11-26T12:00:00.000Z"
    assert first == {
        "phase": "Failed",
        "reason": "AccessDeniedException",
        "message": "denied",
        "specHash": "h1",
        "observedSpec": {"target": "123456789012:us-east-1"},
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "AccessDeniedException",
                "message": "denied",
                "lastTransitionTime": stamp,
                "specHash": "h1",
            },
            {
                "type": "Synced",
                "status": "False",
                "reason": "AccessDeniedException",
                "message": "denied",
                "lastTransitionTime": stamp,
                "specHash": "h1",
            },
            {
                "type": "Drifted",
                "status": "True",
                "reason": "AccessDeniedException",
                "message": "the account is not registered with IoT FleetWise",
                "lastTransitionTime": stamp,
                "specHash": "h1",
            },
        ],
        "observed": {"registered": False, "observedAt": stamp},
        "drift": ["the account is not registered with IoT FleetWise"],
        "lastError": {
            "code": "AccessDeniedException",
            "message": "no",
            "retryable": False,
            "operation": "RegisterAccount",
            "at": stamp,
        },
        "attempts": {"specHash": "h1", "count": 1},
        # the run called RegisterAccount: from now on the stack manages the registration
        "managedSince": stamp,
        "lastExecutionArn": "arn:exec:1",
        "lastReconcileStartedAt": stamp,
        "lastReconcileFinishedAt": stamp,
        "lastTransitionTime": stamp,
        "updatedAt": stamp,
        "history": [
            {
                "at": stamp,
                "phase": "Failed",
                "reason": "AccessDeniedException",
                "specHash": "h1",
                "execution": "arn:exec:1",
            }
        ],
    }
    # The same outcome again without acting (a schedule tick) adds no history entry.
    later = T0 + timedelta(minutes=15)
    again = build_status(first, outcome, now=later, acted=False, **common)
    assert again["history"] == first["history"]
    assert again["lastTransitionTime"] == stamp
    assert again["updatedAt"] == "2026-11-26T12:15:00.000Z"
    assert [c["lastTransitionTime"] for c in again["conditions"]] == [stamp] * 3
    assert again["managedSince"] == stamp  # kept, never moved


def test_build_status_keeps_the_previous_attempts_when_given_none() -> None:
    previous = {"attempts": {"specHash": "h0", "count": 4}, "phase": "Registering"}
    status = build_status(
        previous,
        Outcome(Phase.FAILED, "ExecutionAborted", "aborted"),
        spec=None,
        spec_hash="h1",
        observation=None,
        attempts=None,
        execution="arn:exec:2",
        started_at=None,
        now=T0,
        history_limit=20,
        history_days=30,
        acted=True,
    )
    assert status["attempts"] == {"specHash": "h0", "count": 4}
    assert "observedSpec" not in status
    assert "lastReconcileStartedAt" not in status


def test_an_unmanaged_status_names_no_spec_version() -> None:
    status = build_status(
        {"phase": "Registered", "specHash": "h1"},
        Outcome(Phase.UNMANAGED, "SpecDeleted", "deleted"),
        spec=None,
        spec_hash=None,
        observation=None,
        attempts=None,
        execution="arn:exec:3",
        started_at=T0,
        now=T0,
        history_limit=20,
        history_days=30,
        acted=False,
    )
    assert (status["phase"], status["reason"]) == ("Unmanaged", "SpecDeleted")
    assert "specHash" not in status
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Ready", "Unknown", "SpecDeleted"),
        ("Synced", "False", "SpecDeleted"),
        ("Drifted", "Unknown", "SpecDeleted"),
    ]
    assert [c["specHash"] for c in status["conditions"]] == [None, None, None]
    assert status["history"][0] == {
        "at": "2026-11-26T12:00:00.000Z",
        "phase": "Unmanaged",
        "reason": "SpecDeleted",
        "specHash": None,
        "execution": "arn:exec:3",
    }


# -- every phase's conditions, with and without differences ----------------------------------

D = ("d1", "d2")


@pytest.mark.parametrize(
    ("phase", "drift", "expected"),
    [
        (Phase.PENDING, (), [("Unknown", "R", "m"), ("False", "R", "m"), ("Unknown", "R", "m")]),
        (Phase.PENDING, D, [("Unknown", "R", "m"), ("False", "R", "m"), ("Unknown", "R", "m")]),
        (
            Phase.REGISTERING,
            D,
            [("False", "R", "m"), ("False", "R", "m"), ("False", "Reconciling", "m")],
        ),
        (Phase.REGISTERED, D, [("True", "R", "m"), ("True", "R", "m"), ("False", "InSync", "m")]),
        (Phase.FAILED, (), [("False", "R", "m"), ("False", "R", "m"), ("False", "InSync", "m")]),
        (Phase.FAILED, D, [("False", "R", "m"), ("False", "R", "m"), ("True", "R", "d1; d2")]),
        (Phase.DRIFTED, D, [("False", "R", "m"), ("False", "R", "m"), ("True", "R", "d1; d2")]),
        (Phase.BLOCKED, (), [("False", "R", "m"), ("False", "R", "m"), ("False", "InSync", "m")]),
        (Phase.BLOCKED, D, [("False", "R", "m"), ("False", "R", "m"), ("True", "R", "d1; d2")]),
        (
            Phase.PAUSED,
            (),
            [("True", "Paused", "m"), ("False", "R", "m"), ("False", "InSync", "m")],
        ),
        (Phase.PAUSED, D, [("False", "Paused", "m"), ("False", "R", "m"), ("True", "R", "d1; d2")]),
        (Phase.INVALID, D, [("Unknown", "R", "m"), ("False", "R", "m"), ("Unknown", "R", "m")]),
        (Phase.UNMANAGED, D, [("Unknown", "R", "m"), ("False", "R", "m"), ("Unknown", "R", "m")]),
    ],
)
def test_the_conditions_of_every_phase(
    phase: Phase, drift: tuple[str, ...], expected: list[tuple[str, str, str]]
) -> None:
    # GIVEN an outcome of this phase (reason R, message m) WHEN its conditions are computed
    result = conditions(Outcome(phase, "R", "m", drift), None, spec_hash="h", now=T0)
    # THEN Ready, Synced and Drifted, in that order, say exactly this
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in result] == [
        (kind, *values)
        for kind, values in zip(("Ready", "Synced", "Drifted"), expected, strict=True)
    ]


# -- when the status counts as changed -------------------------------------------------------

PREVIOUS_STAMP = "2026-11-26T11:00:00.000Z"


def _recorded(phase: str, reason: str, spec_hash: str) -> dict[str, Any]:
    return {
        "phase": phase,
        "reason": reason,
        "specHash": spec_hash,
        "lastTransitionTime": PREVIOUS_STAMP,
        "history": [
            {
                "at": PREVIOUS_STAMP,
                "phase": phase,
                "reason": reason,
                "specHash": spec_hash,
                "execution": "arn:exec:0",
            }
        ],
    }


def _rebuilt(previous: dict[str, Any], outcome: Outcome, spec_hash: str) -> dict[str, Any]:
    return build_status(
        previous,
        outcome,
        spec=None,
        spec_hash=spec_hash,
        observation=None,
        attempts=None,
        execution="arn:exec:1",
        started_at=None,
        now=T0,
        history_limit=20,
        history_days=30,
        acted=False,
    )


@pytest.mark.parametrize(
    ("previous", "spec_hash"),
    [
        (_recorded("Drifted", "DriftDetected", "h1"), "h1"),  # another phase
        (_recorded("Failed", "Other", "h1"), "h1"),  # another reason
        (_recorded("Failed", "DriftDetected", "h0"), "h1"),  # another spec version
    ],
    ids=["phase", "reason", "spec-version"],
)
def test_a_change_of_phase_reason_or_version_is_a_transition(
    previous: dict[str, Any], spec_hash: str
) -> None:
    # GIVEN a status that differs from the outcome in one of phase, reason or spec version
    outcome = Outcome(Phase.FAILED, "DriftDetected", "m")
    # WHEN the outcome is recorded without acting (a tick)
    status = _rebuilt(previous, outcome, spec_hash)
    # THEN it is a transition: stamped now, and a history entry is added on top
    stamp = "2026-11-26T12:00:00.000Z"
    assert status["lastTransitionTime"] == stamp
    assert status["history"] == [
        {
            "at": stamp,
            "phase": "Failed",
            "reason": "DriftDetected",
            "specHash": spec_hash,
            "execution": "arn:exec:1",
        },
        *previous["history"],
    ]


def test_the_same_outcome_without_acting_is_no_transition() -> None:
    previous = _recorded("Failed", "DriftDetected", "h1")
    status = _rebuilt(previous, Outcome(Phase.FAILED, "DriftDetected", "m"), "h1")
    assert (status["lastTransitionTime"], status["history"]) == (
        PREVIOUS_STAMP,
        previous["history"],
    )


def test_a_first_status_without_a_transition_time_is_stamped_now() -> None:
    # GIVEN a status without lastTransitionTime (an attempt count written before any record)
    previous = {"phase": "Failed", "reason": "R", "specHash": "h1"}
    status = _rebuilt(previous, Outcome(Phase.FAILED, "R", "m"), "h1")
    assert (status["lastTransitionTime"], status["history"]) == ("2026-11-26T12:00:00.000Z", [])


def test_history_keeps_an_entry_exactly_at_the_horizon_and_drops_undated_ones() -> None:
    at_horizon = {"at": "2026-10-27T12:00:00.000Z", "phase": "Registered"}
    just_past = {"at": "2026-10-27T11:59:59.999Z", "phase": "Failed"}
    undated = {"phase": "Failed"}
    entry = {"at": "2026-11-26T12:00:00.000Z", "phase": "Registered"}
    kept = history([undated, at_horizon, just_past], entry, now=T0, limit=20, max_age_days=30)
    assert kept == [entry, at_horizon]
    assert history(None, entry, now=T0, limit=1, max_age_days=30) == [entry]


def test_a_status_without_an_observation_keeps_the_last_one_and_the_history_bound() -> None:
    # GIVEN a status with an observation and a full history
    entries = [
        {"at": f"2026-11-26T11:0{i}:00.000Z", "phase": "Failed", "reason": "R", "execution": "e"}
        for i in range(3)
    ]
    observed = {"registered": True, "accountStatus": "REGISTRATION_FAILURE", "observedAt": "t0"}
    previous = {"phase": "Failed", "reason": "R", "specHash": "h1", "observed": observed}
    # WHEN an outcome that observed nothing is recorded with a history bound of 3
    status = build_status(
        {**previous, "history": entries},
        Outcome(Phase.FAILED, "ExecutionTimedOut", "m"),
        spec=None,
        spec_hash="h1",
        observation=None,
        attempts=None,
        execution="arn:exec:1",
        started_at=None,
        now=T0,
        history_limit=3,
        history_days=30,
        acted=False,
    )
    # THEN the last observation stays, and the history holds the newest three entries
    assert status["observed"] == observed
    assert status["history"] == [
        {
            "at": "2026-11-26T12:00:00.000Z",
            "phase": "Failed",
            "reason": "ExecutionTimedOut",
            "specHash": "h1",
            "execution": "arn:exec:1",
        },
        *entries[:2],
    ]


@pytest.mark.parametrize(
    ("phase", "acted", "count", "managed"),
    [
        (Phase.REGISTERED, False, 0, True),  # seen registered as declared
        (Phase.FAILED, True, 0, True),  # this run called RegisterAccount
        (Phase.FAILED, False, 2, True),  # an earlier run of this version called it
        (Phase.FAILED, False, 1, True),  # one call is enough
        (Phase.BLOCKED, False, 0, False),  # awaiting adoption: nothing of the stack's yet
        (Phase.INVALID, False, 0, False),
    ],
)
def test_managed_since_is_set_by_the_first_registration_or_call(
    phase: Phase, acted: bool, count: int, managed: bool
) -> None:
    # GIVEN a target with no status yet
    outcome = Outcome(phase, "R", "m")
    # WHEN a run records an outcome
    status = build_status(
        None,
        outcome,
        spec={"target": "123456789012:us-east-1"},
        spec_hash="h1",
        observation=None,
        attempts={"specHash": "h1", "count": count},
        execution="arn:exec:1",
        started_at=T0,
        now=T0,
        history_limit=20,
        history_days=30,
        acted=acted,
    )
    # THEN the stack manages the registration from then on only if it registered it or saw
    # it as declared
    assert status.get("managedSince") == ("2026-11-26T12:00:00.000Z" if managed else None)


RUN = "arn:aws:states:us-east-1:123456789012:execution:Reconcile:run-1"
RECORDED = {
    "at": "2026-11-26T11:00:00.000Z",
    "phase": "Registered",
    "reason": "Registered",
    "specHash": "h1",
    "execution": RUN,
}


def _registered_again(previous_history: Any, *, acted: bool = True) -> list[dict[str, Any]]:
    """The history after ``RUN`` records Registered for h1 at T0 over a status whose phase,
    reason and version already say so."""
    previous = {
        "phase": "Registered",
        "reason": "Registered",
        "specHash": "h1",
        "history": previous_history,
    }
    status = build_status(
        previous,
        Outcome(Phase.REGISTERED, "Registered", "registered as declared"),
        spec={"target": "123456789012:us-east-1"},
        spec_hash="h1",
        observation=None,
        attempts=None,
        execution=RUN,
        started_at=T0,
        now=T0,
        history_limit=20,
        history_days=30,
        acted=acted,
    )
    history_after: list[dict[str, Any]] = status["history"]
    return history_after


def test_a_record_repeated_by_its_run_adds_no_second_entry() -> None:
    # the same run's entry is the newest: Record ran again after its write
    assert _registered_again([RECORDED]) == [RECORDED]


@pytest.mark.parametrize(
    ("key", "other"),
    [
        ("execution", "arn:aws:states:us-east-1:123456789012:execution:Reconcile:run-0"),
        ("phase", "Failed"),
        ("reason", "RegistrationTimedOut"),
        ("specHash", "h0"),
    ],
)
def test_an_entry_that_differs_in_any_of_its_four_keys_is_another_record(
    key: str, other: str
) -> None:
    newest = {**RECORDED, key: other}
    entry = {**RECORDED, "at": "2026-11-26T12:00:00.000Z"}
    assert _registered_again([newest]) == [entry, newest]


def test_only_the_newest_entry_can_make_a_record_a_repeat() -> None:
    # the run's own entry below another's: a new record (runs loop only for another version)
    between = {**RECORDED, "execution": "run-0"}
    entry = {**RECORDED, "at": "2026-11-26T12:00:00.000Z"}
    assert _registered_again([between, RECORDED]) == [entry, between, RECORDED]
    assert _registered_again([]) == [entry]
    # a history DynamoDB holds as something other than a list is no repeat either
    assert _registered_again({"0": RECORDED})[0] == entry


def test_a_record_that_neither_changed_nor_acted_adds_nothing_whatever_the_history() -> None:
    between = {**RECORDED, "execution": "run-0"}
    assert _registered_again([between], acted=False) == [between]

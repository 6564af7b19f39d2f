"""Status and condition transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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

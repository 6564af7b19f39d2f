"""Status and condition transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
        error={
            "code": "AccessDeniedException",
            "message": "no",
            "retryable": False,
            "operation": "RegisterAccount",
        },
    )
    common = {
        "spec": {"target": "123456789012:us-east-1"},
        "spec_hash": "h1",
        "observation": {"registered": False},
        "attempts": 1,
        "execution": "arn:exec:1",
        "started_at": T0,
        "history_limit": 20,
        "history_days": 30,
    }
    first = build_status(None, outcome, now=T0, acted=True, **common)
    assert first["phase"] == "Failed"
    assert first["lastError"] == {
        "code": "AccessDeniedException",
        "message": "no",
        "retryable": False,
        "operation": "RegisterAccount",
        "at": "2026-11-26T12:00:00.000Z",
    }
    assert first["attempts"] == {"specHash": "h1", "count": 1}
    assert first["observed"] == {"registered": False, "observedAt": "2026-11-26T12:00:00.000Z"}
    assert len(first["history"]) == 1
    # The same outcome again without acting (a schedule tick) adds no history entry.
    again = build_status(first, outcome, now=T0 + timedelta(minutes=15), acted=False, **common)
    assert len(again["history"]) == 1
    assert again["lastTransitionTime"] == "2026-11-26T12:00:00.000Z"
    assert again["updatedAt"] == "2026-11-26T12:15:00.000Z"

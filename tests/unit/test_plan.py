"""Planning: every observation row of architecture section 5, under each policy."""

from __future__ import annotations

from typing import Any

import pytest
from spec_samples import ACCOUNT, CONTEXT, LEGACY, MODERN, NOT_REGISTERED, ROLE, SLR, TARGET

from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.plan import Action, Phase, Plan, attempts_for, plan
from fleetwise_reconciler.logic.validate import validate


def observed(
    status: str, *, timestream: dict[str, str] | None = None, role: str = SLR
) -> dict[str, Any]:
    return {
        "registered": True,
        "accountStatus": status,
        "customerAccountId": ACCOUNT,
        "iam": {"roleArn": role, "registrationStatus": status},
        "timestream": timestream,
    }


def decide(
    raw: dict[str, Any],
    observation: dict[str, Any] | None,
    *,
    previous: dict[str, Any] | None = None,
    trigger: str = "stream",
    **overrides: Any,
) -> Any:
    return plan(
        validate({**raw, **overrides}, CONTEXT),
        observation,
        spec_hash=spec_hash({**raw, **overrides}),
        previous=previous,
        trigger=trigger,
        max_attempts=5,
    )


def test_never_registered_is_registered() -> None:
    decided = decide(MODERN, NOT_REGISTERED)
    assert (decided.action, decided.phase, decided.reason) == (
        Action.REGISTER,
        Phase.REGISTERING,
        "NotRegistered",
    )


def test_pending_is_awaited_without_a_new_call() -> None:
    decided = decide(MODERN, observed("REGISTRATION_PENDING"))
    assert (decided.action, decided.phase, decided.reason) == (
        Action.AWAIT,
        Phase.REGISTERING,
        "RegistrationPending",
    )


def test_success_matching_the_spec_changes_nothing() -> None:
    decided = decide(MODERN, observed("REGISTRATION_SUCCESS"))
    assert (decided.action, decided.phase, decided.reason, decided.drift) == (
        Action.NO_CHANGE,
        Phase.REGISTERED,
        "UpToDate",
        (),
    )


def test_modern_role_is_never_drift() -> None:
    # ASSUMPTION documented in logic/compare.py: the role in modern mode is the service's own.
    decided = decide(MODERN, observed("REGISTRATION_SUCCESS", role="arn:aws:iam::1:role/x"))
    assert decided.action == Action.NO_CHANGE


def test_legacy_success_matching() -> None:
    ts = {"databaseName": "fleet", "tableName": "signals"}
    assert decide(LEGACY, observed("REGISTRATION_SUCCESS", timestream=ts, role=ROLE)).action == (
        Action.NO_CHANGE
    )


@pytest.mark.parametrize(
    ("raw", "observation", "drift"),
    [
        (
            MODERN,
            observed("REGISTRATION_SUCCESS", timestream={"databaseName": "old", "tableName": "t1"}),
            "Timestream metadata is still registered (database 'old', table 't1') but the "
            "spec's mode is 'cloudwatch'",
        ),
        (
            LEGACY,
            observed("REGISTRATION_SUCCESS", role=ROLE),
            "no Timestream metadata is registered but the spec's mode is 'timestream'",
        ),
        (
            LEGACY,
            observed(
                "REGISTRATION_SUCCESS",
                timestream={"databaseName": "other", "tableName": "signals"},
                role=ROLE,
            ),
            "Timestream database is 'other', the spec says 'fleet'",
        ),
        (
            LEGACY,
            observed(
                "REGISTRATION_SUCCESS",
                timestream={"databaseName": "fleet", "tableName": "signals"},
                role=f"arn:aws:iam::{ACCOUNT}:role/Other",
            ),
            f"IAM role is 'arn:aws:iam::{ACCOUNT}:role/Other', the spec says '{ROLE}'",
        ),
    ],
)
def test_success_not_matching_is_drift(
    raw: dict[str, Any], observation: dict[str, Any], drift: str
) -> None:
    enforced = decide(raw, observation)
    assert (enforced.action, enforced.reason, enforced.drift) == (
        Action.REGISTER,
        "DriftDetected",
        (drift,),
    )
    observed_only = decide(raw, observation, policy="observe-only")
    assert (observed_only.action, observed_only.phase, observed_only.drift) == (
        Action.OBSERVE_ONLY,
        Phase.DRIFTED,
        (drift,),
    )


def test_failure_is_reregistered_while_attempts_remain() -> None:
    version = spec_hash(MODERN)
    previous = {"specHash": version, "attempts": {"specHash": version, "count": 4}}
    decided = decide(MODERN, observed("REGISTRATION_FAILURE"), previous=previous)
    assert (decided.action, decided.reason) == (Action.REGISTER, "RegistrationFailed")


def test_failure_is_not_reregistered_past_the_bound_for_the_same_spec() -> None:
    version = spec_hash(MODERN)
    previous = {"specHash": version, "attempts": {"specHash": version, "count": 5}}
    decided = decide(MODERN, observed("REGISTRATION_FAILURE"), previous=previous)
    assert (decided.action, decided.phase, decided.reason) == (
        Action.FAILED,
        Phase.FAILED,
        "RegistrationFailed",
    )


def test_a_new_spec_version_resets_the_failure_budget() -> None:
    old = spec_hash(MODERN)
    previous = {"specHash": old, "attempts": {"specHash": old, "count": 5}}
    decided = decide(
        MODERN, observed("REGISTRATION_FAILURE"), previous=previous, reconcileToken="2"
    )
    assert decided.action == Action.REGISTER
    assert attempts_for(previous, spec_hash({**MODERN, "reconcileToken": "2"})) == 0


def test_terminal_error_is_not_retried_by_schedule_ticks() -> None:
    version = spec_hash(MODERN)
    previous = {
        "specHash": version,
        "lastError": {"code": "AccessDeniedException", "message": "no", "retryable": False},
    }
    tick = decide(MODERN, NOT_REGISTERED, previous=previous, trigger="schedule")
    assert (tick.action, tick.phase, tick.reason) == (
        Action.FAILED,
        Phase.FAILED,
        "AccessDeniedException",
    )
    # An edit (a new stream record) or another trigger for the same spec does act.
    assert decide(MODERN, NOT_REGISTERED, previous=previous, trigger="stream").action == (
        Action.REGISTER
    )
    # A changed reconcileToken is a new spec version: the schedule acts on it too.
    assert (
        decide(
            MODERN, NOT_REGISTERED, previous=previous, trigger="schedule", reconcileToken="t"
        ).action
        == Action.REGISTER
    )


def test_ticks_still_report_convergence_after_a_terminal_error() -> None:
    version = spec_hash(MODERN)
    previous = {
        "specHash": version,
        "lastError": {"code": "AccessDeniedException", "retryable": False},
    }
    tick = decide(MODERN, observed("REGISTRATION_SUCCESS"), previous=previous, trigger="schedule")
    assert tick.action == Action.NO_CHANGE


LEFT_BEHIND = (
    "Timestream metadata is still registered (database 'a', table 'b') but the spec's mode "
    "is 'cloudwatch'"
)


def test_drift_not_cured_before_is_blocked_not_looped() -> None:
    version = spec_hash(MODERN)
    previous = {
        "specHash": version,
        "phase": "Blocked",
        "reason": "DriftNotCured",
        "drift": [LEFT_BEHIND],
    }
    observation = observed(
        "REGISTRATION_SUCCESS", timestream={"databaseName": "a", "tableName": "b"}
    )
    decided = decide(MODERN, observation, previous=previous, trigger="schedule")
    assert decided == Plan(
        Action.BLOCKED,
        Phase.BLOCKED,
        "DriftNotCured",
        f"re-registering did not cure this drift before, so it is not repeated: {LEFT_BEHIND}",
        (LEFT_BEHIND,),
    )


@pytest.mark.parametrize(
    "previous",
    [
        {"phase": "Blocked", "reason": "DriftNotCured", "drift": ["something else"]},
        {"phase": "Blocked", "reason": "DriftNotCured", "drift": [LEFT_BEHIND], "other": 1},
    ],
    ids=["another-observation", "another-spec-version"],
)
def test_a_block_of_another_observation_or_version_does_not_block(
    previous: dict[str, object],
) -> None:
    version = spec_hash(MODERN)
    status = {**previous, "specHash": "another-version" if "other" in previous else version}
    observation = observed(
        "REGISTRATION_SUCCESS", timestream={"databaseName": "a", "tableName": "b"}
    )
    decided = decide(MODERN, observation, previous=status, trigger="schedule")
    assert (decided.action, decided.reason) == (Action.REGISTER, "DriftDetected")


def test_invalid_spec_plans_no_call() -> None:
    decided = decide({"target": TARGET, "mode": "timestream"}, None)
    assert (decided.action, decided.phase, decided.reason) == (
        Action.INVALID,
        Phase.INVALID,
        "InvalidSpec",
    )
    assert "timestream: is required when mode is 'timestream'" in decided.message


def test_paused_reports_without_acting() -> None:
    decided = decide(MODERN, NOT_REGISTERED, paused=True)
    assert (decided.action, decided.phase, decided.drift) == (
        Action.PAUSED,
        Phase.PAUSED,
        ("the account is not registered with IoT FleetWise",),
    )


@pytest.mark.parametrize(
    ("observation", "phase", "reason"),
    [
        (NOT_REGISTERED, Phase.DRIFTED, "NotRegistered"),
        (observed("REGISTRATION_FAILURE"), Phase.FAILED, "RegistrationFailed"),
        (observed("REGISTRATION_PENDING"), Phase.REGISTERING, "RegistrationPending"),
    ],
)
def test_observe_only_never_acts(observation: dict[str, Any], phase: Phase, reason: str) -> None:
    decided = decide(MODERN, observation, policy="observe-only")
    assert (decided.action, decided.phase, decided.reason) == (Action.OBSERVE_ONLY, phase, reason)


def test_spec_hash_changes_with_any_attribute_and_ignores_key_order() -> None:
    assert spec_hash({"target": TARGET, "mode": "cloudwatch"}) == spec_hash(
        {"mode": "cloudwatch", "target": TARGET}
    )
    assert spec_hash(MODERN) != spec_hash({**MODERN, "reconcileToken": "x"})
    assert spec_hash({"target": TARGET, "n": 1}) == spec_hash({"target": TARGET, "n": "1"})


@pytest.mark.parametrize(
    ("observation", "made", "expected"),
    [
        # the budget spent on a registration that never shows: not registered again
        (
            NOT_REGISTERED,
            5,
            Plan(
                Action.FAILED,
                Phase.FAILED,
                "AttemptsExhausted",
                "5 RegisterAccount calls for this spec did not get it registered "
                "(MaxRegistrationAttempts); the account is not registered with IoT FleetWise; "
                "change the spec or its reconcileToken to try again",
                ("the account is not registered with IoT FleetWise",),
            ),
        ),
        # one call short of the budget: registered again
        (
            NOT_REGISTERED,
            4,
            Plan(
                Action.REGISTER,
                Phase.REGISTERING,
                "NotRegistered",
                "registering: the account is not registered with IoT FleetWise",
                ("the account is not registered with IoT FleetWise",),
            ),
        ),
    ],
    ids=["spent", "one-left"],
)
def test_the_attempts_budget_bounds_every_registration_of_a_spec_version(
    observation: dict[str, Any], made: int, expected: Plan
) -> None:
    version = spec_hash(MODERN)
    previous = {"specHash": version, "attempts": {"specHash": version, "count": made}}
    assert decide(MODERN, observation, previous=previous, trigger="schedule") == expected

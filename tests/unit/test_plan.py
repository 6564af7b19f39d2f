"""Planning: every observation row of architecture section 5, under each policy."""

from __future__ import annotations

from typing import Any

import pytest
from spec_samples import ACCOUNT, CONTEXT, LEGACY, MODERN, NOT_REGISTERED, ROLE, SLR, TARGET

from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.plan import Action, Phase, Plan, attempts_for, plan
from fleetwise_reconciler.logic.validate import Problem, ValidationResult, validate


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


# A status of a stack that registered the target before (or saw it as declared): the
# registration IoT FleetWise holds is the stack's own, and a difference is drift.
MANAGED = {"managedSince": "2026-11-26T12:00:00.000Z"}


def decide(
    raw: dict[str, Any],
    observation: dict[str, Any] | None,
    *,
    previous: dict[str, Any] | None = None,
    trigger: str = "stream",
    managed: bool = True,
    **overrides: Any,
) -> Any:
    """``managed``: the previous status is of a stack that manages the registration (with
    ``previous`` None: that status and nothing else)."""
    before = {**MANAGED, **(previous or {})} if managed else previous
    return plan(
        validate({**raw, **overrides}, CONTEXT),
        observation,
        spec_hash=spec_hash({**raw, **overrides}),
        previous=before,
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


# -- the planning table, whole plans --------------------------------------------------------
#
# Each row: GIVEN a spec (MODERN with these attributes), an observation, the previous status
# and the trigger, WHEN planned, THEN exactly this plan (message and differences included:
# the operator reads them in the status).

VERSION = spec_hash(MODERN)
NOT_REGISTERED_TEXT = "the account is not registered with IoT FleetWise"
FAILURE_TEXT = "IoT FleetWise reports REGISTRATION_FAILURE"
LEFT_AB = observed("REGISTRATION_SUCCESS", timestream={"databaseName": "a", "tableName": "b"})
ACCESS_DENIED = {"code": "AccessDeniedException", "message": "no", "retryable": False}


def failed_with(error: dict[str, Any], spec_version: str = VERSION) -> dict[str, Any]:
    return {"specHash": spec_version, "phase": "Failed", "lastError": error}


def blocked(reason: str, spec_version: str = VERSION, **more: Any) -> dict[str, Any]:
    return {
        "specHash": spec_version,
        "phase": "Blocked",
        "reason": reason,
        "drift": [LEFT_BEHIND],
        **more,
    }


def spent(count: int, spec_version: str = VERSION) -> dict[str, Any]:
    return {"specHash": spec_version, "attempts": {"specHash": spec_version, "count": count}}


def registering(reason: str, *drift: str) -> Plan:
    return Plan(
        Action.REGISTER, Phase.REGISTERING, reason, "registering: " + "; ".join(drift), drift
    )


PLANS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None, str, Plan]] = {
    "paused-not-registered": (
        {"paused": True},
        NOT_REGISTERED,
        None,
        "stream",
        Plan(
            Action.PAUSED,
            Phase.PAUSED,
            "Paused",
            f"reconciliation is paused (paused = true); {NOT_REGISTERED_TEXT}",
            (NOT_REGISTERED_TEXT,),
        ),
    ),
    "paused-registered": (
        {"paused": True},
        observed("REGISTRATION_SUCCESS"),
        None,
        "stream",
        Plan(
            Action.PAUSED,
            Phase.PAUSED,
            "Paused",
            "reconciliation is paused (paused = true); IoT FleetWise reports REGISTRATION_SUCCESS",
        ),
    ),
    "paused-wins-over-a-terminal-error": (
        {"paused": True},
        None,
        failed_with(ACCESS_DENIED, spec_hash({**MODERN, "paused": True})),
        "schedule",
        Plan(
            Action.PAUSED,
            Phase.PAUSED,
            "Paused",
            f"reconciliation is paused (paused = true); {NOT_REGISTERED_TEXT}",
            (NOT_REGISTERED_TEXT,),
        ),
    ),
    "pending-enforced": (
        {},
        observed("REGISTRATION_PENDING"),
        None,
        "stream",
        Plan(
            Action.AWAIT,
            Phase.REGISTERING,
            "RegistrationPending",
            "a registration is in progress; waiting for it to settle",
        ),
    ),
    "pending-observe-only": (
        {"policy": "observe-only"},
        observed("REGISTRATION_PENDING"),
        None,
        "stream",
        Plan(
            Action.OBSERVE_ONLY,
            Phase.REGISTERING,
            "RegistrationPending",
            "a registration is in progress (observe-only: not waiting for it)",
        ),
    ),
    "in-sync": (
        {},
        observed("REGISTRATION_SUCCESS"),
        None,
        "stream",
        Plan(
            Action.NO_CHANGE,
            Phase.REGISTERED,
            "UpToDate",
            "the account is registered as the spec declares",
        ),
    ),
    "observe-only-not-registered": (
        {"policy": "observe-only"},
        NOT_REGISTERED,
        None,
        "schedule",
        Plan(
            Action.OBSERVE_ONLY,
            Phase.DRIFTED,
            "NotRegistered",
            f"observe-only: not acting; {NOT_REGISTERED_TEXT}",
            (NOT_REGISTERED_TEXT,),
        ),
    ),
    "observe-only-failure": (
        {"policy": "observe-only"},
        observed("REGISTRATION_FAILURE"),
        None,
        "schedule",
        Plan(
            Action.OBSERVE_ONLY,
            Phase.FAILED,
            "RegistrationFailed",
            f"observe-only: not acting; {FAILURE_TEXT}",
            (FAILURE_TEXT,),
        ),
    ),
    "never-registered": (
        {},
        None,
        None,
        "stream",
        registering("NotRegistered", NOT_REGISTERED_TEXT),
    ),
    "failure-with-the-service-error": (
        {},
        {**observed("REGISTRATION_FAILURE"), "iam": {"errorMessage": "role not ready"}},
        None,
        "stream",
        registering("RegistrationFailed", f"{FAILURE_TEXT} (role not ready)"),
    ),
    "an-unknown-status": (
        {},
        observed("REGISTRATION_SOMETHING_NEW"),
        None,
        "stream",
        registering("DriftDetected", "IoT FleetWise reports REGISTRATION_SOMETHING_NEW"),
    ),
    "terminal-error-on-a-tick": (
        {},
        None,
        failed_with(ACCESS_DENIED),
        "schedule",
        Plan(
            Action.FAILED,
            Phase.FAILED,
            "AccessDeniedException",
            "the last attempt for this spec failed with a non-retryable error "
            "(AccessDeniedException: no); the schedule does not retry it: fix the cause, then "
            "change the spec or its reconcileToken",
            (NOT_REGISTERED_TEXT,),
        ),
    ),
    "terminal-error-on-an-edit": (
        {},
        None,
        failed_with(ACCESS_DENIED),
        "stream",
        registering("NotRegistered", NOT_REGISTERED_TEXT),
    ),
    "retryable-error-on-a-tick": (
        {},
        None,
        failed_with({"code": "ThrottlingException", "message": "slow", "retryable": True}),
        "schedule",
        registering("NotRegistered", NOT_REGISTERED_TEXT),
    ),
    "terminal-error-of-another-version-on-a-tick": (
        {},
        None,
        failed_with(ACCESS_DENIED, "another-version"),
        "schedule",
        registering("NotRegistered", NOT_REGISTERED_TEXT),
    ),
    "not-cured-before": (
        {},
        LEFT_AB,
        blocked("DriftNotCured"),
        "stream",
        Plan(
            Action.BLOCKED,
            Phase.BLOCKED,
            "DriftNotCured",
            "re-registering did not cure this drift before, so it is not repeated: " + LEFT_BEHIND,
            (LEFT_BEHIND,),
        ),
    ),
    "not-cured-for-another-version": (
        {},
        LEFT_AB,
        blocked("DriftNotCured", "another-version"),
        "schedule",
        registering("DriftDetected", LEFT_BEHIND),
    ),
    "not-cured-but-no-longer-blocked": (
        {},
        LEFT_AB,
        {**blocked("DriftNotCured"), "phase": "Failed"},
        "schedule",
        registering("DriftDetected", LEFT_BEHIND),
    ),
    "blocked-for-another-reason": (
        {},
        LEFT_AB,
        blocked("SomethingElse"),
        "schedule",
        registering("DriftDetected", LEFT_BEHIND),
    ),
    "migration-blocked-on-a-tick": (
        {},
        LEFT_AB,
        blocked("MigrationBlocked", message="campaigns: a, b"),
        "schedule",
        Plan(Action.BLOCKED, Phase.BLOCKED, "MigrationBlocked", "campaigns: a, b", (LEFT_BEHIND,)),
    ),
    "migration-blocked-without-a-message": (
        {},
        LEFT_AB,
        blocked("MigrationBlocked"),
        "schedule",
        Plan(
            Action.BLOCKED,
            Phase.BLOCKED,
            "MigrationBlocked",
            "campaigns block the switch back from Timestream",
            (LEFT_BEHIND,),
        ),
    ),
    "migration-blocked-on-an-edit": (
        {},
        LEFT_AB,
        blocked("MigrationBlocked", message="campaigns: a, b"),
        "stream",
        registering("DriftDetected", LEFT_BEHIND),
    ),
    "migration-blocked-for-another-version": (
        {},
        LEFT_AB,
        blocked("MigrationBlocked", "another-version", message="campaigns: a, b"),
        "schedule",
        registering("DriftDetected", LEFT_BEHIND),
    ),
    "failure-budget-spent": (
        {},
        observed("REGISTRATION_FAILURE"),
        spent(5),
        "schedule",
        Plan(
            Action.FAILED,
            Phase.FAILED,
            "RegistrationFailed",
            "IoT FleetWise reports REGISTRATION_FAILURE after 5 registration attempts for this "
            "spec; change the spec or its reconcileToken to try again",
            (FAILURE_TEXT,),
        ),
    ),
    "failure-one-attempt-left": (
        {},
        observed("REGISTRATION_FAILURE"),
        spent(4),
        "schedule",
        registering("RegistrationFailed", FAILURE_TEXT),
    ),
    # the budget bounds every registration of the spec version, not only after a FAILURE
    "budget-spent-but-not-a-failure": (
        {},
        NOT_REGISTERED,
        spent(5),
        "schedule",
        Plan(
            Action.FAILED,
            Phase.FAILED,
            "AttemptsExhausted",
            "5 RegisterAccount calls that may have acted and 0 refused without acting for this "
            "spec version (MaxRegistrationAttempts 5 of each) did not get it registered; "
            f"{NOT_REGISTERED_TEXT}; change the spec or its reconcileToken to try again",
            (NOT_REGISTERED_TEXT,),
        ),
    ),
}


@pytest.mark.parametrize(
    ("attributes", "observation", "previous", "trigger", "expected"),
    list(PLANS.values()),
    ids=list(PLANS),
)
def test_the_planning_table(
    attributes: dict[str, Any],
    observation: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    trigger: str,
    expected: Plan,
) -> None:
    assert decide(MODERN, observation, previous=previous, trigger=trigger, **attributes) == expected


def test_a_terminal_error_without_a_code_is_still_failed_on_a_tick() -> None:
    # GIVEN a recorded terminal error that carries no code WHEN a tick plans
    tick = decide(MODERN, None, previous=failed_with({"message": "no"}), trigger="schedule")
    # THEN it is reported, not retried, under a generic reason
    assert (tick.action, tick.phase, tick.reason) == (Action.FAILED, Phase.FAILED, "TerminalError")


def test_a_terminal_error_without_a_code_names_its_reason_in_the_message() -> None:
    tick = decide(MODERN, None, previous=failed_with({"message": "no"}), trigger="schedule")
    assert "(TerminalError: no)" in tick.message


def test_the_action_and_phase_values_are_the_workflow_contract() -> None:
    # The state machine's choices, the status items and the metrics' readers use these
    # strings (docs/workflow.md); renaming one is a contract change, not a refactoring.
    assert {action.name: str(action) for action in Action} == {
        "NO_CHANGE": "NoChange",
        "REGISTER": "Register",
        "AWAIT": "Await",
        "BLOCKED": "Blocked",
        "PAUSED": "Paused",
        "OBSERVE_ONLY": "ObserveOnly",
        "INVALID": "Invalid",
        "FAILED": "Failed",
        "UNMANAGED": "Unmanaged",
    }
    assert [str(phase) for phase in Phase] == [
        "Pending",
        "Registering",
        "Registered",
        "Failed",
        "Drifted",
        "Blocked",
        "Paused",
        "Invalid",
        "Unmanaged",
    ]


def test_an_invalid_spec_plan_quotes_every_problem() -> None:
    # GIVEN a legacy spec missing both legacy fields WHEN planned THEN nothing is called and
    # the message names both fields
    assert decide({"target": TARGET, "mode": "timestream"}, None) == Plan(
        Action.INVALID,
        Phase.INVALID,
        "InvalidSpec",
        "the spec is invalid, nothing was called: timestream: is required when mode is "
        "'timestream'; iamRoleArn: is required when mode is 'timestream'",
    )


def test_a_plan_as_the_workflow_reads_it() -> None:
    # The Decide state branches on these exact strings (statemachine/reconcile.asl.json).
    assert registering("NotRegistered", NOT_REGISTERED_TEXT).as_dict() == {
        "action": "Register",
        "phase": "Registering",
        "reason": "NotRegistered",
        "message": f"registering: {NOT_REGISTERED_TEXT}",
        "drift": [NOT_REGISTERED_TEXT],
    }


# -- several differences at once ------------------------------------------------------------

OTHER_TABLES = observed(
    "REGISTRATION_SUCCESS", timestream={"databaseName": "d2", "tableName": "t2"}, role=ROLE
)
TWO = (
    "Timestream database is 'd2', the spec says 'fleet'",
    "Timestream table is 't2', the spec says 'signals'",
)
LEGACY_VERSION = spec_hash(LEGACY)


@pytest.mark.parametrize(
    ("attributes", "previous", "expected"),
    [
        (
            {},
            None,
            Plan(
                Action.REGISTER,
                Phase.REGISTERING,
                "DriftDetected",
                "registering: " + "; ".join(TWO),
                TWO,
            ),
        ),
        (
            {"policy": "observe-only"},
            None,
            Plan(
                Action.OBSERVE_ONLY,
                Phase.DRIFTED,
                "DriftDetected",
                "observe-only: not acting; " + "; ".join(TWO),
                TWO,
            ),
        ),
        (
            {},
            {
                "specHash": LEGACY_VERSION,
                "phase": "Blocked",
                "reason": "DriftNotCured",
                "drift": list(TWO),
            },
            Plan(
                Action.BLOCKED,
                Phase.BLOCKED,
                "DriftNotCured",
                "re-registering did not cure this drift before, so it is not repeated: "
                + "; ".join(TWO),
                TWO,
            ),
        ),
        (
            {},
            {"specHash": LEGACY_VERSION, "phase": "Failed", "attempts": None},
            Plan(
                Action.FAILED,
                Phase.FAILED,
                "AttemptsExhausted",
                "5 RegisterAccount calls that may have acted and 0 refused without acting for "
                "this spec version (MaxRegistrationAttempts 5 of each) did not get it "
                "registered; " + "; ".join(TWO) + "; change the spec or its reconcileToken to "
                "try again",
                TWO,
            ),
        ),
    ],
    ids=["register", "observe-only", "not-cured", "attempts-spent"],
)
def test_several_differences_are_each_named(
    attributes: dict[str, Any], previous: dict[str, Any] | None, expected: Plan
) -> None:
    # GIVEN a legacy spec whose database and table both differ WHEN planned THEN each
    # difference is named, in order, separated by "; "
    raw = {**LEGACY, **attributes}
    if previous is not None:
        previous = {**previous, "specHash": spec_hash(raw)}
        if "attempts" in previous:  # the whole budget spent on this version
            previous["attempts"] = {"specHash": spec_hash(raw), "count": 5}
    assert decide(raw, OTHER_TABLES, previous=previous) == expected


def test_a_result_with_problems_is_invalid_even_with_a_spec() -> None:
    # GIVEN a validation result that carries a spec and a problem (validate() never makes
    # one, but plan() must not act on it)
    valid = validate(MODERN, CONTEXT)
    odd = ValidationResult(spec=valid.spec, problems=(Problem("mode", "odd"),))
    # WHEN planned THEN it is Invalid, quoting the problem, and nothing is called
    decided = plan(odd, None, spec_hash=VERSION, previous=None, trigger="stream", max_attempts=5)
    assert decided == Plan(
        Action.INVALID,
        Phase.INVALID,
        "InvalidSpec",
        "the spec is invalid, nothing was called: mode: odd",
    )


@pytest.mark.parametrize(
    ("observation", "made", "refused", "expected"),
    [
        # the budget spent on a registration that never shows: not registered again
        (
            NOT_REGISTERED,
            5,
            0,
            Plan(
                Action.FAILED,
                Phase.FAILED,
                "AttemptsExhausted",
                "5 RegisterAccount calls that may have acted and 0 refused without acting for "
                "this spec version (MaxRegistrationAttempts 5 of each) did not get it "
                "registered; the account is not registered with IoT FleetWise; change the spec "
                "or its reconcileToken to try again",
                ("the account is not registered with IoT FleetWise",),
            ),
        ),
        # the refused calls spent (throttled, conflicts): not registered again either
        (
            NOT_REGISTERED,
            1,
            5,
            Plan(
                Action.FAILED,
                Phase.FAILED,
                "AttemptsExhausted",
                "1 RegisterAccount call that may have acted and 5 refused without acting for "
                "this spec version (MaxRegistrationAttempts 5 of each) did not get it "
                "registered; the account is not registered with IoT FleetWise; change the spec "
                "or its reconcileToken to try again",
                ("the account is not registered with IoT FleetWise",),
            ),
        ),
        # one call short of each bound: registered again
        (
            NOT_REGISTERED,
            4,
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
    ids=["spent", "refused-spent", "one-left"],
)
def test_the_attempts_budget_bounds_every_registration_of_a_spec_version(
    observation: dict[str, Any], made: int, refused: int, expected: Plan
) -> None:
    version = spec_hash(MODERN)
    counts = {"specHash": version, "count": made, "refused": refused}
    previous = {"specHash": version, "attempts": counts}
    assert decide(MODERN, observation, previous=previous, trigger="schedule") == expected


# -- a registration this stack did not make (adoption) ------------------------------------------

BY_HAND = {"databaseName": "fleet", "tableName": "signals"}
DROPPED = (
    "Timestream metadata is still registered (database 'fleet', table 'signals') but the "
    "spec's mode is 'cloudwatch'"
)


def test_a_registration_made_by_someone_else_awaits_adoption() -> None:
    # GIVEN an account registered by hand in Timestream mode, and a modern spec from a stack
    # that never registered it (no status at all)
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    # WHEN a run plans
    decided = decide(MODERN, by_hand, managed=False)
    # THEN it does not register: Blocked, saying what a registration would change and how
    # the operator says so
    assert (decided.action, decided.phase, decided.reason, decided.drift) == (
        Action.BLOCKED,
        Phase.BLOCKED,
        "AwaitingAdoption",
        (DROPPED,),
    )
    assert decided.message == (
        "the account is already registered (REGISTRATION_SUCCESS) differently from the spec, "
        "and this stack has never registered it: it is not re-registered until an operator "
        f"says so. Registering the spec would change: {DROPPED}. To take it over as it is: "
        f"fleetwise-reconciler adopt {TARGET} (writes the spec to match); to register the "
        "spec over it: set the spec's onExisting to 'replace' (fleetwise-reconciler adopt "
        f"{TARGET} --replace)"
    )


def test_on_existing_replace_registers_over_it() -> None:
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    decided = decide(MODERN, by_hand, managed=False, onExisting="replace")
    assert (decided.action, decided.reason, decided.drift) == (
        Action.REGISTER,
        "DriftDetected",
        (DROPPED,),
    )


def test_on_existing_keep_is_the_default_said_aloud() -> None:
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    assert decide(MODERN, by_hand, managed=False, onExisting="keep").reason == "AwaitingAdoption"


@pytest.mark.parametrize(
    ("observation", "action"),
    [
        # never registered: nothing of anyone's to lose
        (NOT_REGISTERED, Action.REGISTER),
        # registered as the spec declares: taken over as it is
        (observed("REGISTRATION_SUCCESS"), Action.NO_CHANGE),
        # a failed modern registration: re-registering changes nothing it holds
        (observed("REGISTRATION_FAILURE"), Action.REGISTER),
        # a failed registration holding Timestream metadata: re-registering would drop it
        (observed("REGISTRATION_FAILURE", timestream=BY_HAND, role=ROLE), Action.BLOCKED),
        # pending: awaited, whoever started it
        (observed("REGISTRATION_PENDING", timestream=BY_HAND), Action.AWAIT),
    ],
    ids=["not-registered", "as-declared", "failed-modern", "failed-legacy", "pending"],
)
def test_only_what_a_registration_would_change_waits(
    observation: dict[str, Any], action: Action
) -> None:
    assert decide(MODERN, observation, managed=False).action == action


def test_a_legacy_spec_over_another_legacy_registration_awaits_adoption() -> None:
    other = observed(
        "REGISTRATION_SUCCESS",
        timestream={"databaseName": "other", "tableName": "signals"},
        role=ROLE,
    )
    decided = decide(LEGACY, other, managed=False)
    assert (decided.action, decided.reason) == (Action.BLOCKED, "AwaitingAdoption")
    assert "Timestream database is 'other', the spec says 'fleet'" in decided.message


def test_every_change_a_registration_would_make_is_named_in_the_message() -> None:
    # GIVEN another legacy registration whose database and table both differ from the spec's
    other = observed(
        "REGISTRATION_SUCCESS",
        timestream={"databaseName": "other", "tableName": "other-signals"},
        role=ROLE,
    )
    decided = decide(LEGACY, other, managed=False)
    # THEN both changes are the drift and the message lists them, one after the other
    database = "Timestream database is 'other', the spec says 'fleet'"
    table = "Timestream table is 'other-signals', the spec says 'signals'"
    assert decided.drift == (database, table)
    assert f"Registering the spec would change: {database}; {table}. To take" in decided.message


@pytest.mark.parametrize(
    "previous",
    [
        {"managedSince": "2026-11-26T12:00:00.000Z"},
        # statuses written before managedSince existed: what shows the stack managed it
        {"phase": "Registered"},
        {"phase": "Drifted", "history": [{"phase": "Failed"}, {"phase": "Registered"}]},
        {"phase": "Failed", "attempts": {"specHash": "x", "count": 2}},
    ],
    ids=["managed-since", "registered", "registered-in-history", "calls-counted"],
)
def test_a_registration_the_stack_managed_is_drift_repaired(previous: dict[str, Any]) -> None:
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    assert decide(MODERN, by_hand, previous=previous, managed=False).action == Action.REGISTER


def test_one_counted_call_shows_the_stack_managed_the_registration() -> None:
    # GIVEN a status that only counted one RegisterAccount call (no phase that shows success)
    previous = {"phase": "Failed", "attempts": {"specHash": "x", "count": 1}}
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    # THEN that one call is this stack's management: the drift is repaired
    assert decide(MODERN, by_hand, previous=previous, managed=False).action == Action.REGISTER


@pytest.mark.parametrize(
    "previous",
    [
        None,
        {"phase": "Blocked", "reason": "AwaitingAdoption", "attempts": {"count": 0}},
        {"phase": "Invalid", "history": [{"phase": "Invalid"}]},
    ],
    ids=["no-status", "awaiting", "invalid-before"],
)
def test_a_status_that_shows_no_management_keeps_waiting(previous: dict[str, Any] | None) -> None:
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    assert decide(MODERN, by_hand, previous=previous, managed=False).reason == "AwaitingAdoption"


def test_observe_only_and_paused_only_report_an_unadopted_registration() -> None:
    by_hand = observed("REGISTRATION_SUCCESS", timestream=BY_HAND, role=ROLE)
    assert decide(MODERN, by_hand, managed=False, policy="observe-only").action == (
        Action.OBSERVE_ONLY
    )
    assert decide(MODERN, by_hand, managed=False, paused=True).action == Action.PAUSED

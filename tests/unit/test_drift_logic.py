"""The drift check's decision per target (logic.drift) and the migration blocker check
(logic.plan): what is reported and when a run is started."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_samples import ACCOUNT, CONTEXT, LEGACY, MODERN, NOT_REGISTERED, SLR, TARGET

from fleetwise_reconciler.logic import drift
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.plan import (
    Action,
    Phase,
    Plan,
    attempts_for,
    blocked_by_campaigns,
    blocking_campaigns,
    needs_campaign_check,
    plan,
)
from fleetwise_reconciler.logic.validate import validate
from fleetwise_rehearsal.aws.strict import name_problem

OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SomeoneElse"
TIMESTREAM = {"databaseName": "fleet", "tableName": "signals"}
NOW = 1_795_700_000.0


def observed(
    status: str = "REGISTRATION_SUCCESS",
    *,
    timestream: dict[str, str] | None = None,
    role: str = SLR,
    iam_error: str | None = None,
) -> dict[str, Any]:
    return {
        "registered": True,
        "accountStatus": status,
        "customerAccountId": ACCOUNT,
        "iam": {"roleArn": role, "registrationStatus": status, "errorMessage": iam_error},
        "timestream": timestream,
    }


def recorded(raw: dict[str, Any], phase: str, reason: str, **more: Any) -> dict[str, Any]:
    """A status item recorded for ``raw``'s spec version, by a stack that manages the
    registration (it registered it or saw it as declared: ``managedSince``)."""
    return {
        "specHash": spec_hash(raw),
        "phase": phase,
        "reason": reason,
        "managedSince": "2026-11-26T12:00:00.000Z",
        **more,
    }


def run_check(
    raw: dict[str, Any], observation: dict[str, Any] | None, status: dict[str, Any] | None
) -> drift.Check:
    return drift.check(
        TARGET,
        validate(raw, CONTEXT),
        observation,
        spec_hash=spec_hash(raw),
        status=status,
        max_attempts=5,
    )


# -- steady state ------------------------------------------------------------------------------


def test_steady_state_reports_healthy_and_starts_nothing() -> None:
    # GIVEN a modern spec registered as declared, and a status that says so
    status = recorded(MODERN, "Registered", "UpToDate", observed=observed())
    # WHEN the drift check looks at it
    found = run_check(MODERN, observed(), status)
    # THEN it is healthy, no drift, nothing started
    assert (found.why, found.start, found.healthy) == (drift.Why.IN_SYNC, False, True)
    assert (found.drift_detected, found.paused, found.invalid) == (False, False, False)


def test_a_registered_status_counts_as_recorded_whatever_its_reason() -> None:
    status = recorded(MODERN, "Registered", "Registered", observed=observed())
    assert run_check(MODERN, observed(), status).why == drift.Why.IN_SYNC


# -- drift under enforce ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "observation", "reason"),
    [
        (MODERN, observed("REGISTRATION_FAILURE"), "RegistrationFailed"),
        (MODERN, observed(timestream=TIMESTREAM), "DriftDetected"),
        (LEGACY, observed(timestream=TIMESTREAM, role=OTHER_ROLE), "DriftDetected"),
        (
            MODERN,
            observed(
                "REGISTRATION_FAILURE",
                iam_error="The service-linked role AWSServiceRoleForIoTFleetWise does not exist.",
            ),
            "RegistrationFailed",
        ),
    ],
    ids=["out-of-band-failure", "timestream-left-behind", "another-role", "slr-deleted"],
)
def test_enforced_drift_of_a_reconciled_spec_starts_a_run(
    raw: dict[str, Any], observation: dict[str, Any], reason: str
) -> None:
    status = recorded(raw, "Registered", "UpToDate")
    found = run_check(raw, observation, status)
    assert (found.why, found.start, found.healthy, found.drift_detected) == (
        drift.Why.ACTS,
        True,
        False,
        True,
    )
    assert (found.plan.action, found.plan.reason) == (Action.REGISTER, reason)


def test_a_held_lease_means_a_run_is_active_and_nothing_is_started() -> None:
    status = recorded(MODERN, "Registered", "UpToDate")
    found = run_check(MODERN, observed("REGISTRATION_FAILURE"), status)
    lease = {"holder": "arn:x", "expiresAt": NOW + 60, "pending": False}
    held = drift.unless_running(found, lease, NOW)
    assert (held.why, held.start, held.drift_detected) == (drift.Why.RUN_ACTIVE, False, True)


def test_an_expired_lease_does_not_stop_the_run() -> None:
    status = recorded(MODERN, "Registered", "UpToDate")
    found = run_check(MODERN, observed("REGISTRATION_FAILURE"), status)
    lease = {"holder": "arn:x", "expiresAt": NOW - 1, "pending": False}
    assert drift.unless_running(found, lease, NOW).why == drift.Why.ACTS
    assert drift.unless_running(found, None, NOW).why == drift.Why.ACTS


def test_a_pending_registration_nobody_watches_is_awaited_by_a_run() -> None:
    status = recorded(MODERN, "Failed", "ExecutionFailed")
    found = run_check(MODERN, observed("REGISTRATION_PENDING"), status)
    assert (found.plan.action, found.why, found.healthy) == (Action.AWAIT, drift.Why.ACTS, False)


# -- observe-only ----------------------------------------------------------------------------


def test_observe_only_drift_is_recorded_once_then_reported_only() -> None:
    raw = {**MODERN, "policy": "observe-only"}
    observation = observed(timestream=TIMESTREAM)
    # GIVEN the status still says Registered
    first = run_check(raw, observation, recorded(raw, "Registered", "UpToDate"))
    assert (first.plan.action, first.why, first.start) == (
        Action.OBSERVE_ONLY,
        drift.Why.UNRECORDED,
        True,
    )
    # WHEN the run has recorded it (with the same differences)
    status = recorded(
        raw, "Drifted", "DriftDetected", drift=list(first.drift), observed=observation
    )
    later = run_check(raw, observation, status)
    # THEN later ticks report it without starting anything
    assert (later.why, later.start, later.healthy, later.drift_detected) == (
        drift.Why.RECORDED,
        False,
        False,
        True,
    )


def test_observe_only_drift_that_changes_is_recorded_again() -> None:
    raw = {**MODERN, "policy": "observe-only"}
    status = recorded(raw, "Drifted", "DriftDetected", drift=["something older"])
    assert run_check(raw, observed(timestream=TIMESTREAM), status).why == drift.Why.UNRECORDED


def test_observe_only_failure_is_recorded_as_failed() -> None:
    raw = {**MODERN, "policy": "observe-only"}
    found = run_check(raw, observed("REGISTRATION_FAILURE"), recorded(raw, "Registered", "x"))
    assert (found.plan.phase, found.why) == (Phase.FAILED, drift.Why.UNRECORDED)


def test_a_drift_that_healed_by_itself_is_recorded() -> None:
    raw = {**MODERN, "policy": "observe-only"}
    found = run_check(raw, observed(), recorded(raw, "Drifted", "DriftDetected"))
    assert (found.plan.action, found.why, found.healthy) == (
        Action.NO_CHANGE,
        drift.Why.UNRECORDED,
        True,
    )


# -- stale status, paused, terminal, blocked, invalid ----------------------------------------


def test_a_status_of_another_spec_version_is_stale_and_reconciled() -> None:
    # An edit that outran the loop bound: the status reflects the previous version.
    status = recorded(MODERN, "Registered", "UpToDate")
    raw = {**MODERN, "reconcileToken": "t2"}
    found = run_check(raw, observed(), status)
    assert (found.why, found.start, found.drift_detected) == (
        drift.Why.STALE_STATUS,
        True,
        False,
    )


def test_a_target_never_recorded_is_reconciled_without_counting_drift() -> None:
    found = run_check(MODERN, NOT_REGISTERED, None)
    assert (found.why, found.start, found.drift_detected) == (drift.Why.ACTS, True, False)


def test_a_paused_target_is_reported_and_started_only_to_record_the_pause() -> None:
    raw = {**MODERN, "paused": True}
    failure = observed("REGISTRATION_FAILURE")
    # GIVEN a status that does not reflect the paused spec (the run that held the lease when
    # the pause was written died, or hit its loop bound): a run records the pause
    found = run_check(raw, failure, recorded(MODERN, "Registered", "UpToDate"))
    assert (found.why, found.start, found.paused, found.healthy) == (
        drift.Why.STALE_STATUS,
        True,
        True,
        False,
    )
    assert run_check(raw, failure, None).why == drift.Why.STALE_STATUS
    # WHEN the pause is recorded with what was observed, later ticks only report it
    paused = recorded(raw, "Paused", "Paused", drift=list(found.drift), observed=failure)
    later = run_check(raw, failure, paused)
    assert (later.why, later.start, later.paused, later.healthy) == (
        drift.Why.PAUSED,
        False,
        True,
        False,
    )
    # and a paused target whose registration changed meanwhile is recorded again
    healed = run_check(raw, observed(), paused)
    assert (healed.why, healed.start, healed.healthy) == (drift.Why.UNRECORDED, True, True)
    quiet = run_check(raw, observed(), recorded(raw, "Paused", "Paused", observed=observed()))
    assert (quiet.why, quiet.paused, quiet.healthy, quiet.start) == (
        drift.Why.PAUSED,
        True,
        True,
        False,
    )


def test_terminal_failure_of_this_spec_is_reported_not_reregistered() -> None:
    status = recorded(
        MODERN,
        "Failed",
        "AccessDeniedException",
        drift=["the account is not registered with IoT FleetWise"],
        lastError={"code": "AccessDeniedException", "message": "no", "retryable": False},
    )
    found = run_check(MODERN, NOT_REGISTERED, status)
    assert (found.plan.action, found.why, found.start, found.healthy) == (
        Action.FAILED,
        drift.Why.REPORT_ONLY,
        False,
        False,
    )


def test_failure_budget_spent_is_reported_only() -> None:
    failure = observed("REGISTRATION_FAILURE")
    status = recorded(
        MODERN,
        "Failed",
        "RegistrationFailed",
        attempts={"specHash": spec_hash(MODERN), "count": 5},
        drift=["IoT FleetWise reports REGISTRATION_FAILURE"],
        observed=failure,
    )
    found = run_check(MODERN, failure, status)
    assert (found.plan.action, found.why, found.start) == (
        Action.FAILED,
        drift.Why.REPORT_ONLY,
        False,
    )
    # one call short of the budget, the tick re-registers
    status["attempts"]["count"] = 4
    assert run_check(MODERN, failure, status).plan.action == Action.REGISTER


LEFT_BEHIND = (
    "Timestream metadata is still registered (database 'fleet', table 'signals') but the "
    "spec's mode is 'cloudwatch'"
)


def test_drift_not_cured_is_reported_only() -> None:
    status = recorded(
        MODERN,
        "Blocked",
        "DriftNotCured",
        drift=[LEFT_BEHIND],
        observed=observed(timestream=TIMESTREAM),
    )
    found = run_check(MODERN, observed(timestream=TIMESTREAM), status)
    assert (found.plan.action, found.why, found.drift_detected) == (
        Action.BLOCKED,
        drift.Why.REPORT_ONLY,
        True,
    )


def test_a_block_covers_only_the_observation_that_caused_it() -> None:
    # GIVEN a block recorded for Timestream metadata left behind
    status = recorded(MODERN, "Blocked", "DriftNotCured", drift=[LEFT_BEHIND])
    # WHEN the service-linked role is then deleted (another observation)
    role_gone = observed(
        "REGISTRATION_FAILURE",
        timestream=TIMESTREAM,
        iam_error="The service-linked role AWSServiceRoleForIoTFleetWise does not exist.",
    )
    found = run_check(MODERN, role_gone, status)
    # THEN it is reconciled as usual, not hidden behind the old block
    assert (found.plan.action, found.plan.reason, found.why, found.start) == (
        Action.REGISTER,
        "RegistrationFailed",
        drift.Why.ACTS,
        True,
    )


def test_migration_blocked_is_not_rechecked_by_ticks() -> None:
    status = recorded(
        MODERN,
        "Blocked",
        "MigrationBlocked",
        message="campaigns: a, b",
        drift=[LEFT_BEHIND],
        observed=observed(timestream=TIMESTREAM),
    )
    found = run_check(MODERN, observed(timestream=TIMESTREAM), status)
    assert (found.plan.action, found.plan.message, found.start) == (
        Action.BLOCKED,
        "campaigns: a, b",
        False,
    )


def test_invalid_spec_is_recorded_once_then_reported() -> None:
    raw = {**MODERN, "colour": "blue"}
    first = run_check(raw, None, None)
    assert (first.invalid, first.why, first.start, first.healthy) == (
        True,
        drift.Why.STALE_STATUS,
        True,
        False,
    )
    later = run_check(raw, None, recorded(raw, "Invalid", "InvalidSpec"))
    assert (later.invalid, later.why, later.start, later.drift_detected) == (
        True,
        drift.Why.RECORDED,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("target", "name"),
    [
        # a target no run can be named after as it is: its characters as "-", and a digest
        ("123456789012:eu-central-1 lab", "drift-123456789012-eu-central-1-lab-98b01de0ae62-STAMP"),
        # a well-formed target whose name would pass 80 characters: cut, with its digest
        (
            f"{ACCOUNT}:us-{'a' * 70}-1",
            f"drift-{ACCOUNT}-us-{'a' * 30}-{{digest}}-STAMP",
        ),
        # nothing readable in it at all: the digest alone
        ("日本:東京", "drift-{digest}-STAMP"),
    ],
    ids=["space", "too-long", "nothing-readable"],
)
def test_a_target_step_functions_cannot_take_in_a_name_is_named_from_a_digest(
    target: str, name: str
) -> None:
    digest = hashlib.sha256(target.encode()).hexdigest()[:12]
    made = drift.execution_name(target, "20261126T1215Z")
    assert made == name.replace("{digest}", digest).replace("STAMP", "20261126T1215Z")
    assert name_problem(made) is None


@given(st.text(min_size=1, max_size=300))
@settings(max_examples=300, deadline=None)
def test_every_target_gets_a_name_step_functions_takes_the_same_every_time(target: str) -> None:
    # any key the spec table can hold, an odd one included (StartExecution's name rule, as the
    # rehearsal enforces it: 1-80 characters, none of the listed ones)
    name = drift.execution_name(target, "20261126T1215Z")
    assert name_problem(name) is None
    assert name == drift.execution_name(target, "20261126T1215Z")
    assert name.endswith("-20261126T1215Z")


@given(st.lists(st.text(min_size=1, max_size=120), min_size=2, max_size=2, unique=True))
@settings(max_examples=300, deadline=None)
def test_two_targets_never_share_a_name(targets: list[str]) -> None:
    first, second = (drift.execution_name(t, "20261126T1215Z") for t in targets)
    assert first != second


def test_execution_name_follows_the_contract() -> None:
    assert drift.execution_name(TARGET, "20261126T1215Z") == (
        "drift-123456789012-us-east-1-20261126T1215Z"
    )


# -- the failure budget is per episode -------------------------------------------------------


def test_the_attempt_count_is_the_durable_one_of_this_spec_version() -> None:
    version = spec_hash(MODERN)
    # The Register step records each call before making it; the Record step sets the count
    # back to 0 when the target reaches Registered (a settled registration starts afresh).
    assert attempts_for({"attempts": {"specHash": version, "count": 5}}, version) == 5
    assert attempts_for({"attempts": {"specHash": version, "count": 0}}, version) == 0
    assert attempts_for({"attempts": {"specHash": "another", "count": 5}}, version) == 0
    assert attempts_for(None, version) == 0
    # a count not written yet is no call made
    assert attempts_for({"attempts": {"specHash": version}}, version) == 0


# -- the migration blocker check --------------------------------------------------------------


def _plan(raw: dict[str, Any], observation: dict[str, Any]) -> Any:
    """A stream run's plan for a stack that manages the registration (``managedSince``)."""
    return plan(
        validate(raw, CONTEXT),
        observation,
        spec_hash=spec_hash(raw),
        previous={"managedSince": "2026-11-26T12:00:00.000Z"},
        trigger="stream",
        max_attempts=5,
    )


def test_campaigns_are_read_only_for_a_modern_register_over_timestream() -> None:
    left_behind = observed(timestream=TIMESTREAM)
    decided = _plan(MODERN, left_behind)
    assert needs_campaign_check(decided, validate(MODERN, CONTEXT).spec, left_behind)
    # not for a legacy spec, nor without Timestream, nor when not registering
    legacy = _plan(LEGACY, NOT_REGISTERED)
    assert not needs_campaign_check(legacy, validate(LEGACY, CONTEXT).spec, NOT_REGISTERED)
    plain = _plan(MODERN, observed("REGISTRATION_FAILURE"))
    assert not needs_campaign_check(
        plain, validate(MODERN, CONTEXT).spec, observed("REGISTRATION_FAILURE")
    )
    observe_only = {**MODERN, "policy": "observe-only"}
    watched = _plan(observe_only, left_behind)
    assert not needs_campaign_check(watched, validate(observe_only, CONTEXT).spec, left_behind)


REGISTER_PLAN = Plan(Action.REGISTER, Phase.REGISTERING, "DriftDetected", "registering: x", ("x",))


@pytest.mark.parametrize(
    ("decided", "raw", "observation", "expected"),
    [
        (REGISTER_PLAN, MODERN, observed(timestream=TIMESTREAM), True),
        (REGISTER_PLAN, MODERN, observed(timestream={"databaseName": "fleet"}), True),
        (REGISTER_PLAN, MODERN, observed(timestream={"tableName": "signals"}), True),
        (REGISTER_PLAN, MODERN, observed(timestream={"databaseName": None}), False),
        (REGISTER_PLAN, MODERN, observed(), False),
        (REGISTER_PLAN, MODERN, None, False),
        (REGISTER_PLAN, MODERN, {**observed(timestream=TIMESTREAM), "registered": False}, False),
        (REGISTER_PLAN, LEGACY, observed(timestream=TIMESTREAM), False),
        (REGISTER_PLAN, None, observed(timestream=TIMESTREAM), False),
        (
            replace(REGISTER_PLAN, action=Action.AWAIT),
            MODERN,
            observed(timestream=TIMESTREAM),
            False,
        ),
    ],
    ids=[
        "modern-over-timestream",
        "database-only",
        "table-only",
        "empty-timestream",
        "no-timestream",
        "no-observation",
        "not-registered",
        "legacy-spec",
        "invalid-spec",
        "not-registering",
    ],
)
def test_the_campaign_check_table(
    decided: Plan, raw: dict[str, Any] | None, observation: dict[str, Any] | None, expected: bool
) -> None:
    # GIVEN a plan, the spec and the observation WHEN asked whether campaigns can block it
    spec = validate(raw, CONTEXT).spec if raw is not None else None
    # THEN only a modern registration over stored Timestream metadata reads them
    assert needs_campaign_check(decided, spec, observation) is expected


def test_campaigns_without_a_destination_block() -> None:
    campaigns = [
        {"name": "to-s3", "dataDestinationConfigs": [{"s3Config": {"bucketArn": "arn:b"}}]},
        {"name": "zeta"},
        {"name": "alpha", "dataDestinationConfigs": []},
    ]
    assert blocking_campaigns(campaigns) == ["alpha", "zeta"]


def test_blocked_plan_names_the_campaigns_and_acts_on_nothing() -> None:
    decided = _plan(MODERN, observed(timestream=TIMESTREAM))
    blocked = blocked_by_campaigns(decided, ["alpha", "zeta"])
    assert blocked == Plan(
        Action.BLOCKED,
        Phase.BLOCKED,
        "MigrationBlocked",
        "the spec's mode is 'cloudwatch' but the account is still registered with Timestream, "
        "and these campaigns have no data destination, so IoT FleetWise refuses to drop "
        "Timestream until they are deleted: alpha, zeta. Delete them (or give them a "
        "destination), then change the spec's reconcileToken",
        decided.drift,
    )
    assert blocked_by_campaigns(decided, []) is decided


# -- whole checks ----------------------------------------------------------------------------


def test_a_check_as_logged_and_returned() -> None:
    # GIVEN an enforced spec that lost its registration since it was recorded Registered
    status = recorded(MODERN, "Registered", "UpToDate")
    # WHEN checked
    found = run_check(MODERN, NOT_REGISTERED, status)
    # THEN the whole check, as the drift check returns it
    assert found.as_dict() == {
        "target": TARGET,
        "start": True,
        "why": "PlanActs",
        "healthy": False,
        "driftDetected": True,
        "paused": False,
        "invalid": False,
        "action": "Register",
        "phase": "Registering",
        "reason": "NotRegistered",
        # the run about to start repairs it: a registration under way, not a drift
        "state": "Reconciling",
    }
    assert found.drift == ("the account is not registered with IoT FleetWise",)


def test_a_paused_invalid_check_as_returned() -> None:
    # GIVEN an invalid spec recorded as such WHEN checked THEN reported, not started
    raw = {**MODERN, "colour": "blue"}
    found = run_check(raw, None, recorded(raw, "Invalid", "InvalidSpec"))
    assert found.as_dict() == {
        "target": TARGET,
        "start": False,
        "why": "AlreadyRecorded",
        "healthy": False,
        "driftDetected": False,
        "paused": False,
        "invalid": True,
        "action": "Invalid",
        "phase": "Invalid",
        "reason": "InvalidSpec",
        "state": "Invalid",
    }


def test_an_invalid_status_of_an_older_version_does_not_hide_a_new_invalid_edit() -> None:
    # GIVEN a status recording an older invalid version
    older = {**MODERN, "colour": "blue"}
    newer = {**MODERN, "colour": "red"}
    # WHEN the item holds another invalid version THEN a run records it
    found = run_check(newer, None, recorded(older, "Invalid", "InvalidSpec"))
    assert (found.why, found.start, found.invalid) == (drift.Why.STALE_STATUS, True, True)


def test_a_new_reason_in_the_same_phase_is_recorded() -> None:
    # GIVEN a terminal failure recorded under one reason, then the drift check finds the
    # failure budget of the same version spent (same phase, another reason)
    status = recorded(
        MODERN,
        "Failed",
        "AccessDeniedException",
        drift=["IoT FleetWise reports REGISTRATION_FAILURE"],
        attempts={"specHash": spec_hash(MODERN), "count": 5},
    )
    found = run_check(MODERN, observed("REGISTRATION_FAILURE"), status)
    # THEN the status is out of date and a run records the new reason
    assert (found.plan.reason, found.why, found.start) == (
        "RegistrationFailed",
        drift.Why.UNRECORDED,
        True,
    )


def test_the_same_phase_and_reason_with_other_differences_is_recorded() -> None:
    raw = {**MODERN, "paused": True}
    status = recorded(raw, "Paused", "Paused", drift=["an older difference"])
    assert run_check(raw, NOT_REGISTERED, status).why == drift.Why.UNRECORDED


@pytest.mark.parametrize(
    ("lease", "active"),
    [
        (None, False),
        ({"holder": "arn:x", "expiresAt": NOW + 1}, True),
        ({"holder": "arn:x", "expiresAt": NOW}, False),
        ({"holder": "arn:x", "expiresAt": NOW - 1}, False),
        ({"holder": "arn:x"}, False),
    ],
    ids=["none", "unexpired", "expiring-now", "expired", "no-expiry"],
)
def test_a_lease_is_active_until_its_expiry(lease: dict[str, Any] | None, active: bool) -> None:
    # From expiresAt on, the check no longer counts on the holder to record: the run it
    # starts takes the lease over, or (within that same second) marks it pending for the
    # holder, so the tick's request is not lost either way.
    assert drift.lease_active(lease, NOW) is active


def test_a_lease_without_an_expiry_is_never_active() -> None:
    # not even at the epoch: a missing expiry is no protection at all
    assert drift.lease_active({"holder": "arn:x"}, 0.0) is False


def test_a_check_that_starts_nothing_ignores_the_lease() -> None:
    status = recorded(MODERN, "Registered", "UpToDate", observed=observed())
    found = run_check(MODERN, observed(), status)
    lease = {"holder": "arn:x", "expiresAt": NOW + 60}
    assert drift.unless_running(found, lease, NOW) is found


@pytest.mark.parametrize(
    ("phase", "lease", "expected"),
    [
        ("Failed", None, drift.Why.ITEM_DELETED),
        (None, None, drift.Why.ITEM_DELETED),
        ("Registered", {"expiresAt": 1001}, drift.Why.RUN_ACTIVE),
        ("Failed", {"expiresAt": 1000}, drift.Why.ITEM_DELETED),  # expired at this moment
        ("Unmanaged", None, None),
        ("Unmanaged", {"expiresAt": 5000}, None),
    ],
)
def test_a_status_without_its_item_is_swept_unless_it_says_unmanaged(
    phase: str | None, lease: dict[str, Any] | None, expected: drift.Why | None
) -> None:
    assert drift.without_item(phase, lease, 1000.0) == expected
    assert (expected in drift.STARTING) is (expected == drift.Why.ITEM_DELETED)


def test_a_paused_target_whose_registration_settled_is_recorded_again() -> None:
    # GIVEN a pause recorded while IoT FleetWise reported the registration pending (no
    # difference from the spec either way)
    raw = {**MODERN, "paused": True}
    pending = observed("REGISTRATION_PENDING")
    status = recorded(raw, "Paused", "Paused", observed=pending)
    assert run_check(raw, pending, status).why == drift.Why.PAUSED
    # WHEN the registration has since settled
    found = run_check(raw, observed(), status)
    # THEN a run records what the service reports now; once recorded, ticks only report it
    assert (found.why, found.start, found.paused) == (drift.Why.UNRECORDED, True, True)
    settled = recorded(raw, "Paused", "Paused", observed=observed())
    assert run_check(raw, observed(), settled).why == drift.Why.PAUSED
    # and a registration that disappeared counts as a change too
    gone = run_check(raw, {"registered": False}, settled)
    assert (gone.why, gone.start) == (drift.Why.UNRECORDED, True)


# -- a registration awaiting adoption ----------------------------------------------------------


def test_awaiting_adoption_is_reported_as_blocked_and_starts_nothing_once_recorded() -> None:
    # GIVEN an account registered by hand in Timestream mode, a modern spec, and a status
    # that already says the registration awaits adoption (the stack never managed it)
    by_hand = observed(timestream=TIMESTREAM)
    first = run_check(MODERN, by_hand, None)
    status = {
        "specHash": spec_hash(MODERN),
        "phase": "Blocked",
        "reason": "AwaitingAdoption",
        "drift": list(first.plan.drift),
        "observed": by_hand,
    }
    # WHEN the drift check looks at it
    found = run_check(MODERN, by_hand, status)
    # THEN it is in trouble (counted Blocked: the per-target alarm of that state), not
    # "drift" (the stack never reconciled it), and no run is started: nothing changed since
    # it was recorded
    assert (found.plan.reason, found.why, found.start) == (
        "AwaitingAdoption",
        drift.Why.REPORT_ONLY,
        False,
    )
    assert (found.healthy, found.drift_detected, str(found.state)) == (False, False, "Blocked")
    # AND before it was recorded, a run is started to record it (and only to record it)
    assert (first.plan.action, first.why) == (Action.BLOCKED, drift.Why.STALE_STATUS)


def test_an_adoption_the_registration_meets_is_recorded_by_a_run() -> None:
    # GIVEN a status awaiting adoption, and the account since registered as the spec declares
    status = {
        "specHash": spec_hash(MODERN),
        "phase": "Blocked",
        "reason": "AwaitingAdoption",
        "drift": ["..."],
        "observed": observed(timestream=TIMESTREAM),
    }
    found = run_check(MODERN, observed(), status)
    # THEN a run records Registered (which makes the registration the stack's from then on)
    assert (found.plan.action, found.why) == (Action.NO_CHANGE, drift.Why.UNRECORDED)


@pytest.mark.parametrize(
    ("spec", "observed", "phase", "reason", "expected"),
    [
        # enforce: a drift about to be repaired is Reconciling
        (MODERN, NOT_REGISTERED, "Registered", "UpToDate", "Reconciling"),
        # observe-only: nothing repairs it
        ({**MODERN, "policy": "observe-only"}, NOT_REGISTERED, "Registered", "UpToDate", "Drifted"),
        # a failure recorded for this version stays Failed, whatever is observed now
        (MODERN, NOT_REGISTERED, "Failed", "AccessDeniedException", "Failed"),
    ],
)
def test_the_state_a_check_counts_the_target_in(
    spec: dict[str, Any], observed: dict[str, Any], phase: str, reason: str, expected: str
) -> None:
    found = run_check(spec, observed, recorded(spec, phase, reason))
    assert str(found.state) == expected


def test_a_status_of_another_version_records_nothing_for_this_one() -> None:
    status = recorded(MODERN, "Failed", "AccessDeniedException")
    assert drift.recorded_phase(status, "another-version") is None
    assert drift.recorded_phase(None, "any") is None
    assert drift.recorded_phase({**status, "phase": "SomethingNewer"}, status["specHash"]) is None
    assert drift.recorded_phase(status, status["specHash"]) == "Failed"

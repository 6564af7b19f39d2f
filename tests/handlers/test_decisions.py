"""What the Record step and the drift check decide from the workflow's slots, without tables:
the outcome recorded, the attempt count kept and the metrics emitted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from handler_fakes import Clock

from fleetwise_reconciler.errors import FleetWiseTerminalError, FleetWiseTransientError
from fleetwise_reconciler.handlers import record
from fleetwise_reconciler.logic.plan import Phase
from fleetwise_reconciler.logic.status import Outcome

TARGET = "123456789012:us-east-1"
TRANSIENT_THEN = "transient: the next edit or drift check tries again"
TERMINAL_THEN = "not retried on its own: fix the cause, then change the spec or its reconcileToken"
NOT_REGISTERED = "the account is not registered with IoT FleetWise"


def caught(error: Exception) -> dict[str, str]:
    """The ``$.error`` slot a Catch fills: Step Functions' {Error, Cause} of a Lambda error."""
    cause = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
    return {"Error": type(error).__name__, "Cause": json.dumps(cause)}


# -- record.outcome_of: a caught error -------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "then", "retryable"),
    [
        (
            FleetWiseTransientError(
                "ThrottlingException", "slow down", operation="RegisterAccount"
            ),
            TRANSIENT_THEN,
            True,
        ),
        (
            FleetWiseTerminalError(
                "AccessDeniedException", "slow down", operation="RegisterAccount"
            ),
            TERMINAL_THEN,
            False,
        ),
    ],
    ids=["transient", "terminal"],
)
def test_a_caught_error_is_failed_and_says_whether_it_is_retried(
    error: Exception, then: str, retryable: bool
) -> None:
    # GIVEN a step's error caught into $.error, after a plan with differences
    event = {"plan": {"drift": ["d1"]}, "error": caught(error)}
    # WHEN the outcome is read THEN Failed, with the error's code, operation and message
    code = "ThrottlingException" if retryable else "AccessDeniedException"
    assert record.outcome_of(event, None) == Outcome(
        Phase.FAILED,
        code,
        f"RegisterAccount failed with {code}: slow down ({then})",
        ("d1",),
        error={
            "code": code,
            "message": "slow down",
            "retryable": retryable,
            "operation": "RegisterAccount",
        },
    )


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        ({"Error": "States.Timeout", "Cause": "not json"}, "Unknown", "not json"),
        ({"Error": "States.Timeout"}, "States.Timeout", ""),
        ({"Cause": ""}, "Unknown", ""),
    ],
    ids=["cause-not-json", "no-cause", "nothing"],
)
def test_an_error_without_details_is_terminal_and_says_so(
    error: dict[str, str], code: str, message: str
) -> None:
    assert record.outcome_of({"error": error}, None) == Outcome(
        Phase.FAILED,
        code,
        f"IoT FleetWise failed with {code}: {message} ({TERMINAL_THEN})",
        error={
            "code": code,
            "message": message,
            "retryable": False,
            "operation": "IoT FleetWise",
        },
    )


# -- record.outcome_of: the poll's result ----------------------------------------------------

OBSERVED = {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}


@pytest.mark.parametrize(
    ("poll", "expected"),
    [
        (
            {"outcome": "Registered", "observation": OBSERVED, "message": "fine", "drift": []},
            Outcome(Phase.REGISTERED, "Registered", "fine"),
        ),
        (
            {"outcome": "Registered", "observation": OBSERVED},
            Outcome(Phase.REGISTERED, "Registered", "registered as declared"),
        ),
        (
            {"outcome": "Diverged", "observation": OBSERVED, "message": "m", "drift": ["p1"]},
            Outcome(Phase.BLOCKED, "DriftNotCured", "m", ("p1",)),
        ),
        (
            {"outcome": "TimedOut", "observation": OBSERVED, "message": "slow", "drift": ["p1"]},
            Outcome(
                Phase.FAILED,
                "RegistrationTimedOut",
                f"slow ({TRANSIENT_THEN})",
                ("p1",),
                error={
                    "code": "RegistrationTimedOut",
                    "message": "slow",
                    "retryable": True,
                    "operation": "GetRegisterAccountStatus",
                },
            ),
        ),
        (
            # PollGaveUp's slot: no observation, so the plan's differences stay
            {"outcome": "TimedOut", "observation": None, "drift": []},
            Outcome(
                Phase.FAILED,
                "RegistrationTimedOut",
                "the registration was still pending when the workflow's polls ran out "
                f"({TRANSIENT_THEN})",
                ("plan-drift",),
                error={
                    "code": "RegistrationTimedOut",
                    "message": "the registration was still pending when the workflow's polls "
                    "ran out",
                    "retryable": True,
                    "operation": "GetRegisterAccountStatus",
                },
            ),
        ),
        (
            {
                "outcome": "Failed",
                "observation": OBSERVED,
                "reason": "UnexpectedStatus",
                "message": "m",
                "drift": ["p1"],
            },
            Outcome(
                Phase.FAILED,
                "UnexpectedStatus",
                "m; change the spec or its reconcileToken to try again",
                ("p1",),
                error={
                    "code": "UnexpectedStatus",
                    "message": "m",
                    "retryable": False,
                    "operation": "RegisterAccount",
                },
            ),
        ),
        (
            {"outcome": "Failed"},
            Outcome(
                Phase.FAILED,
                "RegistrationFailed",
                "; change the spec or its reconcileToken to try again",
                ("plan-drift",),
                error={
                    "code": "RegistrationFailed",
                    "message": "",
                    "retryable": False,
                    "operation": "RegisterAccount",
                },
            ),
        ),
    ],
    ids=[
        "registered",
        "registered-no-message",
        "diverged",
        "timed-out",
        "poll-gave-up",
        "failed",
        "failed-bare",
    ],
)
def test_the_poll_result_is_the_outcome(poll: dict[str, Any], expected: Outcome) -> None:
    # GIVEN a plan with differences and the poll's slot WHEN the outcome is read THEN exactly
    # this (the poll's differences replace the plan's when it observed)
    event = {"plan": {"action": "Register", "phase": "Registering", "drift": ["plan-drift"]}}
    assert record.outcome_of({**event, "poll": poll}, None) == expected


# -- record.outcome_of: a plan that did not act ----------------------------------------------

LAST_ERROR = {"code": "AccessDeniedException", "message": "no", "retryable": False, "at": "t0"}


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            {
                "action": "Failed",
                "phase": "Failed",
                "reason": "AccessDeniedException",
                "message": "m",
                "drift": [NOT_REGISTERED],
            },
            Outcome(
                Phase.FAILED,
                "AccessDeniedException",
                "m",
                (NOT_REGISTERED,),
                error={"code": "AccessDeniedException", "message": "no", "retryable": False},
            ),
        ),
        (
            {"action": "Blocked", "phase": "Blocked", "reason": "DriftNotCured", "message": "m"},
            Outcome(Phase.BLOCKED, "DriftNotCured", "m"),
        ),
        ({}, Outcome(Phase.PENDING, "", "")),
    ],
    ids=["failed-keeps-the-last-error", "blocked-has-no-error", "empty"],
)
def test_a_plan_that_did_not_act_is_the_outcome(plan: dict[str, Any], expected: Outcome) -> None:
    # GIVEN a status whose last error is terminal WHEN a plan that did not act is recorded
    # THEN a Failed plan keeps that error (without its old timestamp), other plans have none
    assert record.outcome_of({"plan": plan}, {"lastError": LAST_ERROR}) == expected


def test_a_failed_plan_without_a_previous_error_has_none() -> None:
    plan = {"action": "Failed", "phase": "Failed", "reason": "RegistrationFailed", "message": "m"}
    assert record.outcome_of({"plan": plan}, None) == Outcome(
        Phase.FAILED, "RegistrationFailed", "m"
    )


# -- record.attempts_after ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "previous", "version", "expected"),
    [
        (
            Phase.FAILED,
            {"attempts": {"specHash": "h1", "count": 3, "refused": 2}},
            "h1",
            {"specHash": "h1", "count": 3, "refused": 2},
        ),
        # a status written before refused calls were counted apart
        (
            Phase.FAILED,
            {"attempts": {"specHash": "h1", "count": 3}},
            "h1",
            {"specHash": "h1", "count": 3, "refused": 0},
        ),
        (
            Phase.FAILED,
            {"attempts": {"specHash": "h0", "count": 3, "refused": 1}},
            "h1",
            {"specHash": "h1", "count": 0, "refused": 0},
        ),
        (Phase.FAILED, None, "h1", {"specHash": "h1", "count": 0, "refused": 0}),
        (
            Phase.REGISTERED,
            {"attempts": {"specHash": "h1", "count": 3, "refused": 4}},
            "h1",
            {"specHash": "h1", "count": 0, "refused": 0},
        ),
        (Phase.UNMANAGED, {"attempts": {"specHash": "h1", "count": 3}}, None, None),
    ],
    ids=[
        "kept",
        "kept-from-before-refusals",
        "another-version",
        "none-yet",
        "registered-starts-afresh",
        "no-spec-version",
    ],
)
def test_the_attempt_count_kept(
    phase: Phase, previous: dict[str, Any] | None, version: str | None, expected: Any
) -> None:
    outcome = Outcome(phase, "R", "m")
    assert record.attempts_after(outcome, previous, version) == expected


# -- the metrics ------------------------------------------------------------------------------


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Each EMF record printed: its metric values and dimension sets."""
    out = []
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        values = {}
        for metric in directive["Metrics"]:
            [values[metric["Name"]]] = doc[metric["Name"]]  # one value per metric and record
        dimensions = {key: doc[key] for keys in directive["Dimensions"] for key in keys}
        out.append({"values": values, "dimensions": dimensions})
    return out


def record_metrics(
    outcome: Outcome,
    capsys: pytest.CaptureFixture[str],
    *,
    plan: dict[str, Any] | None = None,
    poll: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    event = {"plan": plan or {}, "poll": poll or {}}
    record._metrics(TARGET, outcome, event, previous, 12.5)
    return emitted(capsys)


def test_a_registration_emits_duration_and_success_and_no_health_gauge(
    now: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    found = record_metrics(
        Outcome(Phase.REGISTERED, "Registered", "ok"),
        capsys,
        plan={"specHash": "h1", "drift": [NOT_REGISTERED]},
        poll={"outcome": "Registered"},
        previous={"specHash": "h0"},
    )
    # A healthy outcome reports no health gauge of the target's own (logic/health.py)
    assert found == [
        {
            "values": {
                "ReconcileDuration": 12.5,
                "RegistrationSucceeded": 1.0,
            },
            "dimensions": {"service": "fleetwise-reconciler", "target": TARGET},
        }
    ]


def test_a_failure_reports_its_trouble_at_once_and_counts_its_reason(
    now: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    found = record_metrics(
        Outcome(Phase.FAILED, "AccessDeniedException", "no", (NOT_REGISTERED,)),
        capsys,
        plan={"specHash": "h1", "drift": [NOT_REGISTERED]},
        previous={"specHash": "h1", "phase": "Registered"},
    )
    assert found == [
        {
            "values": {"TargetInTrouble": 1.0},
            "dimensions": {"service": "fleetwise-reconciler", "state": "Failed", "target": TARGET},
        },
        {
            "values": {"ReconcileDuration": 12.5},
            "dimensions": {"service": "fleetwise-reconciler", "target": TARGET},
        },
        {
            "values": {"RegistrationFailed": 1.0},
            "dimensions": {
                "service": "fleetwise-reconciler",
                "target": TARGET,
                "reason": "AccessDeniedException",
            },
        },
    ]


def test_a_recovery_clears_the_trouble_the_previous_status_recorded(
    now: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    found = record_metrics(
        Outcome(Phase.REGISTERED, "Registered", "ok"),
        capsys,
        plan={"specHash": "h2"},
        previous={"specHash": "h1", "phase": "Invalid"},
    )
    assert found == [
        {
            "values": {"TargetInTrouble": 0.0},
            "dimensions": {"service": "fleetwise-reconciler", "state": "Invalid", "target": TARGET},
        },
        {
            "values": {"ReconcileDuration": 12.5},
            "dimensions": {"service": "fleetwise-reconciler", "target": TARGET},
        },
    ]


@pytest.mark.parametrize(
    ("outcome", "trouble"),
    [
        (Outcome(Phase.PAUSED, "Paused", "p"), None),
        (Outcome(Phase.PAUSED, "Paused", "p", (NOT_REGISTERED,)), None),
        (Outcome(Phase.INVALID, "InvalidSpec", "bad"), "Invalid"),
        (Outcome(Phase.BLOCKED, "DriftNotCured", "b", (NOT_REGISTERED,)), "Blocked"),
        # Drifted and Registering are no trouble yet: the drift check's grace decides
        (Outcome(Phase.DRIFTED, "DriftDetected", "d", (NOT_REGISTERED,)), None),
    ],
    ids=["paused-healthy", "paused-drifted", "invalid", "blocked", "drifted"],
)
def test_what_each_outcome_emits(
    outcome: Outcome,
    trouble: str | None,
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a target with no status yet
    found = record_metrics(
        outcome, capsys, plan={"specHash": "h1", "drift": list(outcome.drift)}, previous=None
    )
    duration = {
        "values": {"ReconcileDuration": 12.5},
        "dimensions": {"service": "fleetwise-reconciler", "target": TARGET},
    }
    if trouble is None:
        assert found == [duration]
    else:
        state = {"service": "fleetwise-reconciler", "state": trouble, "target": TARGET}
        assert found == [{"values": {"TargetInTrouble": 1.0}, "dimensions": state}, duration]


def test_an_unmanaged_target_emits_nothing(now: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    assert record_metrics(Outcome(Phase.UNMANAGED, "SpecDeleted", "gone"), capsys) == []
    # AND a deleted item's recorded trouble is cleared: nobody manages it any more
    cleared = record_metrics(
        Outcome(Phase.UNMANAGED, "SpecDeleted", "gone"), capsys, previous={"phase": "Failed"}
    )
    assert cleared == [
        {
            "values": {"TargetInTrouble": 0.0},
            "dimensions": {"service": "fleetwise-reconciler", "state": "Failed", "target": TARGET},
        }
    ]

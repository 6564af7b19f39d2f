"""Every row of the FleetWise error taxonomy (architecture section 5), end to end: stream ->
trigger -> workflow -> handlers -> simulator -> tables, asserting the exact FleetWise calls, the
backoff schedule from the virtual clock, the executions and the final status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import (
    INITIAL_WAIT,
    PENDING_300_DELAYS,
    PENDING_300_POLLS,
    TARGET,
    operator_managed,
    poll_delays,
    transient_delays,
)
from fleetwise_rehearsal.fleetwise import FAILURE, SUCCESS, Outcome
from fleetwise_rehearsal.fleetwise.wire import ApiError
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

GET = "GetRegisterAccountStatus"
REGISTER = "RegisterAccount"
REGISTERED_PATH = (
    "Init", "Acquire", "LeaseAcquired", "Observe", "Decide", "Register", "AwaitRegistration",
    "Poll", "AfterPoll", "Record", "Again", "Done",
)  # fmt: skip
NO_ACTION_PATH = (
    "Init",
    "Acquire",
    "LeaseAcquired",
    "Observe",
    "Decide",
    "Record",
    "Again",
    "Done",
)
ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"


def conditions(status: dict[str, object]) -> dict[str, tuple[object, object]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}  # type: ignore[index,union-attr]


def test_never_registered_registers_then_waits_without_new_calls(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN a never-registered account and a registration pending for 300 virtual seconds
    r = rehearse()
    # WHEN the stack is deployed and its custom resource writes the default spec
    answer = r.deploy_spec()
    r.settle()
    # THEN one run registered once, waited, and polled with the template's backoff
    assert answer["Status"] == "SUCCESS"
    assert r.fleetwise_operations() == [GET, REGISTER] + [GET] * PENDING_300_POLLS
    assert r.sim is not None
    assert [c.input for c in r.sim.calls(REGISTER)] == [{}]
    assert r.clock.delays_for("wait:") == [INITIAL_WAIT]
    assert r.clock.delays_for("retry:") == PENDING_300_DELAYS
    assert PENDING_300_DELAYS == [2.5, 5.0, 10.0, 15.0, 15.0, 15.0, 15.0, 15.0]
    [run] = r.executions()
    assert (run.status, run.path, run.input["trigger"]) == ("SUCCEEDED", REGISTERED_PATH, "stream")
    assert run.name == run.input["eventId"]
    assert (run.stopped_at - run.started_at).total_seconds() == 302.5  # type: ignore[operator]
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Registered", "Registered")
    assert conditions(status) == {
        "Ready": ("True", "Registered"),
        "Synced": ("True", "Registered"),
        "Drifted": ("False", "InSync"),
    }
    assert "lastError" not in status
    # Registered: the failure budget of the spec version starts afresh
    assert status["attempts"] == {"specHash": status["specHash"], "count": 0, "refused": 0}
    assert r.lease(TARGET) is None


def test_success_matching_records_registered_without_registering(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse()
    assert r.sim is not None
    r.sim.set_account_status(SUCCESS)
    r.deploy_spec()
    r.settle()
    assert r.fleetwise_operations() == [GET]
    assert r.clock.delays == []
    [run] = r.executions()
    assert (run.status, run.path) == ("SUCCEEDED", NO_ACTION_PATH)
    status = r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"


def test_success_not_matching_made_by_someone_else_awaits_adoption(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN an account registered modern by someone else, and a legacy spec saying nothing of
    # what to do with an existing registration
    r = rehearse(parameters=operator_managed())
    assert r.sim is not None
    r.sim.set_account_status(SUCCESS)
    r.write_spec(
        {
            "target": TARGET,
            "mode": "timestream",
            "timestream": {"databaseName": "fleet", "tableName": "signals"},
            "iamRoleArn": ROLE,
        }
    )
    r.settle()
    # THEN it is observed and left as it is, awaiting the operator
    assert r.fleetwise_operations() == [GET]
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Blocked", "AwaitingAdoption")
    assert "managedSince" not in status


@pytest.mark.parametrize(
    ("policy", "expected_ops", "phase"),
    [
        ("enforce", [GET, REGISTER] + [GET] * PENDING_300_POLLS, "Registered"),
        ("observe-only", [GET], "Drifted"),
    ],
)
def test_success_not_matching_is_drift(
    rehearse: Callable[..., Rehearsal], policy: str, expected_ops: list[str], phase: str
) -> None:
    # GIVEN an account registered modern, and a spec asking for the legacy Timestream mode
    # that lets the stack register over a registration it did not make
    r = rehearse(parameters=operator_managed())
    assert r.sim is not None
    r.sim.set_account_status(SUCCESS)
    spec = {
        "target": TARGET,
        "mode": "timestream",
        "policy": policy,
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iamRoleArn": ROLE,
        "onExisting": "replace",
    }
    r.write_spec(spec)
    r.settle()
    # THEN enforce re-registers (with the legacy parameters); observe-only only reports
    assert r.fleetwise_operations() == expected_ops
    status = r.status(TARGET)
    assert status is not None
    assert status["phase"] == phase
    if policy == "enforce":
        assert [c.input for c in r.sim.calls(REGISTER)] == [
            {
                "timestreamResources": {
                    "timestreamDatabaseName": "fleet",
                    "timestreamTableName": "signals",
                },
                "iamResources": {"roleArn": ROLE},
            }
        ]
    else:
        assert conditions(status)["Drifted"][0] == "True"


def test_failure_reregisters_bounded_then_failed(rehearse: Callable[..., Rehearsal]) -> None:
    # GIVEN every registration fails after 60 s pending (IAM not yet propagated)
    r = rehearse()
    assert r.sim is not None
    r.sim.script_registrations([Outcome(pending_seconds=60, result="FAILURE")] * 6)
    r.deploy_spec()
    r.settle()
    # THEN RegisterAccount is called MaxRegistrationAttempts (5) times for this spec version
    assert r.sim.count(REGISTER) == 5
    [run] = r.executions()
    assert run.status == "SUCCEEDED"
    assert run.path.count("Register") == 5
    # 210 s wait, then the first poll already sees FAILURE (60 s < 210 s): no poll retries
    assert r.clock.delays_for("wait:") == [INITIAL_WAIT] * 5
    assert r.clock.delays_for("retry:") == []
    assert r.fleetwise_operations() == [GET] + [REGISTER, GET] * 5
    status = r.status(TARGET)
    assert status is not None
    assert status["phase"] == "Failed"
    assert status["attempts"]["count"] == 5
    # AND a tick on the same spec version does not register again
    r.tick()
    r.settle()
    assert r.sim.count(REGISTER) == 5


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerException"])
def test_transient_errors_are_retried_with_backoff(
    rehearse: Callable[..., Rehearsal], code: str
) -> None:
    r = rehearse()
    assert r.sim is not None
    r.sim.fail_next(GET, code, times=2)
    r.sim.fail_next(REGISTER, code, times=1)
    r.deploy_spec()
    r.settle()
    assert r.fleetwise_operations() == (
        [GET, GET, GET, REGISTER, REGISTER] + [GET] * PENDING_300_POLLS
    )
    assert r.clock.delays_for("retry:Observe:FleetWiseTransientError") == transient_delays(2)
    assert r.clock.delays_for("retry:Register:FleetWiseTransientError") == transient_delays(1)
    assert transient_delays(2) == [1.0, 2.0]
    assert r.clock.delays_for("retry:Poll:RegistrationPending") == PENDING_300_DELAYS
    status = r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"


def test_conflict_reobserves_and_waits(rehearse: Callable[..., Rehearsal]) -> None:
    # GIVEN someone else's registration starts between Observe and Register: RegisterAccount
    # answers Conflict while that registration is pending (300 s)
    r = rehearse()
    sim = r.sim
    assert sim is not None
    original = sim.handle_register_account

    def conflicting(body: dict[str, Any]) -> dict[str, Any]:
        original(body)
        sim.handle_register_account = original  # type: ignore[method-assign]
        raise ApiError(
            "ConflictException",
            "A registration is in progress.",
            resource=sim.account_id,
            resourceType="account",
        )

    sim.handle_register_account = conflicting  # type: ignore[method-assign]
    r.deploy_spec()
    r.settle()
    # THEN no second RegisterAccount: the run waits for the one in flight and records it
    assert r.fleetwise_operations() == [GET, REGISTER] + [GET] * PENDING_300_POLLS
    assert [c.error_type for c in sim.calls(REGISTER)] == ["ConflictException"]
    assert r.clock.delays_for("retry:") == PENDING_300_DELAYS
    [run] = r.executions()
    assert (run.status, run.path) == ("SUCCEEDED", REGISTERED_PATH)
    status = r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"


@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
def test_terminal_errors_fail_and_ticks_do_not_retry(
    rehearse: Callable[..., Rehearsal], code: str
) -> None:
    r = rehearse()
    assert r.sim is not None
    r.sim.fail_next(REGISTER, code, "not allowed here")
    r.deploy_spec()
    r.settle()
    assert r.fleetwise_operations() == [GET, REGISTER]
    assert r.clock.delays == []
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", code)
    assert status["lastError"]["code"] == code
    assert status["lastError"]["message"] == "not allowed here"
    assert status["lastError"]["retryable"] is False
    [run] = r.executions()
    assert run.path == (*REGISTERED_PATH[:6], "Record", "Again", "Done")
    # WHEN the drift schedule ticks: it observes and reports, it starts nothing
    started = r.tick()
    r.settle()
    assert started == []
    assert r.fleetwise_operations() == [GET, REGISTER, GET]
    assert r.sim.count(REGISTER) == 1


def test_pending_past_the_budget_fails_with_a_timeout(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse()
    assert r.sim is not None
    r.sim.script_registrations([Outcome(pending_seconds=3600)])
    r.deploy_spec()
    r.settle()
    assert r.sim.count(REGISTER) == 1
    # polls until 900 s (RegistrationBudgetSeconds) after RegisterAccount: 210 s, then
    # 2.5, 5, 10, then 15 s steps
    delays = r.clock.delays_for("retry:Poll:RegistrationPending")
    expected = poll_delays(3)
    elapsed = INITIAL_WAIT + sum(expected)
    while elapsed < 900:
        expected.append(15.0)
        elapsed += 15.0
    assert delays == expected
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", "RegistrationTimedOut")
    assert status["lastError"]["code"] == "RegistrationTimedOut"
    assert status["lastError"]["message"] == (
        "IoT FleetWise still reports REGISTRATION_PENDING 902 s after RegisterAccount "
        "(budget 900 s)"
    )


def test_failure_observed_before_any_action_is_reregistered(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse()
    assert r.sim is not None
    r.sim.set_account_status(FAILURE)
    r.deploy_spec()
    r.settle()
    assert r.fleetwise_operations() == [GET, REGISTER] + [GET] * PENDING_300_POLLS
    status = r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"


def test_throttling_with_retry_after_waits_the_services_delay(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN IoT FleetWise throttles with retryAfterSeconds: twice on the first status call,
    # once on RegisterAccount and once on a poll
    r = rehearse()
    assert r.sim is not None
    r.sim.fail_next(GET, "ThrottlingException", retry_after=7, times=2)
    r.sim.fail_next(REGISTER, "ThrottlingException", retry_after=11, times=1)
    r.deploy_spec()
    r.settle()
    # THEN each throttled step is called again after exactly the delay the service asked for,
    # not after the workflow's own backoff, and the registration completes
    assert r.clock.delays_for("wait:RetryAfterWait") == [7.0, 7.0, 11.0]
    assert r.clock.delays_for("retry:Observe:") == []
    assert r.clock.delays_for("retry:Register:") == []
    assert r.fleetwise_operations() == (
        [GET, GET, GET, REGISTER, REGISTER] + [GET] * PENDING_300_POLLS
    )
    [run] = r.executions()
    assert run.path[:12] == (
        "Init",
        "Acquire",
        "LeaseAcquired",
        "Observe",
        "ThrottledInObserve",
        "ReadRetryAfter",
        "WithinThrottleBudget",
        "RetryAfterWait",
        "ResumeAfterThrottle",
        "Observe",
        "ThrottledInObserve",
        "ReadRetryAfter",
    )
    status = r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"


def test_throttling_past_the_budget_is_recorded_as_retryable(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # GIVEN the service throttles every status call (ThrottleMaxWaits is 5 by default)
    r = rehearse()
    assert r.sim is not None
    r.sim.fail_next(GET, "ThrottlingException", retry_after=30, times=6)
    r.deploy_spec()
    r.settle()
    # THEN the run waits five times, then records a retryable failure instead of looping
    assert r.clock.delays_for("wait:RetryAfterWait") == [30.0] * 5
    assert r.fleetwise_operations() == [GET] * 6
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", "ThrottlingException")
    assert status["lastError"]["retryable"] is True
    assert status["lastError"]["operation"] == "GetRegisterAccountStatus"

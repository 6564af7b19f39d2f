"""The workflow's step handlers with moto's DynamoDB and FleetWise behind botocore's Stubber.

Stubber checks every request against the iotfleetwise service model and fails on any call
not queued, so each test states exactly which FleetWise calls a step makes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber
from handler_fakes import Clock, status_response

from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import (
    FleetWiseTerminalError,
    FleetWiseThrottled,
    FleetWiseTransientError,
    RegistrationPending,
)
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.handlers import acquire, observe, poll, record, register
from fleetwise_reconciler.logic.compare import spec_hash

TARGET = "123456789012:us-east-1"
ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"
SLR = (
    "arn:aws:iam::123456789012:role/aws-service-role/iotfleetwise.amazonaws.com/"
    "AWSServiceRoleForIoTFleetWise"
)
LEGACY = {
    "target": TARGET,
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": ROLE,
}
EXEC = "arn:aws:states:us-east-1:123456789012:execution:Reconcile:run-1"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:Reconcile:run-2"


def observe_with(
    specs: SpecRepository,
    statuses: StatusRepository,
    fleetwise: FleetWise,
    trigger: str = "stream",
) -> dict[str, Any]:
    return observe.handle(
        {"target": TARGET, "execution": EXEC, "trigger": trigger},
        specs=specs,
        statuses=statuses,
        fleetwise=fleetwise,
    )


# -- Observe ---------------------------------------------------------------------------------


def test_observe_plans_a_registration_for_an_unregistered_account(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        expected_params={},
    )
    result = observe_with(spec_repository, status_repository, fleetwise)
    assert result["action"] == "Register"
    assert result["reason"] == "NotRegistered"
    assert result["spec"] == {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "enforce",
        "paused": False,
    }
    assert result["specHash"] == spec_hash({"target": TARGET})
    assert result["observation"] == {"registered": False}
    assert result["observedAt"] == "2026-11-26T12:00:00.000Z"
    assert result["attempts"] == 0


def test_observe_makes_no_call_for_an_invalid_spec(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, _stub = stubbed  # nothing queued: any call would fail the test
    spec_repository.put({"target": TARGET, "mode": "timestream", "colour": "blue"})
    result = observe_with(spec_repository, status_repository, fleetwise)
    assert result["action"] == "Invalid"
    assert result["observation"] is None
    assert result["message"] == (
        "the spec is invalid, nothing was called: colour: unknown field (allowed: target, mode, "
        "policy, paused, reconcileToken, timestream, iamRoleArn); timestream: is required when "
        "mode is 'timestream'; iamRoleArn: is required when mode is 'timestream'"
    )


def test_observe_of_a_deleted_item_stops_management(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, _stub = stubbed
    result = observe_with(spec_repository, status_repository, fleetwise)
    assert (result["action"], result["reason"]) == ("Unmanaged", "SpecDeleted")


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ThrottlingException", 400, FleetWiseTransientError),
        ("InternalServerException", 500, FleetWiseTransientError),
        ("AccessDeniedException", 403, FleetWiseTerminalError),
        ("ValidationException", 400, FleetWiseTerminalError),
    ],
)
def test_observe_errors_cross_into_step_functions_by_class_name(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    code: str,
    status: int,
    error: type[Exception],
) -> None:
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    stub.add_client_error(
        "get_register_account_status", service_error_code=code, http_status_code=status
    )
    with pytest.raises(error) as raised:
        observe_with(spec_repository, status_repository, fleetwise)
    assert json.loads(str(raised.value))["code"] == code


# -- Register --------------------------------------------------------------------------------


def register_event(
    spec: dict[str, Any], registration: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "target": TARGET,
        "execution": EXEC,
        "spec": spec,
        "specHash": spec_hash(spec),
        "plan": {"attempts": 0},
        "registration": registration,
    }


def test_modern_registration_sends_an_empty_request(
    stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    stub.add_response(
        "register_account",
        {
            "registerAccountStatus": "REGISTRATION_PENDING",
            # The model requires iamResources in the answer even when the request had none.
            "iamResources": {"roleArn": SLR},
            "creationTime": now(),
            "lastModificationTime": now(),
        },
        expected_params={},
    )
    result = register.handle(
        register_event({"target": TARGET, "mode": "cloudwatch"}), fleetwise=fleetwise
    )
    assert result == {
        "startedAt": "2026-11-26T12:00:00.000Z",
        "attempt": 1,
        "accountStatus": "REGISTRATION_PENDING",
        "conflict": False,
    }


def test_legacy_registration_sends_both_resources(
    stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    stub.add_response(
        "register_account",
        {
            "registerAccountStatus": "REGISTRATION_PENDING",
            "timestreamResources": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
            },
            "iamResources": {"roleArn": ROLE},
            "creationTime": now(),
            "lastModificationTime": now(),
        },
        expected_params={
            "timestreamResources": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
            },
            "iamResources": {"roleArn": ROLE},
        },
    )
    result = register.handle(register_event(LEGACY, {"attempt": 2}), fleetwise=fleetwise)
    assert result["attempt"] == 3


def test_conflict_waits_instead_of_calling_again(
    stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    stub.add_client_error(
        "register_account", service_error_code="ConflictException", http_status_code=409
    )
    result = register.handle(
        register_event({"target": TARGET, "mode": "cloudwatch"}), fleetwise=fleetwise
    )
    assert result["conflict"] is True


# -- Poll ------------------------------------------------------------------------------------


def poll_event(spec: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    return {
        "target": TARGET,
        "execution": EXEC,
        "spec": spec,
        "specHash": spec_hash(spec),
        "plan": {"observedAt": "2026-11-26T12:00:00.000Z", "attempts": 0},
        "registration": {"startedAt": "2026-11-26T12:00:00.000Z", "attempt": attempt},
    }


MODERN_SPEC = {"target": TARGET, "mode": "cloudwatch", "policy": "enforce", "paused": False}


def test_poll_raises_pending_within_the_budget(
    stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    stub.add_response("get_register_account_status", status_response("REGISTRATION_PENDING"), {})
    now.advance(899)
    with pytest.raises(RegistrationPending):
        poll.handle(poll_event(MODERN_SPEC), fleetwise=fleetwise)


def test_poll_times_out_at_the_budget(stubbed: tuple[FleetWise, Stubber], now: Clock) -> None:
    fleetwise, stub = stubbed
    stub.add_response("get_register_account_status", status_response("REGISTRATION_PENDING"), {})
    now.advance(900)
    result = poll.handle(poll_event(MODERN_SPEC), fleetwise=fleetwise)
    assert (result["outcome"], result["reason"]) == ("TimedOut", "RegistrationTimedOut")
    assert result["message"] == (
        "IoT FleetWise still reports REGISTRATION_PENDING 900 s after RegisterAccount "
        "(budget 900 s)"
    )


@pytest.mark.parametrize("step", ["Observe", "Register", "Poll"])
def test_a_throttle_with_a_retry_hint_crosses_as_fleetwise_throttled(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    step: str,
) -> None:
    # GIVEN IoT FleetWise throttles the step's call and says when to come back
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    operation = "register_account" if step == "Register" else "get_register_account_status"
    stub.add_client_error(
        operation,
        service_error_code="ThrottlingException",
        http_status_code=429,
        modeled_fields={"message": "slow down", "retryAfterSeconds": 7},
    )
    # WHEN the step runs
    with pytest.raises(FleetWiseThrottled) as raised:
        if step == "Observe":
            observe_with(spec_repository, status_repository, fleetwise)
        elif step == "Register":
            register.handle(register_event(MODERN_SPEC), fleetwise=fleetwise)
        else:
            poll.handle(poll_event(MODERN_SPEC), fleetwise=fleetwise)
    # THEN the error the workflow waits on carries the service's delay
    detail = json.loads(str(raised.value))
    assert (detail["code"], detail["retryAfterSeconds"]) == ("ThrottlingException", 7)


@pytest.mark.parametrize("step", ["Register", "Poll"])
@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("InternalServerException", 500, FleetWiseTransientError),
        ("AccessDeniedException", 403, FleetWiseTerminalError),
    ],
)
def test_register_and_poll_errors_cross_by_class_name(
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    step: str,
    code: str,
    status: int,
    error: type[Exception],
) -> None:
    # GIVEN IoT FleetWise refuses the step's call (no retry hint)
    fleetwise, stub = stubbed
    operation = "register_account" if step == "Register" else "get_register_account_status"
    stub.add_client_error(operation, service_error_code=code, http_status_code=status)
    # WHEN the step runs, THEN the error crosses under the class name the workflow catches
    with pytest.raises(error) as raised:
        if step == "Register":
            register.handle(register_event(MODERN_SPEC), fleetwise=fleetwise)
        else:
            poll.handle(poll_event(MODERN_SPEC), fleetwise=fleetwise)
    assert type(raised.value) is error
    assert json.loads(str(raised.value))["code"] == code


def test_poll_success_matching(stubbed: tuple[FleetWise, Stubber], now: Clock) -> None:
    fleetwise, stub = stubbed
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    assert poll.handle(poll_event(MODERN_SPEC), fleetwise=fleetwise)["outcome"] == "Registered"


def test_poll_success_that_does_not_match_is_diverged(
    stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    stub.add_response(
        "get_register_account_status",
        status_response(
            "REGISTRATION_SUCCESS", timestream={"databaseName": "old", "tableName": "tbl"}
        ),
        {},
    )
    result = poll.handle(poll_event(MODERN_SPEC), fleetwise=fleetwise)
    assert (result["outcome"], result["reason"]) == ("Diverged", "DriftNotCured")


@pytest.mark.parametrize(
    ("attempt", "outcome"), [(1, "Reregister"), (4, "Reregister"), (5, "Failed")]
)
def test_poll_failure_reregisters_up_to_the_bound(
    stubbed: tuple[FleetWise, Stubber], now: Clock, attempt: int, outcome: str
) -> None:
    fleetwise, stub = stubbed
    stub.add_response("get_register_account_status", status_response("REGISTRATION_FAILURE"), {})
    assert poll.handle(poll_event(MODERN_SPEC, attempt), fleetwise=fleetwise)["outcome"] == outcome


# -- Acquire and Record ----------------------------------------------------------------------


def test_second_run_leaves_its_request_to_the_holder(
    status_repository: StatusRepository, now: Clock
) -> None:
    first = acquire.handle({"target": TARGET, "execution": EXEC}, statuses=status_repository)
    second = acquire.handle({"target": TARGET, "execution": OTHER}, statuses=status_repository)
    assert first == {"acquired": True, "holder": EXEC, "expiresAt": int(now().timestamp()) + 1800}
    assert second["acquired"] is False
    assert second["holder"] == EXEC
    assert status_repository.get_lease(TARGET)["pending"] is True


def record_event(plan: dict[str, Any], **slots: Any) -> dict[str, Any]:
    return {
        "target": TARGET,
        "execution": EXEC,
        "trigger": "stream",
        "plan": plan,
        "registration": slots.get("registration"),
        "poll": slots.get("poll"),
        "error": slots.get("error"),
        "loop": slots.get("loop", 0),
    }


def planned(raw: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {
        "action": "Register",
        "phase": "Registering",
        "reason": "NotRegistered",
        "message": "registering",
        "drift": ["the account is not registered with IoT FleetWise"],
        "specHash": spec_hash(raw),
        "spec": raw,
        "rawSpec": raw,
        "observation": {"registered": False},
        "attempts": 0,
        "observedAt": "2026-11-26T12:00:00.000Z",
    }
    base.update(fields)
    return base


def test_record_writes_the_registered_status_and_releases(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    now.advance(330)
    observation = {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}
    result = record.handle(
        record_event(
            planned(raw),
            registration={"startedAt": "2026-11-26T12:00:00.000Z", "attempt": 1},
            poll={
                "outcome": "Registered",
                "observation": observation,
                "message": "registered as declared",
            },
        ),
        specs=spec_repository,
        statuses=status_repository,
    )
    assert result == {"again": False, "loop": 0, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET) is None
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert status["phase"] == "Registered"
    assert status["reason"] == "Registered"
    assert status["specHash"] == spec_hash(raw)
    assert status["observedSpec"] == raw
    assert status["attempts"] == {"specHash": spec_hash(raw), "count": 1}
    assert status["observed"] == {**observation, "observedAt": "2026-11-26T12:05:30.000Z"}
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("Ready", "True"),
        ("Synced", "True"),
        ("Drifted", "False"),
    ]
    assert status["lastReconcileStartedAt"] == "2026-11-26T12:00:00.000Z"
    assert status["lastReconcileFinishedAt"] == "2026-11-26T12:05:30.000Z"
    assert [h["phase"] for h in status["history"]] == ["Registered"]
    assert "lastError" not in status


def test_record_of_a_caught_terminal_error(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    cause = json.dumps(
        {
            "errorType": "FleetWiseTerminalError",
            "errorMessage": FleetWiseTerminalError(
                "AccessDeniedException", "not authorized", operation="RegisterAccount"
            ).args[0],
        }
    )
    record.handle(
        record_event(planned(raw), error={"Error": "FleetWiseTerminalError", "Cause": cause}),
        specs=spec_repository,
        statuses=status_repository,
    )
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", "AccessDeniedException")
    assert status["lastError"] == {
        "code": "AccessDeniedException",
        "message": "not authorized",
        "retryable": False,
        "operation": "RegisterAccount",
        "at": "2026-11-26T12:00:00.000Z",
    }
    assert status["message"] == (
        "RegisterAccount failed with AccessDeniedException: not authorized (not retried until "
        "the spec, its reconcileToken or the permissions change)"
    )


def test_record_loops_when_the_spec_changed_meanwhile(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put({"target": TARGET, "reconcileToken": "newer"})
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    result = record.handle(record_event(plan), specs=spec_repository, statuses=status_repository)
    assert result == {"again": True, "loop": 1, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET)["holder"] == EXEC


def test_record_loops_when_a_newer_request_is_pending(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)  # marks pending
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    first = record.handle(record_event(plan), specs=spec_repository, statuses=status_repository)
    assert first["again"] is True
    second = record.handle(
        record_event(plan, loop=1), specs=spec_repository, statuses=status_repository
    )
    assert second == {"again": False, "loop": 1, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET) is None


def test_a_run_that_lost_its_lease_never_overwrites_the_newer_status(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=60)
    now.advance(61)  # expired: the newer run takes over and records first
    status_repository.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)
    status_repository.put_status(TARGET, OTHER, {"phase": "Registered", "reason": "UpToDate"})
    result = record.handle(
        record_event(planned(raw)), specs=spec_repository, statuses=status_repository
    )
    assert result["leaseLost"] is True
    assert status_repository.get_status(TARGET) == {"phase": "Registered", "reason": "UpToDate"}
    assert status_repository.get_lease(TARGET)["holder"] == OTHER


def test_an_observe_failure_is_recorded_for_the_current_spec_without_looping(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN Observe raised (its plan slot is empty) and the run caught the error
    raw = {"target": TARGET}
    spec_repository.put(raw)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    cause = json.dumps(
        {
            "errorType": "FleetWiseTerminalError",
            "errorMessage": FleetWiseTerminalError(
                "AccessDeniedException", "denied", operation="GetRegisterAccountStatus"
            ).args[0],
        }
    )
    event = record_event({}, error={"Error": "FleetWiseTerminalError", "Cause": cause})
    # WHEN Record runs
    result = record.handle(event, specs=spec_repository, statuses=status_repository)
    # THEN it records the failure against the spec as it is and finishes
    assert result == {"again": False, "loop": 0, "phase": "Failed", "leaseLost": False}
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["specHash"], status["observedSpec"]) == (
        "Failed",
        spec_hash(raw),
        raw,
    )
    assert status_repository.get_lease(TARGET) is None


def test_at_the_loop_bound_the_lease_is_released_for_good(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN the spec changed AND a newer request is pending, on the last allowed loop (5)
    raw = {"target": TARGET}
    spec_repository.put({"target": TARGET, "reconcileToken": "newer"})
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    # WHEN Record runs
    result = record.handle(
        record_event(plan, loop=5), specs=spec_repository, statuses=status_repository
    )
    # THEN it stops looping and leaves no lease behind (the drift check picks the edit up)
    assert result == {"again": False, "loop": 5, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET) is None

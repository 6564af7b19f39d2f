"""The workflow's step handlers with moto's DynamoDB and FleetWise behind botocore's Stubber.

Stubber checks every request against the iotfleetwise service model and fails on any call
not queued, so each test states exactly which FleetWise calls a step makes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest
from botocore.stub import Stubber
from handler_fakes import Clock, status_response

from fleetwise_reconciler import budget
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import (
    FleetWiseTerminalError,
    FleetWiseThrottled,
    FleetWiseTransientError,
    LeaseLost,
    RegistrationPending,
)
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.handlers import acquire, observe, poll, record, register
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.settings import get_settings

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


def hold_lease(statuses: StatusRepository, now: Clock, execution: str = EXEC) -> None:
    """The run under test holds the target's lease (as Acquire left it)."""
    assert statuses.acquire_lease(TARGET, execution, now=now(), lease_seconds=3900).acquired


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
    hold_lease(status_repository, now)
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
    hold_lease(status_repository, now)
    fleetwise, _stub = stubbed  # nothing queued: any call would fail the test
    spec_repository.put({"target": TARGET, "mode": "timestream", "colour": "blue"})
    result = observe_with(spec_repository, status_repository, fleetwise)
    assert result["action"] == "Invalid"
    assert result["observation"] is None
    assert result["message"] == (
        "the spec is invalid, nothing was called: colour: unknown field holding a String (S); "
        "allowed: target, mode, policy, paused, reconcileToken, timestream, iamRoleArn, "
        "onExisting; timestream: is required when mode is 'timestream'; iamRoleArn: is required "
        "when mode is 'timestream'"
    )


def test_observe_of_an_item_of_every_type_answers_json_and_calls_nothing(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    # GIVEN an item with sets, binary and nested values (as the console writes them; a NULL
    # attribute is rehearsed in scenarios/invariants/12-*)
    hold_lease(status_repository, now)
    fleetwise, _stub = stubbed  # nothing queued: any call would fail the test
    item = {
        "target": TARGET,
        "colours": {"red", "blue"},
        "ids": {3, 1.5},
        "blobs": {b"\x00", b"\x01"},
        "badge": b"\xff",
        "nested": {"l": [True, {"x"}]},
    }
    spec_repository.put(item)
    # WHEN Observe runs
    result = observe_with(spec_repository, status_repository, fleetwise)
    # THEN its result is plain JSON, as Lambda's runtime must write it (a set or bytes would
    # fail the run with Runtime.MarshalError), and the spec is Invalid, naming each type
    assert json.loads(json.dumps(result)) == result
    assert result["rawSpec"] == {
        "target": TARGET,
        "colours": ["blue", "red"],
        "ids": [1.5, 3],
        "blobs": ["AA==", "AQ=="],
        "badge": "/w==",
        "nested": {"l": [True, ["x"]]},
    }
    assert (result["action"], result["specHash"]) == ("Invalid", spec_hash(item))
    for words in ("a String Set (SS)", "a Number Set (NS)", "a Binary Set (BS)", "a Binary (B)"):
        assert words in result["message"]


class MigrationPort(FleetWise):
    """An account registered with Timestream and two campaigns; counts the campaign reads."""

    def __init__(self) -> None:
        super().__init__(client=object())
        self.reads: list[str] = []

    def get_status(self) -> dict[str, Any]:
        return {
            "registered": True,
            "accountStatus": "REGISTRATION_SUCCESS",
            "iam": {"roleArn": SLR, "registrationStatus": "REGISTRATION_SUCCESS"},
            "timestream": {"databaseName": "fleet", "tableName": "signals"},
        }

    def list_campaigns(self) -> list[dict[str, Any]]:
        self.reads.append("ListCampaigns")
        return [{"name": "c1"}, {"name": "c2"}]

    def get_campaign(self, name: str) -> dict[str, Any]:
        self.reads.append(name)
        return {"name": name, "dataDestinationConfigs": [{"s3Config": {}}]}


class Countdown:
    """Lambda's time left: ``seconds`` each time it is asked, one less each time."""

    def __init__(self, *seconds: float) -> None:
        self.seconds = list(seconds)

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds.pop(0) * 1000)


def test_observe_reads_a_campaign_only_while_its_call_fits_in_the_time_left(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a modern spec over an account still registered with Timestream, and time for the
    # list and one campaign read only (budget.FLEETWISE's worst case is 12 s); the spec
    # replaces a registration it did not make
    hold_lease(status_repository, now)
    spec_repository.put({"target": TARGET, "onExisting": "replace"})
    port = MigrationPort()
    deadline = budget.Deadline.of(Countdown(40, 12, 11.9))
    # WHEN Observe plans the switch back THEN it stops before the read that may not finish,
    # as a transient error the workflow retries
    with pytest.raises(FleetWiseTransientError) as raised:
        observe.handle({"target": TARGET, "execution": EXEC, "trigger": "stream"},
                       specs=spec_repository, statuses=status_repository, fleetwise=port,
                       deadline=deadline)  # fmt: skip
    assert json.loads(str(raised.value))["code"] == "TimeBudgetSpent"
    assert port.reads == ["ListCampaigns", "c1"]
    # AND with time enough it reads every campaign and plans the registration
    port = MigrationPort()
    result = observe.handle({"target": TARGET, "execution": EXEC, "trigger": "stream"},
                            specs=spec_repository, statuses=status_repository, fleetwise=port,
                            deadline=budget.Deadline.of(Countdown(60, 60, 60)))  # fmt: skip
    assert (port.reads, result["action"]) == (["ListCampaigns", "c1", "c2"], "Register")


def test_observe_of_a_deleted_item_stops_management(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    hold_lease(status_repository, now)
    fleetwise, _stub = stubbed
    result = observe_with(spec_repository, status_repository, fleetwise)
    # every field is there (the workflow's ResultSelector names each one)
    assert result == {
        "action": "Unmanaged",
        "phase": "Unmanaged",
        "reason": "SpecDeleted",
        "message": (
            "the spec item was deleted: the target is no longer managed (IoT FleetWise has no "
            "deregistration, so the registration is left as it is)"
        ),
        "drift": [],
        "specHash": None,
        "spec": None,
        "rawSpec": None,
        "observation": None,
        "attempts": 0,
        "observedAt": "2026-11-26T12:00:00.000Z",
    }


def test_observe_renews_the_lease_and_notes_the_spec_version(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    spec_repository.put({"target": TARGET})
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    now.advance(120)
    observe_with(spec_repository, status_repository, fleetwise)
    assert status_repository.get_lease(TARGET) == {
        "holder": EXEC,
        "acquiredAt": "2026-11-26T12:00:00.000Z",
        # renewed from now: the lease outlives the run (execution timeout + 5 minutes)
        "expiresAt": int(now().timestamp()) + 3600 + 300,
        "pending": False,
        "specHash": spec_hash({"target": TARGET}),
    }


def test_observe_by_a_run_that_lost_its_lease_stops_before_any_call(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, _stub = stubbed  # nothing queued: any FleetWise call would fail the test
    hold_lease(status_repository, now, OTHER)
    spec_repository.put({"target": TARGET})
    with pytest.raises(LeaseLost, match=f"{EXEC} no longer holds the lease of {TARGET}"):
        observe_with(spec_repository, status_repository, fleetwise)
    assert status_repository.get_lease(TARGET)["holder"] == OTHER


def test_observe_of_an_oversized_item_is_invalid_and_carries_none_of_it(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, _stub = stubbed
    hold_lease(status_repository, now)
    raw = {"target": TARGET, "reconcileToken": "x" * 300_000}
    spec_repository.put(raw)
    result = observe_with(spec_repository, status_repository, fleetwise)
    assert result == {
        "action": "Invalid",
        "phase": "Invalid",
        "reason": "InvalidSpec",
        "message": (
            "the spec is invalid, nothing was called: spec: the item is 300,055 bytes as JSON; "
            "a spec item may hold at most 4,096 bytes (remove what does not belong in it)"
        ),
        "drift": [],
        "specHash": spec_hash(raw),
        "spec": None,
        "rawSpec": None,
        "observation": None,
        "attempts": 0,
        "observedAt": "2026-11-26T12:00:00.000Z",
    }
    assert len(json.dumps(result)) < 1024


def test_observe_calls_iot_fleetwise_in_the_targets_region(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    fleetwise, stub = stubbed
    target = "123456789012:eu-central-1"
    assert status_repository.acquire_lease(target, EXEC, now=now(), lease_seconds=60).acquired
    spec_repository.put({"target": target})
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    asked: list[str] = []

    def port_of(region: str) -> FleetWise:
        asked.append(region)
        return fleetwise

    result = observe.handle(
        {"target": target, "execution": EXEC, "trigger": "stream"},
        specs=spec_repository,
        statuses=status_repository,
        fleetwise=port_of,
    )
    assert asked == ["eu-central-1"]
    assert (result["action"], result["phase"]) == ("NoChange", "Registered")


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
    hold_lease(status_repository, now)
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
    spec: dict[str, Any], registration: dict[str, Any] | None = None, attempts: int = 0
) -> dict[str, Any]:
    return {
        "target": TARGET,
        "execution": EXEC,
        "spec": spec,
        "specHash": spec_hash(spec),
        "plan": {"attempts": attempts},
        "registration": registration,
    }


def registering(now: Clock, role: str = SLR) -> dict[str, Any]:
    """RegisterAccount's answer (the model requires iamResources even for an empty request)."""
    return {
        "registerAccountStatus": "REGISTRATION_PENDING",
        "iamResources": {"roleArn": role},
        "creationTime": now(),
        "lastModificationTime": now(),
    }


MODERN_ITEM = {"target": TARGET, "mode": "cloudwatch"}


def counts(version: str, count: int, refused: int = 0) -> dict[str, Any]:
    """The status's ``attempts`` for one spec version."""
    return {"attempts": {"specHash": version, "count": count, "refused": refused}}


def counted(statuses: StatusRepository, version: str, made: int, refused: int = 0) -> None:
    """The status already counts ``made`` calls that may have acted and ``refused`` refused
    ones for ``version`` (as earlier Register steps left it)."""
    for _ in range(made + refused):
        assert statuses.count_attempt(TARGET, EXEC, spec_hash=version, limit=20).allowed
    for _ in range(refused):
        statuses.count_refusal(TARGET, EXEC, spec_hash=version)


def test_modern_registration_sends_an_empty_request_and_counts_it(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    # (That the count is written before the call shows where the call fails without an
    # answer: test_each_answer_counts_as_acted_or_refused, InternalServerException.)
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    stub.add_response("register_account", registering(now), expected_params={})
    result = register.handle(
        register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
    )
    assert result == {
        "startedAt": "2026-11-26T12:00:00.000Z",
        "attempt": 1,
        "accountStatus": "REGISTRATION_PENDING",
        "conflict": False,
    }
    assert status_repository.get_status(TARGET) == counts(spec_hash(MODERN_ITEM), 1)


def test_legacy_registration_sends_both_resources_and_continues_the_durable_count(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    # GIVEN two calls already counted for this version (the event carries an older count)
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    counted(status_repository, spec_hash(LEGACY), 2)
    stub.add_response(
        "register_account",
        {
            **registering(now, ROLE),
            "timestreamResources": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
            },
        },
        expected_params={
            "timestreamResources": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
            },
            "iamResources": {"roleArn": ROLE},
        },
    )
    result = register.handle(
        register_event(LEGACY, {"attempt": 1}), statuses=status_repository, fleetwise=fleetwise
    )
    # THEN the call is the third of the version, whatever the event said
    assert result["attempt"] == 3
    assert status_repository.get_status(TARGET) == counts(spec_hash(LEGACY), 3)


def test_a_retried_register_counts_every_call_it_makes(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    # GIVEN RegisterAccount answering InternalServerException (whether it acted is unknown)
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    event = register_event(MODERN_ITEM)
    for _ in range(3):
        stub.add_client_error(
            "register_account", service_error_code="InternalServerException", http_status_code=500
        )
    # WHEN Step Functions retries the step three times with the same input
    for _ in range(3):
        with pytest.raises(FleetWiseTransientError):
            register.handle(dict(event), statuses=status_repository, fleetwise=fleetwise)
    # THEN each call counts: three, not the one the input carried each time
    assert status_repository.get_status(TARGET) == counts(spec_hash(MODERN_ITEM), 3)


def test_conflict_waits_and_counts_as_refused(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    counted(status_repository, spec_hash(MODERN_ITEM), 2)
    stub.add_client_error(
        "register_account", service_error_code="ConflictException", http_status_code=409
    )
    result = register.handle(
        register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
    )
    assert result == {
        "startedAt": "2026-11-26T12:00:00.000Z",
        "attempt": 2,
        "accountStatus": None,
        "conflict": True,
    }
    assert status_repository.get_status(TARGET) == counts(spec_hash(MODERN_ITEM), 2, 1)


@pytest.mark.parametrize(
    ("code", "http", "error", "made", "refused"),
    [
        ("ThrottlingException", 429, FleetWiseTransientError, 0, 1),
        ("AccessDeniedException", 403, FleetWiseTerminalError, 0, 1),
        ("ValidationException", 400, FleetWiseTerminalError, 0, 1),
        # An internal error leaves it unknown whether the service acted: it may have.
        ("InternalServerException", 500, FleetWiseTransientError, 1, 0),
    ],
)
def test_each_answer_counts_as_acted_or_refused(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    code: str,
    http: int,
    error: type[Exception],
    made: int,
    refused: int,
) -> None:
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    stub.add_client_error("register_account", service_error_code=code, http_status_code=http)
    with pytest.raises(error) as raised:
        register.handle(
            register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
        )
    assert json.loads(str(raised.value))["code"] == code
    assert status_repository.get_status(TARGET) == counts(spec_hash(MODERN_ITEM), made, refused)


@pytest.mark.parametrize(("made", "refused"), [(5, 0), (0, 5), (3, 5), (5, 2)])
def test_a_spent_version_is_not_called_again(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    made: int,
    refused: int,
) -> None:
    # GIVEN either count of the version at MaxRegistrationAttempts (5, the default)
    fleetwise, _stub = stubbed  # nothing queued: a RegisterAccount call would fail the test
    hold_lease(status_repository, now)
    version = spec_hash(MODERN_ITEM)
    counted(status_repository, version, made, refused)
    # WHEN Register runs THEN it calls nothing, counts nothing and fails for good
    with pytest.raises(FleetWiseTerminalError) as raised:
        register.handle(
            register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
        )
    assert json.loads(str(raised.value)) == {
        "code": "AttemptsExhausted",
        "message": (
            f"{made} RegisterAccount call{'s' if made != 1 else ''} that may have acted and "
            f"{refused} refused without acting for this spec version (MaxRegistrationAttempts "
            "5 of each): not called again until the spec or its reconcileToken changes"
        ),
        "retryable": False,
        "operation": "RegisterAccount",
        "retryAfterSeconds": None,
    }
    assert status_repository.get_status(TARGET) == counts(version, made, refused)


def test_below_both_bounds_the_call_is_made(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    version = spec_hash(MODERN_ITEM)
    counted(status_repository, version, 4, 4)
    stub.add_response("register_account", registering(now), expected_params={})
    result = register.handle(
        register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
    )
    assert result["attempt"] == 5
    assert status_repository.get_status(TARGET) == counts(version, 5, 4)


def test_another_versions_counts_start_afresh(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    # GIVEN an older version whose calls are spent
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    counted(status_repository, "older", 5, 5)
    stub.add_response("register_account", registering(now), expected_params={})
    # WHEN the new version registers THEN its counts are its own
    register.handle(register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise)
    assert status_repository.get_status(TARGET) == counts(spec_hash(MODERN_ITEM), 1)


def test_the_counting_writes_carry_a_token_of_the_lambda_request(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    # GIVEN a spy on the status table's transactions
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    tokens: list[str | None] = []

    def spy(params: dict[str, Any], **_: Any) -> None:
        tokens.append(params.get("ClientRequestToken"))

    counted(status_repository, "an older version", 1)  # builds the transactions' connection
    connection = status_repository._connection
    assert connection is not None
    connection.client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", spy)
    stub.add_client_error(
        "register_account", service_error_code="ThrottlingException", http_status_code=429
    )
    # WHEN a throttled call is counted, then moved to the refused ones
    with pytest.raises(FleetWiseTransientError):
        register.handle(
            register_event(MODERN_ITEM),
            statuses=status_repository,
            fleetwise=fleetwise,
            request="req-1",
        )
    # THEN each write has a token of its own, derived from the request: an SDK retry of one
    # is applied once (the first write of a version is the second transaction tried)
    assert len(tokens) == 3
    assert all(t is not None and len(t) == 32 for t in tokens)
    assert len(set(tokens)) == 3


def test_register_by_a_run_that_lost_its_lease_never_calls(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, _stub = stubbed  # nothing queued: a RegisterAccount call would fail the test
    hold_lease(status_repository, now, OTHER)
    with pytest.raises(LeaseLost, match=r"\(attempt count\)"):
        register.handle(
            register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
        )
    assert status_repository.get_status(TARGET) is None


# -- Poll ------------------------------------------------------------------------------------


def poll_event(
    spec: dict[str, Any], attempt: int = 1, registration: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "target": TARGET,
        "execution": EXEC,
        "spec": spec,
        "specHash": spec_hash(spec),
        "plan": {"observedAt": "2026-11-26T12:00:00.000Z", "attempts": 0},
        "registration": registration
        if registration is not None
        else {"startedAt": "2026-11-26T12:00:00.000Z", "attempt": attempt},
    }


MODERN_SPEC = {"target": TARGET, "mode": "cloudwatch", "policy": "enforce", "paused": False}


@pytest.fixture
def polling(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> tuple[Any, Stubber]:
    """Poll under test, its run holding the lease: call it with an event."""
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return poll.handle(event, statuses=status_repository, fleetwise=fleetwise)

    return call, stub


def observed_as(status: str, **more: Any) -> dict[str, Any]:
    """What the adapter makes of ``status_response(status, **more)`` (the status's shape)."""
    response = status_response(status, **more)
    timestream = response.get("timestreamRegistrationResponse")
    return {
        "registered": True,
        "accountStatus": status,
        "customerAccountId": "123456789012",
        "iam": {
            "roleArn": response["iamRegistrationResponse"]["roleArn"],
            "registrationStatus": status,
            "errorMessage": response["iamRegistrationResponse"].get("errorMessage"),
        },
        "timestream": {
            "databaseName": timestream["timestreamDatabaseName"],
            "tableName": timestream["timestreamTableName"],
            "databaseArn": None,
            "tableArn": None,
            "registrationStatus": status,
            "errorMessage": timestream.get("errorMessage"),
        }
        if timestream
        else None,
        "creationTime": "2026-11-26T12:00:00.000Z",
        "lastModificationTime": "2026-11-26T12:00:00.000Z",
    }


def polled(
    outcome: str, observation: Any, reason: str, message: str, drift: list[str]
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "observation": observation,
        "reason": reason,
        "message": message,
        "drift": drift,
    }


NOT_REGISTERED_TEXT = "the account is not registered with IoT FleetWise"
FAILURE_TEXT = "IoT FleetWise reports REGISTRATION_FAILURE"


def test_poll_observes_through_the_port_of_its_target_and_run(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The run's name names the member role's session for a target in another account.
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    asked: list[tuple[str, str]] = []
    real = poll.wiring.fleetwise_for

    def spy(target: str, run: str, given: Any = None) -> FleetWise:
        asked.append((target, run))
        return real(target, run, given)

    monkeypatch.setattr(poll.wiring, "fleetwise_for", spy)
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    assert (
        poll.handle(poll_event(MODERN_SPEC), statuses=status_repository, fleetwise=fleetwise)[
            "outcome"
        ]
        == "Registered"
    )
    assert asked == [(TARGET, EXEC)]


@pytest.mark.parametrize("answer", ["pending", "not-yet-registered"])
def test_poll_raises_pending_within_the_budget_and_renews_the_lease(
    polling: tuple[Any, Stubber],
    status_repository: StatusRepository,
    now: Clock,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    answer: str,
) -> None:
    caplog.set_level(logging.INFO)
    # GIVEN a registration 899 s old, still pending (or not visible yet: eventual consistency)
    call, stub = polling
    if answer == "pending":
        stub.add_response(
            "get_register_account_status", status_response("REGISTRATION_PENDING"), {}
        )
    else:
        stub.add_client_error(
            "get_register_account_status",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
        )
    now.advance(899)
    # WHEN polled THEN the workflow is told to poll again, and the lease is renewed
    with pytest.raises(RegistrationPending) as raised:
        call(poll_event(MODERN_SPEC))
    assert raised.value.as_dict() == {
        "code": "RegistrationPending",
        "message": "still pending after 899 s",
        "retryable": True,
        "operation": "GetRegisterAccountStatus",
        "retryAfterSeconds": None,
    }
    assert status_repository.get_lease(TARGET)["expiresAt"] == int(now().timestamp()) + 3900
    # AND each poll is counted for the target, and logged for the operator
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    polls = [line for line in lines if "StatusPolls" in line]
    assert [(line["StatusPolls"], line["target"]) for line in polls] == [([1.0], TARGET)]
    logged = [r for r in caplog.records if r.getMessage() == "registration pending"]
    assert [(r.target, r.elapsed_seconds) for r in logged] == [(TARGET, 899)]  # type: ignore[attr-defined]


def test_poll_times_out_at_the_budget(polling: tuple[Any, Stubber], now: Clock) -> None:
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("REGISTRATION_PENDING"), {})
    now.advance(900)
    assert call(poll_event(MODERN_SPEC)) == polled(
        "TimedOut",
        observed_as("REGISTRATION_PENDING"),
        "RegistrationTimedOut",
        "IoT FleetWise still reports REGISTRATION_PENDING 900 s after RegisterAccount "
        "(budget 900 s)",
        [],
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
    hold_lease(status_repository, now)
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
            register.handle(
                register_event(MODERN_SPEC), statuses=status_repository, fleetwise=fleetwise
            )
        else:
            poll.handle(poll_event(MODERN_SPEC), statuses=status_repository, fleetwise=fleetwise)
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
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    step: str,
    code: str,
    status: int,
    error: type[Exception],
) -> None:
    # GIVEN IoT FleetWise refuses the step's call (no retry hint)
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    operation = "register_account" if step == "Register" else "get_register_account_status"
    stub.add_client_error(operation, service_error_code=code, http_status_code=status)
    # WHEN the step runs, THEN the error crosses under the class name the workflow catches
    with pytest.raises(error) as raised:
        if step == "Register":
            register.handle(
                register_event(MODERN_SPEC), statuses=status_repository, fleetwise=fleetwise
            )
        else:
            poll.handle(poll_event(MODERN_SPEC), statuses=status_repository, fleetwise=fleetwise)
    assert type(raised.value) is error
    assert json.loads(str(raised.value))["code"] == code


def test_poll_after_a_conflict_times_out_without_claiming_a_registration(
    polling: tuple[Any, Stubber], now: Clock
) -> None:
    # GIVEN RegisterAccount answered that a registration was in flight (not ours)
    call, stub = polling
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
    )
    now.advance(905)
    event = poll_event(
        MODERN_SPEC,
        registration={"startedAt": "2026-11-26T12:00:00.000Z", "attempt": 0, "conflict": True},
    )
    assert call(event) == polled(
        "TimedOut",
        {"registered": False},
        "RegistrationTimedOut",
        "IoT FleetWise still reports no registration 905 s after RegisterAccount answered that "
        "another registration was in flight (budget 900 s)",
        [NOT_REGISTERED_TEXT],
    )


def test_poll_of_a_registration_found_pending_times_out_since_observe(
    polling: tuple[Any, Stubber], now: Clock
) -> None:
    # GIVEN a run that found a registration in flight (no Register step): the budget runs
    # from the Observe step that saw it
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("REGISTRATION_PENDING"), {})
    now.advance(901)
    event = {**poll_event(MODERN_SPEC), "registration": {}}
    event["plan"] = {"observedAt": "2026-11-26T12:00:01.000Z", "attempts": 0}
    assert call(event) == polled(
        "TimedOut",
        observed_as("REGISTRATION_PENDING"),
        "RegistrationTimedOut",
        "IoT FleetWise still reports REGISTRATION_PENDING 900 s after the registration was "
        "first seen pending (budget 900 s)",
        [],
    )


def test_poll_budget_runs_from_register_account_not_from_observe(
    polling: tuple[Any, Stubber], now: Clock
) -> None:
    # GIVEN Observe at 12:00:00 and RegisterAccount at 12:00:10, still pending at 12:15:05
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("REGISTRATION_PENDING"), {})
    now.advance(905)
    event = poll_event(
        MODERN_SPEC, registration={"startedAt": "2026-11-26T12:00:10.000Z", "attempt": 1}
    )
    # WHEN polled THEN 895 s of the budget are spent, not 905: poll again
    with pytest.raises(RegistrationPending) as raised:
        call(event)
    assert raised.value.message == "still pending after 895 s"


def test_poll_success_matching(polling: tuple[Any, Stubber]) -> None:
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    assert call(poll_event(MODERN_SPEC)) == polled(
        "Registered",
        observed_as("REGISTRATION_SUCCESS"),
        "Registered",
        "registered as declared",
        [],
    )


def test_poll_success_that_does_not_match_is_diverged(polling: tuple[Any, Stubber]) -> None:
    call, stub = polling
    left_behind = {"databaseName": "old", "tableName": "tbl"}
    stub.add_response(
        "get_register_account_status",
        status_response("REGISTRATION_SUCCESS", timestream=left_behind),
        {},
    )
    left = (
        "Timestream metadata is still registered (database 'old', table 'tbl') but the spec's "
        "mode is 'cloudwatch'"
    )
    assert call(poll_event(MODERN_SPEC)) == polled(
        "Diverged",
        observed_as("REGISTRATION_SUCCESS", timestream=left_behind),
        "DriftNotCured",
        f"the registration succeeded but does not match the spec: {left}",
        [left],
    )


def test_poll_diverged_in_several_ways_lists_each(polling: tuple[Any, Stubber]) -> None:
    call, stub = polling
    other = {"databaseName": "other", "tableName": "tab"}
    stub.add_response(
        "get_register_account_status",
        status_response("REGISTRATION_SUCCESS", timestream=other, role=ROLE),
        {},
    )
    drift = [
        "Timestream database is 'other', the spec says 'fleet'",
        "Timestream table is 'tab', the spec says 'signals'",
    ]
    assert call(poll_event(LEGACY)) == polled(
        "Diverged",
        observed_as("REGISTRATION_SUCCESS", timestream=other, role=ROLE),
        "DriftNotCured",
        "the registration succeeded but does not match the spec: " + "; ".join(drift),
        drift,
    )


@pytest.mark.parametrize(
    ("attempt", "outcome", "message"),
    [
        (0, "Reregister", "the registration found in flight ended in REGISTRATION_FAILURE"),
        (1, "Reregister", "attempt 1 ended in REGISTRATION_FAILURE"),
        (4, "Reregister", "attempt 4 ended in REGISTRATION_FAILURE"),
        (5, "Failed", "REGISTRATION_FAILURE after 5 attempts"),
    ],
)
def test_poll_failure_reregisters_up_to_the_bound(
    polling: tuple[Any, Stubber], attempt: int, outcome: str, message: str
) -> None:
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("REGISTRATION_FAILURE"), {})
    tail = "; trying again" if outcome == "Reregister" else ""
    assert call(poll_event(MODERN_SPEC, attempt)) == polled(
        outcome,
        observed_as("REGISTRATION_FAILURE"),
        "RegistrationFailed",
        message + tail,
        [FAILURE_TEXT],
    )


def _failure_with(iam_error: str | None, timestream_error: str | None) -> dict[str, Any]:
    response = status_response(
        "REGISTRATION_FAILURE", timestream={"databaseName": "fleet", "tableName": "signals"}
    )
    if iam_error:
        response["iamRegistrationResponse"]["errorMessage"] = iam_error
    if timestream_error:
        response["timestreamRegistrationResponse"]["errorMessage"] = timestream_error
    return response


@pytest.mark.parametrize(
    ("iam_error", "timestream_error", "suffix"),
    [
        ("role not ready", "table gone", ": role not ready"),
        (None, "table gone", ": table gone"),
        (None, None, ""),
    ],
    ids=["iam-first", "timestream", "none"],
)
@pytest.mark.parametrize("attempt", [2, 5])
def test_poll_failure_quotes_the_services_error(
    polling: tuple[Any, Stubber],
    iam_error: str | None,
    timestream_error: str | None,
    suffix: str,
    attempt: int,
) -> None:
    # GIVEN a failed registration whose answer says why
    call, stub = polling
    stub.add_response("get_register_account_status", _failure_with(iam_error, timestream_error), {})
    # WHEN polled (the attempt count comes from the Register step)
    event = poll_event(MODERN_SPEC, attempt)
    event["plan"]["attempts"] = 9  # stale: the registration's count wins
    result = call(event)
    # THEN the message quotes the service's error (IAM's first)
    expected = (
        f"attempt {attempt} ended in REGISTRATION_FAILURE{suffix}; trying again"
        if attempt < 5
        else f"REGISTRATION_FAILURE after {attempt} attempts{suffix}"
    )
    detail = f" ({iam_error})" if iam_error else ""
    assert (result["outcome"], result["message"], result["drift"]) == (
        "Reregister" if attempt < 5 else "Failed",
        expected,
        [FAILURE_TEXT + detail],
    )


@pytest.mark.parametrize(
    ("plan_attempts", "message"),
    [
        (5, "REGISTRATION_FAILURE after 5 attempts"),
        (None, "the registration found in flight ended in REGISTRATION_FAILURE; trying again"),
    ],
    ids=["the-plans", "none"],
)
def test_poll_failure_without_a_registration_count_uses_the_plans(
    polling: tuple[Any, Stubber], plan_attempts: int | None, message: str
) -> None:
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("REGISTRATION_FAILURE"), {})
    event = {**poll_event(MODERN_SPEC), "registration": {}}
    event["plan"] = {"observedAt": "2026-11-26T12:00:00.000Z", "attempts": plan_attempts}
    assert call(event)["message"] == message


def test_poll_of_an_unknown_status_fails(polling: tuple[Any, Stubber]) -> None:
    call, stub = polling
    stub.add_response("get_register_account_status", status_response("SOMETHING_NEW"), {})
    assert call(poll_event(MODERN_SPEC)) == polled(
        "Failed",
        observed_as("SOMETHING_NEW"),
        "UnexpectedStatus",
        "unexpected status 'SOMETHING_NEW'",
        ["IoT FleetWise reports SOMETHING_NEW"],
    )


def test_poll_asks_the_targets_region_with_the_deployed_wiring(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    # GIVEN a run in eu-central-1 holding its lease, and Poll wired as deployed (the status
    # table from the environment), FleetWise given per Region
    fleetwise, stub = stubbed
    target = "123456789012:eu-central-1"
    assert status_repository.acquire_lease(target, EXEC, now=now(), lease_seconds=60).acquired
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    asked: list[str] = []

    def port_of(region: str) -> FleetWise:
        asked.append(region)
        return fleetwise

    spec = {**MODERN_SPEC, "target": target}
    event = {**poll_event(spec), "target": target}
    # WHEN polled THEN the Region's port is asked, and the lease in the table renewed
    assert poll.handle(event, fleetwise=port_of)["outcome"] == "Registered"
    assert asked == ["eu-central-1"]
    assert status_repository.get_lease(target)["expiresAt"] == int(now().timestamp()) + 3900


def test_poll_by_a_run_that_lost_its_lease_stops_before_calling(
    status_repository: StatusRepository, stubbed: tuple[FleetWise, Stubber], now: Clock
) -> None:
    fleetwise, _stub = stubbed  # nothing queued: a call would fail the test
    hold_lease(status_repository, now, OTHER)
    with pytest.raises(LeaseLost, match=r"\(renew\)"):
        poll.handle(poll_event(MODERN_SPEC), statuses=status_repository, fleetwise=fleetwise)


# -- Acquire and Record ----------------------------------------------------------------------


def test_second_run_leaves_its_request_to_the_holder(
    status_repository: StatusRepository, now: Clock
) -> None:
    first = acquire.handle({"target": TARGET, "execution": EXEC}, statuses=status_repository)
    second = acquire.handle({"target": TARGET, "execution": OTHER}, statuses=status_repository)
    # the lease outlives the longest run: the execution timeout (3600) plus 5 minutes
    assert first == {"acquired": True, "holder": EXEC, "expiresAt": int(now().timestamp()) + 3900}
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


def test_a_registration_that_changed_no_phase_is_still_in_the_history_within_its_limit(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a target Registered for this version, its history full (newest first)
    raw = {"target": TARGET}
    version = spec_hash(raw)
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    limit = get_settings().history_limit
    entries = [{"at": "2026-11-26T11:00:00.000Z", "execution": f"run-{n}", "phase": "Registered",
                "reason": "Registered", "specHash": version} for n in range(limit)]  # fmt: skip
    registered = {"phase": "Registered", "reason": "Registered", "specHash": version}
    status_repository.put_status(TARGET, EXEC, {**registered, "history": entries})
    # WHEN a run registered it again (the service had lost it) and it is Registered again
    seen = {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}
    settled = {"outcome": "Registered", "message": "registered as declared", "drift": [],
               "observation": seen}  # fmt: skip
    record.handle(
        record_event(
            planned(raw),
            registration={"startedAt": "2026-11-26T12:00:00.000Z", "attempt": 1},
            poll=settled,
        ),
        specs=spec_repository,
        statuses=status_repository,
    )
    # THEN the registration has its entry although the phase did not change, and the oldest
    # entry makes room for it
    history = status_repository.get_status(TARGET)["history"]
    assert [e["execution"] for e in history] == [EXEC] + [f"run-{n}" for n in range(limit - 1)]


def test_a_record_step_run_again_after_its_write_adds_no_second_history_entry(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a run that registered the target and recorded it, whose Record step's answer was
    # lost before it released the lease (a Task timed out after its write)
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    seen = {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}
    settled = {"outcome": "Registered", "message": "registered as declared", "drift": [],
               "observation": seen}  # fmt: skip
    event = record_event(
        planned(raw),
        registration={"startedAt": "2026-11-26T12:00:00.000Z", "attempt": 1},
        poll=settled,
    )
    record.handle(event, specs=spec_repository, statuses=status_repository)
    first = status_repository.get_status(TARGET)
    hold_lease(status_repository, now)
    # WHEN Step Functions runs the step again with the same input, a few seconds later
    now.advance(5)
    result = record.handle(event, specs=spec_repository, statuses=status_repository)
    # THEN the status says the same, written again, and the run has one entry in the history
    assert result == {"again": False, "loop": 0, "phase": "Registered", "leaseLost": False}
    again = status_repository.get_status(TARGET)
    entry = {"at": "2026-11-26T12:00:00.000Z", "phase": "Registered", "reason": "Registered",
             "specHash": spec_hash(raw), "execution": EXEC}  # fmt: skip
    assert first["history"] == [entry]
    assert again["history"] == [entry]
    assert again["updatedAt"] == "2026-11-26T12:00:05.000Z"
    assert status_repository.get_lease(TARGET) is None


def test_record_writes_the_registered_status_and_releases(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    counted(status_repository, spec_hash(raw), 1)
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
                "drift": [],
            },
        ),
        specs=spec_repository,
        statuses=status_repository,
    )
    assert result == {"again": False, "loop": 0, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET) is None
    version = spec_hash(raw)
    finished = "2026-11-26T12:05:30.000Z"

    def condition(kind: str, status: str, reason: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": "registered as declared",
            "lastTransitionTime": finished,
            "specHash": version,
        }

    assert status_repository.get_status(TARGET) == {
        "phase": "Registered",
        "reason": "Registered",
        "message": "registered as declared",
        "specHash": version,
        "observedSpec": raw,
        "conditions": [
            condition("Ready", "True", "Registered"),
            condition("Synced", "True", "Registered"),
            condition("Drifted", "False", "InSync"),
        ],
        "observed": {**observation, "observedAt": finished},
        "drift": [],
        # Registered: the failure budget of this spec version starts afresh
        "attempts": {"specHash": version, "count": 0, "refused": 0},
        # and from now on the stack manages the registration (a later difference is drift)
        "managedSince": finished,
        "lastExecutionArn": EXEC,
        "lastReconcileStartedAt": "2026-11-26T12:00:00.000Z",
        "lastReconcileFinishedAt": finished,
        "lastTransitionTime": finished,
        "updatedAt": finished,
        "history": [
            {
                "at": finished,
                "phase": "Registered",
                "reason": "Registered",
                "specHash": version,
                "execution": EXEC,
            }
        ],
    }


def test_record_of_a_failure_keeps_the_durable_attempt_count(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN Register counted a call whose fate is unknown, and then raised (caught)
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    counted(status_repository, spec_hash(raw), 3)
    cause = json.dumps(
        {
            "errorType": "FleetWiseTransientError",
            "errorMessage": FleetWiseTransientError(
                "InternalServerException", "boom", operation="RegisterAccount"
            ).args[0],
        }
    )
    # WHEN Record runs with the count the run carried before that call (2)
    record.handle(
        record_event(
            planned(raw, attempts=2),
            error={"Error": "FleetWiseTransientError", "Cause": cause},
        ),
        specs=spec_repository,
        statuses=status_repository,
    )
    # THEN the durable count stands
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert status["attempts"] == {"specHash": spec_hash(raw), "count": 3, "refused": 0}
    assert (status["phase"], status["reason"], status["lastError"]["retryable"]) == (
        "Failed",
        "InternalServerException",
        True,
    )


def test_record_of_a_deleted_item_says_the_target_is_no_longer_managed(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    hold_lease(status_repository, now)
    status_repository.put_status(
        TARGET, EXEC, {"phase": "Registered", "reason": "UpToDate", "specHash": "h0"}
    )
    message = (
        "the spec item was deleted: the target is no longer managed (IoT FleetWise has no "
        "deregistration, so the registration is left as it is)"
    )
    plan = {
        "action": "Unmanaged",
        "phase": "Unmanaged",
        "reason": "SpecDeleted",
        "message": message,
        "drift": [],
        "specHash": None,
        "spec": None,
        "rawSpec": None,
        "observation": None,
        "attempts": 0,
        "observedAt": "2026-11-26T12:00:00.000Z",
    }
    result = record.handle(record_event(plan), specs=spec_repository, statuses=status_repository)
    assert result == {"again": False, "loop": 0, "phase": "Unmanaged", "leaseLost": False}
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"], status["message"]) == (
        "Unmanaged",
        "SpecDeleted",
        message,
    )
    assert "specHash" not in status
    # the table's TTL removes it after the history horizon (30 days)
    assert status["expiresAt"] == int(now().timestamp()) + 30 * 86400
    assert status_repository.get_lease(TARGET) is None


def test_record_of_a_caught_terminal_error(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
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
        "RegisterAccount failed with AccessDeniedException: not authorized (not retried on its "
        "own: fix the cause, then change the spec or its reconcileToken)"
    )


def test_record_loops_when_the_spec_changed_meanwhile(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put({"target": TARGET, "reconcileToken": "newer"})
    hold_lease(status_repository, now)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    result = record.handle(record_event(plan), specs=spec_repository, statuses=status_repository)
    assert result == {"again": True, "loop": 1, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET)["holder"] == EXEC


def test_record_loops_when_a_newer_request_is_pending(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
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
    hold_lease(status_repository, now)
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
    hold_lease(status_repository, now)
    status_repository.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    # WHEN Record runs
    result = record.handle(
        record_event(plan, loop=5), specs=spec_repository, statuses=status_repository
    )
    # THEN it stops looping and leaves no lease behind (the drift check picks the edit up)
    assert result == {"again": False, "loop": 5, "phase": "Registered", "leaseLost": False}
    assert status_repository.get_lease(TARGET) is None


def test_at_the_loop_bound_the_log_says_the_drift_check_takes_the_newer_request(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a run on its last allowed loop (5) whose lease a newer request marked pending
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    status_repository.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    caplog.clear()
    # WHEN Record runs
    record.handle(record_event(plan, loop=5), specs=spec_repository, statuses=status_repository)
    # THEN one warning names the target and the loops it made
    assert [
        (r.levelname, r.getMessage(), getattr(r, "target", None), getattr(r, "loops", None))
        for r in caplog.records
        if r.levelname == "WARNING"
    ] == [
        ("WARNING", "loop bound reached with a newer request pending; the drift check picks it up",
         TARGET, 5),
    ]  # fmt: skip


# -- a registration this stack did not make (adoption) ------------------------------------------

BY_HAND = {"databaseName": "fleet", "tableName": "signals"}


def test_observe_leaves_a_registration_made_by_hand_until_it_is_adopted(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    # GIVEN an account registered by hand in Timestream mode, a modern spec, no status yet
    hold_lease(status_repository, now)
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    stub.add_response(
        "get_register_account_status",
        status_response("REGISTRATION_SUCCESS", timestream=BY_HAND),
        {},
    )
    # WHEN Observe plans
    result = observe_with(spec_repository, status_repository, fleetwise)
    # THEN only GetRegisterAccountStatus was called (no campaigns read: nothing is
    # registered), and the plan is Blocked awaiting adoption, naming what would change
    stub.assert_no_pending_responses()
    assert (result["action"], result["phase"], result["reason"]) == (
        "Blocked",
        "Blocked",
        "AwaitingAdoption",
    )
    assert result["drift"] == [
        "Timestream metadata is still registered (database 'fleet', table 'signals') but the "
        "spec's mode is 'cloudwatch'"
    ]
    assert "fleetwise-reconciler adopt 123456789012:us-east-1" in result["message"]


def test_observe_plans_from_the_recorded_status_of_the_target(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    # GIVEN a spec version whose calls are all spent (the status counts them), and an account
    # still not registered
    hold_lease(status_repository, now)
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    counted(status_repository, spec_hash({"target": TARGET}), made=5)
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        expected_params={},
    )
    # WHEN Observe plans THEN it reads the status: no call is planned for a spent version
    result = observe_with(spec_repository, status_repository, fleetwise)
    assert (result["action"], result["reason"], result["attempts"]) == (
        "Failed",
        "AttemptsExhausted",
        5,
    )


def test_observe_of_a_deleted_item_says_so_in_the_log(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hold_lease(status_repository, now)
    fleetwise, _stub = stubbed

    observe_with(spec_repository, status_repository, fleetwise)

    assert [(r.getMessage(), getattr(r, "target", None)) for r in caplog.records] == [
        ("spec item deleted; target no longer managed", TARGET)
    ]


def test_observe_logs_what_it_planned(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hold_lease(status_repository, now)
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    caplog.set_level(logging.INFO)

    observe_with(spec_repository, status_repository, fleetwise)

    fields = ("target", "action", "reason", "spec_hash", "account_status")
    assert [r for r in logged(caplog, *fields) if r["message"] == "planned"] == [
        {"message": "planned", "target": TARGET, "action": "NoChange", "reason": "UpToDate",
         "spec_hash": spec_hash({"target": TARGET}), "account_status": "REGISTRATION_SUCCESS"},
    ]  # fmt: skip


def test_observe_plans_by_the_trigger_the_run_was_started_with(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    # GIVEN a spec version whose last attempt failed with a non-retryable error
    hold_lease(status_repository, now)
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET})
    version = spec_hash({"target": TARGET})
    status_repository.put_status(TARGET, EXEC, {
        "phase": "Failed", "specHash": version,
        "lastError": {"code": "AccessDeniedException", "message": "no", "retryable": False},
    })  # fmt: skip
    for _ in range(2):
        stub.add_client_error(
            "get_register_account_status",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
            expected_params={},
        )
    # WHEN the drift schedule's run observes THEN it does not try again
    scheduled = observe.handle({"target": TARGET, "execution": EXEC, "trigger": "schedule"},
                               specs=spec_repository, statuses=status_repository,
                               fleetwise=fleetwise)  # fmt: skip
    assert (scheduled["action"], scheduled["reason"]) == ("Failed", "AccessDeniedException")
    # AND a run without a trigger is an edit's (the stream's): it registers
    edited = observe.handle({"target": TARGET, "execution": EXEC}, specs=spec_repository,
                            statuses=status_repository, fleetwise=fleetwise)  # fmt: skip
    assert (edited["action"], edited["reason"]) == ("Register", "NotRegistered")


class BlockingPort(MigrationPort):
    """The migration's account, whose campaign c2 has no data destination."""

    def get_campaign(self, name: str) -> dict[str, Any]:
        if name == "c2":
            self.reads.append(name)
            return {"name": name}
        return super().get_campaign(name)


def test_observe_blocks_the_switch_back_on_campaigns_without_a_destination(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    hold_lease(status_repository, now)
    spec_repository.put({"target": TARGET, "onExisting": "replace"})
    port = BlockingPort()

    result = observe.handle({"target": TARGET, "execution": EXEC, "trigger": "stream"},
                            specs=spec_repository, statuses=status_repository,
                            fleetwise=port)  # fmt: skip

    assert port.reads == ["ListCampaigns", "c1", "c2"]
    assert (result["action"], result["phase"], result["reason"]) == (
        "Blocked",
        "Blocked",
        "MigrationBlocked",
    )
    assert result["message"] == (
        "the spec's mode is 'cloudwatch' but the account is still registered with Timestream, "
        "and these campaigns have no data destination, so IoT FleetWise refuses to drop "
        "Timestream until they are deleted: c2. Delete them (or give them a destination), then "
        "change the spec's reconcileToken"
    )


@pytest.mark.parametrize(
    ("seconds", "operation"),
    [((11.9,), "ListCampaigns"), ((40, 12, 11.9), "GetCampaign")],
    ids=["list", "read"],
)
def test_observe_out_of_time_names_the_call_it_did_not_make(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    seconds: tuple[float, ...],
    operation: str,
) -> None:
    hold_lease(status_repository, now)
    spec_repository.put({"target": TARGET, "onExisting": "replace"})

    with pytest.raises(FleetWiseTransientError) as raised:
        observe.handle({"target": TARGET, "execution": EXEC, "trigger": "stream"},
                       specs=spec_repository, statuses=status_repository,
                       fleetwise=MigrationPort(),
                       deadline=budget.Deadline.of(Countdown(*seconds)))  # fmt: skip

    assert json.loads(str(raised.value)) == {
        "code": "TimeBudgetSpent",
        "message": f"no time left in this invocation for {operation}",
        "operation": operation,
        "retryAfterSeconds": None,
        "retryable": True,
    }


def test_observe_replaces_it_when_the_spec_says_so(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
) -> None:
    hold_lease(status_repository, now)
    fleetwise, stub = stubbed
    spec_repository.put({"target": TARGET, "onExisting": "replace"})
    stub.add_response(
        "get_register_account_status",
        status_response("REGISTRATION_SUCCESS", timestream=BY_HAND),
        {},
    )
    # (re-registering over Timestream metadata: the campaigns that could block it are read)
    stub.add_response("list_campaigns", {"campaignSummaries": []}, {})
    result = observe_with(spec_repository, status_repository, fleetwise)
    stub.assert_no_pending_responses()
    assert (result["action"], result["reason"]) == ("Register", "DriftDetected")
    assert result["spec"]["onExisting"] == "replace"


def test_record_of_awaiting_adoption_alarms_as_blocked_not_as_drift(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a run that found the registration awaiting adoption, twice for the same version
    raw = {"target": TARGET}
    spec_repository.put(raw)
    drift = ["Timestream metadata is still registered (database 'fleet', table 'signals')"]
    plan = planned(
        raw,
        action="Blocked",
        phase="Blocked",
        reason="AwaitingAdoption",
        message="the account is already registered ...",
        drift=drift,
    )
    for _ in range(2):
        hold_lease(status_repository, now)
        record.handle(record_event(plan), specs=spec_repository, statuses=status_repository)
        now.advance(60)
    # THEN the status says Blocked (AwaitingAdoption), and the stack does not claim the
    # registration (no managedSince: nothing of it is the stack's yet)
    status = status_repository.get_status(TARGET)
    assert (status["phase"], status["reason"], status["drift"]) == (
        "Blocked",
        "AwaitingAdoption",
        drift,
    )
    assert "managedSince" not in status
    # AND each run reported the target in trouble as Blocked (the per-target alarms'
    # TargetInTrouble), never as drift
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    metrics = [line for line in lines if "_aws" in line]
    trouble = [(line["state"], line["TargetInTrouble"]) for line in metrics
               if "TargetInTrouble" in line]  # fmt: skip
    assert trouble == [("Blocked", [1.0]), ("Blocked", [1.0])]
    assert not any("Drifted" in str(line.get("state")) for line in metrics)


class AcquiredBetweenWrites(StatusRepository):
    """The status table, with another run's Acquire landing right after this run's first
    lease write once its status is written (the moment a trigger may find the lease held)."""

    def __init__(self, table: str, now: Clock, other: str) -> None:
        super().__init__(table, region="us-east-1")
        self.now, self.other, self.armed = now, other, False
        self.writes: list[str] = []

    def put_status(self, target: str, holder: str, status: Any) -> None:
        super().put_status(target, holder, status)
        self.armed = True

    def _after(self, write: str, target: str) -> None:
        self.writes.append(write)
        if self.armed:
            self.armed = False
            self.acquire_lease(target, self.other, now=self.now(), lease_seconds=3900)

    def release_lease(self, target: str, holder: str) -> bool:
        released = super().release_lease(target, holder)
        self._after("release_lease", target)
        return released

    def release_lease_if_holder(self, target: str, holder: str) -> bool:
        released = super().release_lease_if_holder(target, holder)
        self._after("release_lease_if_holder", target)
        return released


def test_at_the_loop_bound_a_request_between_two_writes_cannot_keep_the_lease(
    spec_repository: SpecRepository, tables: dict[str, str], now: Clock
) -> None:
    # GIVEN a run at its last allowed loop (5) whose lease a newer request marked pending,
    # the spec changed meanwhile, and another run's Acquire landing right after Record's first
    # lease write
    statuses = AcquiredBetweenWrites(tables["StatusTable"], now, "arn:aws:states:x:run-3")
    raw = {"target": TARGET}
    spec_repository.put({"target": TARGET, "reconcileToken": "newer"})
    hold_lease(statuses, now)
    statuses.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    # WHEN Record releases the lease for good
    result = record.handle(record_event(plan, loop=5), specs=spec_repository, statuses=statuses)
    # THEN it does so in one conditional write, so the finished run holds no lease, whatever
    # landed after it (before, a release in two calls left it held until it expired)
    assert result == {"again": False, "loop": 5, "phase": "Registered", "leaseLost": False}
    lease = statuses.get_lease(TARGET)
    assert lease is None or lease["holder"] != EXEC
    assert statuses.writes == ["release_lease_if_holder"]


def test_at_the_loop_bound_a_lease_taken_over_meanwhile_is_left_to_its_holder(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a run at its last loop whose spec changed, and whose lease another run took over
    # between its status write and its release (it had expired)
    raw = {"target": TARGET}
    spec_repository.put({"target": TARGET, "reconcileToken": "newer"})
    hold_lease(status_repository, now)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])

    class TakenOver(StatusRepository):
        def put_status(self, target: str, holder: str, status: Any) -> None:
            super().put_status(target, holder, status)
            self.release_lease_if_holder(target, holder)
            self.acquire_lease(target, OTHER, now=now(), lease_seconds=3900)

    statuses = TakenOver(status_repository._status.Meta.table_name, region="us-east-1")
    # WHEN Record releases THEN it leaves the other run's lease alone and says it lost its own
    result = record.handle(record_event(plan, loop=5), specs=spec_repository, statuses=statuses)
    assert result == {"again": False, "loop": 5, "phase": "Registered", "leaseLost": True}
    assert (status_repository.get_lease(TARGET) or {}).get("holder") == OTHER


# -- what the steps log (an operator reads it at 3 a.m.) ---------------------------------------


def logged(caplog: pytest.LogCaptureFixture, *fields: str) -> list[dict[str, Any]]:
    return [
        {"message": r.getMessage()} | {f: getattr(r, f, None) for f in fields}
        for r in caplog.records
    ]


class LeaseOf:
    """A status table whose Acquire answers as given (and counts the calls)."""

    def __init__(self, acquired: bool, holder: str) -> None:
        from fleetwise_reconciler.dal.repository import LeaseResult

        self.result = LeaseResult(acquired, holder, 1795698300, marked_pending=not acquired)
        self.calls: list[tuple[str, str]] = []

    def acquire_lease(self, target: str, holder: str, **_: Any) -> Any:
        self.calls.append((target, holder))
        return self.result


def test_acquire_uses_the_table_it_is_given_and_logs_who_holds_the_lease(
    caplog: pytest.LogCaptureFixture, now: Clock
) -> None:
    caplog.set_level(logging.INFO)
    taken, held = LeaseOf(True, EXEC), LeaseOf(False, OTHER)
    event = {"target": TARGET, "execution": EXEC}
    assert acquire.handle(event, statuses=taken) == {  # type: ignore[arg-type]
        "acquired": True,
        "holder": EXEC,
        "expiresAt": 1795698300,
    }
    acquire.handle(event, statuses=held)  # type: ignore[arg-type]
    assert (taken.calls, held.calls) == ([(TARGET, EXEC)], [(TARGET, EXEC)])
    assert logged(caplog, "target", "expires_at", "holder") == [
        {"message": "lease acquired", "target": TARGET, "expires_at": 1795698300,
         "holder": None},
        {"message": "lease held by another run; left to it", "target": TARGET,
         "expires_at": None, "holder": OTHER},
    ]  # fmt: skip


def test_record_logs_why_it_reconciles_again(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = {"target": TARGET}
    spec_repository.put({"target": TARGET, "reconcileToken": "newer"})
    hold_lease(status_repository, now)
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[])
    caplog.set_level(logging.INFO)
    record.handle(record_event(plan, loop=2), specs=spec_repository, statuses=status_repository)
    again = [
        r for r in logged(caplog, "target", "why", "loop") if r["message"] == "reconciling again"
    ]
    assert again == [
        {"message": "reconciling again", "target": TARGET, "why": "the spec changed", "loop": 3}
    ]


def test_a_release_for_good_of_a_lease_not_held_says_so() -> None:
    class NotHeld:
        def release_lease_if_holder(self, target: str, holder: str) -> bool:
            return False

    with pytest.raises(LeaseLost) as lost:
        record._release_for_good(NotHeld(), TARGET, EXEC)  # type: ignore[arg-type]
    assert str(lost.value) == f"{EXEC} no longer holds the lease of {TARGET} (release)"
    assert (lost.value.target, lost.value.holder) == (TARGET, EXEC)


def test_observe_out_of_time_names_the_operation_it_did_not_start() -> None:
    spent = budget.Deadline.of(Countdown(0))
    with pytest.raises(FleetWiseTransientError) as raised:
        observe.in_time(spent, "GetCampaign")
    assert json.loads(str(raised.value)) == {
        "code": "TimeBudgetSpent",
        "message": "no time left in this invocation for GetCampaign",
        "retryable": True,
        "operation": "GetCampaign",
        "retryAfterSeconds": None,
    }
    observe.in_time(budget.Deadline.of(Countdown(12)), "GetCampaign")  # fits: no error


def test_record_keeps_what_observe_saw_when_nothing_was_polled_and_logs_it(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a run that found the registration as declared (nothing registered, nothing polled)
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    seen = {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}
    plan = planned(raw, action="NoChange", phase="Registered", reason="UpToDate", drift=[],
                   observation=seen)  # fmt: skip
    caplog.set_level(logging.INFO)
    # WHEN Record records it
    record.handle(record_event(plan), specs=spec_repository, statuses=status_repository)
    # THEN the status keeps Observe's observation, and the log says what was recorded
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert status["observed"] == {**seen, "observedAt": "2026-11-26T12:00:00.000Z"}
    assert [
        r for r in logged(caplog, "target", "phase", "reason") if r["message"] == "recorded"
    ] == [{"message": "recorded", "target": TARGET, "phase": "Registered", "reason": "UpToDate"}]


def test_record_by_a_run_that_lost_its_lease_leaves_the_status_to_the_newer_run(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a newer run holding the target (this run's lease expired and was taken)
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now, execution=OTHER)
    status_repository.put_status(TARGET, OTHER, {"phase": "Registering", "specHash": "newer"})
    # WHEN this run's Record runs
    result = record.handle(record_event(planned(raw), loop=2), specs=spec_repository,
                           statuses=status_repository)  # fmt: skip
    # THEN it writes nothing, says so, and ends without looping
    assert result == {"again": False, "loop": 2, "phase": None, "leaseLost": True}
    assert status_repository.get_status(TARGET) == {"phase": "Registering", "specHash": "newer"}
    assert [r for r in logged(caplog, "target") if r["message"].startswith("lease lost")] == [
        {"message": "lease lost: a newer run owns this target; status left to it",
         "target": TARGET},
    ]  # fmt: skip


def test_record_of_a_recovery_clears_the_trouble_and_times_the_run_from_its_start(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a target recorded Failed, and a run started at 11:59 that registered it by 12:05:30
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now)
    status_repository.put_status(TARGET, EXEC, {"phase": "Failed", "reason": "RegistrationFailed",
                                                "specHash": "older"})  # fmt: skip
    counted(status_repository, spec_hash(raw), 1)
    now.advance(330)
    event = record_event(
        planned(raw),
        registration={"startedAt": "2026-11-26T12:00:00.000Z", "attempt": 1},
        poll={"outcome": "Registered", "message": "registered as declared", "drift": [],
              "observation": {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}},
    )  # fmt: skip
    event["startedAt"] = "2026-11-26T11:59:00.000Z"
    capsys.readouterr()
    # WHEN Record records it
    record.handle(event, specs=spec_repository, statuses=status_repository)
    # THEN the run is timed from its start (390 s), the Failed trouble is cleared for this
    # target, and the registration is counted
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert status["lastReconcileStartedAt"] == "2026-11-26T11:59:00.000Z"
    emitted = []
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line:
            metrics = json.loads(line)
            names = [m["Name"] for m in metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            emitted.append(
                (metrics.get("target"), metrics.get("state"), {n: metrics[n] for n in names})
            )
    assert emitted == [
        (TARGET, "Failed", {"TargetInTrouble": [0.0]}),
        (TARGET, None, {"ReconcileDuration": [390.0], "RegistrationSucceeded": [1.0]}),
    ]


def test_record_reads_the_loop_from_the_record_slot_when_the_event_has_none(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a Record whose loop count comes only from the previous Record's result (and a
    # newer run holding the target, so that it answers at once with the loop it read)
    raw = {"target": TARGET}
    spec_repository.put(raw)
    hold_lease(status_repository, now, execution=OTHER)
    event = record_event(planned(raw))
    del event["loop"]
    event["record"] = {"loop": 3}
    # WHEN it runs THEN it answers with that loop count
    assert record.handle(event, specs=spec_repository, statuses=status_repository) == {
        "again": False,
        "loop": 3,
        "phase": None,
        "leaseLost": True,
    }


# -- Register: what the mutation run found untested ------------------------------------------


def test_a_spent_version_is_logged_with_its_target_and_both_counts(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a version with 3 calls that may have acted and 5 refused (the bound)
    fleetwise, _stub = stubbed  # nothing queued: a RegisterAccount call would fail the test
    hold_lease(status_repository, now)
    counted(status_repository, spec_hash(MODERN_ITEM), 3, 5)
    # WHEN Register runs
    with pytest.raises(FleetWiseTerminalError):
        register.handle(
            register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise
        )
    # THEN the operator reads why nothing was called, for which target, with both counts
    warnings = [
        {"message": r.getMessage()}
        | {f: getattr(r, f, None) for f in ("target", "made", "refused")}
        for r in caplog.records
        if r.levelname == "WARNING"
    ]
    assert warnings == [
        {"message": "registration attempts spent", "target": TARGET, "made": 3, "refused": 5}
    ]


def test_each_register_account_call_is_counted_once_for_its_target(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a target to register
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    stub.add_response("register_account", registering(now), expected_params={})
    # WHEN Register calls RegisterAccount
    register.handle(register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise)
    # THEN one call is counted in the target's RegisterAccountCalls metric
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    calls = [line for line in lines if "_aws" in line and "RegisterAccountCalls" in line]
    assert [(line["RegisterAccountCalls"], line["target"]) for line in calls] == [([1.0], TARGET)]


def test_register_logs_the_call_it_made_with_its_count_mode_and_answer(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # GIVEN one earlier call of this version
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    counted(status_repository, spec_hash(MODERN_ITEM), 1)
    stub.add_response("register_account", registering(now), expected_params={})
    # WHEN Register makes the second
    register.handle(register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise)
    # THEN its line says which target, which call of the version, the mode and the answer
    fields = ("target", "attempt", "mode", "account_status")
    lines = [r for r in logged(caplog, *fields) if not r["message"].startswith("Found credentials")]
    assert lines == [
        {"message": "registration requested", "target": TARGET, "attempt": 2,
         "mode": "cloudwatch", "account_status": "REGISTRATION_PENDING"},
    ]  # fmt: skip


def test_a_conflict_is_logged_and_counted_as_refused_under_the_requests_token(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # GIVEN a registration already in flight, and a spy on the status table's transactions
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    tokens: list[str | None] = []

    def spy(params: dict[str, Any], **_: Any) -> None:
        tokens.append(params.get("ClientRequestToken"))

    counted(status_repository, "an older version", 1)  # builds the transactions' connection
    connection = status_repository._connection
    assert connection is not None
    connection.client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", spy)
    stub.add_client_error(
        "register_account", service_error_code="ConflictException", http_status_code=409
    )
    # WHEN Register runs as Lambda request "req-1"
    register.handle(
        register_event(MODERN_ITEM),
        statuses=status_repository,
        fleetwise=fleetwise,
        request="req-1",
    )
    # THEN the refusal is written under the token of that request (a retried write is
    # applied once) and the log names the target and the service's answer
    version = spec_hash(MODERN_ITEM)
    refused = hashlib.sha256(f"req-1|refused|{version}".encode()).hexdigest()[:32]
    assert tokens[-1] == refused
    assert status_repository.get_status(TARGET) == counts(version, 0, 1)
    (conflict,) = [r for r in logged(caplog, "target", "detail") if r["target"] == TARGET]
    assert conflict == {
        "message": "registration already in progress",
        "target": TARGET,
        "detail": (
            "RegisterAccount: ConflictException: An error occurred (ConflictException) when "
            "calling the RegisterAccount operation: "
        ),
    }


def test_register_asks_for_the_port_of_its_target_within_its_run(
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    now: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a record of the ports Register asks for
    fleetwise, stub = stubbed
    hold_lease(status_repository, now)
    stub.add_response("register_account", registering(now), expected_params={})
    asked: list[tuple[str, str, Any]] = []
    real = register.wiring.fleetwise_for

    def recording(target: str, run: str, given: Any = None) -> FleetWise:
        asked.append((target, run, given))
        return real(target, run, given)

    monkeypatch.setattr(register.wiring, "fleetwise_for", recording)
    # WHEN Register runs
    register.handle(register_event(MODERN_ITEM), statuses=status_repository, fleetwise=fleetwise)
    # THEN it asked for its target's port within its run (whose session the member role names)
    assert asked == [(TARGET, EXEC, fleetwise)]

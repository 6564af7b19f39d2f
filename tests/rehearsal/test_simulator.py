"""The IoT FleetWise simulator, driven by real boto3 clients over its HTTP endpoint."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from fleetwise_rehearsal.aws.model_check import FieldError, ModelChecker
from fleetwise_rehearsal.fleetwise import (
    Call,
    Campaign,
    FleetWiseSimulator,
    ModelViolationError,
    Outcome,
)

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ACCOUNT = "123456789012"
SERVICE_LINKED_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/iotfleetwise.amazonaws.com/"
    "AWSServiceRoleForIoTFleetWise"
)
LEGACY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/FleetWiseTimestream"
SIGNED_FOR_FLEETWISE = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/iotfleetwise/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


class FakeClock:
    """Virtual epoch seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[FleetWiseSimulator]:
    with FleetWiseSimulator(clock=clock) as simulator:
        yield simulator
        assert simulator.model_violations == []


def make_client(endpoint_url: str | None = None) -> BaseClient:
    return boto3.client(
        "iotfleetwise",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def client(sim: FleetWiseSimulator) -> BaseClient:
    return make_client(sim.endpoint_url)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, dict[str, Any]]:
    response: dict[str, Any] = excinfo.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response,
    )


def raw_call(
    sim: FleetWiseSimulator,
    target: str,
    body: bytes,
    *,
    authorization: str | None = SIGNED_FOR_FLEETWISE,
    content_type: str = "application/x-amz-json-1.0",
) -> tuple[int, dict[str, Any]]:
    """One hand-built awsJson request, bypassing boto3's client-side validation."""
    headers = {"X-Amz-Target": target, "Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(  # noqa: S310 - a loopback URL the test built
        sim.endpoint_url + "/", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def register_legacy(client: BaseClient, database: str = "fleet", table: str = "signals") -> Any:
    return client.register_account(
        timestreamResources={"timestreamDatabaseName": database, "timestreamTableName": table},
        iamResources={"roleArn": LEGACY_ROLE},
    )


# -- registration ----------------------------------------------------------------------------


def test_never_registered_account_is_not_found(client: BaseClient) -> None:
    # GIVEN an account nobody registered / WHEN its status is read
    with pytest.raises(ClientError) as excinfo:
        client.get_register_account_status()
    # THEN the modelled not-found error comes back, with every member the model requires
    status, code, response = error_of(excinfo)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert response["resourceId"] == ACCOUNT
    assert response["resourceType"] == "Account"


def test_modern_registration_is_pending_for_exactly_the_scripted_time(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    # WHEN the account registers the modern way (no arguments)
    registered = client.register_account()
    # THEN it is pending, answered with the service-linked role
    assert registered["registerAccountStatus"] == "REGISTRATION_PENDING"
    assert registered["iamResources"] == {"roleArn": SERVICE_LINKED_ROLE}
    assert "timestreamResources" not in registered
    assert registered["creationTime"].timestamp() == START
    assert registered["lastModificationTime"].timestamp() == START
    assert sim.calls("RegisterAccount")[0].input == {}

    # AND it stays pending one second short of the default five minutes
    clock.advance(299)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_PENDING"

    # AND at five minutes it has succeeded, with an IAM part and no Timestream part
    clock.advance(1)
    status = client.get_register_account_status()
    assert status["customerAccountId"] == ACCOUNT
    assert status["accountStatus"] == "REGISTRATION_SUCCESS"
    assert status["iamRegistrationResponse"] == {
        "roleArn": SERVICE_LINKED_ROLE,
        "registrationStatus": "REGISTRATION_SUCCESS",
    }
    assert "timestreamRegistrationResponse" not in status
    assert status["creationTime"].timestamp() == START
    assert status["lastModificationTime"].timestamp() == START + 300


def test_pending_iam_sub_status_while_registering(client: BaseClient) -> None:
    client.register_account()
    status = client.get_register_account_status()
    assert status["iamRegistrationResponse"] == {
        "roleArn": SERVICE_LINKED_ROLE,
        "registrationStatus": "REGISTRATION_PENDING",
    }


def test_legacy_registration_echoes_and_stores_timestream(
    client: BaseClient, clock: FakeClock
) -> None:
    registered = register_legacy(client)
    assert registered["registerAccountStatus"] == "REGISTRATION_PENDING"
    assert registered["timestreamResources"] == {
        "timestreamDatabaseName": "fleet",
        "timestreamTableName": "signals",
    }
    assert registered["iamResources"] == {"roleArn": LEGACY_ROLE}

    pending = client.get_register_account_status()
    assert pending["timestreamRegistrationResponse"]["registrationStatus"] == (
        "REGISTRATION_PENDING"
    )

    clock.advance(300)
    status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_SUCCESS"
    assert status["iamRegistrationResponse"] == {
        "roleArn": LEGACY_ROLE,
        "registrationStatus": "REGISTRATION_SUCCESS",
    }
    assert status["timestreamRegistrationResponse"] == {
        "timestreamDatabaseName": "fleet",
        "timestreamTableName": "signals",
        "timestreamDatabaseArn": f"arn:aws:timestream:us-east-1:{ACCOUNT}:database/fleet",
        "timestreamTableArn": (
            f"arn:aws:timestream:us-east-1:{ACCOUNT}:database/fleet/table/signals"
        ),
        "registrationStatus": "REGISTRATION_SUCCESS",
    }


def test_scripted_outcomes_play_in_order_then_the_default(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    # GIVEN a failure after two minutes, then a success after one
    sim.script_registrations(
        [
            Outcome(pending_seconds=120, result="FAILURE", iam_error="Role not assumable yet"),
            Outcome(pending_seconds=60, result="SUCCESS"),
        ]
    )
    client.register_account()
    clock.advance(119)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_PENDING"
    clock.advance(1)
    failed = client.get_register_account_status()
    assert failed["accountStatus"] == "REGISTRATION_FAILURE"
    assert failed["iamRegistrationResponse"] == {
        "roleArn": SERVICE_LINKED_ROLE,
        "registrationStatus": "REGISTRATION_FAILURE",
        "errorMessage": "Role not assumable yet",
    }

    # WHEN it registers again after the failure, then a third time
    client.register_account()
    clock.advance(60)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_SUCCESS"
    client.register_account()
    clock.advance(299)
    # THEN the script is used up and the default five minutes apply
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_PENDING"
    clock.advance(1)
    status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_SUCCESS"
    # AND re-registering kept the account's first creation time
    assert status["creationTime"].timestamp() == START


def test_configurable_default_outcome(clock: FakeClock) -> None:
    with FleetWiseSimulator(
        clock=clock, default_pending_seconds=10, account_id="210987654321"
    ) as s:
        client = make_client(s.endpoint_url)
        client.register_account()
        clock.advance(10)
        status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_SUCCESS"
    assert status["customerAccountId"] == "210987654321"
    assert status["iamRegistrationResponse"]["roleArn"].startswith("arn:aws:iam::210987654321:")


def test_register_while_pending_is_a_conflict(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    client.register_account()
    clock.advance(100)
    with pytest.raises(ClientError) as excinfo:
        client.register_account()
    status, code, response = error_of(excinfo)
    assert (status, code) == (409, "ConflictException")
    assert response["resource"] == ACCOUNT
    assert response["resourceType"] == "Account"
    # The refused call changed nothing: the first registration settles on its own schedule.
    clock.advance(200)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_SUCCESS"
    assert [call.status for call in sim.calls("RegisterAccount")] == [200, 409]


# -- scripted faults -------------------------------------------------------------------------


def test_throttling_carries_retry_after_seconds(
    sim: FleetWiseSimulator, client: BaseClient
) -> None:
    client.register_account()
    sim.fail_next("GetRegisterAccountStatus", "ThrottlingException", "Rate exceeded", 7, times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            client.get_register_account_status()
        status, code, response = error_of(excinfo)
        # botocore puts the exception's modelled members at the top of e.response
        assert (status, code) == (429, "ThrottlingException")
        assert response["Error"]["Message"] == "Rate exceeded"
        assert response["retryAfterSeconds"] == 7
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_PENDING"
    # Faults are scoped to their operation.
    assert sim.calls("RegisterAccount")[0].status == 200


def test_internal_error_is_a_server_fault_with_retry_after(
    sim: FleetWiseSimulator, client: BaseClient
) -> None:
    sim.fail_next("RegisterAccount", "InternalServerException", retry_after=3)
    with pytest.raises(ClientError) as excinfo:
        client.register_account()
    status, code, response = error_of(excinfo)
    assert (status, code) == (500, "InternalServerException")
    assert response["retryAfterSeconds"] == 3
    # The faulted call registered nothing.
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_register_account_status()


def test_access_denied(sim: FleetWiseSimulator, client: BaseClient) -> None:
    sim.fail_next(None, "AccessDeniedException", "not authorized to perform RegisterAccount")
    with pytest.raises(ClientError) as excinfo:
        client.register_account()
    status, code, response = error_of(excinfo)
    assert (status, code) == (403, "AccessDeniedException")
    assert "retryAfterSeconds" not in response


def test_fail_next_refuses_what_the_model_does_not_allow(sim: FleetWiseSimulator) -> None:
    with pytest.raises(ValueError, match="cannot raise ConflictException"):
        sim.fail_next("GetRegisterAccountStatus", "ConflictException")
    with pytest.raises(ValueError, match="no retryAfterSeconds"):
        sim.fail_next("RegisterAccount", "AccessDeniedException", retry_after=5)
    with pytest.raises(ValueError, match="does not serve"):
        sim.fail_next("CreateCampaign", "ThrottlingException")


# -- request validation ----------------------------------------------------------------------


def test_bad_role_arn_is_rejected_by_the_server(
    sim: FleetWiseSimulator, client: BaseClient
) -> None:
    # GIVEN a role ARN long enough for boto3's client-side checks but not an IAM role ARN
    with pytest.raises(ClientError) as excinfo:
        client.register_account(
            timestreamResources={"timestreamDatabaseName": "fleet", "timestreamTableName": "t1x"},
            iamResources={"roleArn": "arn:aws:s3:::not-a-role-at-all"},
        )
    status, code, response = error_of(excinfo)
    assert (status, code) == (400, "ValidationException")
    assert response["reason"] == "fieldValidationFailed"
    assert [field["name"] for field in response["fieldList"]] == ["iamResources.roleArn"]
    # AND nothing was registered
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_register_account_status()


def test_too_short_database_name_is_rejected_on_the_wire(sim: FleetWiseSimulator) -> None:
    body = {
        "timestreamResources": {"timestreamDatabaseName": "db", "timestreamTableName": "signals"},
        "iamResources": {"roleArn": LEGACY_ROLE},
    }
    # boto3 would never send it...
    with pytest.raises(ParamValidationError, match=r"timestreamDatabaseName, value: 2, valid min"):
        make_client(sim.endpoint_url).register_account(**body)
    # ...so it goes raw, and the server refuses it by the same model
    status, reply = raw_call(
        sim, "IoTAutobahnControlPlane.RegisterAccount", json.dumps(body).encode()
    )
    assert status == 400
    assert reply["__type"] == "ValidationException"
    assert reply["reason"] == "fieldValidationFailed"
    assert reply["fieldList"] == [
        {
            "name": "timestreamResources.timestreamDatabaseName",
            "message": "length 2 is below the minimum 3",
        }
    ]
    assert sim.count("RegisterAccount") == 1
    assert sim.calls()[0].error_type == "ValidationException"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"surprise": 1}', "surprise"),
        (b'{"maxResults": 101}', "maxResults"),
        (b'{"maxResults": "3"}', "maxResults"),
        (b'{"listResponseScope": "EVERYTHING"}', "listResponseScope"),
    ],
)
def test_list_campaigns_input_is_checked_against_the_model(
    sim: FleetWiseSimulator, body: bytes, field: str
) -> None:
    status, reply = raw_call(sim, "IoTAutobahnControlPlane.ListCampaigns", body)
    assert (status, reply["__type"]) == (400, "ValidationException")
    assert [item["name"] for item in reply["fieldList"]] == [field]


def test_unparseable_body(sim: FleetWiseSimulator) -> None:
    status, reply = raw_call(sim, "IoTAutobahnControlPlane.GetRegisterAccountStatus", b"{nope")
    assert (status, reply["__type"], reply["reason"]) == (400, "ValidationException", "cannotParse")


def test_legacy_parameters_go_together(client: BaseClient) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.register_account(iamResources={"roleArn": LEGACY_ROLE})
    assert error_of(excinfo)[:2] == (400, "ValidationException")


# -- the transport ---------------------------------------------------------------------------


def test_unknown_operation(sim: FleetWiseSimulator, client: BaseClient) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.list_fleets()
    assert error_of(excinfo)[:2] == (400, "UnknownOperationException")
    status, reply = raw_call(sim, "IoTAutobahnControlPlane.DeregisterAccount", b'{"force": true}')
    assert (status, reply["__type"]) == (400, "UnknownOperationException")
    assert [(c.operation, c.input, c.status) for c in sim.calls()] == [
        ("ListFleets", {}, 400),
        ("DeregisterAccount", {"force": True}, 400),
    ]


def test_requests_must_be_signed_for_iotfleetwise(sim: FleetWiseSimulator) -> None:
    target = "IoTAutobahnControlPlane.GetRegisterAccountStatus"
    status, reply = raw_call(sim, target, b"{}", authorization=None)
    assert (status, reply["__type"]) == (403, "MissingAuthenticationTokenException")
    wrong = SIGNED_FOR_FLEETWISE.replace("/iotfleetwise/", "/iot/")
    status, reply = raw_call(sim, target, b"{}", authorization=wrong)
    assert (status, reply["__type"]) == (403, "InvalidSignatureException")
    # Any credentials, correctly scoped, are accepted.
    status, reply = raw_call(sim, target, b"{}")
    assert (status, reply["__type"]) == (404, "ResourceNotFoundException")


def test_content_type_must_be_awsjson(sim: FleetWiseSimulator) -> None:
    status, reply = raw_call(
        sim,
        "IoTAutobahnControlPlane.GetRegisterAccountStatus",
        b"{}",
        content_type="application/json",
    )
    assert (status, reply["__type"]) == (400, "ValidationException")


def test_endpoint_from_the_environment(
    sim: FleetWiseSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOTFLEETWISE", sim.endpoint_url)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    make_client().register_account()
    assert sim.count("RegisterAccount") == 1


def test_stop_frees_the_endpoint_and_drops_kept_alive_connections(clock: FakeClock) -> None:
    simulator = FleetWiseSimulator(clock=clock)
    simulator.start()
    url = simulator.endpoint_url
    client = make_client(url)
    client.list_campaigns()  # leaves a pooled keep-alive connection behind
    simulator.stop()
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback
    with pytest.raises(EndpointConnectionError, match=re.escape(url)):
        client.list_campaigns()
    assert simulator.count("ListCampaigns") == 1


# -- out-of-band changes (drift) ---------------------------------------------------------------


def test_set_account_status_out_of_band(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    client.register_account()
    clock.advance(300)
    clock.advance(50)
    sim.set_account_status("REGISTRATION_FAILURE", iam_error="Role was changed")
    status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_FAILURE"
    assert status["iamRegistrationResponse"]["registrationStatus"] == "REGISTRATION_FAILURE"
    assert status["iamRegistrationResponse"]["errorMessage"] == "Role was changed"
    assert status["lastModificationTime"].timestamp() == START + 350
    # A new registration replaces the out-of-band status.
    client.register_account()
    clock.advance(300)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_SUCCESS"


def test_set_account_status_on_a_never_registered_account_registers_it(
    sim: FleetWiseSimulator, client: BaseClient
) -> None:
    sim.set_account_status("REGISTRATION_SUCCESS")
    status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_SUCCESS"
    assert status["iamRegistrationResponse"]["roleArn"] == SERVICE_LINKED_ROLE


def test_attach_timestream_then_forget(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    client.register_account()
    clock.advance(300)
    sim.attach_timestream("fleet", "signals", LEGACY_ROLE)
    status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_SUCCESS"
    assert status["iamRegistrationResponse"]["roleArn"] == LEGACY_ROLE
    assert status["timestreamRegistrationResponse"]["timestreamTableName"] == "signals"
    assert status["timestreamRegistrationResponse"]["registrationStatus"] == (
        "REGISTRATION_SUCCESS"
    )

    sim.forget_registration()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_register_account_status()


def test_deleting_the_service_linked_role_fails_the_registration_until_re_registered(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    client.register_account()
    clock.advance(300)
    sim.delete_service_linked_role()
    status = client.get_register_account_status()
    assert status["accountStatus"] == "REGISTRATION_FAILURE"
    assert status["iamRegistrationResponse"]["registrationStatus"] == "REGISTRATION_FAILURE"
    assert (
        "AWSServiceRoleForIoTFleetWise does not exist"
        in (status["iamRegistrationResponse"]["errorMessage"])
    )
    client.register_account()
    clock.advance(300)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_SUCCESS"


def test_deleting_the_role_while_pending_fails_the_registration_when_it_settles(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    client.register_account()
    sim.delete_service_linked_role()
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_PENDING"
    clock.advance(300)
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_FAILURE"


def test_modern_re_registration_is_blocked_by_campaigns_writing_to_timestream(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    # GIVEN a legacy registration and two campaigns that rely on its Timestream table
    register_legacy(client)
    clock.advance(300)
    s3 = {"s3Config": {"bucketArn": "arn:aws:s3:::fleet-data"}}
    sim.set_campaigns(
        [
            Campaign(name="engine"),
            Campaign(name="to-s3", data_destination_configs=(s3,)),
            Campaign(name="brakes", status="SUSPENDED"),
        ]
    )
    # WHEN it re-registers the modern way
    with pytest.raises(ClientError) as excinfo:
        client.register_account()
    # THEN the service refuses and names exactly the blocking campaigns
    status, code, response = error_of(excinfo)
    assert (status, code) == (400, "ValidationException")
    assert response["Error"]["Message"].endswith("Delete these campaigns first: engine, brakes.")

    # AND once they are gone, re-registering drops the Timestream metadata
    sim.set_campaigns([Campaign(name="to-s3", data_destination_configs=(s3,))])
    client.register_account()
    clock.advance(300)
    assert "timestreamRegistrationResponse" not in client.get_register_account_status()


# -- campaigns -------------------------------------------------------------------------------


def test_campaigns_paginate(sim: FleetWiseSimulator, client: BaseClient) -> None:
    sim.set_campaigns([Campaign(name=f"c{i}") for i in range(5)])
    first = client.list_campaigns(maxResults=2)
    assert [c["name"] for c in first["campaignSummaries"]] == ["c0", "c1"]
    second = client.list_campaigns(maxResults=2, nextToken=first["nextToken"])
    assert [c["name"] for c in second["campaignSummaries"]] == ["c2", "c3"]
    last = client.list_campaigns(maxResults=2, nextToken=second["nextToken"])
    assert [c["name"] for c in last["campaignSummaries"]] == ["c4"]
    assert "nextToken" not in last
    summary = last["campaignSummaries"][0]
    assert summary["arn"] == f"arn:aws:iotfleetwise:us-east-1:{ACCOUNT}:campaign/c4"
    assert summary["status"] == "RUNNING"
    assert summary["creationTime"].timestamp() == START

    pages = client.get_paginator("list_campaigns").paginate(PaginationConfig={"PageSize": 3})
    assert [len(page["campaignSummaries"]) for page in pages] == [3, 2]


def test_campaign_filters(sim: FleetWiseSimulator, client: BaseClient) -> None:
    sim.set_campaigns([Campaign(name="a"), Campaign(name="b", status="SUSPENDED")])
    suspended = client.list_campaigns(status="SUSPENDED")["campaignSummaries"]
    assert [c["name"] for c in suspended] == ["b"]
    metadata = client.list_campaigns(listResponseScope="METADATA_ONLY")["campaignSummaries"][0]
    assert set(metadata) == {"arn", "name", "creationTime", "lastModificationTime"}


def test_invalid_next_token(client: BaseClient) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.list_campaigns(nextToken="garbage")
    assert error_of(excinfo)[:2] == (400, "ValidationException")


def test_get_campaign(sim: FleetWiseSimulator, client: BaseClient) -> None:
    timestream = {
        "timestreamConfig": {
            "timestreamTableArn": f"arn:aws:timestream:us-east-1:{ACCOUNT}:database/d/table/t",
            "executionRoleArn": LEGACY_ROLE,
        }
    }
    sim.set_campaigns(
        [Campaign(name="legacy"), Campaign(name="modern", data_destination_configs=(timestream,))]
    )
    legacy = client.get_campaign(name="legacy")
    assert legacy["status"] == "RUNNING"
    assert "dataDestinationConfigs" not in legacy
    assert client.get_campaign(name="modern")["dataDestinationConfigs"] == [timestream]

    with pytest.raises(ClientError) as excinfo:
        client.get_campaign(name="missing")
    status, code, response = error_of(excinfo)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert (response["resourceId"], response["resourceType"]) == ("missing", "Campaign")


# -- the call log ----------------------------------------------------------------------------


def test_call_log_records_every_request_in_order(
    sim: FleetWiseSimulator, client: BaseClient, clock: FakeClock
) -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_register_account_status()
    clock.advance(5)
    register_legacy(client)
    clock.advance(10)
    client.get_register_account_status()

    calls = sim.calls()
    assert [(c.operation, c.at, c.status, c.error_type) for c in calls] == [
        ("GetRegisterAccountStatus", START, 404, "ResourceNotFoundException"),
        ("RegisterAccount", START + 5, 200, None),
        ("GetRegisterAccountStatus", START + 15, 200, None),
    ]
    assert calls[1].input == {
        "timestreamResources": {
            "timestreamDatabaseName": "fleet",
            "timestreamTableName": "signals",
        },
        "iamResources": {"roleArn": LEGACY_ROLE},
    }
    assert calls[2].output["accountStatus"] == "REGISTRATION_PENDING"
    assert isinstance(calls[0], Call)
    assert sim.count("GetRegisterAccountStatus") == 2
    assert sim.count("RegisterAccount") == 1
    assert sim.count("ListCampaigns") == 0


# -- the simulator checks itself ---------------------------------------------------------------


def test_a_response_the_model_rejects_is_caught(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = FleetWiseSimulator(clock=clock)
    broken = {
        "customerAccountId": ACCOUNT,
        "accountStatus": "REGISTERED",  # not in the RegistrationStatus enum
        "iamRegistrationResponse": {"roleArn": SERVICE_LINKED_ROLE, "registrationStatus": "x"},
        "creationTime": START,
        "lastModificationTime": START,
    }
    monkeypatch.setattr(simulator, "handle_get_register_account_status", lambda body: broken)
    with pytest.raises(ModelViolationError, match="accountStatus"), simulator:
        client = make_client(simulator.endpoint_url)
        with pytest.raises(ClientError) as excinfo:
            client.get_register_account_status()
        # The client sees a server fault, never the broken answer.
        assert error_of(excinfo)[:2] == (500, "InternalServerException")
        assert simulator.model_violations == [
            "GetRegisterAccountStatus: accountStatus: 'REGISTERED' is not one of "
            "REGISTRATION_PENDING, REGISTRATION_SUCCESS, REGISTRATION_FAILURE; "
            "iamRegistrationResponse.registrationStatus: 'x' is not one of "
            "REGISTRATION_PENDING, REGISTRATION_SUCCESS, REGISTRATION_FAILURE"
        ]
        assert simulator.calls()[0].error_type == "InternalServerException"


def test_a_crashing_handler_is_a_violation_too(
    sim: FleetWiseSimulator, client: BaseClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(body: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("oops")

    monkeypatch.setattr(sim, "handle_list_campaigns", crash)
    with pytest.raises(ClientError, match="InternalServerException"):
        client.list_campaigns()
    assert sim.clear_model_violations() == ["ListCampaigns: handler crashed: KeyError('oops')"]


def test_an_invalid_campaign_is_caught_as_a_violation(
    sim: FleetWiseSimulator, client: BaseClient
) -> None:
    # An empty destination list would break DataDestinationConfigs' minimum of one, so the
    # simulator omits it; an invalid name, though, reaches the model check.
    sim.set_campaigns([Campaign(name="has space")])
    with pytest.raises(ClientError, match="InternalServerException"):
        client.list_campaigns()
    assert sim.clear_model_violations() == [
        "ListCampaigns: campaignSummaries[0].arn: "
        f"'arn:aws:iotfleetwise:us-east-1:{ACCOUNT}:campaign/has space' does not match "
        r"arn:aws:iotfleetwise:[a-z0-9-]+:[0-9]{12}:campaign/[a-zA-Z\d\-_:]{1,100}; "
        r"campaignSummaries[0].name: 'has space' does not match [a-zA-Z\d\-_:]+"
    ]


@pytest.fixture(scope="module")
def checker() -> ModelChecker:
    return ModelChecker(botocore.session.get_session().get_service_model("iotfleetwise"))


@pytest.fixture(scope="module")
def register() -> Any:
    model = botocore.session.get_session().get_service_model("iotfleetwise")
    return model.operation_model("RegisterAccount")


class TestModelChecker:
    """The checker on its own, against shapes of the real model."""

    def test_required_members_and_timestamps(self, checker: ModelChecker, register: Any) -> None:
        errors = checker.check_output(
            register, {"registerAccountStatus": "REGISTRATION_PENDING", "creationTime": "now"}
        )
        assert errors == [
            FieldError("iamResources", "required member is missing"),
            FieldError("lastModificationTime", "required member is missing"),
            FieldError("creationTime", "expected epoch seconds, got 'now'"),
        ]

    def test_patterns_match_the_whole_value(self, checker: ModelChecker, register: Any) -> None:
        body = {
            "timestreamResources": {
                "timestreamDatabaseName": "ok-db",
                "timestreamTableName": "a!b",
            },
            "iamResources": {"roleArn": LEGACY_ROLE},
        }
        assert [e.path for e in checker.check_request(register, body)] == [
            "timestreamResources.timestreamTableName"
        ]

    def test_error_types_must_be_declared(self, checker: ModelChecker) -> None:
        model = botocore.session.get_session().get_service_model("iotfleetwise")
        operation = model.operation_model("GetRegisterAccountStatus")
        errors = checker.check_error(operation, {"__type": "ConflictException", "message": "m"})
        assert [e.path for e in errors] == ["__type"]
        assert (
            checker.check_error(
                operation, {"__type": "ThrottlingException", "message": "m", "retryAfterSeconds": 1}
            )
            == []
        )

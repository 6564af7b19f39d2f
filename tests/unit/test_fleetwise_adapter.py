"""The FleetWise adapter on a real boto3 ``iotfleetwise`` client.

botocore's ``Stubber`` checks every request against the service model (and every stubbed
response against the output shape), so an argument the API does not know, or a deprecated one
sent in modern mode, fails the test. Where the parsing of the wire format matters (which key
``retryAfterSeconds`` lands in, connection errors, the number of attempts) the client's own
``before-send`` hook answers with raw awsJson1_0 bytes instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from fleetwise_reconciler.errors import (
    FleetWiseTerminalError,
    FleetWiseThrottled,
    FleetWiseTransientError,
)
from fleetwise_reconciler.fleetwise import FleetWise, FleetWiseConflict

CREATED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 11, 26, 12, 5, 30, 250000, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"


@pytest.fixture
def client() -> Any:
    return boto3.client("iotfleetwise", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def adapter(client: Any, stubber: Stubber) -> FleetWise:
    return FleetWise(client)


# -- the client -----------------------------------------------------------------------------


def test_the_default_client_makes_one_attempt_with_the_budgets_timeouts() -> None:
    adapter = FleetWise(region="eu-central-1")

    config = adapter.client.meta.config

    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert (config.connect_timeout, config.read_timeout) == (2, 10)
    assert config.user_agent_extra == "fleetwise-reconciler/0.1"
    assert adapter.client.meta.region_name == "eu-central-1"
    assert adapter.client.meta.service_model.service_name == "iotfleetwise"


def test_no_client_is_built_until_the_first_call() -> None:
    built: list[str] = []
    sentinel = object()

    class Session:
        """Stands in for the shared botocore session the adapter builds its client from."""

        def create_client(self, service_name: str, **_: Any) -> object:
            built.append(service_name)
            return sentinel

    adapter = FleetWise(region="us-east-1", session=Session())  # type: ignore[arg-type]
    assert built == []
    assert adapter.client is sentinel
    assert adapter.client is sentinel
    assert built == ["iotfleetwise"]


# -- GetRegisterAccountStatus ---------------------------------------------------------------


def test_status_of_a_registered_legacy_account(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_response(
        "get_register_account_status",
        {
            "customerAccountId": "123456789012",
            "accountStatus": "REGISTRATION_SUCCESS",
            "iamRegistrationResponse": {
                "roleArn": ROLE,
                "registrationStatus": "REGISTRATION_SUCCESS",
            },
            "timestreamRegistrationResponse": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
                "timestreamDatabaseArn": "arn:aws:timestream:us-east-1:123456789012:database/fleet",
                "timestreamTableArn": (
                    "arn:aws:timestream:us-east-1:123456789012:database/fleet/table/signals"
                ),
                "registrationStatus": "REGISTRATION_SUCCESS",
            },
            "creationTime": CREATED,
            "lastModificationTime": MODIFIED,
        },
        expected_params={},
    )

    assert adapter.get_status() == {
        "registered": True,
        "accountStatus": "REGISTRATION_SUCCESS",
        "customerAccountId": "123456789012",
        "iam": {
            "roleArn": ROLE,
            "registrationStatus": "REGISTRATION_SUCCESS",
            "errorMessage": None,
        },
        "timestream": {
            "databaseName": "fleet",
            "tableName": "signals",
            "databaseArn": "arn:aws:timestream:us-east-1:123456789012:database/fleet",
            "tableArn": "arn:aws:timestream:us-east-1:123456789012:database/fleet/table/signals",
            "registrationStatus": "REGISTRATION_SUCCESS",
            "errorMessage": None,
        },
        "creationTime": "2026-11-26T12:00:00.000Z",
        "lastModificationTime": "2026-11-26T12:05:30.250Z",
    }


def test_status_of_a_modern_account_has_no_timestream(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_response(
        "get_register_account_status",
        {
            "customerAccountId": "123456789012",
            "accountStatus": "REGISTRATION_FAILURE",
            "iamRegistrationResponse": {
                "roleArn": "",
                "registrationStatus": "REGISTRATION_FAILURE",
                "errorMessage": "try again later",
            },
            "creationTime": CREATED,
            "lastModificationTime": CREATED,
        },
        expected_params={},
    )

    assert adapter.get_status() == {
        "registered": True,
        "accountStatus": "REGISTRATION_FAILURE",
        "customerAccountId": "123456789012",
        "iam": {
            "roleArn": "",
            "registrationStatus": "REGISTRATION_FAILURE",
            "errorMessage": "try again later",
        },
        "timestream": None,
        "creationTime": "2026-11-26T12:00:00.000Z",
        "lastModificationTime": "2026-11-26T12:00:00.000Z",
    }


def test_status_of_a_failed_legacy_account_keeps_both_errors(
    adapter: FleetWise, stubber: Stubber
) -> None:
    # GIVEN an answer with both sub-statuses failed, and no ARNs (optional in the model)
    stubber.add_response(
        "get_register_account_status",
        {
            "customerAccountId": "123456789012",
            "accountStatus": "REGISTRATION_FAILURE",
            "iamRegistrationResponse": {
                "roleArn": ROLE,
                "registrationStatus": "REGISTRATION_FAILURE",
                "errorMessage": "role cannot be assumed",
            },
            "timestreamRegistrationResponse": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
                "registrationStatus": "REGISTRATION_FAILURE",
                "errorMessage": "table not found",
            },
            "creationTime": CREATED,
            "lastModificationTime": CREATED,
        },
        expected_params={},
    )
    # WHEN observed THEN every field is there, None where the service sent nothing
    assert adapter.get_status() == {
        "registered": True,
        "accountStatus": "REGISTRATION_FAILURE",
        "customerAccountId": "123456789012",
        "iam": {
            "roleArn": ROLE,
            "registrationStatus": "REGISTRATION_FAILURE",
            "errorMessage": "role cannot be assumed",
        },
        "timestream": {
            "databaseName": "fleet",
            "tableName": "signals",
            "databaseArn": None,
            "tableArn": None,
            "registrationStatus": "REGISTRATION_FAILURE",
            "errorMessage": "table not found",
        },
        "creationTime": "2026-11-26T12:00:00.000Z",
        "lastModificationTime": "2026-11-26T12:00:00.000Z",
    }


def test_a_never_registered_account_is_not_an_error(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_client_error(
        "get_register_account_status",
        service_error_code="ResourceNotFoundException",
        service_message="Account not registered",
        http_status_code=404,
    )
    assert adapter.get_status() == {"registered": False}


# -- RegisterAccount ------------------------------------------------------------------------

SERVICE_LINKED_ROLE = (
    "arn:aws:iam::123456789012:role/aws-service-role/iotfleetwise.amazonaws.com/"
    "AWSServiceRoleForIoTFleetWise"
)
REGISTER_RESPONSE = {
    "registerAccountStatus": "REGISTRATION_PENDING",
    "iamResources": {"roleArn": SERVICE_LINKED_ROLE},
    "creationTime": CREATED,
    "lastModificationTime": CREATED,
}


def test_modern_registration_sends_no_parameter_at_all(
    adapter: FleetWise, stubber: Stubber
) -> None:
    stubber.add_response("register_account", REGISTER_RESPONSE, expected_params={})

    assert adapter.register() == {
        "accountStatus": "REGISTRATION_PENDING",
        "creationTime": "2026-11-26T12:00:00.000Z",
        "lastModificationTime": "2026-11-26T12:00:00.000Z",
    }


def test_legacy_registration_sends_timestream_and_the_role(
    adapter: FleetWise, stubber: Stubber
) -> None:
    stubber.add_response(
        "register_account",
        {
            **REGISTER_RESPONSE,
            "timestreamResources": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
            },
            "iamResources": {"roleArn": ROLE},
        },
        expected_params={
            "timestreamResources": {
                "timestreamDatabaseName": "fleet",
                "timestreamTableName": "signals",
            },
            "iamResources": {"roleArn": ROLE},
        },
    )

    result = adapter.register(
        timestream={"databaseName": "fleet", "tableName": "signals"}, iam_role_arn=ROLE
    )

    assert result["accountStatus"] == "REGISTRATION_PENDING"


@pytest.mark.parametrize(
    "kwargs",
    [{"timestream": {"databaseName": "fleet", "tableName": "signals"}}, {"iam_role_arn": ROLE}],
)
def test_half_a_legacy_registration_is_never_sent(
    adapter: FleetWise, kwargs: dict[str, Any]
) -> None:
    # The stubber has no response queued: any request would fail with a different error.
    with pytest.raises(
        ValueError, match=r"^legacy registration needs both timestream and iam_role_arn$"
    ):
        adapter.register(**kwargs)


def test_a_conflict_on_register_is_its_own_outcome(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_client_error(
        "register_account",
        service_error_code="ConflictException",
        service_message="registration in progress",
        http_status_code=409,
        modeled_fields={
            "message": "registration in progress",
            "resource": "account",
            "resourceType": "Account",
        },
    )

    with pytest.raises(FleetWiseConflict) as raised:
        adapter.register()

    assert (raised.value.code, raised.value.message, raised.value.operation) == (
        "ConflictException",
        "registration in progress",
        "RegisterAccount",
    )
    assert str(raised.value) == "RegisterAccount: ConflictException: registration in progress"


# -- error mapping --------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorCase:
    method: str
    code: str
    http_status: int
    fields: dict[str, Any] | None
    error_class: type[FleetWiseTransientError | FleetWiseTerminalError]
    retry_after: int | None = None


ERRORS = [
    ErrorCase("get_register_account_status", "ThrottlingException", 429,
              {"retryAfterSeconds": 7}, FleetWiseThrottled, 7),
    ErrorCase("get_register_account_status", "InternalServerException", 500,
              {"retryAfterSeconds": 3}, FleetWiseThrottled, 3),
    # A hint longer than the workflow honours is clamped; zero still waits a second.
    ErrorCase("register_account", "ThrottlingException", 429,
              {"retryAfterSeconds": 86400}, FleetWiseThrottled, 300),
    ErrorCase("register_account", "ThrottlingException", 429,
              {"retryAfterSeconds": 0}, FleetWiseThrottled, 1),
    ErrorCase("get_register_account_status", "InternalServerException", 500, None,
              FleetWiseTransientError),
    ErrorCase("register_account", "ThrottlingException", 429, {"quotaCode": "Q-1"},
              FleetWiseTransientError),
    ErrorCase("get_register_account_status", "AccessDeniedException", 403, None,
              FleetWiseTerminalError),
    ErrorCase("register_account", "AccessDeniedException", 403, None, FleetWiseTerminalError),
    ErrorCase("register_account", "ValidationException", 400, {"reason": "OTHER"},
              FleetWiseTerminalError),
    ErrorCase("register_account", "ResourceNotFoundException", 404,
              {"resourceId": "role", "resourceType": "Role"}, FleetWiseTerminalError),
    ErrorCase("register_account", "SomethingNewException", 400, None, FleetWiseTerminalError),
]  # fmt: skip


@pytest.mark.parametrize("case", ERRORS, ids=lambda case: f"{case.method}-{case.code}")
def test_client_errors_become_domain_errors(
    adapter: FleetWise, stubber: Stubber, case: ErrorCase
) -> None:
    stubber.add_client_error(
        case.method,
        service_error_code=case.code,
        service_message=f"{case.code} happened",
        http_status_code=case.http_status,
        # botocore parses a modelled error's members, "message" included, into the top level
        modeled_fields=(
            None if case.fields is None else {"message": f"{case.code} happened", **case.fields}
        ),
    )
    operation = {
        "get_register_account_status": "GetRegisterAccountStatus",
        "register_account": "RegisterAccount",
    }[case.method]

    with pytest.raises(case.error_class) as raised:
        getattr(adapter, "get_status" if case.method.startswith("get") else "register")()

    assert type(raised.value) is case.error_class
    assert raised.value.as_dict() == {
        "code": case.code,
        "message": f"{case.code} happened",
        "retryable": issubclass(case.error_class, FleetWiseTransientError),
        "operation": operation,
        "retryAfterSeconds": case.retry_after,
    }


# -- the wire: what botocore really parses --------------------------------------------------


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def _answer(client: Any, status: int, body: dict[str, Any]) -> list[Any]:
    """Make every request of ``client`` answer ``status``/``body``; returns the requests."""
    sent: list[Any] = []

    def respond(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Body(payload))

    client.meta.events.register("before-send.iotfleetwise", respond)
    return sent


def test_throttling_on_the_wire_keeps_retry_after_and_is_tried_once() -> None:
    # GIVEN the service throttles, as awsJson1_0 puts it on the wire
    adapter = FleetWise(region="us-east-1")
    sent = _answer(
        adapter.client,
        400,
        {"__type": "ThrottlingException", "message": "Rate exceeded", "retryAfterSeconds": 12},
    )
    # WHEN the adapter observes
    with pytest.raises(FleetWiseTransientError) as raised:
        adapter.get_status()
    # THEN the modelled member is kept, and the SDK did not retry on its own
    assert raised.value.code == "ThrottlingException"
    assert raised.value.message == "Rate exceeded"
    assert raised.value.retry_after_seconds == 12
    assert len(sent) == 1
    assert sent[0].headers["X-Amz-Target"] == b"IoTAutobahnControlPlane.GetRegisterAccountStatus"
    assert json.loads(sent[0].body) == {}


def test_modern_registration_on_the_wire_is_an_empty_json_object() -> None:
    adapter = FleetWise(region="us-east-1")
    sent = _answer(
        adapter.client,
        200,
        {
            "registerAccountStatus": "REGISTRATION_PENDING",
            "iamResources": {"roleArn": SERVICE_LINKED_ROLE},
            "creationTime": 1795694400,
            "lastModificationTime": 1795694400,
        },
    )

    assert adapter.register()["accountStatus"] == "REGISTRATION_PENDING"
    assert sent[0].headers["X-Amz-Target"] == b"IoTAutobahnControlPlane.RegisterAccount"
    assert json.loads(sent[0].body) == {}


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="https://iotfleetwise.us-east-1.amazonaws.com/"),
        ReadTimeoutError(endpoint_url="https://iotfleetwise.us-east-1.amazonaws.com/"),
    ],
)
def test_an_unreachable_endpoint_is_transient(failure: Exception) -> None:
    adapter = FleetWise(region="us-east-1")
    attempts: list[Any] = []

    def fail(request: Any, **_: Any) -> None:
        attempts.append(request)
        raise failure

    adapter.client.meta.events.register("before-send.iotfleetwise", fail)

    with pytest.raises(FleetWiseTransientError) as raised:
        adapter.register()

    assert raised.value.as_dict() == {
        "code": "EndpointUnreachable",
        "message": str(failure),
        "retryable": True,
        "operation": "RegisterAccount",
        "retryAfterSeconds": None,
    }
    assert len(attempts) == 1


@pytest.mark.parametrize(
    ("call", "operation"),
    [
        (lambda adapter: adapter.get_status(), "GetRegisterAccountStatus"),
        (lambda adapter: adapter.list_campaigns(), "ListCampaigns"),
        (lambda adapter: adapter.get_campaign("c1"), "GetCampaign"),
    ],
    ids=["status", "list-campaigns", "get-campaign"],
)
def test_every_call_to_an_unreachable_endpoint_is_transient(call: Any, operation: str) -> None:
    # GIVEN an endpoint that does not answer WHEN any call is made THEN it is transient, named
    # after its operation, with the connection error as its message
    adapter = FleetWise(region="us-east-1")
    failure = EndpointConnectionError(endpoint_url="https://iotfleetwise.us-east-1.amazonaws.com/")

    def fail(request: Any, **_: Any) -> None:
        raise failure

    adapter.client.meta.events.register("before-send.iotfleetwise", fail)
    with pytest.raises(FleetWiseTransientError) as raised:
        call(adapter)
    assert raised.value.as_dict() == {
        "code": "EndpointUnreachable",
        "message": str(failure),
        "retryable": True,
        "operation": operation,
        "retryAfterSeconds": None,
    }


class _Refusing:
    """A client whose every call is answered with ``error`` (a botocore ClientError)."""

    def __init__(self, error: ClientError) -> None:
        self.error = error

    def get_register_account_status(self) -> dict[str, Any]:
        raise self.error


def test_an_error_answer_without_details_is_terminal_and_unknown() -> None:
    # GIVEN an error answer with no Error member at all
    error = ClientError({}, "GetRegisterAccountStatus")
    # WHEN observed THEN it is a terminal error of code Unknown, quoting the SDK's text
    with pytest.raises(FleetWiseTerminalError) as raised:
        FleetWise(_Refusing(error)).get_status()
    assert raised.value.as_dict() == {
        "code": "Unknown",
        "message": str(error),
        "retryable": False,
        "operation": "GetRegisterAccountStatus",
        "retryAfterSeconds": None,
    }


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"Code": "AccessDeniedException", "message": "lower-case"}, "lower-case"),
        ({"Code": "AccessDeniedException", "Message": "Upper", "message": "lower"}, "Upper"),
    ],
    ids=["lower-case-only", "upper-case-first"],
)
def test_the_error_message_is_read_under_either_spelling(
    details: dict[str, str], message: str
) -> None:
    error = ClientError({"Error": details}, "GetRegisterAccountStatus")
    with pytest.raises(FleetWiseTerminalError) as raised:
        FleetWise(_Refusing(error)).get_status()
    assert (raised.value.code, raised.value.message) == ("AccessDeniedException", message)


def test_a_retry_hint_inside_the_error_is_honoured(adapter: FleetWise, stubber: Stubber) -> None:
    # GIVEN throttling whose retryAfterSeconds sits in the error's own fields (how botocore
    # parses it when the member is not modelled at the top level)
    stubber.add_client_error(
        "get_register_account_status",
        service_error_code="ThrottlingException",
        service_message="slow down",
        http_status_code=429,
        service_error_meta={"retryAfterSeconds": "5"},
    )
    # WHEN observed THEN the workflow is told to wait exactly that long
    with pytest.raises(FleetWiseThrottled) as raised:
        adapter.get_status()
    assert raised.value.retry_after_seconds == 5


def test_an_unreadable_retry_hint_is_ignored(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_client_error(
        "get_register_account_status",
        service_error_code="ThrottlingException",
        service_message="slow down",
        http_status_code=429,
        service_error_meta={"retryAfterSeconds": "soon"},
    )
    with pytest.raises(FleetWiseTransientError) as raised:
        adapter.get_status()
    assert (type(raised.value), raised.value.retry_after_seconds) == (FleetWiseTransientError, None)


# -- campaigns ------------------------------------------------------------------------------


def _summary(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "arn": f"arn:aws:iotfleetwise:us-east-1:123456789012:campaign/{name}",
        "status": "RUNNING",
        "creationTime": CREATED,
        "lastModificationTime": CREATED,
    }


def test_list_campaigns_follows_next_token_one_request_per_page(
    adapter: FleetWise, stubber: Stubber
) -> None:
    stubber.add_response(
        "list_campaigns",
        {"campaignSummaries": [_summary("a"), _summary("b")], "nextToken": "page-2"},
        expected_params={},
    )
    stubber.add_response(
        "list_campaigns",
        {"campaignSummaries": [_summary("c")]},
        expected_params={"nextToken": "page-2"},
    )

    campaigns = adapter.list_campaigns()

    assert [c["name"] for c in campaigns] == ["a", "b", "c"]
    assert campaigns[0]["creationTime"] == "2026-11-26T12:00:00.000Z"


def test_list_campaigns_of_an_account_without_any(adapter: FleetWise, stubber: Stubber) -> None:
    # campaignSummaries is optional in the model: an answer without it is an empty page
    stubber.add_response("list_campaigns", {}, expected_params={})
    assert adapter.list_campaigns() == []


def test_list_campaigns_failing_on_a_page_is_transient(
    adapter: FleetWise, stubber: Stubber
) -> None:
    stubber.add_response(
        "list_campaigns", {"campaignSummaries": [], "nextToken": "p2"}, expected_params={}
    )
    stubber.add_client_error(
        "list_campaigns", service_error_code="ThrottlingException", http_status_code=429
    )
    with pytest.raises(FleetWiseTransientError) as raised:
        adapter.list_campaigns()
    assert raised.value.operation == "ListCampaigns"


def test_get_campaign(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_response(
        "get_campaign",
        {
            "name": "c1",
            "arn": "arn:aws:iotfleetwise:us-east-1:123456789012:campaign/c1",
            "status": "RUNNING",
            "creationTime": CREATED,
            "lastModificationTime": MODIFIED,
            "dataDestinationConfigs": [{"s3Config": {"bucketArn": "arn:aws:s3:::bucket-b"}}],
        },
        expected_params={"name": "c1"},
    )

    assert adapter.get_campaign("c1") == {
        "name": "c1",
        "arn": "arn:aws:iotfleetwise:us-east-1:123456789012:campaign/c1",
        "status": "RUNNING",
        "creationTime": "2026-11-26T12:00:00.000Z",
        "lastModificationTime": "2026-11-26T12:05:30.250Z",
        "dataDestinationConfigs": [{"s3Config": {"bucketArn": "arn:aws:s3:::bucket-b"}}],
    }


def test_get_campaign_on_the_wire_returns_the_campaign_only() -> None:
    # GIVEN a real client's answer (botocore adds ResponseMetadata to every response)
    adapter = FleetWise(region="us-east-1")
    _answer(
        adapter.client,
        200,
        {"name": "c1", "status": "RUNNING", "creationTime": 1795694400},
    )
    # WHEN read THEN only the campaign's own fields are kept
    assert adapter.get_campaign("c1") == {
        "name": "c1",
        "status": "RUNNING",
        "creationTime": "2026-11-26T12:00:00.000Z",
    }


def test_get_campaign_not_found_is_terminal(adapter: FleetWise, stubber: Stubber) -> None:
    stubber.add_client_error(
        "get_campaign",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        modeled_fields={"message": "no c9", "resourceId": "c9", "resourceType": "Campaign"},
    )
    with pytest.raises(FleetWiseTerminalError) as raised:
        adapter.get_campaign("c9")
    assert (raised.value.code, raised.value.operation) == (
        "ResourceNotFoundException",
        "GetCampaign",
    )

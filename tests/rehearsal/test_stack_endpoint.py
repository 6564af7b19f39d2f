"""The rehearsal's DescribeStacks: the deployed template's outputs and parameters, in
CloudFormation's wire protocol, read by boto3's own client."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from fleetwise_rehearsal.aws.stack_endpoint import StackEndpoint, stack_outputs
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

ROLES = "arn:aws:iam::123456789012:role/A,arn:aws:iam::123456789012:role/B"


@pytest.fixture(scope="module")
def rehearsed() -> Iterator[tuple[Rehearsal, StackEndpoint]]:
    with (
        Rehearsal(
            {
                "MaxRegistrationAttempts": "3",
                "AllowedPassRoleArns": ROLES,
            }
        ) as r,
        StackEndpoint(r.stack) as endpoint,
    ):
        yield r, endpoint


def client(endpoint: StackEndpoint, region: str = "us-east-1") -> object:
    return boto3.client("cloudformation", region_name=region, endpoint_url=endpoint.endpoint_url)


def test_outputs_name_the_deployed_resources(rehearsed: tuple[Rehearsal, StackEndpoint]) -> None:
    r, endpoint = rehearsed
    [stack] = client(endpoint).describe_stacks(StackName="fleetwise-reconciler")["Stacks"]  # type: ignore[attr-defined]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["SpecTableName"] == r.stack.physical_id("SpecTable")
    assert outputs["StatusTableName"] == r.stack.physical_id("StatusTable")
    assert outputs["ReconcileStateMachineArn"] == r.state_machine_arn
    # every output of the template, in its order, with its description
    declared = r.stack.translated.template["Outputs"]
    assert [o["OutputKey"] for o in stack["Outputs"]] == list(declared)
    assert stack["Outputs"][0]["Description"] == declared["SpecTableName"]["Description"]
    assert {k: v["OutputValue"] for k, v in stack_outputs(r.stack).items()} == outputs
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["StackId"] == endpoint.stack_id
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["MaxRegistrationAttempts"] == "3"
    assert parameters["AllowedPassRoleArns"] == ROLES
    assert parameters["TargetMode"] == "cloudwatch"  # a default
    assert endpoint.model_violations == []


def test_a_stack_is_found_by_id_too(rehearsed: tuple[Rehearsal, StackEndpoint]) -> None:
    _, endpoint = rehearsed
    stacks = client(endpoint).describe_stacks(StackName=endpoint.stack_id)["Stacks"]  # type: ignore[attr-defined]
    assert [s["StackName"] for s in stacks] == ["fleetwise-reconciler"]


@pytest.mark.parametrize(
    ("name", "region"), [("another", "us-east-1"), ("fleetwise-reconciler", "eu-central-1")]
)
def test_an_unknown_stack_or_another_region(
    rehearsed: tuple[Rehearsal, StackEndpoint], name: str, region: str
) -> None:
    _, endpoint = rehearsed
    with pytest.raises(ClientError) as raised:
        client(endpoint, region).describe_stacks(StackName=name)  # type: ignore[attr-defined]
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert raised.value.response["Error"]["Message"] == f"Stack with id {name} does not exist"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_denied_caller(rehearsed: tuple[Rehearsal, StackEndpoint]) -> None:
    r, _ = rehearsed
    with StackEndpoint(r.stack, deny=True) as denied, pytest.raises(ClientError) as raised:
        client(denied).describe_stacks(StackName="fleetwise-reconciler")  # type: ignore[attr-defined]
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_other_operations_are_refused(rehearsed: tuple[Rehearsal, StackEndpoint]) -> None:
    _, endpoint = rehearsed
    with pytest.raises(ClientError) as raised:
        client(endpoint).list_stacks()  # type: ignore[attr-defined]
    assert raised.value.response["Error"]["Code"] == "InvalidAction"

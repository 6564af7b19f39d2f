"""Sizes AWS refuses and moto stores, refused in the rehearsal as AWS refuses them
(aws/strict.py): a function's environment (4 KB), a role's inline policies (10,240
characters together, white space not counted), a trust policy (2,048 characters) and a
template parameter's value (4,096 bytes).

Each limit is shown both ways: exactly at it the call succeeds, one past it the call fails
with AWS's error code (botocore's model: Lambda's InvalidParameterValueException; IAM's
LimitExceededException, code LimitExceeded, HTTP 409) and AWS's words.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from strict_fixtures import REGION, Machines, running_machines

from fleetwise_rehearsal.aws import strict
from fleetwise_rehearsal.aws.stack import deploy
from fleetwise_rehearsal.fleet.quotas import LARGEST

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": ""}
    ],
}


@pytest.fixture
def machines() -> Iterator[Machines]:
    with running_machines() as running:
        yield running


def _code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


def _environment(size: int) -> dict[str, str]:
    """Variables whose JSON object is ``size`` bytes: {"A":"<n>"} is 8 bytes and n."""
    return {"A": "a" * (size - len('{"A":""}'))}


def _trust(size: int) -> str:
    """A trust policy of ``size`` characters as IAM counts them (white space included in the
    text, which IAM does not count)."""
    filler = size - strict.policy_size(TRUST)
    document = json.loads(json.dumps(TRUST))
    document["Statement"][0]["Action"] = "s" * filler
    text = json.dumps(document, indent=4)
    assert strict.policy_size(text) == size < len(text)
    return text


def _policy(size: int) -> str:
    """An inline policy of ``size`` characters as IAM counts them (indented)."""
    document: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ""}],
    }
    filler = "r" * (size - strict.policy_size(document) - len("arn:aws:s3:::"))
    document["Statement"][0]["Resource"] = "arn:aws:s3:::" + filler
    text = json.dumps(document, indent=2)
    assert strict.policy_size(text) == size
    return text


# -- Lambda ------------------------------------------------------------------------------------


def test_a_function_environment_of_4_kb_is_created_and_one_byte_more_refused(
    machines: Machines,
) -> None:
    client = boto3.client("lambda", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    args: dict[str, Any] = {
        "Runtime": "python3.13",
        "Role": role["Arn"],
        "Handler": "placeholder.handler",
        "Code": {"ZipFile": _code()},
    }
    at_limit = _environment(strict.LAMBDA_ENVIRONMENT_BYTES)
    assert strict.environment_size(at_limit) == 4096
    # WHEN a function is created with exactly 4 KB, and another with one byte more
    client.create_function(FunctionName="at", Environment={"Variables": at_limit}, **args)
    over = _environment(strict.LAMBDA_ENVIRONMENT_BYTES + 1)
    with pytest.raises(ClientError) as refused:
        client.create_function(FunctionName="over", Environment={"Variables": over}, **args)
    # THEN the first exists and the second is refused in Lambda's words
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided exceeded the 4KB limit. String measured: "
        + json.dumps(over, separators=(",", ":"))
    )
    names = {f["FunctionName"] for f in client.list_functions()["Functions"]}
    assert names == {"at", "echo"}  # echo: the fixture's own function
    # AND an update past it is refused the same way, leaving the environment as it was
    with pytest.raises(ClientError) as update:
        client.update_function_configuration(FunctionName="at", Environment={"Variables": over})
    assert update.value.response["Error"]["Code"] == "InvalidParameterValueException"
    current = client.get_function_configuration(FunctionName="at")["Environment"]["Variables"]
    assert current == at_limit


# -- IAM ---------------------------------------------------------------------------------------


def test_a_roles_inline_policies_add_up_to_10240_characters_and_no_more(
    machines: Machines,
) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=json.dumps(TRUST))
    # GIVEN two policies that fill the role's quota exactly (indented: white space is free)
    iam.put_role_policy(RoleName="worker", PolicyName="one", PolicyDocument=_policy(6000))
    iam.put_role_policy(
        RoleName="worker",
        PolicyName="two",
        PolicyDocument=_policy(strict.IAM_ROLE_POLICY_CHARS - 6000),
    )
    # WHEN a third adds the smallest policy, and "two" is replaced by one a character longer
    with pytest.raises(ClientError) as third:
        iam.put_role_policy(RoleName="worker", PolicyName="three", PolicyDocument=_policy(200))
    with pytest.raises(ClientError) as longer:
        iam.put_role_policy(
            RoleName="worker",
            PolicyName="two",
            PolicyDocument=_policy(strict.IAM_ROLE_POLICY_CHARS - 6000 + 1),
        )
    # THEN both are refused as IAM refuses them
    for refused in (third, longer):
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "LimitExceeded",
            "Maximum policy size of 10240 bytes exceeded for role worker",
        )
        assert isinstance(refused.value, iam.exceptions.LimitExceededException)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert iam.list_role_policies(RoleName="worker")["PolicyNames"] == ["one", "two"]
    # AND replacing "two" with one no longer fits again (its old size is not counted twice)
    iam.put_role_policy(
        RoleName="worker",
        PolicyName="two",
        PolicyDocument=_policy(strict.IAM_ROLE_POLICY_CHARS - 6000),
    )


def test_a_trust_policy_of_2048_characters_is_taken_and_one_more_refused(
    machines: Machines,
) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="at", AssumeRolePolicyDocument=_trust(2048))
    with pytest.raises(ClientError) as created:
        iam.create_role(RoleName="over", AssumeRolePolicyDocument=_trust(2049))
    with pytest.raises(ClientError) as updated:
        iam.update_assume_role_policy(RoleName="at", PolicyDocument=_trust(2049))
    for refused in (created, updated):
        assert isinstance(refused.value, iam.exceptions.LimitExceededException)
        assert refused.value.response["Error"]["Message"] == (
            "Cannot exceed quota for ACLSizePerRole: 2048"
        )
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    # (machines: the fixture's own role)
    assert {r["RoleName"] for r in iam.list_roles()["Roles"]} == {"at", "machines"}


# -- CloudFormation ----------------------------------------------------------------------------


def test_a_parameter_value_past_4096_bytes_is_refused_before_anything_is_created(
    machines: Machines,
) -> None:
    # GIVEN 316 member accounts in MemberAccountIds: 4,107 bytes
    accounts = ",".join(f"{100000000000 + n:012d}" for n in range(316))
    assert len(accounts) == 4107
    # WHEN the stack is deployed with them
    with pytest.raises(ClientError) as refused:
        deploy("template.yaml", {"MemberAccountIds": accounts})
    # THEN CloudFormation's deploy refuses it, naming the parameter, and nothing exists
    assert refused.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": (
            "Parameter 'MemberAccountIds' value is 4107 bytes: a parameter value is at most "
            "4096 bytes"
        ),
    }
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
    roles = boto3.client("iam", region_name=REGION).list_roles()["Roles"]
    assert [r["RoleName"] for r in roles] == ["machines"]  # the fixture's own role


def test_315_member_accounts_fit_a_parameter_value() -> None:
    accounts = [f"{100000000000 + n:012d}" for n in range(315)]
    strict.check_parameter_values({"MemberAccountIds": accounts})
    with pytest.raises(ClientError):
        strict.check_parameter_values({"MemberAccountIds": [*accounts, "999999999999"]})


def test_the_largest_supported_configuration_deploys_in_the_strict_rehearsal(
    machines: Machines,
) -> None:
    # GIVEN the ledger's largest configuration (docs/limits.md): 315 accounts in
    # MemberAccountIds, 28 pass-role ARNs, every optional value at its longest
    largest = LARGEST.parameters()
    # WHEN it is deployed with every size check on (under the default stack name: the
    # rehearsal cuts "<stack>-<logical id>" at a name quota where CloudFormation shortens each
    # part and adds a suffix, so 128 characters would collide here; the ledger sizes those)
    stack = deploy("template.yaml", largest)
    # THEN every function's environment fits, and the accounts are in Parameter Store only
    for logical_id in stack.of_type("AWS::Lambda::Function"):
        environment = stack.function_env(logical_id)
        assert strict.environment_size(environment) <= strict.LAMBDA_ENVIRONMENT_BYTES
        assert "100000000000" not in json.dumps(environment)
    ssm = boto3.client("ssm", region_name=REGION)
    name = stack.physical_id("MemberAccountsParameter")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == largest["MemberAccountIds"]

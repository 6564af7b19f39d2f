"""IAM least privilege, proven on the translated template (what CloudFormation receives).

The checks live in iam_checks.py. Here they run on the real template, where they must find
nothing, and on deliberately broken copies, where each must find exactly the planted fault:
a check that cannot fail proves nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from iam_checks import (
    NOT_CALLED_BUT_NEEDED,
    PLATFORM_ACTIONS,
    coverage_findings,
    function_roles,
    policy_findings,
)
from template_support import translate

ALLOWED_PASS_ROLES = {
    "Fn::If": [
        "HasAllowedPassRoleArns",
        {"Ref": "AllowedPassRoleArns"},
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"},
    ]
}


def _policy(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = cfn["Resources"][role]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    return statements


def _broken(cfn: dict[str, Any], role: str, statement: dict[str, Any]) -> dict[str, Any]:
    copied = copy.deepcopy(cfn)
    _policy(copied, role).append(statement)
    return copied


def _new_findings(real: dict[str, Any], broken: dict[str, Any]) -> list[str]:
    baseline = set(policy_findings(real, ALLOWED_PASS_ROLES))
    return [f for f in policy_findings(broken, ALLOWED_PASS_ROLES) if f not in baseline]


# --- the real template --------------------------------------------------------------------


def test_the_template_has_no_policy_findings(cfn_template: dict[str, Any]) -> None:
    assert policy_findings(cfn_template, ALLOWED_PASS_ROLES) == []


def test_each_function_holds_only_what_its_code_is_seen_calling(
    cfn_template: dict[str, Any], ledger: dict[str, list[str]]
) -> None:
    # GIVEN the calls each handler made during the handler and rehearsal tests (the ledger)
    # WHEN each function's grants are compared with them, both ways
    # THEN nothing is missing and nothing is granted beyond them but the reasoned exceptions
    assert coverage_findings(cfn_template, ledger) == []


def test_every_exception_names_a_function_of_the_template_and_a_reason(
    cfn_template: dict[str, Any],
) -> None:
    functions = function_roles(cfn_template)
    assert set(NOT_CALLED_BUT_NEEDED) <= set(functions)
    reasons = [*PLATFORM_ACTIONS.values()] + [
        reason for grants in NOT_CALLED_BUT_NEEDED.values() for reason in grants.values()
    ]
    assert all(len(reason) > 20 for reason in reasons)


# --- broken copies: each rule bites -------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "statement", "expected"),
    [
        (
            "AcquireFunctionRole",
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Fn::GetAtt": ["x", "Arn"]}},
            ["AcquireFunctionRole/?: wildcard action dynamodb:*"],
        ),
        (
            "ObserveFunctionRole",
            {"Sid": "Broad", "Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "*"},
            [
                "ObserveFunctionRole/Broad: wildcard action dynamodb:Get*",
                "ObserveFunctionRole/Broad: dynamodb:Get* on Resource '*' although it can be "
                "scoped",
            ],
        ),
        (
            "PollFunctionRole",
            {"Sid": "Star", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
            ["PollFunctionRole/Star: dynamodb:GetItem on Resource '*' although it can be scoped"],
        ),
        (
            "StreamTriggerFunctionRole",
            {
                "Sid": "ScopedList",
                "Effect": "Allow",
                "Action": "dynamodb:ListStreams",
                "Resource": {"Fn::Sub": "${SpecTable.Arn}/stream/*"},
            },
            [
                "StreamTriggerFunctionRole/ScopedList: dynamodb:ListStreams has no resource "
                "type; granted on a resource ARN it matches nothing"
            ],
        ),
        (
            "RecordFunctionRole",
            {"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            ["RecordFunctionRole/Not: NotAction grants everything but a list"],
        ),
        (
            "RegisterFunctionRole",
            {
                "Sid": "PassAny",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": ALLOWED_PASS_ROLES,
            },
            [
                "RegisterFunctionRole/PassAny: iam:PassRole not limited to "
                "iotfleetwise.amazonaws.com"
            ],
        ),
        (
            "RegisterFunctionRole",
            {
                "Sid": "PassOther",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/admin"},
                "Condition": {
                    "StringEquals": {"iam:PassedToService": "iotfleetwise.amazonaws.com"}
                },
            },
            ["RegisterFunctionRole/PassOther: iam:PassRole beyond the AllowedPassRoleArns roles"],
        ),
        (
            "RegisterFunctionRole",
            {
                "Sid": "Slr",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": "arn:aws:iam::123456789012:role/aws-service-role/ec2.amazonaws.com/x",
                "Condition": {"StringLike": {"iam:AWSServiceName": "ec2.amazonaws.com"}},
            },
            [
                "RegisterFunctionRole/Slr: iam:CreateServiceLinkedRole beyond FleetWise's role",
            ],
        ),
    ],
)
def test_a_planted_fault_is_found(
    cfn_template: dict[str, Any], role: str, statement: dict[str, Any], expected: list[str]
) -> None:
    assert _new_findings(cfn_template, _broken(cfn_template, role, statement)) == expected


def test_a_managed_policy_on_a_role_is_found(cfn_template: dict[str, Any]) -> None:
    broken = copy.deepcopy(cfn_template)
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    broken["Resources"]["PollFunctionRole"]["Properties"]["ManagedPolicyArns"] = [arn]
    assert _new_findings(cfn_template, broken) == [
        f"PollFunctionRole: managed policy {arn!r} hides its grants"
    ]


def test_a_grant_in_a_separate_policy_resource_is_expanded_and_checked(
    cfn_template: dict[str, Any],
) -> None:
    broken = copy.deepcopy(cfn_template)
    broken["Resources"]["Sneaky"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "sneaky",
            "Roles": [{"Ref": "PollFunctionRole"}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "S", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            },
        },
    }
    assert _new_findings(cfn_template, broken) == [
        "PollFunctionRole/S: wildcard action s3:*",
        "PollFunctionRole/S: s3:* on Resource '*' although it can be scoped",
    ]


def test_a_sam_managed_policy_cannot_slip_through_translation(
    sam_template: dict[str, Any], cfn_template: dict[str, Any]
) -> None:
    # GIVEN a function that asks SAM for an AWS managed policy instead of its own role
    broken = copy.deepcopy(sam_template)
    extra = copy.deepcopy(broken["Resources"]["PollFunction"])
    del extra["Properties"]["Role"]
    extra["Properties"]["Policies"] = ["AmazonDynamoDBFullAccess"]
    broken["Resources"]["ExtraFunction"] = extra
    # WHEN the template is translated and checked
    found = _new_findings(cfn_template, translate(broken))
    # THEN the managed policies SAM attached are found, not trusted
    assert set(found) == {
        "ExtraFunctionRole: managed policy 'arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess' "
        "hides its grants",
        "ExtraFunctionRole: managed policy 'arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess' "
        "hides its grants",
        "ExtraFunctionRole: managed policy 'arn:aws:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole' hides its grants",
    }


def test_an_unneeded_action_is_found(
    cfn_template: dict[str, Any], ledger: dict[str, list[str]]
) -> None:
    broken = _broken(
        cfn_template,
        "PollFunctionRole",
        {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": {"Fn::GetAtt": ["T", "Arn"]}},
    )
    found = set(coverage_findings(broken, ledger)) - set(coverage_findings(cfn_template, ledger))
    assert found == {
        "PollFunction: dynamodb:Scan is granted but no test observes "
        "fleetwise_reconciler.handlers.poll calling it"
    }


def test_a_missing_grant_is_found(
    cfn_template: dict[str, Any], ledger: dict[str, list[str]]
) -> None:
    calls = {**ledger, "fleetwise_reconciler.handlers.poll": ["iotfleetwise:ListCampaigns"]}
    found = set(coverage_findings(cfn_template, calls)) - set(
        coverage_findings(cfn_template, ledger)
    )
    assert (
        "PollFunction: fleetwise_reconciler.handlers.poll calls iotfleetwise:ListCampaigns "
        "but its role is not granted it" in found
    )

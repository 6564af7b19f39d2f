"""The member role (member/template.yaml): what it allows, and whom it trusts.

It holds the registration calls, the campaign reads, FleetWise's service-linked role and
PassRole of that account's roles to FleetWise, nothing else; and only the hub stack's
reconciler roles (the roles under the hub's path, as the hub template creates them) may
assume it. The trust is evaluated with the rehearsal's trust policy evaluator on the
template's resolved policy, for the principals that must and must not get in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from iam_checks import FLEETWISE_SERVICE, policy_findings

from fleetwise_rehearsal.aws import trust
from fleetwise_rehearsal.aws.template import Resolver, load_template

MEMBER_TEMPLATE = Path(__file__).resolve().parents[2] / "member" / "template.yaml"
HUB = "123456789012"
MEMBER = "210987654321"
HUB_PATH = "fleetwise-reconciler/hub"  # the hub template's Path for a stack named "hub"


def _resolved(**parameters: str) -> dict[str, Any]:
    template = load_template(MEMBER_TEMPLATE)
    values: dict[str, Any] = {
        name: spec.get("Default") for name, spec in template["Parameters"].items()
    }
    values.update({"HubAccountId": HUB, "HubStackName": "hub", **parameters})
    for name, spec in template["Parameters"].items():
        if spec["Type"] == "CommaDelimitedList" and isinstance(values[name], str):
            values[name] = [p for p in values[name].split(",") if p]
    resolver = Resolver(
        parameters=values,
        conditions=template["Conditions"],
        account_id=MEMBER,
        region="us-east-1",
        stack_name="member",
    )
    role: dict[str, Any] = resolver.resolve(template["Resources"]["MemberRole"]["Properties"])
    return role


def test_the_member_template_is_plain_cloudformation_and_lints_clean() -> None:
    template = load_template(MEMBER_TEMPLATE)
    # StackSets with service-managed permissions deploy it as it is: no transform, no asset.
    assert "Transform" not in template
    assert {r["Type"] for r in template["Resources"].values()} == {"AWS::IAM::Role"}
    text = MEMBER_TEMPLATE.read_text(encoding="utf-8")
    assert [str(m) for m in lint(text, regions=["us-east-1", "eu-central-1"])] == []


def test_the_role_holds_exactly_the_registration_grants() -> None:
    role = _resolved()
    assert role["RoleName"] == "FleetWiseReconcilerMember"
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    grants = {
        action: statement["Resource"]
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert grants == {
        "iotfleetwise:RegisterAccount": "*",
        "iotfleetwise:GetRegisterAccountStatus": "*",
        "iotfleetwise:ListCampaigns": "*",
        "iotfleetwise:GetCampaign": f"arn:aws:iotfleetwise:*:{MEMBER}:campaign/*",
        "iam:CreateServiceLinkedRole": f"arn:aws:iam::{MEMBER}:role/aws-service-role/"
        "iotfleetwise.amazonaws.com/AWSServiceRoleForIoTFleetWise",
        "iam:PassRole": f"arn:aws:iam::{MEMBER}:role/*",
    }
    # The project's least-privilege rules hold too (PassRole only to FleetWise, the
    # service-linked role only FleetWise's, "*" only where IAM allows nothing else).
    cfn = {"Resources": {"MemberRole": {"Type": "AWS::IAM::Role", "Properties": role}}}
    assert policy_findings(cfn, f"arn:aws:iam::{MEMBER}:role/*") == []
    by_action = {s["Sid"]: s for s in statements}
    assert by_action["PassTimestreamRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": FLEETWISE_SERVICE}
    }


def test_pass_role_narrows_to_the_roles_the_account_allows() -> None:
    role = _resolved(AllowedPassRoleArns=f"arn:aws:iam::{MEMBER}:role/fleetwise-*")
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["PassTimestreamRole"]["Resource"] == [
        f"arn:aws:iam::{MEMBER}:role/fleetwise-*"
    ]


@pytest.mark.parametrize(
    ("principal", "trusted"),
    [
        # the hub stack's reconciler roles (generated names, under the stack's path)
        (f"arn:aws:iam::{HUB}:role/{HUB_PATH}/hub-ObserveFunctionRole-1A2B3C", True),
        (f"arn:aws:iam::{HUB}:role/{HUB_PATH}/hub-DriftCheckFunctionRole-9Z", True),
        # the same account's other roles, another stack whose name starts alike, other accounts
        (f"arn:aws:iam::{HUB}:role/hub-ObserveFunctionRole-1A2B3C", False),
        (f"arn:aws:iam::{HUB}:role/fleetwise-reconciler/hub-2/hub-2-ObserveFunctionRole", False),
        (f"arn:aws:iam::{HUB}:role/Admin", False),
        (f"arn:aws:iam::{HUB}:user/operator", False),
        (f"arn:aws:iam::999999999999:role/{HUB_PATH}/hub-ObserveFunctionRole-1A2B3C", False),
    ],
)
def test_only_the_hub_stacks_reconciler_roles_are_trusted(principal: str, trusted: bool) -> None:
    document = _resolved()["AssumeRolePolicyDocument"]
    assert trust.allows(document, principal) is trusted


def test_operators_named_by_the_member_account_are_trusted_too() -> None:
    operator = f"arn:aws:iam::{HUB}:role/Operators"
    document = _resolved(OperatorPrincipalArns=operator)["AssumeRolePolicyDocument"]
    assert trust.allows(document, operator)
    assert trust.allows(document, f"arn:aws:iam::{HUB}:role/{HUB_PATH}/hub-PollFunctionRole-X")
    assert not trust.allows(document, f"arn:aws:iam::{HUB}:role/Admin")

"""The deployer's IAM policies (docs/deployer-policy/) and what docs/deploy.md says of them:
generated from the translated template, so a resource type added to the template changes them
(and the stale files fail here); each fits a managed policy; the SAM CLI version docs/deploy.md
names is the one the Makefile pins."""

from __future__ import annotations

import json
import re

import pytest
from doc_support import ROOT, flat, read
from test_parameters_doc import docs_reference

POLICY_DIR = ROOT / "docs" / "deployer-policy"
# IAM's quota for a managed policy document, whitespace not counted (IAM and AWS STS quotas).
MANAGED_POLICY_CHARACTERS = 6144


def documented_policies() -> dict[str, dict[str, object]]:
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(POLICY_DIR.glob("*.json"))}


def granted(policies: dict[str, dict[str, object]]) -> set[str]:
    actions: set[str] = set()
    for document in policies.values():
        for statement in document["Statement"]:  # type: ignore[attr-defined]
            assert statement["Effect"] == "Allow"
            actions.update(statement["Action"])
    return actions


def test_the_policies_are_generated_from_the_template() -> None:
    expected = docs_reference.deployer_policies()
    assert documented_policies() == expected, "docs/deployer-policy is stale: run `make docs`"
    for name, document in expected.items():
        assert (POLICY_DIR / name).read_text("utf-8") == json.dumps(document, indent=2) + "\n"


def test_every_resource_type_of_the_stack_has_its_handlers_actions() -> None:
    types = docs_reference.stack_resource_types()
    # the stack's kinds of resources, the conditional ones (alarm e-mail, topic key) included
    assert {
        "AWS::DynamoDB::Table",
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::Scheduler::Schedule",
        "AWS::KMS::Key",
        "AWS::SNS::Subscription",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::IAM::Role",
        "Custom::FleetWiseTargetSpec",
    } <= set(types)
    actions = granted(documented_policies())
    for kind, needed in types.items():
        assert needed and needed <= actions, (kind, sorted(needed - actions))
    assert "dynamodb:CreateTable" in types["AWS::DynamoDB::Table"]
    assert types["Custom::FleetWiseTargetSpec"] == {"lambda:InvokeFunction"}


def test_a_resource_type_without_a_schema_is_refused() -> None:
    with pytest.raises(LookupError, match="no CloudFormation registry schema for AWS::No::Thing"):
        docs_reference.handler_permissions("AWS::No::Thing")


def test_the_roles_are_limited_to_the_stacks_own() -> None:
    statements = {
        s["Sid"]: s
        for document in documented_policies().values()
        for s in document["Statement"]  # type: ignore[attr-defined]
    }
    assert statements["StackRoles"]["Resource"] == "arn:aws:iam::*:role/fleetwise-reconciler*"
    assert "iam:CreateRole" in statements["StackRoles"]["Action"]
    assert statements["PassStackRoles"]["Condition"] == {
        "StringEquals": {
            "iam:PassedToService": [
                "lambda.amazonaws.com",
                "scheduler.amazonaws.com",
                "states.amazonaws.com",
            ]
        }
    }
    # no IAM action is granted on every resource
    for statement in statements.values():
        if statement["Resource"] == "*":
            assert not [a for a in statement["Action"] if a.startswith("iam:")], statement["Sid"]


@pytest.mark.parametrize("name", ["sam-cli.json", "stack-resources.json"])
def test_each_policy_fits_a_managed_policy(name: str) -> None:
    text = (POLICY_DIR / name).read_text("utf-8")
    assert len(re.sub(r"\s", "", text)) <= MANAGED_POLICY_CHARACTERS


def test_the_deploy_chapter_names_the_sam_cli_the_makefile_pins() -> None:
    (pinned,) = re.findall(r"^SAM_CLI_VERSION := (\S+)$", read("Makefile"), re.M)
    assert f"(`SAM_CLI_VERSION`, {pinned})" in flat(read("docs/deploy.md"))

"""Every combination of the conditions that change resources translates, resolves and passes
the same checks (the per-payload tests run on every set too; here: what each set changes, and
least privilege on each translation)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from stack_values import PARAMETER_SETS, deployed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from iam_checks import policy_findings

ALLOWED_PASS_ROLES = {
    "Fn::If": [
        "HasAllowedPassRoleArns",
        {"Ref": "AllowedPassRoleArns"},
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"},
    ]
}


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_each_combination_translates_resolves_and_grants_least_privilege(
    parameter_set: str,
) -> None:
    stack = deployed(parameter_set)  # translating and resolving raise on any failure
    assert stack.of_type("AWS::Lambda::Function")
    assert policy_findings(stack.cfn, ALLOWED_PASS_ROLES) == []


def _names(parameter_set: str) -> set[str]:
    return set(deployed(parameter_set).resources)


def test_the_combinations_change_what_they_should() -> None:
    default = _names("default")
    assert _names("no-default-target") == default - {"DefaultTargetSpec"}
    assert _names("alarm-topic-key") == default - {"AlarmTopicKey"} | {"AlarmEmailSubscription"}
    assert _names("data-key") == default
    data_key = deployed("data-key").resources
    assert data_key["SpecTable"]["Properties"]["SSESpecification"]["KMSMasterKeyId"]
    legacy = deployed("legacy").resources["DefaultTargetSpec"]["Properties"]
    assert legacy["Mode"] == "timestream"
    assert legacy["IamRoleArn"] == "arn:aws:iam::123456789012:role/FleetWiseTimestream"

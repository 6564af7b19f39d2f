"""Invariant 20: every AWS quota the stack touches, its usage computed from the translated
template at the largest supported configuration, fails past any of them (fleet/quotas.py).

The ledger (docs/limits.md) is generated from the same computation, so the doc's numbers are
these (tests/docs/test_limits_doc.py holds the page to it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from samtranslator.yaml_helper import yaml_parse

from fleetwise_reconciler import member
from fleetwise_rehearsal.aws import strict
from fleetwise_rehearsal.fleet import quotas
from fleetwise_rehearsal.fleet.quotas import LARGEST, Row, breaches, ledger, one_past

ROOT = Path(__file__).resolve().parents[2]
# Where AWS degrades instead of refusing, and the stack relies on it (the ledger says how).
DEGRADED = {"insights-series", "alarm-contributors"}


@pytest.fixture(scope="module")
def largest() -> dict[str, Row]:
    return {row.quota.key: row for row in ledger(LARGEST)}


def test_the_largest_configuration_is_within_every_quota_aws_refuses_past(
    largest: dict[str, Row],
) -> None:
    # GIVEN two stacks, 10,000 targets, 315 accounts in MemberAccountIds, 26 pass-role ARNs
    # and a 128-character stack name
    rows = list(largest.values())
    # THEN nothing passes a quota AWS refuses past, and only the documented ones degrade
    assert breaches(rows) == []
    assert {row.quota.key for row in rows if not row.within} == DEGRADED
    assert all(row.quota.past_it for row in rows if row.quota.key in DEGRADED)


def test_a_warm_function_keeps_every_member_accounts_credentials_at_the_largest_size() -> None:
    # GIVEN the largest configuration's member accounts, and the accounts its targets could
    # span (a target is one account in one of the three Regions IoT FleetWise serves)
    spanned = -(-LARGEST.targets // 3)
    # THEN the member roles' cache holds them all (a warm drift check assumes no role again
    # while the credentials last), and its clients cover one drift check batch's targets
    assert (LARGEST.member_accounts, spanned) == (3_333, 3_334)
    assert LARGEST.member_accounts + 1 == spanned <= member.CACHE_LIMIT
    assert LARGEST.drift_check_batch_size <= member.PORT_LIMIT


def test_every_quota_names_its_number_and_an_aws_page(largest: dict[str, Row]) -> None:
    for row in largest.values():
        assert row.quota.limit > 0, row.quota.key
        assert row.quota.source.startswith("https://docs.aws.amazon.com/"), row.quota.key
    assert len({row.quota.key for row in largest.values()}) == len(quotas.QUOTAS)


def test_the_usages_are_the_templates(largest: dict[str, Row]) -> None:
    # The walls the issue found: MemberAccountIds is one parameter and one Parameter Store
    # value; no list of accounts is in any environment.
    value = ",".join(f"{100000000000 + n:012d}" for n in range(315))
    assert largest["cfn-parameter-value"].usage == quotas.Usage(len(value), "MemberAccountIds")
    assert largest["ssm-parameter-value"].usage.amount == len(value) == 4094
    # The largest environment is a function's with the 26 pass-role ARNs (96 bytes each with
    # the comma) and nothing that grows with the member accounts.
    environment = largest["lambda-environment"].usage
    assert environment.amount <= strict.LAMBDA_ENVIRONMENT_BYTES
    assert strict.LAMBDA_ENVIRONMENT_BYTES - environment.amount < 96
    assert largest["cfn-stack-name"].usage.amount == 128
    assert largest["insights-alarms"].usage == quotas.Usage(12, "2 stacks x 6")
    assert largest["lambda-concurrency"].usage.amount == 2 * 20
    assert largest["ssm-parameters"].usage.amount == 2 * 11  # ceil(3,333 / 315) lists a stack


# One more of each bounded dimension passes exactly the quotas that bound it.
ONE_PAST = {
    "listed_in_template": {"cfn-parameter-value", "ssm-parameter-value"},
    "pass_role_arns": {"lambda-environment"},
    "stack_name_length": {"cfn-stack-name"},
    "targets": {"insights-metrics"},
}


def test_every_bounded_dimension_is_checked_one_past() -> None:
    bounded = {quota.bounds for quota in quotas.QUOTAS if quota.bounds}
    assert bounded == set(ONE_PAST)


@pytest.mark.parametrize("dimension", sorted(ONE_PAST))
def test_one_past_the_documented_maximum_fails(dimension: str) -> None:
    # GIVEN the largest configuration with one more of the dimension
    past = one_past(LARGEST, dimension)
    assert getattr(past, dimension) == getattr(LARGEST, dimension) + 1
    # WHEN its usage is computed
    rows = ledger(past)
    # THEN it passes exactly the quotas that bound the dimension, each by a little
    assert {row.quota.key for row in breaches(rows)} == ONE_PAST[dimension]
    for row in breaches(rows):
        assert row.usage.amount > row.quota.limit


# -- copies of the template one step past a quota the configuration does not move ------------


def _copy(tmp_path: Path, edit: Any) -> Path:
    """template.yaml (and the state machine it reads) in ``tmp_path``, edited by ``edit``."""
    sam = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    edit(sam)
    shutil.copytree(ROOT / "statemachine", tmp_path / "statemachine")
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(sam, sort_keys=False), encoding="utf-8")
    return path


def _usage(path: Path, key: str) -> Row:
    (row,) = [row for row in ledger(LARGEST, path) if row.quota.key == key]
    return row


@pytest.mark.parametrize("excess", [0, 1], ids=["at the quota", "one past"])
def test_a_role_one_character_past_its_policy_quota_fails(tmp_path: Path, excess: int) -> None:
    # GIVEN a copy whose RegisterFunctionRole gets one more inline policy, sized so the role's
    # policies add up to the quota (and one character more)
    used = _usage(ROOT / "template.yaml", "iam-role-policies")
    assert used.usage.where == "RegisterFunctionRole"
    room = strict.IAM_ROLE_POLICY_CHARS - used.usage.amount + excess
    empty = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ""}]}
    padding = "a" * (room - strict.policy_size(empty))
    policy = {**empty, "Statement": [{**empty["Statement"][0], "Resource": padding}]}

    def edit(sam: dict[str, Any]) -> None:
        role = sam["Resources"]["RegisterFunctionRole"]["Properties"]
        role["Policies"].append({"PolicyName": "padding", "PolicyDocument": policy})

    row = _usage(_copy(tmp_path, edit), "iam-role-policies")
    # THEN at the quota it passes, one character past it fails
    assert row.usage.amount == strict.IAM_ROLE_POLICY_CHARS + excess
    assert (row in breaches([row])) is (excess == 1)


@pytest.mark.parametrize("excess", [0, 1], ids=["at the quota", "one past"])
def test_a_trust_policy_one_character_past_its_quota_fails(tmp_path: Path, excess: int) -> None:
    # GIVEN a copy whose largest trust policy gets one more statement, its principal's name
    # sized so the policy reaches the quota (and one character more)
    logical_id = _usage(ROOT / "template.yaml", "iam-trust-policy").usage.where

    def padded(service: str) -> Any:
        def edit(sam: dict[str, Any]) -> None:
            trust = sam["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"]
            trust["Statement"].append(
                {"Effect": "Deny", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            )

        return edit

    (tmp_path / "base").mkdir()
    base = _usage(_copy(tmp_path / "base", padded("")), "iam-trust-policy").usage.amount
    (tmp_path / "padded").mkdir()
    fill = "s" * (strict.IAM_TRUST_POLICY_CHARS + excess - base)
    row = _usage(_copy(tmp_path / "padded", padded(fill)), "iam-trust-policy")
    # THEN at the quota it passes, one character past it fails
    assert row.usage == quotas.Usage(strict.IAM_TRUST_POLICY_CHARS + excess, logical_id)
    assert (row in breaches([row])) is (excess == 1)


@pytest.mark.parametrize("excess", [0, 1], ids=["at the quota", "one past"])
def test_an_environment_one_byte_past_four_kb_fails(tmp_path: Path, excess: int) -> None:
    # GIVEN a copy with one more variable in every function's environment, sized to fill it
    used = _usage(ROOT / "template.yaml", "lambda-environment").usage.amount
    # ,"PAD":"<n>" adds 9 bytes and n
    fill = strict.LAMBDA_ENVIRONMENT_BYTES - used + excess - len(',"PAD":""')

    def edit(sam: dict[str, Any]) -> None:
        sam["Globals"]["Function"]["Environment"]["Variables"]["PAD"] = "p" * fill

    row = _usage(_copy(tmp_path, edit), "lambda-environment")
    assert row.usage.amount == strict.LAMBDA_ENVIRONMENT_BYTES + excess
    assert (row in breaches([row])) is (excess == 1)


def test_a_template_of_501_resources_fails(tmp_path: Path) -> None:
    used = _usage(ROOT / "template.yaml", "cfn-resources").usage.amount

    def edit(sam: dict[str, Any]) -> None:
        for n in range(501 - used):
            sam["Resources"][f"Padding{n}"] = {"Type": "AWS::SNS::Topic", "Properties": {}}

    row = _usage(_copy(tmp_path, edit), "cfn-resources")
    assert row.usage.amount == 501
    assert breaches([row]) == [row]


def test_the_history_bound_counts_each_state_and_each_retry() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Next": "T"},
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Retry": [
                    {"ErrorEquals": ["A"], "MaxAttempts": 2},
                    {"ErrorEquals": ["B"], "MaxAttempts": 3},
                ],
                "Next": "S",
            },
            "S": {"Type": "Succeed"},
        },
    }
    # Pass 2, Task 5 + 3 x 5 retries, Succeed 2; twice; the execution's start and end
    assert quotas.history_bound(definition, passes=2) == 2 * (2 + 5 + 15 + 2) + 2


@pytest.mark.parametrize(("max_loops", "within"), [(8, True), (9, False)])
def test_the_loop_bound_is_where_a_runs_history_could_pass_25000_events(
    tmp_path: Path, max_loops: int, within: bool
) -> None:
    # GIVEN a copy whose MaxLoops default is 8, or 9 (ThrottleMaxWaits stays at 5)
    def edit(sam: dict[str, Any]) -> None:
        sam["Parameters"]["MaxLoops"]["Default"] = max_loops

    row = _usage(_copy(tmp_path, edit), "sfn-history")
    # THEN the bound passes 25,000 events from 9 loops on
    assert row.within is within
    assert (row in breaches([row])) is not within

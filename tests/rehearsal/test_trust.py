"""The rehearsal's trust policy evaluator: IAM's rules for the elements it evaluates, and a
loud refusal of the ones it does not (a silent allow would make the rehearsal lenient)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetwise_rehearsal.aws.trust import UnsupportedTrust, allows

ROLE = "arn:aws:iam::123456789012:role/path/hub-ObserveFunctionRole"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sts:AssumeRole", **extra}


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ({"AWS": "arn:aws:iam::123456789012:root"}, True),
        ({"AWS": "123456789012"}, True),
        ({"AWS": [ROLE]}, True),
        ({"AWS": "arn:aws:iam::210987654321:root"}, False),
        ({"Service": "lambda.amazonaws.com"}, False),
        ("*", True),
    ],
)
def test_principals(principal: Any, expected: bool) -> None:
    assert allows(policy(allow(Principal=principal)), ROLE) is expected


def test_conditions_on_the_principal_arn_and_account() -> None:
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    like = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/path/*"}}
    assert allows(policy(allow(Principal=root, Condition=like)), ROLE)
    other = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/other/*"}}
    assert not allows(policy(allow(Principal=root, Condition=other)), ROLE)
    either = {"ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/other/*", ROLE]}}
    assert allows(policy(allow(Principal=root, Condition=either)), ROLE)
    both = {
        "StringEquals": {"aws:PrincipalAccount": "123456789012"},
        "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/path/*"},
    }
    assert not allows(policy(allow(Principal=root, Condition=both)), ROLE)


def test_an_explicit_deny_wins_and_no_allow_is_a_deny() -> None:
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    deny = {"Effect": "Deny", "Action": "sts:*", "Principal": root}
    assert not allows(policy(allow(Principal=root), deny), ROLE)
    assert not allows(policy(), ROLE)
    assert not allows(policy({**allow(Principal=root), "Action": "sts:TagSession"}), ROLE)


@pytest.mark.parametrize(
    "statement",
    [
        allow(Principal={"AWS": "*"}, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow(Principal={"AWS": "*"}, Condition={"StringEquals": {"sts:ExternalId": "x"}}),
        {"Effect": "Allow", "NotAction": "iam:*", "Principal": {"AWS": "*"}},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "NotPrincipal": {"AWS": "*"}},
    ],
)
def test_what_is_not_evaluated_is_refused_loudly(statement: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedTrust):
        allows(policy(statement), ROLE)

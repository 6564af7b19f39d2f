"""Role trust policies, evaluated as IAM evaluates them for ``sts:AssumeRole``.

moto's AssumeRole hands out credentials for any role ARN, existing or not, whoever asks. AWS
refuses unless the role exists and its trust policy allows the caller; the rehearsal must be
as strict, or a member role that does not trust the hub would "work" offline. This evaluates
the part of the policy language the project's trust policies use, and refuses to guess at the
rest (``UnsupportedTrust``):

- ``Effect`` Allow or Deny; an explicit Deny wins, no Allow means denied (IAM's evaluation
  logic);
- ``Action``: a string or a list, ``*`` and ``?`` wildcards, case-insensitive;
- ``Principal``: ``"*"`` or ``{"AWS": ...}`` holding account ids, account root ARNs
  (``arn:aws:iam::<account>:root``: "the account", any of its principals that its own
  policies allow) or role ARNs; other principal kinds (``Service``, ``Federated``) name no
  role session;
- ``Condition``: ``StringEquals``, ``StringLike``, ``ArnEquals``, ``ArnLike`` and their
  ``StringNotEquals``/``StringNotLike``/``ArnNotEquals``/``ArnNotLike`` opposites, on
  ``aws:PrincipalArn`` (for a role session: the role's ARN, path included) and
  ``aws:PrincipalAccount``; values of one key are ORed, keys and operators ANDed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any


class UnsupportedTrust(ValueError):
    """A trust policy element the rehearsal does not evaluate."""


_POSITIVE = {"StringEquals": False, "StringLike": True, "ArnEquals": False, "ArnLike": True}
_NEGATIVE = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_KEYS = ("aws:principalarn", "aws:principalaccount")


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        raise UnsupportedTrust("NotAction is not rehearsed")
    return any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower())
        for pattern in _listed(statement.get("Action", []))
    )


def _principal_matches(statement: Mapping[str, Any], principal_arn: str) -> bool:
    if "NotPrincipal" in statement:
        raise UnsupportedTrust("NotPrincipal is not rehearsed")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedTrust(f"Principal {principal!r} is not rehearsed")
    account = account_of(principal_arn)
    partition = principal_arn.split(":")[1]
    for entry in _listed(principal.get("AWS", [])):
        if entry in ("*", account, f"arn:{partition}:iam::{account}:root", principal_arn):
            return True
    return False


def _key_value(key: str, principal_arn: str) -> str:
    if key.lower() == "aws:principalarn":
        return principal_arn
    return account_of(principal_arn)


def _one(operator: str, values: list[str], actual: str) -> bool:
    if _POSITIVE[operator]:
        return any(fnmatch.fnmatchcase(actual, pattern) for pattern in values)
    return actual in values


def _conditions_hold(statement: Mapping[str, Any], principal_arn: str) -> bool:
    for operator, tests in (statement.get("Condition") or {}).items():
        negated = operator in _NEGATIVE
        base = _NEGATIVE.get(operator, operator)
        if base not in _POSITIVE:
            raise UnsupportedTrust(f"condition operator {operator} is not rehearsed")
        for key, values in tests.items():
            if key.lower() not in _KEYS:
                raise UnsupportedTrust(f"condition key {key} is not rehearsed")
            matched = _one(base, _listed(values), _key_value(key, principal_arn))
            if matched == negated:
                return False
    return True


def allows(document: Mapping[str, Any], principal_arn: str, action: str = "sts:AssumeRole") -> bool:
    """Whether the trust policy ``document`` lets the role ``principal_arn`` (a role's ARN, or
    another IAM principal's) perform ``action`` on the role."""
    allowed = False
    for statement in _listed_statements(document):
        if not (
            _action_matches(statement, action)
            and _principal_matches(statement, principal_arn)
            and _conditions_hold(statement, principal_arn)
        ):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _listed_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]

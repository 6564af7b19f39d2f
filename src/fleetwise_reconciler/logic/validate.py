"""Spec validation: every problem reported at once, each tied to the field it concerns.

An Invalid spec makes no API call (invariant 7); the problems go into the status message so
the operator sees exactly which attribute to fix.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fleetwise_reconciler.logic.compare import MAX_SPEC_BYTES, json_ready, spec_size
from fleetwise_reconciler.models.spec import (
    MODES,
    ON_EXISTING,
    POLICIES,
    RECONCILE_TOKEN_LENGTH,
    ROLE_ARN,
    ROLE_ARN_LENGTH,
    SPEC_FIELDS,
    TARGET,
    TIMESTREAM_FIELDS,
    TIMESTREAM_NAME,
    TIMESTREAM_NAME_LENGTH,
    Spec,
)

LEGACY_ONLY = ("timestream", "iamRoleArn")
ALLOWED_ROLES_PARAMETER = "AllowedPassRoleArns"
MEMBER_ACCOUNTS_PARAMETER = "MemberAccountIds"
MEMBER_ORGANIZATION_PARAMETER = "MemberOrganizationId"

# Values quoted back in a message are cut to this many characters: the message is stored in
# the status and carried by the workflow.
_QUOTE_LIMIT = 80
# Problems spelled out in the message; the rest are counted.
MAX_PROBLEMS = 10


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class ValidationResult:
    spec: Spec | None
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.problems

    @property
    def message(self) -> str:
        """Every problem, or the first ``MAX_PROBLEMS`` and how many more (a bounded text)."""
        shown = [str(problem) for problem in self.problems[:MAX_PROBLEMS]]
        more = len(self.problems) - MAX_PROBLEMS
        if more > 0:
            shown.append(f"and {more} more problem{'s' if more > 1 else ''}")
        return "; ".join(shown)


@dataclass(frozen=True)
class ValidationContext:
    """What the stack that runs the reconciler allows (from its deployment parameters)."""

    account_id: str
    partition: str = "aws"
    served_regions: tuple[str, ...] = ("us-east-1", "eu-central-1", "ap-south-1")
    # Glob patterns; empty means "any role of the target's own account".
    allowed_role_patterns: tuple[str, ...] = ()
    # Other accounts the stack manages through their member role: a container (the member
    # accounts' list is read from Parameter Store only when a target names another account).
    member_account_ids: Container[str] = ()
    # Where the member accounts are listed (named in the message of an account not allowed).
    member_accounts_path: str = ""
    # With an organisation, any account may be a member: IAM lets the hub assume the member
    # role only in that organisation's accounts, which hold it where StackSets rolled it out.
    member_organization_id: str = ""

    def role_patterns(self, account: str | None = None) -> tuple[str, ...]:
        if self.allowed_role_patterns:
            return self.allowed_role_patterns
        return (f"arn:{self.partition}:iam::{account or self.account_id}:role/*",)


def _cut(text: str) -> str:
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


_SET_TYPES = (
    (str, "a String Set (SS)"),
    (int | float | Decimal, "a Number Set (NS)"),
    (bytes | bytearray, "a Binary Set (BS)"),
)


def dynamodb_type(value: Any) -> str:
    """The DynamoDB attribute type of a value as the data layer reads it, in words."""
    if isinstance(value, bool):
        return "a Boolean (BOOL)"
    if value is None:
        return "a null (NULL)"
    if isinstance(value, str):
        return "a String (S)"
    if isinstance(value, int | float | Decimal):
        return "a Number (N)"
    if isinstance(value, bytes | bytearray):
        return "a Binary (B)"
    if isinstance(value, set | frozenset):
        return next(
            (name for kind, name in _SET_TYPES if all(isinstance(v, kind) for v in value)),
            "a set",
        )
    if isinstance(value, Mapping):
        return "a Map (M)"
    if isinstance(value, list | tuple):
        return "a List (L)"
    return f"a {type(value).__name__}"


def _quote(value: Any) -> str:
    """A value quoted back, the same in every process (a set in one order, bytes in base64)."""
    if value is None or isinstance(value, str | bool | int | float):
        return _cut(repr(value))
    return _cut(json.dumps(json_ready(value), sort_keys=True, ensure_ascii=False))


def _described(value: Any) -> str:
    """A value of the wrong type: its DynamoDB type and the value."""
    return f"{dynamodb_type(value)} {_quote(value)}"


def _length_problem(value: str, bounds: tuple[int, int]) -> str | None:
    low, high = bounds
    if len(value) < low:
        return f"String should have at least {low} character{'s' if low > 1 else ''}"
    if len(value) > high:
        return f"String should have at most {high} characters"
    return None


def _one_of(value: Any, choices: tuple[str, ...]) -> str | None:
    if isinstance(value, str) and value in choices:
        return None
    listed = " or ".join(repr(choice) for choice in choices)
    # Text of the right type needs no type named; any other value does.
    shown = _quote(value) if isinstance(value, str) else _described(value)
    return f"must be one of {listed}, got {shown}"


def _text(value: Any, bounds: tuple[int, int]) -> str | None:
    """The problem of a bounded text field, or None."""
    if not isinstance(value, str):
        return f"must be text (S), got {_described(value)}"
    return _length_problem(value, bounds)


def _timestream_problems(value: Any) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [
            Problem(
                "timestream",
                f"must be a Map (M) of {', '.join(TIMESTREAM_FIELDS)}, got {_described(value)}",
            )
        ]
    problems = []
    for name in TIMESTREAM_FIELDS:
        path = f"timestream.{name}"
        if name not in value:
            problems.append(Problem(path, "is required"))
            continue
        problem = _text(value[name], TIMESTREAM_NAME_LENGTH)
        if problem is None and not TIMESTREAM_NAME.fullmatch(value[name]):
            problem = "may contain only letters, digits, '_', '.' and '-'"
        if problem is not None:
            problems.append(Problem(path, problem))
    problems.extend(
        Problem(
            f"timestream.{_cut(str(name))}",
            f"unknown field holding {dynamodb_type(value[name])}; allowed: databaseName, tableName",
        )
        for name in sorted(set(value) - set(TIMESTREAM_FIELDS), key=str)
    )
    return problems


def _field_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Each known field's own constraints, in the order of ``SPEC_FIELDS``."""
    problems: list[Problem] = []
    if "target" not in raw:
        problems.append(Problem("target", "is required"))
    elif not isinstance(raw["target"], str):
        problems.append(Problem("target", f"must be text (S), got {_described(raw['target'])}"))
    elif not TARGET.fullmatch(raw["target"]):
        problems.append(
            Problem(
                "target",
                "must be '<12-digit account id>:<region>', e.g. '123456789012:us-east-1'",
            )
        )
    for name, choices in (("mode", MODES), ("policy", POLICIES), ("onExisting", ON_EXISTING)):
        problem = _one_of(raw[name], choices) if name in raw else None
        if problem is not None:
            problems.append(Problem(name, problem))
    if "paused" in raw and not isinstance(raw["paused"], bool):
        problems.append(
            Problem(
                "paused",
                "must be a Boolean (BOOL: true or false), got " + _described(raw["paused"]),
            )
        )
    if raw.get("reconcileToken") is not None:
        problem = _text(raw["reconcileToken"], RECONCILE_TOKEN_LENGTH)
        if problem is not None:
            problems.append(Problem("reconcileToken", problem))
    if raw.get("timestream") is not None:
        problems.extend(_timestream_problems(raw["timestream"]))
    role = raw.get("iamRoleArn")
    if role is not None:
        problem = _text(role, ROLE_ARN_LENGTH)
        if problem is None and not ROLE_ARN.fullmatch(role):
            problem = "is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        if problem is not None:
            problems.append(Problem("iamRoleArn", problem))
    return problems


def _mode_problems(raw: Mapping[str, Any]) -> list[Problem]:
    mode = raw.get("mode", "cloudwatch")
    problems: list[Problem] = []
    if mode == "timestream":
        problems.extend(
            Problem(name, "is required when mode is 'timestream'")
            for name in LEGACY_ONLY
            if raw.get(name) in (None, "", {})
        )
    elif mode == "cloudwatch":
        problems.extend(
            Problem(
                name, "applies only to mode 'timestream' (remove it, or set mode to 'timestream')"
            )
            for name in LEGACY_ONLY
            if name in raw
        )
    return problems


def _context_problems(raw: Mapping[str, Any], context: ValidationContext) -> list[Problem]:
    """Limits of the stack running the reconciler, checked on well-formed values only."""
    problems = []
    # Equivalent mutants: with no target, "" and "None" both fail the pattern.
    target = TARGET.fullmatch(str(raw.get("target", "")))  # pragma: no mutate
    # Equivalent mutants: role_patterns() reads no account ("" or None) as this stack's own.
    account = None  # pragma: no mutate
    if target:
        account, region = target.group("account"), target.group("region")
        if (
            account != context.account_id
            and not context.member_organization_id
            and account not in context.member_account_ids
        ):
            listed = (
                f"list it in a StringList parameter under {context.member_accounts_path} or "
                if context.member_accounts_path
                else ""
            )
            problems.append(
                Problem(
                    "target",
                    f"account {account} is neither the account this reconciler runs in "
                    f"({context.account_id}) nor one it may manage; {listed}redeploy the stack "
                    f"with parameter {MEMBER_ACCOUNTS_PARAMETER} including it, or with "
                    f"{MEMBER_ORGANIZATION_PARAMETER} (and roll the member role out to it)",
                )
            )
        if region not in context.served_regions:
            problems.append(
                Problem(
                    "target",
                    f"IoT FleetWise is not offered in {region} "
                    f"(served: {', '.join(context.served_regions)})",
                )
            )
    role = raw.get("iamRoleArn")
    if (
        isinstance(role, str)
        and ROLE_ARN.fullmatch(role)
        and not any(
            fnmatch.fnmatchcase(role, pattern) for pattern in context.role_patterns(account)
        )
    ):
        problems.append(
            Problem(
                "iamRoleArn",
                f"{role} is not a role this stack may pass to IoT FleetWise; "
                f"redeploy the stack with parameter {ALLOWED_ROLES_PARAMETER} including it",
            )
        )
    return problems


def validate(raw: Mapping[str, Any], context: ValidationContext) -> ValidationResult:
    """Check a spec item's raw attributes against the API's constraints and the stack's limits."""
    size = spec_size(raw)
    if size > MAX_SPEC_BYTES:
        # Nothing else is read from an item this large: its problems could not be reported
        # within the same bounds, and nothing in it can be valid anyway.
        return ValidationResult(
            spec=None,
            problems=(
                Problem(
                    "spec",
                    f"the item is {size:,} bytes as JSON; a spec item may hold at most "
                    f"{MAX_SPEC_BYTES:,} bytes (remove what does not belong in it)",
                ),
            ),
        )
    problems: list[Problem] = []
    unknown = sorted(set(raw) - set(SPEC_FIELDS))
    if unknown:
        problems.extend(
            Problem(
                _cut(name),
                f"unknown field holding {dynamodb_type(raw[name])}; allowed: "
                + ", ".join(SPEC_FIELDS),
            )
            for name in unknown
        )
    mode_problems = _mode_problems(raw)
    problems.extend(mode_problems)
    # A field already reported as missing or misplaced needs no second message.
    settled = {problem.field for problem in mode_problems}
    problems.extend(p for p in _field_problems(raw) if p.field.split(".")[0] not in settled)
    problems.extend(_context_problems(raw, context))
    # One message per field and text, in a stable order.
    unique = tuple(dict.fromkeys(problems))
    if unique:
        return ValidationResult(spec=None, problems=unique)
    return ValidationResult(spec=Spec.from_dict({k: v for k, v in raw.items() if k in SPEC_FIELDS}))

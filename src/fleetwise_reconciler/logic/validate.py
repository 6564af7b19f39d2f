"""Spec validation: every problem reported at once, each tied to the field it concerns.

An Invalid spec makes no API call (invariant 7); the problems go into the status message so
the operator sees exactly which attribute to fix.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fleetwise_reconciler.logic.compare import MAX_SPEC_BYTES, spec_size
from fleetwise_reconciler.models.spec import ROLE_ARN, SPEC_FIELDS, TARGET, Spec

LEGACY_ONLY = ("timestream", "iamRoleArn")
ALLOWED_ROLES_PARAMETER = "AllowedPassRoleArns"
MEMBER_ACCOUNTS_PARAMETER = "MemberAccountIds"

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
    # Other accounts the stack manages through their member role.
    member_account_ids: tuple[str, ...] = ()

    def role_patterns(self, account: str | None = None) -> tuple[str, ...]:
        if self.allowed_role_patterns:
            return self.allowed_role_patterns
        return (f"arn:{self.partition}:iam::{account or self.account_id}:role/*",)


def _cut(text: str) -> str:
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


def _quote(value: Any) -> str:
    return _cut(repr(value))


def _field_path(loc: Iterable[int | str]) -> str:
    # Equivalent mutants: only model-level errors have an empty loc, and they are not shown.
    return ".".join(str(part) for part in loc) or "spec"  # pragma: no mutate


def _pydantic_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors():
        path = _field_path(detail["loc"])
        kind = detail["type"]
        # Equivalent mutants: validate() gives the model known fields only, so no top-level
        # extra reaches here; the check keeps this function right on its own.
        if kind == "extra_forbidden" and len(detail["loc"]) == 1:  # pragma: no mutate
            continue  # pragma: no mutate - reported by the unknown-field check
        if kind == "extra_forbidden":
            message = "unknown field (allowed: databaseName, tableName)"
        elif kind == "literal_error":
            # Equivalent mutants: pydantic's literal_error always carries ctx.expected.
            expected = detail.get("ctx", {}).get("expected", "")  # pragma: no mutate
            message = f"must be one of {expected}, got {_quote(detail['input'])}"
        elif kind == "bool_type":
            message = f"must be a boolean (true or false), got {_quote(detail['input'])}"
        elif kind == "missing":
            message = "is required"
        elif kind == "value_error":
            message = str(detail["ctx"]["error"])
        else:
            message = detail["msg"]
        if not detail["loc"]:
            # Equivalent mutant (break): an after-validator's error comes alone, since it
            # runs only once every field is valid. Mode checks are reported field by field.
            continue  # pragma: no mutate
        problems.append(Problem(path, message))
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
    account = None
    if target:
        account, region = target.group("account"), target.group("region")
        if account != context.account_id and account not in context.member_account_ids:
            problems.append(
                Problem(
                    "target",
                    f"account {account} is neither the account this reconciler runs in "
                    f"({context.account_id}) nor one it may manage; redeploy the stack with "
                    f"parameter {MEMBER_ACCOUNTS_PARAMETER} including it (and roll the member "
                    "role out to it)",
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
            Problem(_cut(name), f"unknown field (allowed: {', '.join(SPEC_FIELDS)})")
            for name in unknown
        )
    mode_problems = _mode_problems(raw)
    problems.extend(mode_problems)
    # Equivalent mutants: a model that fails always comes with problems (the mode checks name
    # what its after-validator refuses), and then no spec is returned whatever this holds.
    spec: Spec | None = None  # pragma: no mutate
    try:
        spec = Spec.model_validate({k: v for k, v in raw.items() if k in SPEC_FIELDS})
    except ValidationError as error:
        # A field already reported as missing or misplaced needs no second message.
        settled = {problem.field for problem in mode_problems}
        problems.extend(
            p for p in _pydantic_problems(error) if p.field.split(".")[0] not in settled
        )
    problems.extend(_context_problems(raw, context))
    # One message per field and text, in a stable order.
    unique = tuple(dict.fromkeys(problems))
    if unique:
        return ValidationResult(spec=None, problems=unique)
    return ValidationResult(spec=spec)

"""Settings read from the Lambda environment (set by template.yaml), parsed once on first use.

A plain dataclass, as the spec is (``models/spec.py``): a validation library's import is a
measurable part of a cold start (`make bench`). The checks a model would make are made here,
with the variable's name.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

DEFAULT_SERVED_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
# The role each member account holds for the hub (member/template.yaml, parameter
# MemberRoleName of both templates).
DEFAULT_MEMBER_ROLE_NAME = "FleetWiseReconcilerMember"

# How much longer than the execution timeout a lease lives. The lease is taken after the
# execution started and renewed by every step that acts, so it outlives every live run by
# construction; the margin covers clock differences between the hosts that compare expiries.
LEASE_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class Settings:
    spec_table_name: str = ""
    status_table_name: str = ""
    state_machine_arn: str = ""
    account_id: str = ""
    region: str = "us-east-1"
    # Glob patterns of the role ARNs a spec may ask FleetWise to use (legacy mode). Empty
    # means "any role of this account" (the template's default).
    allowed_pass_role_arns: tuple[str, ...] = ()
    served_regions: tuple[str, ...] = DEFAULT_SERVED_REGIONS
    # Other accounts whose targets this stack manages through their member role: these, the
    # accounts listed under ``member_accounts_path`` in Parameter Store (member.AllowedAccounts),
    # and with ``member_organization_id`` any account (the organisation's, by IAM).
    member_account_ids: tuple[str, ...] = ()
    member_accounts_path: str = ""
    member_organization_id: str = ""
    member_role_name: str = DEFAULT_MEMBER_ROLE_NAME
    execution_timeout_seconds: int = 3600
    registration_budget_seconds: int = 900
    max_registration_attempts: int = 5
    max_loops: int = 5
    history_limit: int = 20
    history_days: int = 30
    # Targets one drift check invocation checks itself; the rest go to other invocations.
    drift_check_batch_size: int = 500
    # How long a target may stay Reconciling, or Drifted with nothing to repair it, before the
    # drift check reports it in trouble: that many periods of the health alarms (template
    # parameters UnhealthyEvaluationPeriods, DriftAlarmPeriods, HealthAlarmPeriodSeconds).
    health_alarm_period_seconds: int = 1800
    unhealthy_evaluation_periods: int = 2
    drift_alarm_periods: int = 3

    @property
    def lease_seconds(self) -> int:
        """A lease's lifetime from its last renewal: longer than any run can live."""
        return self.execution_timeout_seconds + LEASE_MARGIN_SECONDS


# Variable, field, smallest allowed value.
_INTEGERS = (
    ("EXECUTION_TIMEOUT_SECONDS", "execution_timeout_seconds", 1),
    ("REGISTRATION_BUDGET_SECONDS", "registration_budget_seconds", 1),
    ("MAX_REGISTRATION_ATTEMPTS", "max_registration_attempts", 1),
    ("MAX_LOOPS", "max_loops", 0),
    ("HISTORY_LIMIT", "history_limit", 1),
    ("HISTORY_DAYS", "history_days", 1),
    ("DRIFT_CHECK_BATCH_SIZE", "drift_check_batch_size", 1),
    ("HEALTH_ALARM_PERIOD_SECONDS", "health_alarm_period_seconds", 60),
    ("UNHEALTHY_EVALUATION_PERIODS", "unhealthy_evaluation_periods", 0),
    ("DRIFT_ALARM_PERIODS", "drift_alarm_periods", 0),
)


def _csv(name: str) -> tuple[str, ...] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _integer(name: str, minimum: int) -> int:
    raw = os.environ[name]
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@functools.cache
def get_settings() -> Settings:
    """The settings of this process; tests and the rehearsal call ``get_settings.cache_clear()``."""
    env = os.environ
    values: dict[str, object] = {
        "spec_table_name": env.get("SPEC_TABLE_NAME", ""),
        "status_table_name": env.get("STATUS_TABLE_NAME", ""),
        "state_machine_arn": env.get("STATE_MACHINE_ARN", ""),
        "account_id": env.get("ACCOUNT_ID", ""),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    for variable, field, minimum in _INTEGERS:
        if variable in env:
            values[field] = _integer(variable, minimum)
    roles = _csv("ALLOWED_PASS_ROLE_ARNS")
    if roles is not None:
        values["allowed_pass_role_arns"] = roles
    regions = _csv("SERVED_REGIONS")
    if regions:
        values["served_regions"] = regions
    members = _csv("MEMBER_ACCOUNT_IDS")
    if members is not None:
        values["member_account_ids"] = members
    for variable, name in (
        ("MEMBER_ACCOUNTS_PATH", "member_accounts_path"),
        ("MEMBER_ORGANIZATION_ID", "member_organization_id"),
    ):
        if env.get(variable):
            values[name] = env[variable]
    if env.get("MEMBER_ROLE_NAME"):
        values["member_role_name"] = env["MEMBER_ROLE_NAME"]
    return Settings(**values)  # type: ignore[arg-type]

"""Settings read from the Lambda environment (set by template.yaml), parsed once on first use."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, Field

DEFAULT_SERVED_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")


class Settings(BaseModel):
    spec_table_name: str = ""
    status_table_name: str = ""
    state_machine_arn: str = ""
    account_id: str = ""
    region: str = "us-east-1"
    # Glob patterns of the role ARNs a spec may ask FleetWise to use (legacy mode). Empty
    # means "any role of this account" (the template's default).
    allowed_pass_role_arns: tuple[str, ...] = ()
    served_regions: tuple[str, ...] = DEFAULT_SERVED_REGIONS
    lease_seconds: int = Field(default=1800, gt=0)
    registration_budget_seconds: int = Field(default=900, gt=0)
    max_registration_attempts: int = Field(default=5, gt=0)
    max_loops: int = Field(default=5, ge=0)
    history_limit: int = Field(default=20, gt=0)
    history_days: int = Field(default=30, gt=0)


def _csv(name: str) -> tuple[str, ...] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


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
    optional_ints = {
        "lease_seconds": "LEASE_SECONDS",
        "registration_budget_seconds": "REGISTRATION_BUDGET_SECONDS",
        "max_registration_attempts": "MAX_REGISTRATION_ATTEMPTS",
        "max_loops": "MAX_LOOPS",
        "history_limit": "HISTORY_LIMIT",
        "history_days": "HISTORY_DAYS",
    }
    for field, var in optional_ints.items():
        if var in env:
            values[field] = int(env[var])
    roles = _csv("ALLOWED_PASS_ROLE_ARNS")
    if roles is not None:
        values["allowed_pass_role_arns"] = roles
    regions = _csv("SERVED_REGIONS")
    if regions:
        values["served_regions"] = regions
    return Settings.model_validate(values)

"""Lazily built, process-wide ports for the handlers (warm invocations reuse them).

Nothing is built at import time; tests pass their own objects to each handler's ``handle``.
The rehearsal calls ``reset()`` when it changes the environment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from fleetwise_reconciler.dal import models
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.settings import Settings, get_settings

if TYPE_CHECKING:
    from fleetwise_reconciler.logic.validate import ValidationContext


@functools.cache
def spec_repository() -> SpecRepository:
    settings = get_settings()
    return SpecRepository(settings.spec_table_name, region=settings.region)


@functools.cache
def status_repository() -> StatusRepository:
    settings = get_settings()
    return StatusRepository(settings.status_table_name, region=settings.region)


@functools.cache
def fleetwise(region: str) -> FleetWise:
    """The IoT FleetWise port of one Region: every call for a target is made in the
    target's own Region (registration is per account and Region)."""
    return FleetWise(region=region)


# What a handler's tests may pass instead of the real ports: one port for every Region, or a
# function giving the port of a Region.
FleetWisePorts = FleetWise | Callable[[str], FleetWise]


def fleetwise_in(region: str, given: FleetWisePorts | None = None) -> FleetWise:
    """The port for ``region``: the process-wide one, or the one a test passed."""
    if given is None:
        return fleetwise(region)
    if isinstance(given, FleetWise):
        return given
    return given(region)


@functools.cache
def stepfunctions() -> Any:
    # One attempt per call would lose stream records to a blip; the SDK's standard retries are
    # fine here because the stream trigger is not itself retried by Step Functions.
    return boto3.client(
        "stepfunctions",
        region_name=get_settings().region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )


def validation_context(settings: Settings | None = None) -> ValidationContext:
    """What the stack allows a spec, from ``settings`` (the process's by default; the
    operator's CLI passes the settings a deployed stack's parameters give its functions)."""
    # Imported here: only the handlers that validate a spec pay for pydantic.
    from fleetwise_reconciler.logic.validate import ValidationContext  # noqa: PLC0415

    settings = settings or get_settings()
    partition = "aws-cn" if settings.region.startswith("cn-") else "aws"
    if settings.region.startswith("us-gov-"):
        partition = "aws-us-gov"
    return ValidationContext(
        account_id=settings.account_id,
        partition=partition,
        served_regions=settings.served_regions,
        allowed_role_patterns=settings.allowed_pass_role_arns,
    )


def reset() -> None:
    """Forget every cached port and the settings (the rehearsal and tests use this)."""
    for cached in (spec_repository, status_repository, fleetwise, stepfunctions, get_settings):
        cached.cache_clear()
    models.reset_models()

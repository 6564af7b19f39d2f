"""Lazily built, process-wide ports for the handlers (warm invocations reuse them).

Nothing is built at import time; tests pass their own objects to each handler's ``handle``.
The rehearsal calls ``reset()`` when it changes the environment.

Every client comes from one botocore session per thread (in Lambda: one per process), PynamoDB's
included: botocore's endpoint and service data load once instead of once per client, and the
Lambda package never imports boto3 (whose clients are botocore's anyway).
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

import botocore.session

from fleetwise_reconciler import budget
from fleetwise_reconciler.settings import Settings, get_settings

# The ports are imported where they are built: a handler pays only for the ones it uses
# (the stream trigger, Register and Poll never load PynamoDB; the trigger not the adapter).
if TYPE_CHECKING:
    from typing import TypeAlias

    from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
    from fleetwise_reconciler.fleetwise import FleetWise
    from fleetwise_reconciler.logic.validate import ValidationContext
    from fleetwise_reconciler.member import AllowedAccounts, MemberRoles

    # What a handler's tests may pass instead of the real ports.
    FleetWisePorts: TypeAlias = FleetWise | Callable[[str], FleetWise]

_local = threading.local()
# Bumped by reset(): a thread's session from before it is replaced on its next use.
_generation = [0]


def botocore_session() -> botocore.session.Session:
    """This thread's botocore session, shared by every client the handlers build.

    Per thread because a botocore session is not thread safe (its clients are); Lambda runs one
    invocation at a time per process, the offline rehearsal several on worker threads.
    """
    session: botocore.session.Session | None = getattr(_local, "session", None)
    if session is None or getattr(_local, "generation", None) != _generation[0]:
        session = botocore.session.get_session()
        _local.session, _local.generation = session, _generation[0]
    return session


def _share_session_with_pynamodb() -> None:
    from fleetwise_reconciler.dal import models  # noqa: PLC0415 - see the imports above

    models.use_botocore_session(botocore_session)


@functools.cache
def spec_repository() -> SpecRepository:
    from fleetwise_reconciler.dal.repository import SpecRepository  # noqa: PLC0415

    _share_session_with_pynamodb()
    settings = get_settings()
    return SpecRepository(settings.spec_table_name, region=settings.region)


@functools.cache
def status_repository() -> StatusRepository:
    from fleetwise_reconciler.dal.repository import StatusRepository  # noqa: PLC0415

    _share_session_with_pynamodb()
    settings = get_settings()
    return StatusRepository(settings.status_table_name, region=settings.region)


@functools.cache
def fleetwise(region: str) -> FleetWise:
    """The IoT FleetWise port of one Region: every call for a target is made in the
    target's own Region (registration is per account and Region)."""
    from fleetwise_reconciler.fleetwise import FleetWise  # noqa: PLC0415

    return FleetWise(region=region, session=botocore_session())


def fleetwise_in(region: str, given: FleetWisePorts | None = None) -> FleetWise:
    """The port for ``region``: the process-wide one, or the one a test passed (one port
    for every Region, or a function giving the port of a Region)."""
    if given is None:
        return fleetwise(region)
    from fleetwise_reconciler.fleetwise import FleetWise  # noqa: PLC0415

    if isinstance(given, FleetWise):
        return given
    return given(region)


def partition(region: str) -> str:
    """The AWS partition of ``region``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@functools.cache
def member_roles() -> MemberRoles:
    """The member accounts' roles, assumed and cached per account and run (member.py)."""
    from fleetwise_reconciler.member import MemberRoles  # noqa: PLC0415

    settings = get_settings()
    return MemberRoles(
        settings.member_role_name, partition=partition(settings.region), session=botocore_session
    )


def fleetwise_for(target: str, run: str, given: FleetWisePorts | None = None) -> FleetWise:
    """The port for ``target`` (``<account>:<region>``) within ``run``: in the target's own
    Region, and in its own account: this stack's, or another one through the member role
    (invariant 12). A test's ``given`` port stands in for both."""
    account, _, region = target.partition(":")
    if given is not None:
        return fleetwise_in(region, given)
    own = get_settings().account_id
    if not own or account == own:
        return fleetwise(region)
    return member_roles().fleetwise(account, region, run)


def _control_client(service: str) -> Any:
    """A client of the stack's own Region with the SDK's standard retries (3 attempts): for
    calls that start work elsewhere, whose callers are not retried step by step
    (``budget.CONTROL``)."""
    return botocore_session().create_client(
        service, region_name=get_settings().region, config=budget.CONTROL.config()
    )


@functools.cache
def stepfunctions() -> Any:
    # One attempt per call would lose stream records to a blip; the SDK's standard retries are
    # fine here because the stream trigger is not itself retried by Step Functions.
    return _control_client("stepfunctions")


@functools.cache
def lambda_client() -> Any:
    """The drift check hands batches of a large fleet to other invocations of itself."""
    return _control_client("lambda")


def validation_context(
    settings: Settings | None = None, members: Container[str] | None = None
) -> ValidationContext:
    """What the stack allows a spec, from ``settings`` (the process's by default; the
    operator's CLI passes the settings a deployed stack's parameters give its functions, and
    the ``members`` it read). The process's member accounts are read only when a spec names
    another account."""
    # Imported here: only the handlers that validate a spec load the validation code.
    from fleetwise_reconciler.logic.validate import ValidationContext  # noqa: PLC0415

    if members is None:
        members = allowed_accounts() if settings is None else settings.member_account_ids
    settings = settings or get_settings()
    return ValidationContext(
        account_id=settings.account_id,
        partition=partition(settings.region),
        served_regions=settings.served_regions,
        allowed_role_patterns=settings.allowed_pass_role_arns,
        member_account_ids=members,
        member_accounts_path=settings.member_accounts_path,
        member_organization_id=settings.member_organization_id,
    )


@functools.cache
def allowed_accounts() -> AllowedAccounts:
    """The member accounts of this process's settings: those given, and those listed under
    the stack's path in Parameter Store (read on first use, cached for a while: member.py)."""
    from fleetwise_reconciler.member import AllowedAccounts  # noqa: PLC0415

    settings = get_settings()
    return AllowedAccounts(
        settings.member_accounts_path, fixed=settings.member_account_ids, ssm_client=ssm
    )


@functools.cache
def ssm() -> Any:
    """Parameter Store of the stack's own Region (the member accounts' list). One attempt,
    as STS's (member.sts_config): the step that validates is retried by Step Functions, the
    drift check by Lambda and the next tick."""
    from fleetwise_reconciler.member import sts_config  # noqa: PLC0415

    return botocore_session().create_client(
        "ssm", region_name=get_settings().region, config=sts_config()
    )


def reset() -> None:
    """Forget every cached port, the settings and the threads' sessions (the rehearsal and
    tests use this)."""
    for cached in (
        spec_repository,
        status_repository,
        fleetwise,
        member_roles,
        allowed_accounts,
        ssm,
        stepfunctions,
        lambda_client,
        get_settings,
    ):
        cached.cache_clear()
    _generation[0] += 1
    if "fleetwise_reconciler.dal.models" in sys.modules:  # nothing bound if never imported
        sys.modules["fleetwise_reconciler.dal.models"].reset_models()

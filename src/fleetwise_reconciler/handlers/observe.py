"""Observe and decide: read and validate the spec, ask IoT FleetWise, plan the action.

The step first checks that this run still holds the target's lease (renewing it and noting
the spec version it works on); a run that lost it stops here (``LeaseLost``). Every field of
the result is always present (``null`` where it has no value): the workflow's ResultSelector
names each one, and Step Functions fails a run whose path selects nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import budget, clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import FleetWiseTransientError
from fleetwise_reconciler.logic import plan as planning
from fleetwise_reconciler.logic.compare import spec_hash, within_size_limit
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.observability import logger
from fleetwise_reconciler.settings import get_settings

UNMANAGED = "Unmanaged"
SPEC_DELETED = "SpecDeleted"
SPEC_DELETED_MESSAGE = (
    "the spec item was deleted: the target is no longer managed (IoT FleetWise has no "
    "deregistration, so the registration is left as it is)"
)


def _result(
    *,
    action: str,
    phase: str,
    reason: str,
    message: str,
    drift: list[str],
    spec_hash: str | None,
    spec: dict[str, Any] | None,
    raw_spec: dict[str, Any] | None,
    observation: dict[str, Any] | None,
    attempts: int,
    observed_at: str,
) -> dict[str, Any]:
    return {
        "action": action,
        "phase": phase,
        "reason": reason,
        "message": message,
        "drift": drift,
        "specHash": spec_hash,
        "spec": spec,
        "rawSpec": raw_spec,
        "observation": observation,
        "attempts": attempts,
        "observedAt": observed_at,
    }


def in_time(deadline: budget.Deadline, operation: str) -> None:
    """Raise a transient error (the workflow retries the step) rather than start a call
    whose worst case no longer fits in the function's time."""
    if not deadline.allows(budget.LOOPS["ObserveFunction"]):
        raise FleetWiseTransientError(
            budget.TIME_BUDGET_SPENT,
            f"no time left in this invocation for {operation}",
            operation=operation,
        )


def handle(
    event: dict[str, Any],
    *,
    specs: SpecRepository | None = None,
    statuses: StatusRepository | None = None,
    fleetwise: wiring.FleetWisePorts | None = None,
    context: ValidationContext | None = None,
    deadline: budget.Deadline | None = None,
) -> dict[str, Any]:
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    target, execution = event["target"], event["execution"]
    now = clock.now()
    observed_at = clock.isoformat(now)
    raw = specs.get(target)
    version = spec_hash(raw) if raw is not None else None
    # The lease check: raises LeaseLost (the workflow stops this run) when another run owns
    # the target now.
    statuses.renew_lease(
        target, execution, now=now, lease_seconds=settings.lease_seconds, spec_hash=version
    )
    if raw is None or version is None:
        # Invariant 10: a deleted item stops management; nothing is ever deregistered.
        logger.info("spec item deleted; target no longer managed", target=target)
        return _result(
            action=UNMANAGED,
            phase=UNMANAGED,
            reason=SPEC_DELETED,
            message=SPEC_DELETED_MESSAGE,
            drift=[],
            spec_hash=None,
            spec=None,
            raw_spec=None,
            observation=None,
            attempts=0,
            observed_at=observed_at,
        )
    validation = validate(raw, context or wiring.validation_context())
    previous = statuses.get_status(target)
    observation = None
    port = None
    if validation.valid and validation.spec is not None:
        port = wiring.fleetwise_for(validation.spec.target, execution, fleetwise)
        observation = port.get_status()
    decided = planning.plan(
        validation,
        observation,
        spec_hash=version,
        previous=previous,
        trigger=str(event.get("trigger", "stream")),
        max_attempts=settings.max_registration_attempts,
    )
    if port is not None and planning.needs_campaign_check(decided, validation.spec, observation):
        # The list lacks the destination, so each campaign is read; each read only while its
        # worst case still fits in the time left (budget.py).
        ahead = deadline or budget.Deadline()
        in_time(ahead, "ListCampaigns")
        campaigns = []
        for summary in port.list_campaigns():
            in_time(ahead, "GetCampaign")
            campaigns.append(port.get_campaign(summary["name"]))
        decided = planning.blocked_by_campaigns(decided, planning.blocking_campaigns(campaigns))
    logger.info(
        "planned",
        target=target,
        action=str(decided.action),
        reason=decided.reason,
        spec_hash=version,
        account_status=(observation or {}).get("accountStatus"),
    )
    plan = decided.as_dict()
    return _result(
        action=plan["action"],
        phase=plan["phase"],
        reason=plan["reason"],
        message=plan["message"],
        drift=plan["drift"],
        spec_hash=version,
        spec=validation.spec.as_dict() if validation.spec else None,
        # Invariant 14: the item rides in the workflow's state only within the spec size
        # limit (an oversized item is Invalid, and its size is all the status says of it).
        raw_spec=within_size_limit(raw),
        observation=observation,
        attempts=planning.attempts_for(previous, version),
        observed_at=observed_at,
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, deadline=budget.Deadline.of(context))

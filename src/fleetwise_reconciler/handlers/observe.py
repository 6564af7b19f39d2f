"""Observe and decide: read and validate the spec, ask IoT FleetWise, plan the action."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.logic import plan as planning
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.observability import logger
from fleetwise_reconciler.settings import get_settings


def handle(
    event: dict[str, Any],
    *,
    specs: SpecRepository | None = None,
    statuses: StatusRepository | None = None,
    fleetwise: FleetWise | None = None,
    context: ValidationContext | None = None,
) -> dict[str, Any]:
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    target = event["target"]
    observed_at = clock.isoformat(clock.now())
    raw = specs.get(target)
    if raw is None:
        # Invariant 10: a deleted item stops management; nothing is ever deregistered.
        logger.info("spec item deleted; target no longer managed", target=target)
        return {
            "action": "Unmanaged",
            "phase": None,
            "reason": "SpecDeleted",
            "message": "the spec item was deleted; the target is no longer managed",
            "drift": [],
            "specHash": None,
            "spec": None,
            "observation": None,
            "attempts": 0,
            "observedAt": observed_at,
        }
    version = spec_hash(raw)
    validation = validate(raw, context or wiring.validation_context())
    previous = statuses.get_status(target)
    observation = None
    port = fleetwise or wiring.fleetwise()
    if validation.valid:
        observation = port.get_status()
    decided = planning.plan(
        validation,
        observation,
        spec_hash=version,
        previous=previous,
        trigger=str(event.get("trigger", "manual")),
        max_attempts=get_settings().max_registration_attempts,
    )
    if planning.needs_campaign_check(decided, validation.spec, observation):
        # The list lacks the destination, so each campaign is read.
        campaigns = [port.get_campaign(c["name"]) for c in port.list_campaigns()]
        decided = planning.blocked_by_campaigns(decided, planning.blocking_campaigns(campaigns))
    logger.info(
        "planned",
        target=target,
        action=str(decided.action),
        reason=decided.reason,
        spec_hash=version,
        account_status=(observation or {}).get("accountStatus"),
    )
    return {
        **decided.as_dict(),
        "specHash": version,
        "spec": validation.spec.model_dump(exclude_none=True) if validation.spec else None,
        "rawSpec": raw,
        "observation": observation,
        "attempts": planning.attempts_for(previous, version),
        "observedAt": observed_at,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

"""Acquire: take the target's lease, or leave the newer request to the run that holds it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import StatusRepository
from fleetwise_reconciler.observability import logger
from fleetwise_reconciler.settings import get_settings


def handle(event: dict[str, Any], *, statuses: StatusRepository | None = None) -> dict[str, Any]:
    statuses = statuses or wiring.status_repository()
    target, execution = event["target"], event["execution"]
    lease = statuses.acquire_lease(
        target, execution, now=clock.now(), lease_seconds=get_settings().lease_seconds
    )
    if lease.acquired:
        logger.info("lease acquired", target=target, expires_at=lease.expires_at)
    else:
        # Invariant 4: the holder sees `pending` when it finishes and loops over the newer spec.
        logger.info("lease held by another run; left to it", target=target, holder=lease.holder)
    return {"acquired": lease.acquired, "holder": lease.holder, "expiresAt": lease.expires_at}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

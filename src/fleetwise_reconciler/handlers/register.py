"""Register: call RegisterAccount once (modern: no arguments; legacy: Timestream + role).

Before the call, the attempt is recorded in the status (``attempts``), in one transaction with
a check that this run holds the lease: the count of a spec version is durable from the moment
the call may reach the service, so no later run restarts it, and a run that lost its lease
stops here (``LeaseLost``) without calling. A call the service refused without acting on it
(another registration in flight, throttling, validation, access denied) is taken back out of
the count; one whose fate is unknown (an internal error, no answer) stays counted.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import StatusRepository
from fleetwise_reconciler.errors import ReconcileError
from fleetwise_reconciler.fleetwise import FleetWiseConflict
from fleetwise_reconciler.logic.classify import refused_without_acting
from fleetwise_reconciler.observability import COUNT, REGISTER_ACCOUNT_CALLS, logger, publish


def handle(
    event: dict[str, Any],
    *,
    statuses: StatusRepository | None = None,
    fleetwise: wiring.FleetWisePorts | None = None,
) -> dict[str, Any]:
    statuses = statuses or wiring.status_repository()
    target, execution, spec = event["target"], event["execution"], event["spec"]
    version = str(event["specHash"])
    previous = event.get("registration") or {}
    made = int(previous.get("attempt") or event["plan"].get("attempts") or 0)
    attempt = made + 1
    port = wiring.fleetwise_for(str(target), execution, fleetwise)
    started_at = clock.isoformat(clock.now())
    statuses.record_attempts(target, execution, spec_hash=version, count=attempt)
    publish(target, {REGISTER_ACCOUNT_CALLS: (COUNT, 1)})
    try:
        if spec.get("mode") == "timestream":
            result = port.register(timestream=spec["timestream"], iam_role_arn=spec["iamRoleArn"])
        else:
            result = port.register()
    except FleetWiseConflict as conflict:
        # Another registration is in flight: not an attempt of ours. Wait for it to settle.
        statuses.record_attempts(target, execution, spec_hash=version, count=made)
        logger.info("registration already in progress", target=target, detail=str(conflict))
        return {"startedAt": started_at, "attempt": made, "accountStatus": None, "conflict": True}
    except ReconcileError as error:
        if refused_without_acting(error.code):
            statuses.record_attempts(target, execution, spec_hash=version, count=made)
        raise
    logger.info(
        "registration requested",
        target=target,
        attempt=attempt,
        mode=spec.get("mode"),
        account_status=result.get("accountStatus"),
    )
    return {
        "startedAt": started_at,
        "attempt": attempt,
        "accountStatus": result.get("accountStatus"),
        "conflict": False,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

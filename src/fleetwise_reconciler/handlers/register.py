"""Register: call RegisterAccount once (modern: no arguments; legacy: Timestream + role)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.fleetwise import FleetWise, FleetWiseConflict
from fleetwise_reconciler.observability import COUNT, REGISTER_ACCOUNT_CALLS, logger, publish


def handle(event: dict[str, Any], *, fleetwise: FleetWise | None = None) -> dict[str, Any]:
    fleetwise = fleetwise or wiring.fleetwise()
    target, spec = event["target"], event["spec"]
    previous = event.get("registration") or {}
    attempt = int(previous.get("attempt") or event["plan"].get("attempts") or 0) + 1
    started_at = clock.isoformat(clock.now())
    publish(target, {REGISTER_ACCOUNT_CALLS: (COUNT, 1)})
    try:
        if spec.get("mode") == "timestream":
            result = fleetwise.register(
                timestream=spec["timestream"], iam_role_arn=spec["iamRoleArn"]
            )
        else:
            result = fleetwise.register()
    except FleetWiseConflict as conflict:
        # Another registration is in flight: do not call again, wait for it to settle.
        logger.info("registration already in progress", target=target, detail=str(conflict))
        return {
            "startedAt": started_at,
            "attempt": attempt,
            "accountStatus": None,
            "conflict": True,
        }
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

"""Register: call RegisterAccount once (modern: no arguments; legacy: Timestream + role).

Before the call, it is counted in the status (``attempts``), in one transaction with a check
that this run holds the lease: the count of a spec version is durable from the moment the call
may reach the service, so no later run restarts it, and a run that lost its lease stops here
(``LeaseLost``) without calling. Each invocation adds one in place, so a Register that Step
Functions retries with the same input (after throttling, an internal error, a timeout) counts
every call it makes. A call the service refused without acting on it (another registration in
flight, throttling, validation, access denied) is moved to the version's refused count; one
whose fate is unknown (an internal error, no answer) stays counted as one that may have acted.
Once either count of the version stands at ``MaxRegistrationAttempts`` nothing is called:
the step fails with ``AttemptsExhausted`` (terminal), which the workflow records.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import StatusRepository
from fleetwise_reconciler.errors import FleetWiseTerminalError, ReconcileError
from fleetwise_reconciler.fleetwise import FleetWiseConflict
from fleetwise_reconciler.logic.classify import refused_without_acting
from fleetwise_reconciler.logic.plan import ATTEMPTS_EXHAUSTED
from fleetwise_reconciler.observability import COUNT, REGISTER_ACCOUNT_CALLS, logger, publish
from fleetwise_reconciler.settings import get_settings

OPERATION = "RegisterAccount"


def handle(
    event: dict[str, Any],
    *,
    statuses: StatusRepository | None = None,
    fleetwise: wiring.FleetWisePorts | None = None,
    request: str | None = None,
) -> dict[str, Any]:
    """``request`` is the Lambda request's id: it keys the counting writes of this call."""
    statuses = statuses or wiring.status_repository()
    limit = get_settings().max_registration_attempts
    target, execution, spec = event["target"], event["execution"], event["spec"]
    version = str(event["specHash"])
    port = wiring.fleetwise_for(str(target), execution, fleetwise)
    started_at = clock.isoformat(clock.now())
    counted = statuses.count_attempt(
        target, execution, spec_hash=version, limit=limit, token=request
    )
    if not counted.allowed:
        logger.warning(
            "registration attempts spent",
            target=target,
            made=counted.count,
            refused=counted.refused,
        )
        raise FleetWiseTerminalError(
            ATTEMPTS_EXHAUSTED,
            f"{counted.describe(limit)}: not called again until the spec or its "
            "reconcileToken changes",
            operation=OPERATION,
        )
    publish(target, {REGISTER_ACCOUNT_CALLS: (COUNT, 1)})
    try:
        if spec.get("mode") == "timestream":
            result = port.register(timestream=spec["timestream"], iam_role_arn=spec["iamRoleArn"])
        else:
            result = port.register()
    except FleetWiseConflict as conflict:
        # Another registration is in flight: refused, not acted on. Wait for it to settle.
        statuses.count_refusal(target, execution, spec_hash=version, token=request)
        logger.info("registration already in progress", target=target, detail=str(conflict))
        return {
            "startedAt": started_at,
            "attempt": counted.count - 1,
            "accountStatus": None,
            "conflict": True,
        }
    except ReconcileError as error:
        if refused_without_acting(error.code):
            statuses.count_refusal(target, execution, spec_hash=version, token=request)
        raise
    logger.info(
        "registration requested",
        target=target,
        attempt=counted.count,
        mode=spec.get("mode"),
        account_status=result.get("accountStatus"),
    )
    return {
        "startedAt": started_at,
        "attempt": counted.count,
        "accountStatus": result.get("accountStatus"),
        "conflict": False,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, request=context.aws_request_id)

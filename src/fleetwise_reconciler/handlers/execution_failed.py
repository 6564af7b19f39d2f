"""Execution failed / timed out / aborted: record why and release the lease.

Triggered by an EventBridge rule on the workflow's status-change events, so no target reads
"Registering" forever after a run dies outside its own Catch handlers. It writes only when
the dead execution still holds the lease: a newer run's status is never overwritten.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import StatusRepository
from fleetwise_reconciler.logic.plan import Phase
from fleetwise_reconciler.logic.status import Outcome, build_status
from fleetwise_reconciler.observability import COUNT, REGISTRATION_FAILED, logger, publish
from fleetwise_reconciler.settings import get_settings

REASONS = {
    "FAILED": "ExecutionFailed",
    "TIMED_OUT": "ExecutionTimedOut",
    "ABORTED": "ExecutionAborted",
}


def _execution_input(detail: dict[str, Any], client: Any | None) -> dict[str, Any]:
    """The dead execution's input: from the event, or read back when the event omits it
    (EventBridge leaves out inputs that are too large, with ``inputDetails.included`` false)."""
    text = detail.get("input")
    if not text:
        client = client or wiring.stepfunctions()
        text = client.describe_execution(executionArn=detail["executionArn"]).get("input")
    parsed = json.loads(text or "{}")
    return parsed if isinstance(parsed, dict) else {}


def handle(
    event: dict[str, Any],
    *,
    statuses: StatusRepository | None = None,
    stepfunctions: Any | None = None,
) -> dict[str, Any]:
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    detail = event.get("detail") or {}
    execution = str(detail["executionArn"])
    state = str(detail.get("status", "FAILED"))
    try:
        target = str(_execution_input(detail, stepfunctions)["target"])
    except (KeyError, TypeError, ValueError):
        logger.warning("execution input has no target; nothing to record", execution=execution)
        return {"recorded": False, "released": False}
    reason = REASONS.get(state, "ExecutionFailed")
    cause = detail.get("cause") or detail.get("error") or state
    message = (
        f"the reconcile workflow ended {state} ({cause}); the lease was released and the next "
        "edit or drift check tries again"
    )
    previous = statuses.get_status(target) or {}
    now = clock.now()
    status = build_status(
        previous,
        Outcome(
            Phase.FAILED,
            reason,
            message,
            error={
                "code": str(detail.get("error") or reason),
                "message": str(cause),
                "retryable": True,
                "operation": "ReconcileWorkflow",
            },
        ),
        spec=previous.get("observedSpec"),
        spec_hash=str(previous.get("specHash", "")),
        observation=None,
        attempts=int((previous.get("attempts") or {}).get("count", 0)),
        execution=execution,
        started_at=None,
        now=now,
        history_limit=settings.history_limit,
        history_days=settings.history_days,
        acted=True,
    )
    recorded = statuses.put_status_unleased(target, status, only_if_holder=execution)
    released = statuses.release_lease_if_holder(target, execution)
    if recorded:
        publish(target, {REGISTRATION_FAILED: (COUNT, 1)}, reason=reason)
    logger.info(
        "dead execution handled",
        target=target,
        execution=execution,
        status=state,
        recorded=recorded,
        released=released,
    )
    return {"recorded": recorded, "released": released}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

"""Execution failed / timed out / aborted: record why and release the lease.

Triggered by an EventBridge rule on the workflow's status-change events, so a run that dies
outside its own Catch handlers neither holds its target's lease until it expires nor leaves
the status silent about it. It writes only when the dead execution still holds the lease (or
nobody holds it and the status was last written by that execution): a newer run's status is
never overwritten. The status names the spec version the run was reconciling; when that is
not the item's current version, the next drift check sees a stale status and starts a run for
whatever the item holds (a pause written while the run was dying included).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.logic.compare import spec_hash, within_size_limit
from fleetwise_reconciler.logic.health import recorded_change
from fleetwise_reconciler.logic.plan import Phase
from fleetwise_reconciler.logic.status import Outcome, build_status
from fleetwise_reconciler.observability import (
    COUNT,
    REGISTRATION_FAILED,
    logger,
    publish,
    publish_trouble,
)
from fleetwise_reconciler.settings import get_settings

CAUSE_LIMIT = 1000

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


def _what_it_reconciled(
    target: str,
    execution: str,
    previous: dict[str, Any],
    statuses: StatusRepository,
    specs: SpecRepository,
) -> tuple[str | None, dict[str, Any] | None]:
    """The spec version (and item) the dead run worked on: the one its Observe noted on the
    lease, or, when it died before observing, the one the status already reflects."""
    lease = statuses.get_lease(target)
    noted = lease.get("specHash") if lease and lease.get("holder") == execution else None
    if not noted or noted == previous.get("specHash"):
        return previous.get("specHash") or None, previous.get("observedSpec")
    item = specs.get(target)
    spec = within_size_limit(item) if item is not None and spec_hash(item) == noted else None
    return str(noted), spec


def handle(
    event: dict[str, Any],
    *,
    statuses: StatusRepository | None = None,
    specs: SpecRepository | None = None,
    stepfunctions: Any | None = None,
) -> dict[str, Any]:
    statuses = statuses or wiring.status_repository()
    specs = specs or wiring.spec_repository()
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
    # Step Functions allows a cause of up to 32,768 characters; the status keeps a readable part.
    cause = str(detail.get("cause") or detail.get("error") or state)[:CAUSE_LIMIT]
    message = (
        f"the reconcile workflow ended {state} ({cause}); the lease was released and the next "
        "edit or drift check tries again"
    )
    previous = statuses.get_status(target) or {}
    version, spec = _what_it_reconciled(target, execution, previous, statuses, specs)
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
        spec=spec,
        spec_hash=version,
        observation=None,
        attempts=None,
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
        publish_trouble(target, recorded_change(previous.get("phase"), Phase.FAILED))
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

"""Record: turn the iteration's result into status, metrics and history; then loop or release.

The status write is conditional on holding the lease (a run whose lease was taken over never
overwrites a newer run's status). Before releasing, the spec is read again and the lease's
``pending`` flag checked: a newer edit makes this run loop (bounded) instead of finishing,
so no edit is lost (invariant 4).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import LeaseLost, parse_cause
from fleetwise_reconciler.logic.compare import spec_hash, within_size_limit
from fleetwise_reconciler.logic.health import recorded_change
from fleetwise_reconciler.logic.plan import Action, Phase
from fleetwise_reconciler.logic.status import Outcome, build_status
from fleetwise_reconciler.models.attempts import Attempts
from fleetwise_reconciler.observability import (
    COUNT,
    RECONCILE_DURATION,
    REGISTRATION_FAILED,
    REGISTRATION_SUCCEEDED,
    SECONDS,
    logger,
    publish,
    publish_trouble,
)
from fleetwise_reconciler.settings import get_settings


def outcome_of(event: dict[str, Any], previous: dict[str, Any] | None) -> Outcome:
    """What this iteration concluded, from whichever slots the workflow filled."""
    plan = event.get("plan") or {}
    poll = event.get("poll") or {}
    error = event.get("error")
    drift = tuple(plan.get("drift") or ())
    if error:
        details = parse_cause(error.get("Cause"))
        code = str(details.get("code") or error.get("Error") or "Unknown")
        retryable = bool(details.get("retryable"))
        operation = details.get("operation") or "IoT FleetWise"
        then = (
            "transient: the next edit or drift check tries again"
            if retryable
            else "not retried on its own: fix the cause, then change the spec or its reconcileToken"
        )
        return Outcome(
            Phase.FAILED,
            code,
            f"{operation} failed with {code}: {details.get('message', '')} ({then})",
            drift,
            error={
                "code": code,
                "message": str(details.get("message", "")),
                "retryable": retryable,
                "operation": operation,
            },
        )
    if poll:
        result = poll.get("outcome")
        message = str(poll.get("message") or "")
        if poll.get("observation") is not None:
            # The poll saw the registration last: its differences replace the plan's.
            drift = tuple(poll.get("drift") or ())
        if result == "Registered":
            return Outcome(Phase.REGISTERED, "Registered", message or "registered as declared")
        if result == "Diverged":
            return Outcome(Phase.BLOCKED, "DriftNotCured", message, drift)
        if result == "TimedOut":
            message = message or (
                "the registration was still pending when the workflow's polls ran out"
            )
            return Outcome(
                Phase.FAILED,
                "RegistrationTimedOut",
                message + " (transient: the next edit or drift check tries again)",
                drift,
                error={
                    "code": "RegistrationTimedOut",
                    "message": message,
                    "retryable": True,
                    "operation": "GetRegisterAccountStatus",
                },
            )
        return Outcome(
            Phase.FAILED,
            str(poll.get("reason") or "RegistrationFailed"),
            message + "; change the spec or its reconcileToken to try again",
            drift,
            error={
                "code": str(poll.get("reason") or "RegistrationFailed"),
                "message": message,
                "retryable": False,
                "operation": "RegisterAccount",
            },
        )
    phase = Phase(plan.get("phase") or Phase.PENDING)
    kept_error = (previous or {}).get("lastError") if plan.get("action") == "Failed" else None
    if kept_error:
        kept_error = {k: v for k, v in kept_error.items() if k != "at"}
    return Outcome(
        phase, str(plan.get("reason") or ""), str(plan.get("message") or ""), drift, kept_error
    )


def _metrics(
    target: str,
    outcome: Outcome,
    event: dict[str, Any],
    previous: dict[str, Any] | None,
    duration: float,
) -> None:
    # The trouble this outcome is, at once (a failure, a block, an invalid spec), and the one
    # the previous status was cleared (logic/health.py): the drift check reports it on every
    # tick from then on. A deleted item clears its trouble too: nobody manages it any more.
    publish_trouble(target, recorded_change((previous or {}).get("phase"), outcome.phase))
    if outcome.phase == Phase.UNMANAGED:
        return  # nobody manages the target any more: nothing else to report
    values: dict[str, tuple[MetricUnit, float]] = {RECONCILE_DURATION: (SECONDS, duration)}
    if (event.get("poll") or {}).get("outcome") == "Registered":
        values[REGISTRATION_SUCCEEDED] = (COUNT, 1)
    publish(target, values)
    if outcome.phase == Phase.FAILED:
        publish(target, {REGISTRATION_FAILED: (COUNT, 1)}, reason=outcome.reason)


def attempts_after(
    outcome: Outcome, previous: dict[str, Any] | None, spec_hash: str | None
) -> dict[str, Any] | None:
    """The ``attempts`` to store: the durable counts the Register step keeps for this spec
    version (they may be ahead of what this run carries), back to 0 once Registered."""
    if spec_hash is None:
        return None
    if outcome.phase == Phase.REGISTERED:
        return Attempts().as_status(spec_hash)
    return Attempts.of(previous, spec_hash).as_status(spec_hash)


def handle(
    event: dict[str, Any],
    *,
    specs: SpecRepository | None = None,
    statuses: StatusRepository | None = None,
) -> dict[str, Any]:
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    target, execution = event["target"], event["execution"]
    plan = dict(event.get("plan") or {})
    loop = int(event.get("loop", (event.get("record") or {}).get("loop", 0)) or 0)
    now = clock.now()
    if not plan.get("specHash") and plan.get("action") != Action.UNMANAGED:
        # Observe failed before it planned (a caught FleetWise error): the failure concerns the
        # spec as it is now, and that is not "a newer spec" to loop for.
        raw = specs.get(target)
        if raw is not None:
            plan.update(rawSpec=within_size_limit(raw), specHash=spec_hash(raw))

    previous = statuses.get_status(target)
    outcome = outcome_of({**event, "plan": plan}, previous)
    version = plan.get("specHash") or None
    started = event.get("startedAt") or plan.get("observedAt")
    started_at = clock.parse(started) if started else now
    poll_observation = (event.get("poll") or {}).get("observation")
    status = build_status(
        previous,
        outcome,
        spec=plan.get("rawSpec"),
        spec_hash=version,
        observation=poll_observation or plan.get("observation"),
        attempts=attempts_after(outcome, previous, version),
        execution=execution,
        started_at=started_at,
        now=now,
        history_limit=settings.history_limit,
        history_days=settings.history_days,
        acted=bool(event.get("registration")),
    )
    if outcome.phase == Phase.UNMANAGED:
        # The table's TTL removes the status of a target nobody manages any more.
        status["expiresAt"] = int((now + timedelta(days=settings.history_days)).timestamp())
    try:
        statuses.put_status(target, execution, status)
    except LeaseLost:
        logger.warning("lease lost: a newer run owns this target; status left to it", target=target)
        return {"again": False, "loop": loop, "phase": None, "leaseLost": True}
    phase = str(outcome.phase)
    logger.info("recorded", target=target, phase=phase, reason=outcome.reason)
    _metrics(target, outcome, {**event, "plan": plan}, previous, (now - started_at).total_seconds())

    current = specs.get(target)
    changed = (spec_hash(current) if current else None) != version
    try:
        newer = None
        if changed:
            newer = "the spec changed"
        elif not statuses.release_lease(target, execution):
            newer = "a newer request"
        if newer is not None and loop < settings.max_loops:
            return _again(
                statuses, target=target, execution=execution, loop=loop, phase=phase, why=newer
            )
        if newer is not None:
            # At the bound: release for good, in one conditional write (held by this run,
            # pending or not): a request marking the lease between two writes could keep it
            # held until it expired. The status now reflects an older version than the item,
            # which the drift check treats as stale: its next tick starts a run for whatever
            # the item holds.
            _release_for_good(statuses, target, execution)
            logger.warning(
                "loop bound reached with a newer request pending; the drift check picks it up",
                target=target,
                loops=loop,
            )
    except LeaseLost:
        return {"again": False, "loop": loop, "phase": phase, "leaseLost": True}
    return {"again": False, "loop": loop, "phase": phase, "leaseLost": False}


def _release_for_good(statuses: StatusRepository, target: str, execution: str) -> None:
    """Delete the lease if this run holds it, pending or not; ``LeaseLost`` if it does not."""
    if not statuses.release_lease_if_holder(target, execution):
        raise LeaseLost(target, execution, "release")


def _again(
    statuses: StatusRepository,
    *,
    target: str,
    execution: str,
    loop: int,
    phase: str | None,
    why: str,
) -> dict[str, Any]:
    statuses.renew_lease(
        target, execution, now=clock.now(), lease_seconds=get_settings().lease_seconds
    )
    logger.info("reconciling again", target=target, why=why, loop=loop + 1)
    return {"again": True, "loop": loop + 1, "phase": phase, "leaseLost": False}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

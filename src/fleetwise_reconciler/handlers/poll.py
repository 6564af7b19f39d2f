"""Poll: one GetRegisterAccountStatus per call while a registration settles.

While the service reports PENDING within the budget this step raises ``RegistrationPending``
and the workflow's Retry (jittered exponential backoff) calls it again: one state transition
per poll, no Lambda waiting. The budget is wall-clock time since RegisterAccount, or since the
pending registration was first observed when this run did not start it (the run found one in
flight, or RegisterAccount answered that one was).

Each poll first checks that this run still holds the lease (and renews it): a run that lost
it stops (``LeaseLost``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import StatusRepository
from fleetwise_reconciler.errors import RegistrationPending
from fleetwise_reconciler.logic.compare import FAILURE, PENDING, SUCCESS
from fleetwise_reconciler.logic.plan import drift_of
from fleetwise_reconciler.models.spec import Spec
from fleetwise_reconciler.observability import COUNT, STATUS_POLLS, logger, publish
from fleetwise_reconciler.settings import get_settings


def handle(
    event: dict[str, Any],
    *,
    statuses: StatusRepository | None = None,
    fleetwise: wiring.FleetWisePorts | None = None,
) -> dict[str, Any]:
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    target, execution = event["target"], event["execution"]
    plan = event.get("plan") or {}
    registration = event.get("registration") or {}
    started_at = clock.parse(registration.get("startedAt") or plan["observedAt"])
    if registration.get("conflict"):
        since = "RegisterAccount answered that another registration was in flight"
    elif registration.get("startedAt"):
        since = "RegisterAccount"
    else:
        since = "the registration was first seen pending"
    attempt = int(registration.get("attempt") or plan.get("attempts") or 0)
    # Observe validated and normalised it; Poll only compares.
    spec = Spec.from_dict(event["spec"])
    now = clock.now()
    statuses.renew_lease(target, execution, now=now, lease_seconds=settings.lease_seconds)

    publish(target, {STATUS_POLLS: (COUNT, 1)})
    observation = wiring.fleetwise_for(str(target), execution, fleetwise).get_status()
    status = observation.get("accountStatus")
    elapsed = (clock.now() - started_at).total_seconds()
    # What the status will record as different (a block covers exactly this).
    drift = drift_of(spec, observation)

    # ASSUMPTION: right after RegisterAccount the status may briefly read "not registered"
    # (eventual consistency); it is treated as pending, bounded by the same budget.
    if status == PENDING or not observation.get("registered"):
        if elapsed < settings.registration_budget_seconds:
            logger.info("registration pending", target=target, elapsed_seconds=round(elapsed))
            raise RegistrationPending(
                "RegistrationPending",
                f"still pending after {round(elapsed)} s",
                operation="GetRegisterAccountStatus",
            )
        seen = "REGISTRATION_PENDING" if status == PENDING else "no registration"
        return _result(
            "TimedOut",
            observation,
            "RegistrationTimedOut",
            f"IoT FleetWise still reports {seen} {round(elapsed)} s after {since} (budget "
            f"{settings.registration_budget_seconds} s)",
            drift,
        )
    if status == SUCCESS:
        if drift:
            return _result(
                "Diverged",
                observation,
                "DriftNotCured",
                "the registration succeeded but does not match the spec: " + "; ".join(drift),
                drift,
            )
        return _result("Registered", observation, "Registered", "registered as declared")
    if status == FAILURE:
        detail = (observation.get("iam") or {}).get("errorMessage") or (
            observation.get("timestream") or {}
        ).get("errorMessage")
        suffix = f": {detail}" if detail else ""
        if attempt < settings.max_registration_attempts:
            which = f"attempt {attempt}" if attempt else "the registration found in flight"
            return _result(
                "Reregister",
                observation,
                "RegistrationFailed",
                f"{which} ended in REGISTRATION_FAILURE{suffix}; trying again",
                drift,
            )
        return _result(
            "Failed",
            observation,
            "RegistrationFailed",
            f"REGISTRATION_FAILURE after {attempt} attempts{suffix}",
            drift,
        )
    return _result(
        "Failed", observation, "UnexpectedStatus", f"unexpected status {status!r}", drift
    )


def _result(
    outcome: str,
    observation: dict[str, Any],
    reason: str,
    message: str,
    drift: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "observation": observation,
        "reason": reason,
        "message": message,
        "drift": drift or [],
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

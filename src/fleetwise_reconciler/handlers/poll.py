"""Poll: one GetRegisterAccountStatus per call while a registration settles.

While the service reports PENDING within the budget this step raises ``RegistrationPending``
and the workflow's Retry (jittered exponential backoff) calls it again: one state transition
per poll, no Lambda waiting. The budget is wall-clock time since RegisterAccount (or since the
pending registration was first observed, when this run did not start it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.errors import RegistrationPending
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.logic.compare import (
    FAILURE,
    PENDING,
    SUCCESS,
    NormalisedSpec,
    differences,
)
from fleetwise_reconciler.observability import COUNT, STATUS_POLLS, logger, publish
from fleetwise_reconciler.settings import get_settings


def handle(event: dict[str, Any], *, fleetwise: FleetWise | None = None) -> dict[str, Any]:
    fleetwise = fleetwise or wiring.fleetwise()
    settings = get_settings()
    target = event["target"]
    plan = event.get("plan") or {}
    registration = event.get("registration") or {}
    started_at = clock.parse(registration.get("startedAt") or plan["observedAt"])
    attempt = int(registration.get("attempt") or plan.get("attempts") or 0)
    # Observe validated and normalised it; Poll only compares.
    spec = NormalisedSpec.from_dict(event["spec"])

    publish(target, {STATUS_POLLS: (COUNT, 1)})
    observation = fleetwise.get_status()
    status = observation.get("accountStatus")
    elapsed = (clock.now() - started_at).total_seconds()

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
        return _result(
            "TimedOut",
            observation,
            "RegistrationTimedOut",
            f"IoT FleetWise still reports {status or 'no registration'} "
            f"{round(elapsed)} s after RegisterAccount (budget "
            f"{settings.registration_budget_seconds} s)",
        )
    if status == SUCCESS:
        drift = differences(spec, observation)
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
            return _result(
                "Reregister",
                observation,
                "RegistrationFailed",
                f"attempt {attempt} ended in REGISTRATION_FAILURE{suffix}; trying again",
            )
        return _result(
            "Failed",
            observation,
            "RegistrationFailed",
            f"REGISTRATION_FAILURE after {attempt} attempts{suffix}",
        )
    return _result("Failed", observation, "UnexpectedStatus", f"unexpected status {status!r}")


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

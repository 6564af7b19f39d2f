"""Decide: spec x observation x previous status → one action (architecture section 5).

Pure: takes values, returns a ``Plan``. The workflow's ``Decide`` state branches on
``Plan.action``; the Record step turns non-acting plans into status using ``Plan.phase``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from fleetwise_reconciler.logic.compare import FAILURE, PENDING, SUCCESS, differences
from fleetwise_reconciler.logic.validate import ValidationResult
from fleetwise_reconciler.models.spec import Spec


class Action(StrEnum):
    NO_CHANGE = "NoChange"
    REGISTER = "Register"
    AWAIT = "Await"
    BLOCKED = "Blocked"
    PAUSED = "Paused"
    OBSERVE_ONLY = "ObserveOnly"
    INVALID = "Invalid"
    FAILED = "Failed"


class Phase(StrEnum):
    PENDING = "Pending"
    REGISTERING = "Registering"
    REGISTERED = "Registered"
    FAILED = "Failed"
    DRIFTED = "Drifted"
    BLOCKED = "Blocked"
    PAUSED = "Paused"
    INVALID = "Invalid"


@dataclass(frozen=True)
class Plan:
    action: Action
    phase: Phase
    reason: str
    message: str
    drift: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["action"] = str(self.action)
        data["phase"] = str(self.phase)
        data["drift"] = list(self.drift)
        return data


def attempts_for(status: dict[str, Any] | None, spec_hash: str) -> int:
    """RegisterAccount calls already made for this spec version (the FAILURE retry budget)."""
    attempts = (status or {}).get("attempts") or {}
    return int(attempts.get("count", 0)) if attempts.get("specHash") == spec_hash else 0


def _terminal_error_for(status: dict[str, Any] | None, spec_hash: str) -> dict[str, Any] | None:
    error = (status or {}).get("lastError")
    if error and not error.get("retryable") and (status or {}).get("specHash") == spec_hash:
        return dict(error)
    return None


def _describe(observation: dict[str, Any]) -> str:
    if not observation.get("registered"):
        return "the account is not registered with IoT FleetWise"
    return f"IoT FleetWise reports {observation.get('accountStatus')}"


def plan(
    validation: ValidationResult,
    observation: dict[str, Any] | None,
    *,
    spec_hash: str,
    previous: dict[str, Any] | None,
    trigger: str,
    max_attempts: int,
) -> Plan:
    """The action for one reconcile iteration."""
    if not validation.valid or validation.spec is None:
        return Plan(
            Action.INVALID,
            Phase.INVALID,
            "InvalidSpec",
            f"the spec is invalid, nothing was called: {validation.message}",
        )
    spec: Spec = validation.spec
    observed = observation or {"registered": False}
    enforce = spec.policy == "enforce"

    if spec.paused:
        return Plan(
            Action.PAUSED,
            Phase.PAUSED,
            "Paused",
            f"reconciliation is paused (paused = true); {_describe(observed)}",
            tuple(_drift_of(spec, observed)),
        )

    drift = tuple(_drift_of(spec, observed))
    status = observed.get("accountStatus")

    if observed.get("registered") and status == PENDING:
        if enforce:
            return Plan(
                Action.AWAIT,
                Phase.REGISTERING,
                "RegistrationPending",
                "a registration is in progress; waiting for it to settle",
            )
        return Plan(
            Action.OBSERVE_ONLY,
            Phase.REGISTERING,
            "RegistrationPending",
            "a registration is in progress (observe-only: not waiting for it)",
        )

    if not drift:
        return Plan(
            Action.NO_CHANGE,
            Phase.REGISTERED,
            "UpToDate",
            "the account is registered as the spec declares",
        )

    if not enforce:
        phase = Phase.FAILED if status == FAILURE else Phase.DRIFTED
        return Plan(
            Action.OBSERVE_ONLY,
            phase,
            _drift_reason(observed),
            f"observe-only: not acting; {'; '.join(drift)}",
            drift,
        )

    terminal = _terminal_error_for(previous, spec_hash)
    if terminal is not None and trigger == "schedule":
        return Plan(
            Action.FAILED,
            Phase.FAILED,
            str(terminal.get("code") or "TerminalError"),
            "the last attempt for this spec failed with a non-retryable error "
            f"({terminal.get('code')}: {terminal.get('message')}); the schedule does not retry "
            "it: fix the cause, then change the spec or its reconcileToken",
            drift,
        )

    prev = previous or {}
    if (
        prev.get("specHash") == spec_hash
        and prev.get("phase") == Phase.BLOCKED
        and prev.get("reason") == "DriftNotCured"
    ):
        return Plan(
            Action.BLOCKED,
            Phase.BLOCKED,
            "DriftNotCured",
            "re-registering did not cure this drift before, so it is not repeated: "
            + "; ".join(drift),
            drift,
        )

    made = attempts_for(previous, spec_hash)
    if status == FAILURE and made >= max_attempts:
        return Plan(
            Action.FAILED,
            Phase.FAILED,
            "RegistrationFailed",
            f"IoT FleetWise reports REGISTRATION_FAILURE after {made} registration attempts "
            "for this spec; change the spec or its reconcileToken to try again",
            drift,
        )

    return Plan(
        Action.REGISTER,
        Phase.REGISTERING,
        _drift_reason(observed),
        "registering: " + "; ".join(drift),
        drift,
    )


def _drift_reason(observed: dict[str, Any]) -> str:
    if not observed.get("registered"):
        return "NotRegistered"
    if observed.get("accountStatus") == FAILURE:
        return "RegistrationFailed"
    return "DriftDetected"


def _drift_of(spec: Spec, observed: dict[str, Any]) -> list[str]:
    if not observed.get("registered"):
        return ["the account is not registered with IoT FleetWise"]
    status = observed.get("accountStatus")
    if status == PENDING:
        return []
    if status != SUCCESS:
        iam_error = (observed.get("iam") or {}).get("errorMessage")
        detail = f" ({iam_error})" if iam_error else ""
        return [f"IoT FleetWise reports {status}{detail}"]
    return differences(spec, observed)

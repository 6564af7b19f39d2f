"""Decide: spec x observation x previous status → one action (architecture section 5).

Pure: takes values, returns a ``Plan``. The workflow's ``Decide`` state branches on
``Plan.action``; the Record step turns non-acting plans into status using ``Plan.phase``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fleetwise_reconciler.logic.compare import FAILURE, PENDING, SUCCESS, differences
from fleetwise_reconciler.models.attempts import Attempts

if TYPE_CHECKING:
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
    UNMANAGED = "Unmanaged"
    """The spec item is gone: record that management stopped (never deregister)."""


class Phase(StrEnum):
    PENDING = "Pending"
    REGISTERING = "Registering"
    REGISTERED = "Registered"
    FAILED = "Failed"
    DRIFTED = "Drifted"
    BLOCKED = "Blocked"
    PAUSED = "Paused"
    INVALID = "Invalid"
    UNMANAGED = "Unmanaged"


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


MIGRATION_BLOCKED = "MigrationBlocked"
ATTEMPTS_EXHAUSTED = "AttemptsExhausted"
DRIFT_NOT_CURED = "DriftNotCured"
AWAITING_ADOPTION = "AwaitingAdoption"


def managed_before(status: dict[str, Any] | None) -> bool:
    """Has this stack registered the target, or seen it registered as declared?

    The status's durable ``managedSince`` says so (the Record step sets it at the first
    Registered outcome or RegisterAccount call). A status written before that attribute
    existed counts as managed when it shows the same: a Registered phase, a Registered
    history entry, or RegisterAccount calls counted. Without any of these the registration
    IoT FleetWise holds was made by someone else, and is adopted only when an operator says
    so (``AwaitingAdoption``)."""
    prev = status or {}
    if prev.get("managedSince"):
        return True
    if prev.get("phase") == Phase.REGISTERED:
        return True
    if any(entry.get("phase") == Phase.REGISTERED for entry in prev.get("history") or []):
        return True
    return int((prev.get("attempts") or {}).get("count") or 0) > 0


def _awaiting_adoption(spec: Spec, observed: dict[str, Any], drift: tuple[str, ...]) -> Plan | None:
    """Blocked when a registration someone else made would be changed by registering the
    spec: its Timestream metadata or role differ (whatever its account status: re-registering
    a failed one would drop them too). None when nothing it holds would change."""
    changes = differences(spec, observed)
    if not changes:
        return None
    return Plan(
        Action.BLOCKED,
        Phase.BLOCKED,
        AWAITING_ADOPTION,
        f"the account is already registered ({observed.get('accountStatus')}) differently "
        "from the spec, and this stack has never registered it: it is not re-registered "
        f"until an operator says so. Registering the spec would change: {'; '.join(changes)}. "
        f"To take it over as it is: fleetwise-reconciler adopt {spec.target} (writes the "
        "spec to match); to register the spec over it: set the spec's onExisting to "
        f"'replace' (fleetwise-reconciler adopt {spec.target} --replace)",
        drift,
    )


def attempts_for(status: dict[str, Any] | None, spec_hash: str) -> int:
    """RegisterAccount calls that may have acted, already made for this spec version since it
    was last Registered (``Attempts.count``; the refused ones are counted apart).

    The count is the status's durable ``attempts`` (the Register step counts each call before
    making it). The Record step sets it back to 0 when the target reaches Registered, so the
    budget bounds one failure episode: a spec that lives for months is not left unrepaired
    after its fifth out-of-band failure."""
    return Attempts.of(status, spec_hash).count


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
    # Equivalent mutants: an observation without the key reads as not registered as well.
    observed = observation or {"registered": False}  # pragma: no mutate
    enforce = spec.policy == "enforce"

    if spec.paused:
        return Plan(
            Action.PAUSED,
            Phase.PAUSED,
            "Paused",
            f"reconciliation is paused (paused = true); {_describe(observed)}",
            tuple(drift_of(spec, observed)),
        )

    drift = tuple(drift_of(spec, observed))
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

    # A registration someone else made is not overwritten until an operator says so.
    if observed.get("registered") and not spec.replaces_existing and not managed_before(previous):
        waiting = _awaiting_adoption(spec, observed, drift)
        if waiting is not None:
            return waiting

    terminal = _terminal_error_for(previous, spec_hash)
    if terminal is not None and trigger == "schedule":
        code = str(terminal.get("code") or "TerminalError")
        return Plan(
            Action.FAILED,
            Phase.FAILED,
            code,
            "the last attempt for this spec failed with a non-retryable error "
            f"({code}: {terminal.get('message')}); the schedule does not retry "
            "it: fix the cause, then change the spec or its reconcileToken",
            drift,
        )

    prev = previous or {}
    # A block covers only the observation that caused it (invariant 13): the same spec
    # version and the same differences. Anything else observed is reconciled as usual.
    blocked_before = (
        prev.get("specHash") == spec_hash
        and prev.get("phase") == Phase.BLOCKED
        and tuple(prev.get("drift") or ()) == drift
    )
    if blocked_before and prev.get("reason") == DRIFT_NOT_CURED:
        return Plan(
            Action.BLOCKED,
            Phase.BLOCKED,
            DRIFT_NOT_CURED,
            "re-registering did not cure this drift before, so it is not repeated: "
            + "; ".join(drift),
            drift,
        )
    if blocked_before and prev.get("reason") == MIGRATION_BLOCKED and trigger == "schedule":
        # Reading every campaign again on each tick would cost a call per campaign while
        # nothing changed; the operator deletes the campaigns, then changes reconcileToken.
        return Plan(
            Action.BLOCKED,
            Phase.BLOCKED,
            MIGRATION_BLOCKED,
            str(prev.get("message") or "campaigns block the switch back from Timestream"),
            drift,
        )

    # The bound covers every RegisterAccount call for this spec version until it is
    # Registered, whatever the service answered (models/attempts.py): a registration that
    # fails, never shows, never settles or keeps being refused is not tried on every tick.
    counted = Attempts.of(previous, spec_hash)
    if counted.spent(max_attempts):
        if status == FAILURE and counted.count >= max_attempts:
            return Plan(
                Action.FAILED,
                Phase.FAILED,
                "RegistrationFailed",
                f"IoT FleetWise reports REGISTRATION_FAILURE after {counted.count} registration "
                "attempts for this spec; change the spec or its reconcileToken to try again",
                drift,
            )
        return Plan(
            Action.FAILED,
            Phase.FAILED,
            ATTEMPTS_EXHAUSTED,
            f"{counted.describe(max_attempts)} did not get it registered; {'; '.join(drift)}; "
            "change the spec or its reconcileToken to try again",
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


def drift_of(spec: Spec, observed: dict[str, Any]) -> list[str]:
    """What differs between the spec and an observation, in words (empty: nothing, or a
    registration still pending). The status records it, and a block covers exactly it."""
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


# -- the migration blocker check (a modern spec, an account still registered with Timestream) --


def needs_campaign_check(
    decided: Plan, spec: Spec | None, observation: Mapping[str, Any] | None
) -> bool:
    """Would this plan re-register a modern spec over stored Timestream metadata?

    Only then can campaigns block the registration, so only then are they read."""
    if decided.action != Action.REGISTER or spec is None or spec.legacy:
        return False
    observed = observation or {}
    timestream = observed.get("timestream") or {}
    return bool(
        observed.get("registered")
        and (timestream.get("databaseName") or timestream.get("tableName"))
    )


def blocking_campaigns(campaigns: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the campaigns (``GetCampaign`` answers) with no data destination.

    The API reference requires deleting them before Timestream metadata can be removed.
    ASSUMPTION: a campaign without destinations omits ``dataDestinationConfigs`` (the model
    forbids an empty list); an empty list is treated the same way."""
    return sorted(str(c.get("name")) for c in campaigns if not c.get("dataDestinationConfigs"))


def blocked_by_campaigns(decided: Plan, names: list[str]) -> Plan:
    """``decided`` unchanged when nothing blocks it; otherwise Blocked, naming the campaigns.

    Nothing destructive is ever done on the operator's behalf: deleting campaigns is theirs."""
    if not names:
        return decided
    return replace(
        decided,
        action=Action.BLOCKED,
        phase=Phase.BLOCKED,
        reason=MIGRATION_BLOCKED,
        message=(
            "the spec's mode is 'cloudwatch' but the account is still registered with "
            "Timestream, and these campaigns have no data destination, so IoT FleetWise "
            f"refuses to drop Timestream until they are deleted: {', '.join(names)}. Delete "
            "them (or give them a destination), then change the spec's reconcileToken"
        ),
    )

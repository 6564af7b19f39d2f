"""The drift check's decision for one target: what to report, and whether to start a run.

Pure: takes the spec's validation, the FleetWise observation, the status and the lease, and
returns a ``Check``. The scheduled drift check (``handlers/drift_check.py``) emits the check's
metrics on every tick and starts a reconcile execution only when ``Check.start`` is true.

A run is started only when it would change something:

- the plan acts (``Register``: enforce and drift, not registered, or FAILURE within budget;
  ``Await``: a registration is pending that no run is watching);
- the status is stale for the spec (it reflects another spec version: an edit that outran the
  workflow's loop bound, or a spec never reconciled);
- the status does not say what the observation shows (observe-only drift not yet recorded, a
  drift that healed by itself, an Invalid spec not yet recorded).

Never while the target's lease is held and unexpired (the running run records), never for a
paused target, a terminal failure or a block recorded for this spec version: those are
reported only, every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fleetwise_reconciler.logic.plan import Action, Phase, Plan, plan

if TYPE_CHECKING:
    from fleetwise_reconciler.logic.validate import ValidationResult


class Why(StrEnum):
    """Why a run is started, or why it is not."""

    # started
    ACTS = "PlanActs"
    STALE_STATUS = "StaleStatus"
    UNRECORDED = "StatusOutOfDate"
    # not started
    IN_SYNC = "InSync"
    RUN_ACTIVE = "RunActive"
    PAUSED = "Paused"
    REPORT_ONLY = "ReportOnly"
    RECORDED = "AlreadyRecorded"


STARTING = frozenset({Why.ACTS, Why.STALE_STATUS, Why.UNRECORDED})


@dataclass(frozen=True)
class Check:
    """One target's result of one drift check."""

    target: str
    why: Why
    healthy: bool
    drift_detected: bool
    paused: bool
    invalid: bool
    plan: Plan
    drift: tuple[str, ...] = field(default=())

    @property
    def start(self) -> bool:
        return self.why in STARTING

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "start": self.start,
            "why": str(self.why),
            "healthy": self.healthy,
            "driftDetected": self.drift_detected,
            "paused": self.paused,
            "invalid": self.invalid,
            "action": str(self.plan.action),
            "phase": str(self.plan.phase),
            "reason": self.plan.reason,
        }


def lease_active(lease: dict[str, Any] | None, now_epoch: float) -> bool:
    """A run holds the target: its lease exists and has not expired."""
    return lease is not None and float(lease.get("expiresAt") or 0) > now_epoch


def _drifted_message(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Drifted" and condition.get("status") == "True":
            return str(condition.get("message"))
    return None


def _recorded(status: dict[str, Any], decided: Plan) -> bool:
    """Does the status already say what this plan would record?"""
    if status.get("phase") != decided.phase:
        return False
    if decided.action == Action.NO_CHANGE:
        return True  # "Registered" is "Registered", whatever the reason of the last run
    if status.get("reason") != decided.reason:
        return False
    return not decided.drift or _drifted_message(status) == "; ".join(decided.drift)


def check(
    target: str,
    validation: ValidationResult,
    observation: dict[str, Any] | None,
    *,
    spec_hash: str,
    status: dict[str, Any] | None,
    max_attempts: int,
) -> Check:
    """Decide one target's report and whether a reconcile run is needed, before looking at
    the lease (``unless_running`` does that, so the steady state never reads it)."""
    decided = plan(
        validation,
        observation,
        spec_hash=spec_hash,
        previous=status,
        trigger="schedule",
        max_attempts=max_attempts,
    )
    prev = status or {}
    current = prev.get("specHash") == spec_hash
    paused = decided.action == Action.PAUSED
    invalid = decided.action == Action.INVALID
    healthy = decided.action == Action.NO_CHANGE or (paused and not decided.drift)
    # Drift: reality moved away from a spec that had been reconciled (not a fresh edit).
    drift_detected = bool(decided.drift) and current and not invalid

    def result(why: Why) -> Check:
        return Check(
            target=target,
            why=why,
            healthy=healthy,
            drift_detected=drift_detected,
            paused=paused,
            invalid=invalid,
            plan=decided,
            drift=decided.drift,
        )

    if paused:
        return result(Why.PAUSED)
    if decided.action in (Action.FAILED, Action.BLOCKED):
        return result(Why.REPORT_ONLY)
    if invalid:
        wanted = Why.RECORDED if current and prev.get("phase") == Phase.INVALID else Why.UNRECORDED
    elif decided.action in (Action.REGISTER, Action.AWAIT):
        wanted = Why.ACTS
    elif not current:
        wanted = Why.STALE_STATUS
    elif _recorded(prev, decided):
        wanted = Why.IN_SYNC if decided.action == Action.NO_CHANGE else Why.RECORDED
    else:
        wanted = Why.UNRECORDED
    return result(wanted)


def unless_running(found: Check, lease: dict[str, Any] | None, now_epoch: float) -> Check:
    """``found``, or not started when a run holds the target's lease (that run records)."""
    if found.start and lease_active(lease, now_epoch):
        return replace(found, why=Why.RUN_ACTIVE)
    return found


def execution_name(target: str, stamp: str) -> str:
    """``drift-<account>-<region>-<YYYYMMDDTHHMMZ>`` (docs/workflow.md): one run per target
    and minute, so a tick delivered twice starts one run."""
    account, _, region = target.partition(":")
    return f"drift-{account}-{region}-{stamp}"

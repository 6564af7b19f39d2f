"""The drift check's decision for one target: what to report, and whether to start a run.

Pure: takes the spec's validation, the FleetWise observation, the status and the lease, and
returns a ``Check``. The scheduled drift check (``handlers/drift_check.py``) emits the check's
metrics on every tick and starts a reconcile execution only when ``Check.start`` is true.

A run is started only when it would change something:

- the plan acts (``Register``: enforce and drift, not registered, or FAILURE within budget;
  ``Await``: a registration is pending that no run is watching);
- the status is stale for the spec (it reflects another spec version: an edit that outran the
  workflow's loop bound, a run that died, a spec never reconciled), whatever the spec says
  (paused and invalid specs included);
- the status does not say what the observation shows (its phase, reason, differences or the
  account status IoT FleetWise reports: an observe-only drift not yet recorded, a drift that
  healed by itself, a paused target whose registration changed or settled, a block whose
  cause changed);
- the spec item is gone but the status is not ``Unmanaged`` (``without_item``: the deletion's
  run stepped aside for a run that then died).

Never while the target's lease is held and unexpired (the running run records). A status that
already says what the plan would record (a pause, a terminal failure, a block, in sync) is
only reported, every tick: once edits stop and the service settles, ticks start no run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fleetwise_reconciler.logic.health import FleetState, fleet_state
from fleetwise_reconciler.logic.plan import AWAITING_ADOPTION, Action, Phase, Plan, plan
from fleetwise_reconciler.models.spec import TARGET
from fleetwise_reconciler.workflow import hashed_name, is_execution_name

if TYPE_CHECKING:
    from fleetwise_reconciler.logic.validate import ValidationResult


class Why(StrEnum):
    """Why a run is started, or why it is not."""

    # started
    ACTS = "PlanActs"
    STALE_STATUS = "StaleStatus"
    UNRECORDED = "StatusOutOfDate"
    ITEM_DELETED = "ItemDeleted"
    # not started
    IN_SYNC = "InSync"
    RUN_ACTIVE = "RunActive"
    PAUSED = "Paused"
    REPORT_ONLY = "ReportOnly"
    RECORDED = "AlreadyRecorded"


STARTING = frozenset({Why.ACTS, Why.STALE_STATUS, Why.UNRECORDED, Why.ITEM_DELETED})


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
    # The phase the status records for the item's current version (None: another version,
    # or no status).
    recorded: Phase | None = None

    @property
    def start(self) -> bool:
        return self.why in STARTING

    @property
    def state(self) -> FleetState:
        """What the fleet's count takes this target as (``logic.health.fleet_state``)."""
        return fleet_state(
            invalid=self.invalid,
            recorded=self.recorded,
            unobserved=False,
            healthy=self.healthy,
            paused=self.paused,
            drift_detected=self.drift_detected,
            acting=self.plan.action in (Action.REGISTER, Action.AWAIT),
        )

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
            "state": str(self.state),
        }


def recorded_phase(status: dict[str, Any] | None, spec_hash: str) -> Phase | None:
    """The phase ``status`` records for spec version ``spec_hash`` (None: another version,
    no status, or a phase this code does not know)."""
    if not status or status.get("specHash") != spec_hash:
        return None
    phase = status.get("phase")
    return Phase(phase) if phase in set(Phase) else None


def lease_active(lease: dict[str, Any] | None, now_epoch: float) -> bool:
    """A run holds the target: its lease exists and has not expired."""
    return lease is not None and float(lease.get("expiresAt") or 0) > now_epoch


def _recorded(status: dict[str, Any], decided: Plan, observation: dict[str, Any] | None) -> bool:
    """Does the status already say what this plan would record (same phase, reason and
    differences) and what IoT FleetWise reports now? Then a run would change nothing."""
    if status.get("phase") != decided.phase:
        return False
    if observation is not None:
        # A registration that settled or changed without a difference from the spec (a paused
        # target's PENDING that became SUCCESS): the status must not keep the old report.
        seen = status.get("observed") or {}
        reported = (bool(observation.get("registered")), observation.get("accountStatus"))
        if (bool(seen.get("registered")), seen.get("accountStatus")) != reported:
            return False
    if decided.action == Action.NO_CHANGE:
        return True  # "Registered" is "Registered", whatever the reason of the last run
    return status.get("reason") == decided.reason and tuple(status.get("drift") or ()) == (
        decided.drift
    )


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
    # Drift: reality moved away from a spec that had been reconciled (not a fresh edit, nor a
    # registration someone else made that waits for adoption: never reconciled at all).
    drift_detected = (
        bool(decided.drift) and current and not invalid and decided.reason != AWAITING_ADOPTION
    )

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
            recorded=recorded_phase(status, spec_hash),
        )

    if decided.action in (Action.REGISTER, Action.AWAIT):
        return result(Why.ACTS)
    if not current:
        # Whatever the item holds (paused, invalid, a failure, a block included) is reflected
        # in the status by a run: an edit that outran a run's loop bound, or a run that died.
        return result(Why.STALE_STATUS)
    if not _recorded(prev, decided, observation):
        return result(Why.UNRECORDED)
    if decided.action == Action.NO_CHANGE:
        return result(Why.IN_SYNC)
    if paused:
        return result(Why.PAUSED)
    if decided.action in (Action.FAILED, Action.BLOCKED):
        return result(Why.REPORT_ONLY)
    return result(Why.RECORDED)


def unless_running(found: Check, lease: dict[str, Any] | None, now_epoch: float) -> Check:
    """``found``, or not started when a run holds the target's lease (that run records)."""
    if found.start and lease_active(lease, now_epoch):
        return replace(found, why=Why.RUN_ACTIVE)
    return found


def without_item(phase: str | None, lease: dict[str, Any] | None, now_epoch: float) -> Why | None:
    """A status whose spec item is gone: start a run, which records ``Unmanaged``
    (``ITEM_DELETED``), unless the status says so already (None) or a run holds the target
    (``RUN_ACTIVE``: it reads the item and records). The deletion's own run steps aside while
    another run holds the lease; when that holder then dies, nothing else would notice."""
    if phase == Phase.UNMANAGED:
        return None
    return Why.RUN_ACTIVE if lease_active(lease, now_epoch) else Why.ITEM_DELETED


def execution_name(target: str, stamp: str) -> str:
    """``drift-<account>-<region>-<YYYYMMDDTHHMMZ>`` (docs/workflow.md): one run per target
    and minute, so a tick delivered twice starts one run. A target that is not
    ``<account>:<region>`` (an odd key is Invalid, and still gets its run) is named from a
    digest of it (``workflow.hashed_name``), so the name is one Step Functions takes."""
    if TARGET.fullmatch(target):
        # Equivalent mutant (rpartition): a well-formed target holds one colon.
        account, _, region = target.partition(":")  # pragma: no mutate
        name = f"drift-{account}-{region}-{stamp}"
        if is_execution_name(name):
            return name
    return hashed_name("drift-", target, f"-{stamp}")

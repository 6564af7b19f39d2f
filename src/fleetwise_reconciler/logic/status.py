"""Status and conditions, Kubernetes style: a phase plus Ready / Synced / Drifted conditions.

Each condition carries the spec version it reflects (``specHash``) and keeps its
``lastTransitionTime`` until its status actually changes, so a reader can tell how long a
target has been unhealthy and whether the status is current for the spec they see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleetwise_reconciler.clock import isoformat, parse
from fleetwise_reconciler.logic.plan import Phase

CONDITION_TYPES = ("Ready", "Synced", "Drifted")


@dataclass(frozen=True)
class Outcome:
    """What one reconcile iteration concluded, ready to be recorded."""

    phase: Phase
    reason: str
    message: str
    drift: tuple[str, ...] = ()
    error: dict[str, Any] | None = None


# Phases that say nothing about the registration itself.
_UNKNOWN = (Phase.INVALID, Phase.PENDING, Phase.UNMANAGED)


def _ready(outcome: Outcome) -> tuple[str, str]:
    if outcome.phase == Phase.REGISTERED:
        return "True", outcome.reason
    if outcome.phase in _UNKNOWN:
        return "Unknown", outcome.reason
    if outcome.phase == Phase.PAUSED:
        return ("False", "Paused") if outcome.drift else ("True", "Paused")
    return "False", outcome.reason


def _synced(outcome: Outcome) -> tuple[str, str]:
    if outcome.phase == Phase.REGISTERED:
        return "True", outcome.reason
    return "False", outcome.reason


def _drifted(outcome: Outcome) -> tuple[str, str]:
    if outcome.phase in _UNKNOWN:
        return "Unknown", outcome.reason
    if outcome.phase == Phase.REGISTERED:
        return "False", "InSync"
    if outcome.phase == Phase.REGISTERING:
        return "False", "Reconciling"
    if outcome.drift:
        return "True", outcome.reason
    return "False", "InSync"


def conditions(
    outcome: Outcome,
    previous: list[dict[str, Any]] | None,
    *,
    spec_hash: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The three conditions after ``outcome``, keeping transition times that did not change."""
    before = {c.get("type"): c for c in previous or []}
    stamp = isoformat(now)
    computed = {"Ready": _ready(outcome), "Synced": _synced(outcome), "Drifted": _drifted(outcome)}
    result = []
    for kind in CONDITION_TYPES:
        status, reason = computed[kind]
        old = before.get(kind)
        transition = old["lastTransitionTime"] if old and old.get("status") == status else stamp
        if kind == "Drifted" and outcome.drift and status == "True":
            message = "; ".join(outcome.drift)
        else:
            message = outcome.message
        result.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": transition,
                "specHash": spec_hash,
            }
        )
    return result


def history(
    previous: list[dict[str, Any]] | None,
    entry: dict[str, Any],
    *,
    now: datetime,
    limit: int,
    max_age_days: int,
) -> list[dict[str, Any]]:
    """Newest first, at most ``limit`` entries and none older than ``max_age_days``."""
    horizon = now - timedelta(days=max_age_days)
    kept = [e for e in previous or [] if "at" in e and parse(str(e["at"])) >= horizon]
    return [entry, *kept][:limit]


def _recorded(entries: Any, entry: dict[str, Any]) -> bool:
    """Whether the newest of ``entries`` already says what ``entry`` does, for the same run:
    the Record step run again after its write (Step Functions retries a Task whose answer was
    lost, a timed-out one included), which must not add the same entry twice. A run records
    one version once (it loops only for another), so its own entry is always the newest."""
    newest = entries[0] if isinstance(entries, list) and entries else None
    return isinstance(newest, dict) and all(
        newest.get(key) == entry[key] for key in ("execution", "phase", "reason", "specHash")
    )


def build_status(
    previous: dict[str, Any] | None,
    outcome: Outcome,
    *,
    spec: dict[str, Any] | None,
    spec_hash: str | None,
    observation: dict[str, Any] | None,
    attempts: dict[str, Any] | None,
    execution: str,
    started_at: datetime | None,
    now: datetime,
    history_limit: int,
    history_days: int,
    acted: bool,
) -> dict[str, Any]:
    """The STATUS item written by the Record step (shape in docs/workflow.md).

    ``spec_hash`` is None when the status is about no spec version (the item was deleted);
    ``attempts`` is the ``{specHash, count}`` to keep (None: the previous one)."""
    prev = previous or {}
    stamp = isoformat(now)
    changed = (
        prev.get("phase") != outcome.phase
        or prev.get("reason") != outcome.reason
        or prev.get("specHash") != spec_hash
    )
    entries = prev.get("history")
    entry = {
        "at": stamp,
        "phase": str(outcome.phase),
        "reason": outcome.reason,
        "specHash": spec_hash,
        "execution": execution,
    }
    if (changed or acted) and not _recorded(entries, entry):
        entries = history(entries, entry, now=now, limit=history_limit, max_age_days=history_days)
    kept_attempts = attempts if attempts is not None else prev.get("attempts")
    # Since when the stack manages the registration (logic.plan.managed_before): the first
    # Registered outcome or RegisterAccount call; kept ever after.
    managed_since = prev.get("managedSince") or (
        stamp
        if outcome.phase == Phase.REGISTERED
        or acted
        or int((kept_attempts or {}).get("count") or 0) > 0
        else None
    )
    status: dict[str, Any] = {
        "phase": str(outcome.phase),
        "reason": outcome.reason,
        "message": outcome.message,
        "specHash": spec_hash,
        "observedSpec": spec,
        "conditions": conditions(outcome, prev.get("conditions"), spec_hash=spec_hash, now=now),
        "observed": dict(observation, observedAt=stamp) if observation else prev.get("observed"),
        # What the reconciler found different; a Blocked status covers exactly these.
        "drift": list(outcome.drift),
        "lastError": dict(outcome.error, at=stamp) if outcome.error else None,
        "attempts": kept_attempts,
        "managedSince": managed_since,
        "lastExecutionArn": execution,
        "lastReconcileStartedAt": isoformat(started_at) if started_at else None,
        "lastReconcileFinishedAt": stamp,
        "lastTransitionTime": stamp if changed else prev.get("lastTransitionTime", stamp),
        "updatedAt": stamp,
        "history": entries or [],
    }
    return {key: value for key, value in status.items() if value is not None}

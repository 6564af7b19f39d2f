"""The rehearsal's report: one JSON-ready object (``rehearse --json`` prints it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fleetwise_rehearsal.aws.alarm_monitor import pages
from fleetwise_rehearsal.rehearsal import Rehearsal


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def report(rehearsal: Rehearsal) -> dict[str, Any]:
    """The ``--json`` report: targets, FleetWise calls, executions, alarms and the
    notifications they sent (every minute since the deploy evaluated)."""
    targets = []
    for target in rehearsal.targets():
        status = rehearsal.status(target) or {}
        entry: dict[str, Any] = {
            "target": target,
            "phase": status.get("phase"),
            "reason": status.get("reason"),
            "message": status.get("message"),
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message")}
                for c in status.get("conditions") or []
            ],
            "specHash": status.get("specHash"),
            "observedAccountStatus": (status.get("observed") or {}).get("accountStatus"),
            "attempts": (status.get("attempts") or {}).get("count", 0),
        }
        error = status.get("lastError")
        if error:
            entry["lastError"] = {
                "code": error.get("code"),
                "message": error.get("message"),
                "retryable": error.get("retryable"),
            }
        targets.append(entry)
    return {
        "targets": targets,
        "fleetwiseCalls": rehearsal.fleetwise_calls(),
        "executions": [
            {
                "name": e.name,
                "target": e.input.get("target"),
                "status": e.status,
                "trigger": e.input.get("trigger"),
                "path": list(e.path),
                "startedAt": iso(e.started_at),
                "stoppedAt": iso(e.stopped_at) if e.stopped_at else None,
                "error": e.error,
            }
            for e in rehearsal.executions()
        ],
        "alarms": rehearsal.alarms_in_alarm(),
        # Alarms grouped by target: which targets each names in ALARM (its contributors).
        "alarmTargets": rehearsal.alarm_targets(),
        # What the alarms' actions sent (alarm_monitor.pages: each naming a target, or of an
        # alarm without contributors), in order.
        "notifications": [
            {
                "at": iso(datetime.fromtimestamp(n.at, UTC)),
                "alarm": n.alarm,
                "state": n.state,
                "target": n.value("target"),
            }
            for n in pages(rehearsal.alarm_monitor())
        ],
        "virtualTime": iso(rehearsal.clock.now()),
        "endpoint": "external" if rehearsal.external_endpoint else "simulator",
    }

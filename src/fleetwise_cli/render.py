"""How a target reads for people (tables, colours, ages) and for scripts (plain JSON)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fleetwise_cli.items import TargetState
from fleetwise_reconciler.clock import parse
from fleetwise_reconciler.logic.compare import spec_hash

# SGR colours per phase: green healthy, yellow on its way or drifted, red needs a person.
_GREEN, _YELLOW, _RED, _DIM = "32", "33", "31", "2"
PHASE_COLOURS = {
    "Registered": _GREEN,
    "Registering": _YELLOW,
    "Pending": _YELLOW,
    "Drifted": _YELLOW,
    "Failed": _RED,
    "Blocked": _RED,
    "Invalid": _RED,
    "Paused": _DIM,
    "Unmanaged": _DIM,
}
# A status that nothing more will change without a new edit, a tick or an operator.
FINAL_PHASES = frozenset(
    {"Registered", "Failed", "Blocked", "Invalid", "Drifted", "Paused", "Unmanaged"}
)
HEALTHY_PHASES = frozenset({"Registered", "Paused", "Unmanaged"})
NOTHING_YET = "none"
# What ``--phase`` selects: a recorded phase, or ``None`` for a target with nothing recorded.
PHASES = (*PHASE_COLOURS, "None")


def paint(text: str, code: str | None, *, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def phase_colour(phase: str | None) -> str | None:
    return PHASE_COLOURS.get(phase or "")


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    colour_of: Callable[[int, str], str | None] | None = None,
    colour: bool = False,
) -> list[str]:
    """Left-aligned columns two spaces apart; colours are applied after padding."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str], painted: bool) -> str:
        parts = []
        for index, cell in enumerate(cells):
            padded = cell.ljust(widths[index]) if index < len(cells) - 1 else cell
            code = colour_of(index, cell) if painted and colour_of else None
            parts.append(paint(padded, code, colour=colour))
        return "  ".join(parts).rstrip()

    return [line(headers, False), *(line(row, True) for row in rows)]


def ago(now: datetime, stamp: str | None) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``: how long before ``now`` the ISO ``stamp`` was."""
    if not stamp:
        return "-"
    seconds = max(0, int((now - parse(stamp)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def recorded(status: Mapping[str, Any] | None) -> bool:
    """Whether a status says anything yet (the Register step may write only ``attempts``
    before the first outcome is recorded)."""
    return bool(status) and "phase" in (status or {})


def current(state: TargetState) -> str:
    """``yes``: the status is about the item as it is now (for a deleted item: it no longer
    claims a spec version); ``no``: about an older version (a reconcile is on its way or
    did not run); ``none``: nothing recorded yet."""
    if not recorded(state.status):
        return NOTHING_YET
    claimed = (state.status or {}).get("specHash")
    if state.spec is None:
        return "yes" if claimed is None else "no"
    return "yes" if claimed == spec_hash(state.spec) else "no"


def running(state: TargetState, now: datetime) -> str | None:
    """The execution that holds the target's lease now, if any."""
    lease = state.lease or {}
    holder = lease.get("holder")
    if holder and float(lease.get("expiresAt") or 0) > now.timestamp():
        return str(holder)
    return None


def execution_name(arn: str | None) -> str:
    return arn.rsplit(":", 1)[-1] if arn else "-"


def selected(
    state: TargetState,
    *,
    phases: Sequence[str] | None,
    accounts: Sequence[str] | None,
    regions: Sequence[str] | None,
) -> bool:
    """Whether ``state`` passes the selectors (each given one must match; within one, any
    value)."""
    account, _, region = state.target.partition(":")
    phase = (state.status or {}).get("phase") if recorded(state.status) else None
    return (
        (not phases or str(phase) in phases)
        and (not accounts or account in accounts)
        and (not regions or region in regions)
    )


def summary(state: TargetState, now: datetime) -> dict[str, Any]:
    """One target, for ``status -o json`` and the table."""
    status = state.status or {}
    run = running(state, now)
    return {
        "target": state.target,
        "phase": status.get("phase"),
        "reason": status.get("reason"),
        "message": status.get("message"),
        "fleetwise": (status.get("observed") or {}).get("accountStatus"),
        "current": current(state),
        "specHash": spec_hash(state.spec) if state.spec is not None else None,
        "statusSpecHash": status.get("specHash"),
        "running": run,
        "updatedAt": status.get("updatedAt"),
    }


def summary_table(states: Sequence[TargetState], now: datetime, *, colour: bool) -> list[str]:
    headers = ("TARGET", "PHASE", "REASON", "FLEETWISE", "CURRENT", "RUNNING", "AGE")
    rows = []
    for state in states:
        row = summary(state, now)
        rows.append(
            (
                state.target,
                row["phase"] or "-",
                row["reason"] or "-",
                row["fleetwise"] or ("not registered" if _unregistered(state) else "-"),
                row["current"],
                execution_name(row["running"]) if row["running"] else "-",
                ago(now, row["updatedAt"]),
            )
        )

    def colour_of(index: int, cell: str) -> str | None:
        if index == 1:
            return phase_colour(cell.strip())
        if index == 4 and cell.strip() == "no":
            return _YELLOW
        return None

    return table(headers, rows, colour_of=colour_of, colour=colour)


def _unregistered(state: TargetState) -> bool:
    observed = (state.status or {}).get("observed") or {}
    return observed.get("registered") is False

"""Following a target over time: ``--wait`` (to a final phase, exit by outcome) and
``status --watch`` (redraw on change)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from fleetwise_cli.context import (
    EXIT_OK,
    EXIT_TIMED_OUT,
    EXIT_UNHEALTHY,
    Context,
)
from fleetwise_cli.items import Tables, TargetState
from fleetwise_cli.render import (
    FINAL_PHASES,
    HEALTHY_PHASES,
    execution_name,
    paint,
    phase_colour,
    recorded,
    running,
)
from fleetwise_reconciler.logic.compare import spec_hash

DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 1800.0


def fingerprint(status: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What tells one status write from another: a run writes its own execution, its time
    and the spec version it recorded."""
    status = status or {}
    return (status.get("specHash"), status.get("updatedAt"), status.get("lastExecutionArn"))


def settled(
    state: TargetState, version: str | None, before: tuple[Any, ...], now_epoch: float
) -> bool:
    """Whether the status records the outcome of ``version`` (None: the item's deletion) in
    a write made after the edit (``before``: the status's fingerprint then): a final phase, or
    no run left to change it."""
    status = state.status or {}
    if not recorded(status) or fingerprint(status) == before:
        return False
    if status.get("specHash") != version:
        return False
    lease = state.lease or {}
    held = bool(lease.get("holder")) and float(lease.get("expiresAt") or 0) > now_epoch
    return status.get("phase") in FINAL_PHASES or not held


def current_state(ctx: Context, arn: str) -> str | None:
    """The state a running execution is in (its latest state entered), for the progress line."""
    try:
        events = ctx.client("stepfunctions").get_execution_history(
            executionArn=arn, reverseOrder=True, maxResults=20
        )["events"]
    except ClientError:
        return None  # a progress decoration only: the status is what the wait reads
    # Newest first by event id, whatever order the answer came in.
    for event in sorted(events, key=lambda e: int(e.get("id", 0)), reverse=True):
        entered = event.get("stateEnteredEventDetails")
        if entered:
            return str(entered["name"])
    return None


def wait_for(
    ctx: Context,
    tables: Tables,
    target: str,
    version: str | None,
    *,
    before: tuple[Any, ...],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    quiet: bool = False,
) -> tuple[int, dict[str, Any]]:
    """Follow ``target`` until its status records ``version``; a progress line on stderr
    (redrawn in place on a terminal, one line per change otherwise). Returns the exit code
    (0 healthy, 4 another final phase, 5 timed out) and the outcome, also printed on stdout
    unless ``quiet``."""
    started = ctx.now()
    shown: str | None = None
    live = bool(ctx.err_terminal)
    while True:
        state = tables.state(target)
        now = ctx.now()
        latest = spec_hash(state.spec) if state.spec is not None else None
        if latest != version:
            ctx.warn(
                f"{target}: the item changed again after this write (now version "
                f"{latest or 'deleted'}): following that version"
            )
            version = latest
        status = state.status or {}
        if settled(state, version, before, now.timestamp()):
            if live and shown is not None:
                ctx.err.write("\r\033[K")
            phase = str(status.get("phase"))
            outcome = {
                "phase": phase,
                "reason": status.get("reason"),
                "message": status.get("message"),
                "specHash": status.get("specHash"),
            }
            if not quiet:
                painted = paint(phase, phase_colour(phase), colour=bool(ctx.colour))
                ctx.print(f"{target}: {painted} ({status.get('reason')}): {status.get('message')}")
            return (EXIT_OK if phase in HEALTHY_PHASES else EXIT_UNHEALTHY), outcome
        elapsed = (now - started).total_seconds()
        if elapsed >= timeout:
            if live and shown is not None:
                ctx.err.write("\n")
            ctx.warn(
                f"{target}: no outcome recorded for version {version or 'deleted'} after "
                f"{int(elapsed)}s (--timeout {int(timeout)}); it may still come: "
                f"fleetwise-reconciler status {target}"
            )
            return EXIT_TIMED_OUT, {}
        run = running(state, now)
        if run:
            where = current_state(ctx, run)
            doing = f"run {execution_name(run)}" + (f" in {where}" if where else "")
        else:
            doing = "waiting for a run to start"
        line = f"{target}: {doing}"
        if live:
            ctx.err.write(f"\r\033[K{line} ({int(elapsed)}s)")
            ctx.err.flush()
        elif line != shown:
            ctx.err.write(f"{line}\n")
        shown = line
        ctx.sleep(interval)


def watch(
    ctx: Context,
    snapshot: Callable[[], tuple[Any, list[str]]],
    *,
    interval: float = DEFAULT_INTERVAL,
) -> int:
    """Draw ``snapshot()``'s lines, then again whenever its key changes, until interrupted.

    On a terminal the screen is cleared and redrawn; otherwise each change is printed below
    the last, after a separator line."""
    last: Any = object()
    first = True
    try:
        while True:
            key, lines = snapshot()
            if key != last:
                if ctx.terminal:
                    ctx.out.write("\033[H\033[2J")
                elif not first:
                    ctx.print("---")
                for line in lines:
                    ctx.print(line)
                ctx.out.flush()
                last, first = key, False
            ctx.sleep(interval)
    except KeyboardInterrupt:
        return EXIT_OK

"""Following a target over time: ``--wait`` (to a final phase, exit by outcome) and
``status --watch`` (redraw on change)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from fleetwise_cli.context import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMED_OUT,
    EXIT_UNHEALTHY,
    CliError,
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
# Each read is two DynamoDB requests per target: a tighter loop only costs.
MIN_INTERVAL = 1.0
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


@dataclass
class Awaited:
    """A target whose edit is followed: the spec version written (None: the item deleted)
    and the status's fingerprint before the write."""

    target: str
    version: str | None
    before: tuple[Any, ...]
    outcome: dict[str, Any] | None = None
    code: int | None = None


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
    """Follow one target (``wait_all`` of one)."""
    [done] = wait_all(
        ctx,
        tables,
        [Awaited(target, version, before)],
        timeout=timeout,
        interval=interval,
        quiet=quiet,
    )
    return int(done.code or EXIT_OK), done.outcome or {}


def wait_all(
    ctx: Context,
    tables: Tables,
    awaited: list[Awaited],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    quiet: bool = False,
) -> list[Awaited]:
    """Follow every target until its status records its version, all at once under one
    ``timeout``: each outcome on stdout as it comes (unless ``quiet``), and a progress line
    on stderr, redrawn in place on a terminal, one line per change otherwise (one target:
    what its run is doing; several: how many are in each phase). Each ``Awaited`` gets its
    exit code (0 healthy, 4 another final phase, 5 timed out) and its outcome.

    Ctrl-C stops the following only: what was written stays written and the runs go on."""
    started = ctx.now()
    shown: str | None = None
    live = bool(ctx.err_terminal)
    try:
        while True:
            now = ctx.now()
            progress: list[str] = []
            for each in awaited:
                if each.code is not None:
                    continue
                state = tables.state(each.target)
                now = ctx.now()
                latest = spec_hash(state.spec) if state.spec is not None else None
                if latest != each.version:
                    _clear(ctx, live, shown)
                    ctx.warn(
                        f"{each.target}: the item changed again after this write (now version "
                        f"{latest or 'deleted'}): following that version"
                    )
                    each.version = latest
                status = state.status or {}
                if settled(state, each.version, each.before, now.timestamp()):
                    phase = str(status.get("phase"))
                    each.outcome = {
                        "phase": phase,
                        "reason": status.get("reason"),
                        "message": status.get("message"),
                        "specHash": status.get("specHash"),
                    }
                    each.code = EXIT_OK if phase in HEALTHY_PHASES else EXIT_UNHEALTHY
                    if not quiet:
                        _clear(ctx, live, shown)
                        shown = None
                        painted = paint(phase, phase_colour(phase), colour=bool(ctx.colour))
                        ctx.print(
                            f"{each.target}: {painted} ({status.get('reason')}): "
                            f"{status.get('message')}"
                        )
                    continue
                progress.append(_doing(ctx, state, now))
            pending = [each for each in awaited if each.code is None]
            if not pending:
                _clear(ctx, live, shown)
                return awaited
            elapsed = (now - started).total_seconds()
            if elapsed >= timeout:
                if live and shown is not None:
                    ctx.err.write("\n")
                for each in pending:
                    ctx.warn(
                        f"{each.target}: no outcome recorded for version "
                        f"{each.version or 'deleted'} after {int(elapsed)}s (--timeout "
                        f"{int(timeout)}); it may still come: fleetwise-reconciler status "
                        f"{each.target}"
                    )
                    each.code = EXIT_TIMED_OUT
                return awaited
            if len(awaited) == 1:
                line = f"{awaited[0].target}: {progress[0]}"
            else:
                line = _counts(awaited, progress)
            if live:
                ctx.err.write(f"\r\033[K{line} ({int(elapsed)}s)")
                ctx.err.flush()
            elif line != shown:
                ctx.err.write(f"{line}\n")
            shown = line
            ctx.sleep(interval)
    except KeyboardInterrupt:
        _clear(ctx, live, shown)
        left = [each.target for each in awaited if each.code is None]
        follow = "fleetwise-reconciler status" + (f" {left[0]}" if len(left) == 1 else "")
        raise CliError(
            "interrupted: stopped following; what was written stays written and the runs go "
            f"on in AWS: follow them with '{follow} --watch'",
            EXIT_INTERRUPTED,
        ) from None


def _clear(ctx: Context, live: bool, shown: str | None) -> None:
    if live and shown is not None:
        ctx.err.write("\r\033[K")


def _doing(ctx: Context, state: TargetState, now: Any) -> str:
    run = running(state, now)
    if not run:
        return "waiting for a run to start"
    where = current_state(ctx, run)
    return f"run {execution_name(run)}" + (f" in {where}" if where else "")


def _counts(awaited: list[Awaited], progress: list[str]) -> str:
    """``5 targets: 2 Registered, 1 Failed, 1 running, 1 waiting for a run``."""
    counts: dict[str, int] = {}
    for each in awaited:
        if each.outcome is not None:
            key = str(each.outcome["phase"])
            counts[key] = counts.get(key, 0) + 1
    for doing in progress:
        key = "waiting for a run" if doing.startswith("waiting") else "running"
        counts[key] = counts.get(key, 0) + 1
    return f"{len(awaited)} targets: " + ", ".join(f"{n} {phase}" for phase, n in counts.items())


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


def watch_data(
    ctx: Context, snapshot: Callable[[], Any], *, interval: float = DEFAULT_INTERVAL
) -> int:
    """``status --watch -o json|yaml``: the data again whenever it changes, until
    interrupted: one JSON document per line (JSON Lines), or YAML documents after ``---``."""
    last: Any = object()
    try:
        while True:
            data = snapshot()
            if data != last:
                if ctx.output == "yaml":
                    ctx.data.write("---\n")
                    ctx.emit(data)
                else:
                    ctx.data.write(json.dumps(data, default=str) + "\n")
                ctx.data.flush()
                last = data
            ctx.sleep(interval)
    except KeyboardInterrupt:
        return EXIT_OK

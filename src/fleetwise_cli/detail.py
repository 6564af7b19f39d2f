"""One target in full: conditions, what IoT FleetWise reported, the last error and what to do
about it, recent history and the last execution (``status TARGET``, ``history TARGET``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fleetwise_cli.items import TargetState
from fleetwise_cli.render import (
    ago,
    current,
    execution_name,
    paint,
    phase_colour,
    recorded,
    running,
    table,
)

HISTORY_SHOWN = 5


def console_link(arn: str) -> str:
    """The Step Functions console page of an execution (standard AWS partition)."""
    region = arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{arn}"
    )


def advice(error: Mapping[str, Any], target: str) -> str:
    """What the operator can do about the status's last error."""
    code = str(error.get("code") or "")
    again = f"then run: fleetwise-reconciler reconcile {target}"
    if code == "AccessDeniedException":
        return (
            "the reconciler's role lacks a permission IoT FleetWise needs (the message names "
            f"it): grant it (redeploy the stack if its template lacks it), {again}"
        )
    if code == "ValidationException":
        return f"IoT FleetWise refused the request: correct the spec (apply -f or set), {again}"
    if code in ("RegistrationTimedOut", "PollAttemptsExhausted"):
        return (
            "the registration stayed pending past the budget; the next drift check tries "
            "again, or check the account in the IoT FleetWise console and " + again[5:]
        )
    if code.startswith("Execution") or str(error.get("operation")) == "ReconcileWorkflow":
        return (
            "the run ended without recording an outcome (see the execution below); the next "
            f"drift check tries again, or {again[5:]}"
        )
    if error.get("retryable"):
        return "transient: the next run or drift check retries on its own"
    return f"not retried on its own: fix the cause, {again}"


def detail(
    state: TargetState,
    now: datetime,
    *,
    execution: Mapping[str, Any] | None,
    colour: bool,
) -> list[str]:
    """``status TARGET`` for people."""
    status = state.status or {}
    lines = [f"target:     {state.target}"]
    if not recorded(status):
        lines.append("phase:      nothing recorded yet (no run has finished for this target)")
    else:
        phase = paint(str(status.get("phase")), phase_colour(status.get("phase")), colour=colour)
        lines.append(f"phase:      {phase} ({status.get('reason')})")
        lines.append(f"message:    {status.get('message')}")
    lines.append(f"spec:       {_spec_line(state.spec)}")
    lines.append(f"current:    {_current_line(state)}")
    if recorded(status):
        lines.append(
            f"updated:    {status.get('updatedAt')} ({ago(now, status.get('updatedAt'))} ago)"
        )
    run = running(state, now)
    lines.append(f"running:    {execution_name(run) if run else 'no run holds the target'}")
    conditions = status.get("conditions") or []
    if conditions:
        lines += ["", "conditions:"]
        rows = [
            (
                str(c.get("type")),
                str(c.get("status")),
                str(c.get("reason")),
                ago(now, c.get("lastTransitionTime")),
                str(c.get("message")),
            )
            for c in conditions
        ]
        lines += [
            "  " + text for text in table(("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"), rows)
        ]
    observed = status.get("observed")
    if observed:
        lines += ["", *_observed_lines(observed)]
    error = status.get("lastError")
    if error:
        retry = "retryable" if error.get("retryable") else "not retryable"
        lines += [
            "",
            f"last error: {error.get('code')} in {error.get('operation')} ({retry}, "
            f"{error.get('at')})",
            f"  {error.get('message')}",
            f"  what to do: {advice(error, state.target)}",
        ]
    entries = status.get("history") or []
    if entries:
        lines += [
            "",
            f"history (newest first, {min(len(entries), HISTORY_SHOWN)} of {len(entries)}):",
        ]
        lines += ["  " + text for text in history_table(entries[:HISTORY_SHOWN])]
    if execution is not None:
        lines += ["", *_execution_lines(execution)]
    elif status.get("lastExecutionArn"):
        arn = str(status["lastExecutionArn"])
        lines += ["", f"last execution: {execution_name(arn)}", f"  console: {console_link(arn)}"]
    return lines


def history_table(entries: list[Mapping[str, Any]]) -> list[str]:
    rows = [
        (
            str(e.get("at")),
            str(e.get("phase")),
            str(e.get("reason")),
            str(e.get("specHash") or "-"),
            execution_name(e.get("execution")),
        )
        for e in entries
    ]
    return table(("AT", "PHASE", "REASON", "SPEC", "EXECUTION"), rows)


def _spec_line(spec: Mapping[str, Any] | None) -> str:
    if spec is None:
        return "no spec item (deleted, or never written): the target is not managed"
    shown = {k: v for k, v in spec.items() if k != "target"}
    if not shown:
        return "defaults (mode cloudwatch, policy enforce, not paused)"
    return ", ".join(f"{k}={_value(v)}" for k, v in sorted(shown.items()))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_value(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def _current_line(state: TargetState) -> str:
    answer = current(state)
    if answer == "yes":
        return "yes: the status is about the item as it is now"
    if answer == "no":
        return (
            "no: the status is about an older version of the item "
            f"({(state.status or {}).get('specHash')}); a reconcile of the newer one is on its "
            "way, or did not run"
        )
    return "none: nothing recorded yet"


def _observed_lines(observed: Mapping[str, Any]) -> list[str]:
    if not observed.get("registered", True) or observed.get("accountStatus") is None:
        return [f"IoT FleetWise: not registered (observed {observed.get('observedAt')})"]
    lines = [
        f"IoT FleetWise: {observed.get('accountStatus')} (observed {observed.get('observedAt')})"
    ]
    iam = observed.get("iam") or {}
    if iam:
        lines.append(
            f"  iam:        {iam.get('registrationStatus')} role {iam.get('roleArn') or '-'}"
            + (f": {iam['errorMessage']}" if iam.get("errorMessage") else "")
        )
    timestream = observed.get("timestream") or {}
    if timestream:
        lines.append(
            f"  timestream: {timestream.get('registrationStatus')} "
            f"{timestream.get('databaseName')}/{timestream.get('tableName')}"
            + (f": {timestream['errorMessage']}" if timestream.get("errorMessage") else "")
        )
    return lines


def _execution_lines(execution: Mapping[str, Any]) -> list[str]:
    arn = str(execution["executionArn"])
    lines = [
        f"last execution: {execution_name(arn)} {execution.get('status')}",
        f"  started {execution.get('startDate')}"
        + (f", stopped {execution['stopDate']}" if execution.get("stopDate") else ""),
    ]
    if execution.get("error"):
        lines.append(f"  error: {execution.get('error')}: {execution.get('cause') or ''}".rstrip())
    lines.append(f"  console: {console_link(arn)}")
    return lines

"""Expectations of a scenario: what may be checked at its end, and the check itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.plan import Phase
from fleetwise_rehearsal.aws.alarm_monitor import pages
from fleetwise_rehearsal.rehearsal import Rehearsal
from fleetwise_rehearsal.rehearsal.core import item_of, plain
from fleetwise_rehearsal.scenarios.simulator_lines import fleetwise_model
from fleetwise_rehearsal.scenarios.values import (
    Problem,
    ScenarioError,
    TemplateFacts,
    check_key,
    check_target,
    default_template,
    suggest,
    template_facts,
)

EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
SECTIONS = ("targets", "calls", "executions", "alarms", "notifications", "invariants", "stacks")
# What the expectations of another stack of the scenario may check.
STACK_SECTIONS = ("targets", "alarms", "notifications")
TARGET_CHECKS = (
    "phase",
    "reason",
    "current",
    "lease",
    "attempts",
    "lastError",
    "messageContains",
    "calls",
)


@dataclass(frozen=True)
class Expectations:
    """What must hold at the end; any part left out is not checked.

    ``targets``: per target, None (no status recorded) or the checks among ``phase``,
    ``reason``, ``current`` (the status is about the item as it is now), ``lease``
    (``released``/``held``), ``attempts``, ``lastError`` (its code, None for none) and
    ``messageContains``. ``calls``: FleetWise requests per operation, every attempt and every
    target counted (per target: ``calls`` counts the requests made in the target's own
    account and Region). ``executions``: executions per status (and ``total``). ``alarms``: the
    exact set of template alarms (logical ids) in ALARM; an entry written as a mapping
    ``{Alarm: [target, ...]}`` also names the exact targets in ALARM among the alarm's
    contributors (an alarm on a Metrics Insights query grouped by target). ``invariants``:
    true to check the running invariants (``invariants.InvariantMonitor``: one acting run per
    target, bounded registrations, no status going back) after every step.
    ``notifications``: exactly the notifications the stack's alarms sent, in order, each
    ``(alarm, state, target)`` (target None for an alarm without contributors): every one
    naming a target, and every one of an alarm without contributors but each alarm's first
    (``alarm_monitor.pages``). ``stacks``: for another stack of the scenario, by name, its own
    ``targets``, ``alarms`` and ``notifications``."""

    targets: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    calls: Mapping[str, int] = field(default_factory=dict)
    executions: Mapping[str, int] = field(default_factory=dict)
    alarms: tuple[str, ...] | None = None
    invariants: bool = False
    contributors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notifications: tuple[tuple[str, str, str | None], ...] | None = None
    stacks: Mapping[str, Expectations] = field(default_factory=dict)


def parse_expectations(
    raw: Any, source: str = "scenario", facts: TemplateFacts | None = None
) -> Expectations:
    facts = facts or template_facts(default_template())

    def fail(where: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{source}: {where}: {problem}")

    if not isinstance(raw, dict):
        raise fail("expect", f"a mapping of {', '.join(SECTIONS)}")
    return _parse_sections(raw, facts, fail, sections=SECTIONS, at="expect")


def _parse_sections(
    raw: Mapping[str, Any],
    facts: TemplateFacts,
    fail: Any,
    *,
    sections: tuple[str, ...],
    at: str,
) -> Expectations:
    for key in raw:
        if key not in sections:
            raise fail(
                at,
                f"unknown key {key!r}{suggest(str(key), sections)} (it takes "
                f"{', '.join(sections)})",
            )
    targets: dict[str, Mapping[str, Any] | None] = {}
    for target, checks in _section(raw, "targets", fail).items():
        where = f"expect.targets[{target!r}]"
        try:
            check_key(target, "the target")
        except Problem as bad:
            raise fail(where, str(bad)) from None
        if checks is None:
            targets[target] = None
            continue
        if not isinstance(checks, dict):
            raise fail(where, "a mapping of checks, or null for 'no status recorded'")
        for key, value in checks.items():
            problem = _target_check_problem(key, value)
            if problem:
                raise fail(where, problem)
        parsed = dict(checks)
        if "calls" in checks:
            parsed["calls"] = _counts(
                _section(checks, "calls", fail),
                f"{where}.calls",
                fail,
                list(fleetwise_model().operation_names),
                "an IoT FleetWise operation",
            )
        targets[target] = parsed
    calls = _counts(
        _section(raw, "calls", fail),
        "expect.calls",
        fail,
        list(fleetwise_model().operation_names),
        "an IoT FleetWise operation",
    )
    executions = _counts(
        _section(raw, "executions", fail),
        "expect.executions",
        fail,
        [*EXECUTION_STATUSES, "total"],
        f"an execution status ({', '.join(EXECUTION_STATUSES)}) or total",
    )
    alarms = raw.get("alarms")
    contributors: dict[str, tuple[str, ...]] = {}
    if alarms is not None:
        shape = "a list of alarm logical ids (empty: none in ALARM), each id or {id: [targets]}"
        if not isinstance(alarms, list):
            raise fail("expect.alarms", shape)
        names = []
        for entry in alarms:
            alarm_id = entry
            if isinstance(entry, dict) and len(entry) == 1:
                [(alarm_id, listed)] = entry.items()
                if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
                    raise fail(f"expect.alarms.{alarm_id}", "a list of the targets in ALARM")
                contributors[str(alarm_id)] = tuple(sorted(listed))
            if not isinstance(alarm_id, str):
                raise fail("expect.alarms", shape)
            names.append(alarm_id)
        alarms = names
        for alarm in alarms:
            if alarm not in facts.alarms:
                raise fail(
                    "expect.alarms",
                    f"{alarm!r} is not an alarm of {facts.name}"
                    f"{suggest(alarm, sorted(facts.alarms))}",
                )
        alarms = tuple(sorted(set(alarms)))
    invariants = raw.get("invariants", False)
    if not isinstance(invariants, bool):
        raise fail("expect.invariants", f"true or false, not {invariants!r}")
    notifications = _notifications(raw.get("notifications"), f"{at}.notifications", facts, fail)
    stacks: dict[str, Expectations] = {}
    for name, nested in _section(raw, "stacks", fail).items():
        where = f"expect.stacks.{name}"
        if not isinstance(nested, dict):
            raise fail(where, f"a mapping of {', '.join(STACK_SECTIONS)}")
        stacks[str(name)] = _parse_sections(nested, facts, fail, sections=STACK_SECTIONS, at=where)
    return Expectations(
        targets, calls, executions, alarms, invariants, contributors, notifications, stacks
    )


def _notifications(
    raw: Any, where: str, facts: TemplateFacts, fail: Any
) -> tuple[tuple[str, str, str | None], ...] | None:
    if raw is None:
        return None
    shape = "a list of {alarm, state, target} (target left out for an alarm without contributors)"
    if not isinstance(raw, list):
        raise fail(where, shape)
    out = []
    for entry in raw:
        if (
            not isinstance(entry, dict)
            or not {"alarm", "state"} <= set(entry)
            or set(entry)
            - {
                "alarm",
                "state",
                "target",
            }
        ):
            raise fail(where, f"{entry!r}: {shape}")
        alarm, state, target = entry["alarm"], entry["state"], entry.get("target")
        if alarm not in facts.alarms:
            known = suggest(str(alarm), sorted(facts.alarms))
            raise fail(where, f"{alarm!r} is not an alarm of {facts.name}{known}")
        if state not in ALARM_STATES:
            raise fail(where, f"'state' is one of {', '.join(ALARM_STATES)}, not {state!r}")
        if target is not None:
            try:
                check_target(target, "the target")
            except Problem as bad:
                raise fail(where, str(bad)) from None
        out.append((str(alarm), str(state), None if target is None else str(target)))
    return tuple(out)


def _section(raw: Mapping[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"expect.{key}", "must be a mapping")
    return value


def _counts(
    section: Mapping[str, Any], where: str, fail: Any, names: list[str], what: str
) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, count in section.items():
        if name not in names:
            raise fail(where, f"{name!r} is not {what}{suggest(str(name), names)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise fail(where, f"{name}: a count (a whole number), not {count!r}")
        out[name] = count
    return out


def _target_check_problem(key: Any, value: Any) -> str | None:
    if key not in TARGET_CHECKS:
        return (
            f"unknown check {key!r}{suggest(str(key), TARGET_CHECKS)} (it takes "
            + ", ".join(TARGET_CHECKS)
            + ")"
        )
    if key == "phase" and value not in [p.value for p in Phase]:
        return f"'phase' is one of {', '.join(p.value for p in Phase)}, not {value!r}"
    if key in ("reason", "messageContains") and not isinstance(value, str):
        return f"{key!r} is text, not {value!r}"
    if key == "current" and not isinstance(value, bool):
        return f"'current' is true or false, not {value!r}"
    if key == "lease" and value not in ("released", "held"):
        return f"'lease' is released or held, not {value!r}"
    if key == "attempts" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        return f"'attempts' is a count, not {value!r}"
    if key == "lastError" and value is not None and not isinstance(value, str):
        return f"'lastError' is an error code, or null for none, not {value!r}"
    if key == "calls" and not isinstance(value, dict):
        return f"'calls' is a mapping of IoT FleetWise operations to counts, not {value!r}"
    return None


# -- checking ---------------------------------------------------------------------------------


def check_expectations(rehearsal: Rehearsal, expectations: Expectations) -> list[str]:
    """Every expectation that does not hold now, as one human-readable line each."""
    failures: list[str] = []
    for target, checks in expectations.targets.items():
        failures.extend(_check_target(rehearsal, target, checks))
    if expectations.calls:
        calls = rehearsal.fleetwise_calls()
        for operation, count in expectations.calls.items():
            if calls.get(operation, 0) != count:
                failures.append(
                    f"calls: {operation} was called {calls.get(operation, 0)} time(s), "
                    f"expected {count}"
                )
    if expectations.executions:
        statuses = [e.status for e in rehearsal.executions()]
        for status, count in expectations.executions.items():
            found = len(statuses) if status == "total" else statuses.count(status)
            if found != count:
                failures.append(f"executions: {found} {status}, expected {count}")
    if expectations.alarms is not None:
        firing = sorted(rehearsal.alarms_in_alarm())
        wanted = list(expectations.alarms)
        if firing != wanted:
            failures.append(f"alarms: in ALARM {firing or 'none'}, expected {wanted or 'none'}")
    if expectations.contributors:
        states = rehearsal.alarm_states()
        for alarm, targets in expectations.contributors.items():
            named = sorted(states[alarm].in_alarm("target"))
            if named != list(targets):
                failures.append(
                    f"alarms: {alarm} has {named or 'no'} target(s) in ALARM, "
                    f"expected {list(targets) or 'none'}"
                )
    if expectations.notifications is not None:
        sent = [(n.alarm, n.state, n.value("target")) for n in pages(rehearsal.alarm_monitor())]
        if sent != list(expectations.notifications):
            failures.append(
                f"notifications: sent {_listed(sent)}, expected "
                f"{_listed(list(expectations.notifications))}"
            )
    for name, nested in expectations.stacks.items():
        stacks = {r.stack.name: r for r in rehearsal.stacks()}
        if name not in stacks:
            failures.append(f"stacks: no stack {name!r} was deployed")
            continue
        failures += [f"{name}: {f}" for f in check_expectations(stacks[name], nested)]
    return failures


def _listed(notifications: list[tuple[str, str, str | None]]) -> str:
    if not notifications:
        return "none"
    return "; ".join(
        f"{alarm} {state}" + (f" {target}" if target else "")
        for alarm, state, target in notifications
    )


def _check_target(rehearsal: Rehearsal, target: str, checks: Mapping[str, Any] | None) -> list[str]:
    status = rehearsal.status(target)
    if checks is None:
        if status is None:
            return []
        return [f"{target}: expected no status, found phase {status.get('phase')}"]
    if status is None:
        return [f"{target}: no status recorded"]
    failures: list[str] = []
    found: dict[str, Any] = {
        "phase": status.get("phase"),
        "reason": status.get("reason"),
        "attempts": (status.get("attempts") or {}).get("count", 0),
        "lastError": (status.get("lastError") or {}).get("code"),
    }
    for key in ("phase", "reason", "attempts", "lastError"):
        if key in checks and found[key] != checks[key]:
            failures.append(f"{target}: {key} is {found[key]!r}, expected {checks[key]!r}")
    if "messageContains" in checks and checks["messageContains"] not in str(
        status.get("message") or ""
    ):
        failures.append(
            f"{target}: message {status.get('message')!r} does not contain "
            f"{checks['messageContains']!r}"
        )
    if "current" in checks:
        current, why = _is_current(rehearsal, target, status)
        if current != checks["current"]:
            failures.append(f"{target}: current is {current} ({why}), expected {checks['current']}")
    if "calls" in checks:
        failures.extend(_check_target_calls(rehearsal, target, checks["calls"]))
    if "lease" in checks:
        lease = rehearsal.lease(target)
        state = "released" if lease is None else "held"
        if state != checks["lease"]:
            holder = "" if lease is None else f" by {str(lease.get('holder')).rsplit(':', 1)[-1]}"
            failures.append(f"{target}: lease is {state}{holder}, expected {checks['lease']}")
    return failures


def _check_target_calls(rehearsal: Rehearsal, target: str, wanted: Mapping[str, int]) -> list[str]:
    """The requests made in the target's own account and Region, per operation."""
    if rehearsal.sim is None:
        return []  # an external endpoint keeps its own log
    account, _, region = target.partition(":")
    calls = rehearsal.sim.calls(account=account, region=region)
    failures = []
    for operation, count in wanted.items():
        found = sum(1 for c in calls if c.operation == operation)
        if found != count:
            failures.append(
                f"{target}: {operation} was called {found} time(s) in {region}, expected {count}"
            )
    return failures


def _is_current(rehearsal: Rehearsal, target: str, status: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the status is about the item as it is now (for a deleted item: whether the
    status no longer claims a spec version)."""
    answer = rehearsal.client("dynamodb").get_item(
        TableName=rehearsal.stack.physical_id("SpecTable"),
        Key={"target": {"S": target}},
        ConsistentRead=True,
    )
    recorded = status.get("specHash") or ""
    raw = answer.get("Item")
    if raw is None:
        return not recorded, f"no item; the status claims spec {recorded or 'none'}"
    wanted = spec_hash(plain(item_of(raw)))
    return (
        recorded == wanted,
        f"the item is spec {wanted}, the status is about {recorded or 'none'}",
    )

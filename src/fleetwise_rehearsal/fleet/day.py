"""A day in the life of two stacks: every kind of trouble appears and is fixed at known times,
and every alarm is watched every minute, as CloudWatch evaluates it.

``day_plan`` (24 virtual hours, the template's defaults) and ``short_plan`` (about seven,
cadence of the production configuration) script a small fleet in two hub stacks side by side in
one account and Region: one target of each kind of trouble (an invalid item, a registration
refused for good, a drift nothing repairs, a migration blocked by campaigns, a member whose role
trusts another hub, the hub's own target answered AccessDenied, registrations that spend their
attempts, a drift checker that stops), each one appearing and fixed at a known moment, and a
failing target in the second stack. ``run_day`` rehearses it: the stacks' schedules tick at
their rate within their flexible window, the plan's steps act at their moments, and afterwards
each stack's ``AlarmMonitor`` has sampled every alarm at every minute since its deploy.

``score`` compares what the alarms did with what was true (the plan's ``Trouble`` intervals):
for each alarm and each contributor (target), the incidents, the ALARM and OK notifications,
the minutes from the trouble to its first notification, and the minutes the alarm was in a
wrong state (ALARM while nothing was wrong, OK while something was); a wrong minute within one
drift interval (DriftCheckRateMinutes + DriftCheckWindowMinutes: the longest a change waits
for the check that sees it) after the truth changed is *late*, any other is *beyond*. The
goals (``goals``): exactly one ALARM and one OK notification per incident, each naming its
target, and no minute beyond.

Why one module: the plan, its rehearsal and its score share the plan's vocabulary (stacks,
targets, troubles, moments); apart, each would be a third of a story.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from fleetwise_rehearsal.aws import clients
from fleetwise_rehearsal.aws.alarm_monitor import AlarmMonitor, Notification
from fleetwise_rehearsal.aws.alarms import ALARM, INSUFFICIENT_DATA, OK, MetricStore
from fleetwise_rehearsal.fleetwise import Campaign, Outcome
from fleetwise_rehearsal.rehearsal import Rehearsal

HOUR = 3600.0
MINUTE = 60.0
PRIMARY = "fleetwise-reconciler"
SECOND = "fleetwise-reconciler-b"
HUB = "123456789012"
MEMBER_ROLE = "FleetWiseReconcilerMember"
# A principal of another hub: a member role that trusts it refuses this stack's AssumeRole.
ANOTHER_HUB = "arn:aws:iam::999999999999:root"

Action = Callable[[dict[str, Rehearsal]], None]


@dataclass(frozen=True)
class Trouble:
    """One incident the plan causes: in ``stack``, ``target`` is in trouble that ``alarm``
    watches from ``start`` to ``end`` (seconds after the day's start). A trouble that is
    true only once IoT FleetWise has failed ``registrations`` RegisterAccount calls after
    ``start`` (each failing ``pending`` seconds after it was made) starts then: the
    simulator's log says when."""

    kind: str
    stack: str
    alarm: str
    target: str
    start: float
    end: float
    registrations: int = 0
    pending: float = 0.0


@dataclass(frozen=True)
class Step:
    """Something the plan does at ``at`` seconds after the deploy."""

    at: float
    what: str
    act: Action


@dataclass
class Plan:
    """A day: its length, the stacks' parameters, their targets at the start, the steps, the
    troubles they cause, and when each stack's schedule is off (``(stack, from, to)``)."""

    hours: float
    parameters: dict[str, str]
    targets: dict[str, list[dict[str, Any]]]
    steps: list[Step]
    troubles: list[Trouble]
    silent: list[tuple[str, float, float]] = field(default_factory=list)
    # Accounts and Regions registered out of band before the day (observe-only targets).
    registered: list[str] = field(default_factory=list)
    seed: int = 7

    @property
    def rate(self) -> float:
        return float(self.parameters.get("DriftCheckRateMinutes", "15")) * MINUTE

    @property
    def window(self) -> float:
        return float(self.parameters.get("DriftCheckWindowMinutes", "5")) * MINUTE

    @property
    def interval(self) -> float:
        """One drift interval: the longest time between two checks."""
        return self.rate + self.window


# -- what the steps do ------------------------------------------------------------------------


def write(stack: str, item: dict[str, Any]) -> Action:
    return lambda s: s[stack].write_spec(item)


def patch(stack: str, target: str, **attributes: Any) -> Action:
    return lambda s: s[stack].update_spec(target, **attributes)


def simulate(target: str, verb: str, *args: Any, **kwargs: Any) -> Action:
    account, _, region = target.partition(":")

    def act(s: dict[str, Rehearsal]) -> None:
        sim = s[PRIMARY].sim
        if sim is None:
            raise RuntimeError("the day needs the built-in IoT FleetWise simulator")
        getattr(sim, verb)(*args, region=region, account=account, **kwargs)

    return act


# The trust policy each member role had before ``trust`` changed it.
_KEPT_TRUST: dict[str, str] = {}


def trust(account: str, principal: str | None) -> Action:
    """The member role of ``account`` trusts ``principal`` (None: back to what it trusted)."""
    kept = _KEPT_TRUST

    def act(s: dict[str, Rehearsal]) -> None:
        iam = clients.client("iam", s[PRIMARY].region, account=account)
        if principal is None:
            document = kept.pop(account)
        else:
            role = iam.get_role(RoleName=MEMBER_ROLE)["Role"]
            original = role["AssumeRolePolicyDocument"]
            kept[account] = original if isinstance(original, str) else json.dumps(original)
            document = json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": principal},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            )
        iam.update_assume_role_policy(RoleName=MEMBER_ROLE, PolicyDocument=document)

    return act


def _steps(*steps: tuple[float, str, Action]) -> list[Step]:
    return [Step(at, what, act) for at, what, act in steps]


# -- the plans ----------------------------------------------------------------------------------


def _plan(hours: float, parameters: dict[str, str], t: Callable[[float], float],
          drift_grace: float) -> Plan:  # fmt: skip
    """The day's story, with its moments given by ``t`` (hours of the full day -> seconds)."""
    healthy = f"{HUB}:us-east-1"
    invalid = f"{HUB}:eu-central-1"
    drifted = "222222222222:us-east-1"
    failing = "222222222222:eu-central-1"
    blocked = "333333333333:us-east-1"
    unobserved = "444444444444:us-east-1"
    exhausted = "555555555555:us-east-1"
    second_healthy = "666666666666:us-east-1"
    second_failing = f"{HUB}:ap-south-1"
    refuse = {"operation": "RegisterAccount", "code": "AccessDeniedException"}
    a, b = PRIMARY, SECOND
    steps = _steps(
        (t(1), "an operator writes an item with an unknown field",
         patch(a, invalid, colour="blue")),
        (t(2), "a target is added whose account refuses RegisterAccount",
         simulate(failing, "fail_next", refuse["operation"], refuse["code"], "denied by an SCP")),
        (t(2), "", write(a, {"target": failing})),
        (t(3), "the observe-only target's registration is removed out of band",
         simulate(drifted, "forget_registration")),
        (t(4), "Timestream metadata is attached and a campaign sends to it",
         simulate(blocked, "attach_timestream", "fleet", "signals",
                  "arn:aws:iam::333333333333:role/FleetWiseTimestream")),
        (t(4), "", simulate(blocked, "set_campaigns", [_campaign("to-timestream")])),
        (t(5), "the item is corrected", patch(a, invalid, colour=None)),
        (t(6), "the permission is granted; reconcile now", patch(a, failing, reconcileToken="6")),
        (t(7), "the campaign is deleted; reconcile now", simulate(blocked, "set_campaigns", [])),
        (t(7), "", patch(a, blocked, reconcileToken="7")),
        (t(8), "the account is registered again out of band",
         simulate(drifted, "set_account_status", "REGISTRATION_SUCCESS")),
        (t(9), "the member role is redeployed trusting another hub",
         trust("444444444444", ANOTHER_HUB)),
        (t(11), "a target is added whose registrations keep failing",
         simulate(exhausted, "script_registrations", [_failure()] * 5)),
        (t(11), "", write(a, {"target": exhausted})),
        (t(12), "the member role trusts this hub again", trust("444444444444", None)),
        (t(13), "IoT FleetWise refuses the hub's own GetRegisterAccountStatus",
         simulate(healthy, "fail_next", "GetRegisterAccountStatus", "AccessDeniedException",
                  "no identity-based policy allows it", times=100_000)),
        (t(15), "the permission is back", simulate(healthy, "clear_faults")),
        (t(15), "the cause is fixed; reconcile now", patch(a, exhausted, reconcileToken="15")),
        (t(19), "the second stack gets a target whose RegisterAccount is refused",
         simulate(second_failing, "fail_next", refuse["operation"], refuse["code"], "denied")),
        (t(19), "", write(b, {"target": second_failing})),
        (t(22), "the permission is granted; reconcile now",
         patch(b, second_failing, reconcileToken="22")),
    )  # fmt: skip
    troubles = [
        Trouble("invalid item", a, "InvalidSpecAlarm", invalid, t(1), t(5)),
        Trouble("refused for good", a, "RegistrationFailedAlarm", failing, t(2), t(6)),
        Trouble("drift nothing repairs", a, "DriftPersistsAlarm", drifted,
                t(3) + drift_grace, t(8)),
        Trouble("blocked migration", a, "RegistrationBlockedAlarm", blocked, t(4), t(7)),
        Trouble("member trusts another hub", a, "TargetUnobservedAlarm", unobserved,
                t(9), t(12)),
        Trouble("attempts spent", a, "RegistrationFailedAlarm", exhausted, t(11), t(15),
                registrations=5, pending=60),
        Trouble("hub's own status refused", a, "TargetUnobservedAlarm", healthy, t(13), t(15)),
        Trouble("refused, second stack", b, "RegistrationFailedAlarm", second_failing,
                t(19), t(22)),
    ]  # fmt: skip
    targets = {
        a: [{"target": healthy}, {"target": invalid}, {"target": blocked},
            {"target": drifted, "policy": "observe-only"}, {"target": unobserved}],
        b: [{"target": second_healthy}],
    }  # fmt: skip
    return Plan(
        hours=hours,
        parameters=parameters,
        targets=targets,
        steps=steps,
        troubles=troubles,
        silent=[(a, t(17), t(18))],
        registered=[drifted],
    )


def _campaign(name: str) -> Campaign:
    return Campaign(name=name)


def _failure() -> Outcome:
    return Outcome(pending_seconds=60, result="FAILURE")


def day_plan() -> Plan:
    """24 virtual hours with the template's defaults (checks every 15 minutes in a 5-minute
    window, 30-minute health periods, a drift alarmed after 90 minutes)."""
    return _plan(24.0, {}, lambda h: h * HOUR, drift_grace=3 * 1800)


def short_plan() -> Plan:
    """The same story in about seven virtual hours, at the production configuration's cadence
    (checks every 5 minutes in a 2-minute window, 15-minute health periods, a drift alarmed
    after 30 minutes): each hour of the day is a quarter of an hour here, the troubles last
    an hour or more."""
    parameters = {
        "DriftCheckRateMinutes": "5",
        "DriftCheckWindowMinutes": "2",
        "HealthAlarmPeriodSeconds": "900",
        "UnhealthyEvaluationPeriods": "2",
        "DriftAlarmPeriods": "2",
        "FailureAlarmPeriodSeconds": "60",
    }
    return _plan(7.0, parameters, lambda h: h * 0.25 * HOUR + 0.5 * HOUR, drift_grace=2 * 900)


# -- the rehearsal ------------------------------------------------------------------------------


@dataclass
class Day:
    """What a rehearsed day left: each stack's monitor, its ticks, the RegisterAccount calls
    (target, when) IoT FleetWise received, and the plan."""

    plan: Plan
    monitors: dict[str, AlarmMonitor]
    ticks: dict[str, list[float]]
    start: float
    registrations: list[tuple[str, float]] = field(default_factory=list)
    # Every datapoint of the day, and when the stacks were deployed: enough to watch the
    # alarms again under another assumption (``rewatch``).
    store: MetricStore | None = None
    deployed: dict[str, float] = field(default_factory=dict)

    def rewatch(self, extra_periods: int) -> Day:
        """The same day with every alarm watched again, CloudWatch's evaluation range taken
        ``extra_periods`` periods past the evaluated ones (AWS documents it by example only)."""
        if self.store is None:
            raise ValueError("this day kept no datapoints")
        monitors = {}
        for name, monitor in self.monitors.items():
            again = AlarmMonitor(monitor.alarms, self.deployed[name], extra_periods)
            again.advance(self.store, self.start + self.plan.hours * HOUR)
            monitors[name] = again
        return replace(self, monitors=monitors)


def _ticks(plan: Plan, stack: str, rng: random.Random) -> list[float]:
    """When the stack's schedule fires: every rate, at a whole minute within the flexible
    window after the scheduled time, except while the plan has it off."""
    out = []
    at = plan.rate
    while at <= plan.hours * HOUR:
        fired = at + rng.randrange(int(plan.window // MINUTE)) * MINUTE
        if fired <= plan.hours * HOUR and not any(
            s == stack and start <= fired < end for s, start, end in plan.silent
        ):
            out.append(fired)
        at += plan.rate
    return out


def run_day(plan: Plan) -> Day:
    """Rehearse ``plan`` (see the module docstring)."""
    members = {"222222222222", "333333333333", "444444444444", "555555555555"}
    parameters = {
        "ManageDefaultTarget": "false",
        "MemberAccountIds": ",".join(sorted(members)),
        **plan.parameters,
    }
    rng = random.Random(plan.seed)  # noqa: S311 - where in its window a tick falls, seeded
    with Rehearsal(
        parameters, seed=plan.seed, member_accounts={m: {} for m in sorted(members)}
    ) as primary:
        second = primary.add_stack(
            SECOND,
            {"ManageDefaultTarget": "false", "MemberAccountIds": "666666666666", **plan.parameters},
        )
        primary.deploy_member("666666666666", {"HubStackName": SECOND})
        stacks = {PRIMARY: primary, SECOND: second}
        for target in plan.registered:
            simulate(target, "set_account_status", "REGISTRATION_SUCCESS")(stacks)
        primary.clock.auto_advance = False
        for name, items in plan.targets.items():
            for item in items:
                stacks[name].write_spec(item)
        primary.run_until(None)
        # The day starts once the first registrations settled, at the next whole minute.
        start = (primary.clock.time() // MINUTE + 1) * MINUTE
        ticks = {name: _ticks(plan, name, rng) for name in stacks}
        moments: list[tuple[float, int, Action]] = [
            (start + s.at, 0, s.act) for s in plan.steps
        ] + [(start + at, 1, _tick(name)) for name, times in ticks.items() for at in times]
        for at, _order, act in sorted(moments, key=lambda m: (m[0], m[1])):
            primary.run_until(datetime.fromtimestamp(at, UTC))
            act(stacks)
            primary.metric_store()  # queue depths sampled as time goes
        end = start + plan.hours * HOUR
        primary.run_until(datetime.fromtimestamp(end, UTC))
        monitors = {name: r.alarm_monitor() for name, r in stacks.items()}
        calls = primary.sim.calls() if primary.sim is not None else []
        registrations = [
            (f"{c.account}:{c.region}", c.at) for c in calls if c.operation == "RegisterAccount"
        ]
        ticked = {k: [start + t for t in v] for k, v in ticks.items()}
        deployed = {name: r.deployed_at for name, r in stacks.items()}
        return Day(plan, monitors, ticked, start, registrations, primary.metric_store(), deployed)


def _tick(stack: str) -> Action:
    def act(stacks: dict[str, Rehearsal]) -> None:
        stacks[stack].tick()

    return act


# -- the score ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One alarm's, or one target's, day."""

    stack: str
    name: str
    incidents: int = 0
    alarms: int = 0
    oks: int = 0
    first: list[float] = field(default_factory=list)
    wrong: int = 0
    beyond: int = 0
    unnamed: int = 0
    per_incident: list[tuple[int, int]] = field(default_factory=list)

    @property
    def first_notice(self) -> str:
        return f"{max(self.first) / MINUTE:.0f}" if self.first else "-"


@dataclass
class Score:
    alarms: list[Row]
    targets: list[Row]
    interval: float

    def failures(self) -> list[str]:
        """Each way the day missed a goal (empty: every goal met)."""
        found = []
        for row in self.alarms + self.targets:
            where = f"{row.stack} {row.name}"
            if any(pair != (1, 1) for pair in row.per_incident):
                found.append(f"{where}: notifications per incident {row.per_incident}")
            if row.alarms != row.incidents or row.oks != row.incidents:
                found.append(
                    f"{where}: {row.incidents} incidents, {row.alarms} ALARM and {row.oks} OK "
                    "notifications"
                )
            if row.beyond:
                found.append(f"{where}: {row.beyond} minutes in a wrong state beyond one interval")
            if row.unnamed:
                found.append(f"{where}: {row.unnamed} incidents without a notification naming it")
        return found


def _truth(day: Day) -> dict[tuple[str, str, str | None], list[tuple[float, float]]]:
    """(stack, alarm, target or None) -> the intervals its condition held."""
    truth: dict[tuple[str, str, str | None], list[tuple[float, float]]] = {}
    for trouble in day.plan.troubles:
        key = (trouble.stack, trouble.alarm, trouble.target)
        start = day.start + trouble.start
        if trouble.registrations:
            made = [at for target, at in day.registrations
                    if target == trouble.target and at >= start]  # fmt: skip
            start = made[trouble.registrations - 1] + trouble.pending
        truth.setdefault(key, []).append((start, day.start + trouble.end))
    period = float(day.plan.parameters.get("HealthAlarmPeriodSeconds", "1800"))
    for stack, since, until in day.plan.silent:
        ticks = day.ticks[stack]
        last = max(t for t in ticks if t < day.start + since)
        after = min(t for t in ticks if t >= day.start + until)
        # Silent once a whole period has passed since the last check's minute; until the
        # next check's minute has passed (its heartbeat counts from the minute after).
        truth.setdefault((stack, "DriftCheckSilentAlarm", None), []).append(
            (last + period, after + MINUTE)
        )
    return truth


def _holds(intervals: Iterable[tuple[float, float]], at: float) -> bool:
    return any(start <= at < end for start, end in intervals)


def _excused(intervals: list[tuple[float, float]], at: float, interval: float) -> bool:
    """Whether a wrong state at ``at`` follows a change of the truth by at most one drift
    interval (plus the minute CloudWatch takes to evaluate)."""
    edges = [e for pair in intervals for e in pair]
    return any(0 <= at - edge <= interval + MINUTE for edge in edges)


def score(day: Day) -> Score:
    """Compare the day's alarms with its truth (see the module docstring)."""
    truth = _truth(day)
    interval = day.plan.interval
    alarm_rows: list[Row] = []
    target_rows: dict[tuple[str, str], Row] = {}
    for stack, monitor in sorted(day.monitors.items()):
        samples = [s for s in monitor.history if s.at > day.start]
        notes = [n for n in monitor.notifications if not _after_deploy(n, monitor)]
        targets = {str(dict(c)["target"]) for s in samples for cs in s.contributors.values()
                   for c in cs}  # fmt: skip
        targets |= {t for (st, _a, t) in truth if st == stack and t is not None}
        for name in sorted(targets):
            target_rows.setdefault((stack, name), Row(stack, name))
        for alarm in sorted(monitor.alarms):
            row = Row(stack, alarm)
            alarm_rows.append(row)
            keys: list[tuple[str, str, str | None]] = [(stack, alarm, None)]
            keys += [(stack, alarm, t) for t in sorted(targets)]
            for key in keys:
                target: str | None = key[2]
                intervals = sorted(truth.get(key, []))
                if target is None:
                    # the alarm as a whole: its truth is any contributor's (or its own)
                    intervals = sorted(
                        iv for k, ivs in truth.items() if k[:2] == (stack, alarm) for iv in ivs
                    )
                    states = [(s.at, s.states[alarm] == ALARM) for s in samples]
                else:
                    states = [
                        (s.at, any(dict(c).get("target") == target
                                   for c in s.contributors.get(alarm, ())))
                        for s in samples
                    ]  # fmt: skip
                mine = [n for n in notes if n.alarm == alarm and n.value("target") == target]
                _count(
                    row if target is None else target_rows[(stack, target)],
                    intervals=intervals,
                    states=states,
                    notes=mine,
                    interval=interval,
                    target=target,
                )
    return Score(alarm_rows, list(target_rows.values()), interval)


def _count(
    row: Row,
    *,
    intervals: list[tuple[float, float]],
    states: list[tuple[float, bool]],
    notes: list[Notification],
    interval: float,
    target: str | None,
) -> None:
    merged = _merge(intervals)
    wrong = beyond = 0
    for at, in_alarm in states:
        if in_alarm != _holds(merged, at):
            wrong += 1
            if not _excused(merged, at, interval):
                beyond += 1
    alarms = [n for n in notes if n.state == ALARM]
    oks = [n for n in notes if n.state == OK]
    for start, end in merged:
        row.incidents += 1
        fired = [n for n in alarms if start <= n.at <= end + interval + MINUTE]
        cleared = [n for n in oks if start < n.at <= end + interval + MINUTE]
        row.per_incident.append((len(fired), len(cleared)))
        if fired:
            row.first.append(fired[0].at - start)
        if target is not None and not any(n.value("target") == target for n in fired):
            row.unnamed += 1
    row.alarms += len(alarms)
    row.oks += len(oks)
    row.wrong += wrong
    row.beyond += beyond


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _after_deploy(note: Notification, monitor: AlarmMonitor) -> bool:
    """The first OK of a new alarm (from INSUFFICIENT_DATA): part of the deploy, no incident."""
    if note.contributor is not None or note.state != OK:
        return False
    before = [s for s in monitor.history if s.at < note.at]
    return not before or before[-1].states.get(note.alarm, INSUFFICIENT_DATA) == INSUFFICIENT_DATA


def table(score: Score) -> str:
    """The day's two tables, per alarm and per target, as Markdown."""
    head = (
        "| stack | {what} | incidents | ALARM notifications | OK notifications | "
        "minutes to first notification | minutes in a wrong state | beyond one interval |"
    )
    rule = "|---|---|---:|---:|---:|---:|---:|---:|"

    def rows(items: list[Row], keep: Callable[[Row], bool]) -> list[str]:
        return [
            f"| {r.stack} | {r.name} | {r.incidents} | {r.alarms} | {r.oks} | "
            f"{r.first_notice} | {r.wrong} | {r.beyond} |"
            for r in items
            if keep(r)
        ]

    quiet = [r for r in score.alarms if not (r.incidents or r.alarms or r.oks or r.wrong)]
    lines = [head.format(what="alarm"), rule]
    lines += rows(score.alarms, lambda r: bool(r.incidents or r.alarms or r.oks or r.wrong))
    lines.append(
        f"\n{len(quiet)} other alarms: no incident, no notification, never in a wrong state."
    )
    lines += ["", head.format(what="target"), rule, *rows(score.targets, lambda _r: True)]
    return "\n".join(lines)

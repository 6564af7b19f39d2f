"""Alarms watched minute by minute: their states, and the notifications CloudWatch would send.

CloudWatch evaluates an alarm every minute and runs its actions when the state changes ("Alarm
evaluation"; "Using Amazon CloudWatch alarms": an SNS action runs once per change, not again
while the state holds). An alarm on a Metrics Insights query with ``GROUP BY`` notifies for the
alarm as a whole and for each contributor ("Acting on alarm changes": SNS notifications at the
alarm level and at the contributor level), each contributor's naming its attributes (the
target). ``AlarmMonitor.sample`` evaluates every alarm of a stack at one minute and records:

- the alarm's state and its contributors in ALARM at that minute (``history``);
- a ``Notification`` for each change the alarm's actions cover: to ALARM (``AlarmActions``),
  to OK (``OKActions``), to INSUFFICIENT_DATA (``InsufficientDataActions``); for each
  contributor that enters ALARM, and for each that leaves it (to OK, or gone with its data).

Not documented by AWS, and so the rehearsal's own choices (docs/rehearsal.md): whether a
contributor that leaves ALARM because its series ended notifies as going OK (it does here),
and whether a contributor's first appearance in OK notifies (it does not here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetwise_rehearsal.aws.alarms import (
    ALARM,
    EXTRA_PERIODS,
    INSUFFICIENT_DATA,
    MINUTE,
    OK,
    Evaluation,
    MetricStore,
    evaluate,
    parse_query,
)

Attributes = tuple[tuple[str, str], ...]

_ACTIONS = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT_DATA: "InsufficientDataActions"}


@dataclass(frozen=True)
class Notification:
    """One notification an alarm's action sends: when, which alarm (logical id), the new
    state, the contributor it is about (None: the alarm as a whole), and the state before."""

    at: float
    alarm: str
    state: str
    contributor: Attributes | None = None
    previous: str | None = None

    def value(self, dimension: str) -> str | None:
        """The contributor's value of ``dimension`` (e.g. its target), if any."""
        return dict(self.contributor or ()).get(dimension)


@dataclass(frozen=True)
class Sample:
    """Every alarm's state at one minute, and the contributors each has in ALARM."""

    at: float
    states: dict[str, str]
    contributors: dict[str, frozenset[Attributes]]


@dataclass
class AlarmMonitor:
    """Evaluates ``alarms`` (logical id -> properties) every minute it is given; see the module
    docstring. ``created`` is when the alarms were created (their warm-up starts then)."""

    alarms: Mapping[str, Mapping[str, Any]]
    created: float
    extra_periods: int = EXTRA_PERIODS
    states: dict[str, str] = field(default_factory=dict)
    contributors: dict[str, frozenset[Attributes]] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    history: list[Sample] = field(default_factory=list)
    last: float | None = None

    def sample(self, store: MetricStore, at: float) -> dict[str, Evaluation]:
        """Evaluate every alarm at ``at`` and record what changed."""
        found: dict[str, Evaluation] = {}
        for logical_id, props in sorted(self.alarms.items()):
            previous = self.states.get(logical_id, INSUFFICIENT_DATA)
            evaluation = evaluate(
                logical_id,
                props,
                store,
                at,
                previous=previous,
                extra_periods=self.extra_periods,
                created=self.created,
            )
            found[logical_id] = evaluation
            if evaluation.state != previous and props.get(_ACTIONS[evaluation.state]):
                self.notifications.append(
                    Notification(at, logical_id, evaluation.state, None, previous)
                )
            self.states[logical_id] = evaluation.state
            now_in = frozenset(c.attributes for c in evaluation.contributors if c.state == ALARM)
            before = self.contributors.get(logical_id, frozenset())
            if props.get("AlarmActions"):
                self.notifications += [
                    Notification(at, logical_id, ALARM, c, OK) for c in sorted(now_in - before)
                ]
            if props.get("OKActions"):
                self.notifications += [
                    Notification(at, logical_id, OK, c, ALARM) for c in sorted(before - now_in)
                ]
            self.contributors[logical_id] = now_in
        self.history.append(Sample(at, dict(self.states), dict(self.contributors)))
        self.last = at
        return found

    def advance(self, store: MetricStore, now: float) -> None:
        """Sample every whole minute after the last one sampled, up to ``now``."""
        minute = (self.last + MINUTE) if self.last is not None else _ceil_minute(self.created)
        while minute <= now:
            self.sample(store, minute)
            minute += MINUTE


def groups_by_contributor(alarm: Mapping[str, Any]) -> bool:
    """Whether the alarm watches a Metrics Insights query with GROUP BY (its contributors
    notify on their own)."""
    for query in alarm.get("Metrics") or []:
        expression = str(query.get("Expression", ""))
        if expression.startswith("SELECT"):
            return bool(parse_query(expression).group_by)
    return False


def pages(monitor: AlarmMonitor) -> list[Notification]:
    """The notifications that tell someone something: every one about a contributor (it names
    the target), and every one of an alarm without contributors, except each alarm's first
    (INSUFFICIENT_DATA to OK, as a new alarm settles). The notification of a per-target alarm
    as a whole is left out: its contributors' say more."""
    return [
        n
        for n in monitor.notifications
        if n.contributor is not None
        or (
            not groups_by_contributor(monitor.alarms[n.alarm])
            and not (n.previous == INSUFFICIENT_DATA and n.state == OK)
        )
    ]


def _ceil_minute(moment: float) -> float:
    whole = (moment // MINUTE) * MINUTE
    return whole if whole == moment else whole + MINUTE

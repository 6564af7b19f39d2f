"""A day in the life of two stacks side by side (``fleetwise_rehearsal.fleet.day``): every kind
of trouble appears and is fixed at a known moment, every alarm is watched every minute, and
the day must meet the goals of invariant 19: exactly one ALARM and one OK notification per
incident, each naming its target, and no minute in a wrong state beyond one drift interval.

The default suite rehearses the short day (about seven virtual hours at the production
configuration's cadence, every kind of trouble); ``make day`` (and ``make bench``) the full 24
hours at the template's defaults."""

from __future__ import annotations

import pytest

from fleetwise_rehearsal.fleet import day

pytestmark = pytest.mark.e2e

KINDS = {
    "invalid item",
    "refused for good",
    "drift nothing repairs",
    "blocked migration",
    "member trusts another hub",
    "attempts spent",
    "hub's own status refused",
    "refused, second stack",
}


@pytest.fixture(scope="module")
def short_day() -> day.Day:
    return day.run_day(day.short_plan())


def _named(found: day.Day, stack: str) -> set[tuple[str, str]]:
    """(alarm, target) of every contributor notification of ``stack``'s alarms."""
    return {
        (n.alarm, str(n.value("target")))
        for n in found.monitors[stack].notifications
        if n.contributor is not None
    }


def test_the_short_day_covers_every_kind_of_trouble(short_day: day.Day) -> None:
    assert {t.kind for t in short_day.plan.troubles} == KINDS
    assert short_day.plan.silent  # and a drift checker that stops


def test_the_short_day_meets_the_goals(short_day: day.Day) -> None:
    # GIVEN the day rehearsed; WHEN scored against what was true minute by minute
    found = day.score(short_day)
    # THEN one ALARM and one OK notification per incident, each naming its target, no
    # minute in a wrong state beyond one drift interval
    assert found.failures() == []
    # AND every planned trouble was an incident of the alarm that names it, and of no other
    incidents = {(r.stack, r.name): r.incidents for r in found.targets}
    for trouble in short_day.plan.troubles:
        assert incidents[(trouble.stack, trouble.target)] >= 1, trouble.kind
    named = {(s, a, t) for s in short_day.monitors for a, t in _named(short_day, s)}
    assert named == {(t.stack, t.alarm, t.target) for t in short_day.plan.troubles}
    # AND the alarms were in a wrong state only while a change waited for its check
    assert sum(r.wrong for r in found.targets) > 0  # the lag exists, and is counted
    assert all(r.beyond == 0 for r in found.alarms + found.targets)


def test_two_stacks_side_by_side_never_see_each_others_targets_or_heartbeats(
    short_day: day.Day,
) -> None:
    first, second = day.PRIMARY, day.SECOND
    theirs = {t.target for t in short_day.plan.troubles if t.stack == second}
    ours = {t.target for t in short_day.plan.troubles if t.stack == first}
    # each stack's alarms name only its own targets
    assert {t for _a, t in _named(short_day, first)} == ours
    assert {t for _a, t in _named(short_day, second)} == theirs
    # AND the first stack's checker going silent alarms it although the second one ticks
    silent = [
        n
        for n in short_day.monitors[first].notifications
        if n.alarm == "DriftCheckSilentAlarm" and n.state == "ALARM"
    ]
    [(_stack, since, until)] = short_day.plan.silent
    assert len(silent) == 1
    assert any(short_day.start + since <= t < short_day.start + until
               for t in short_day.ticks[second])  # fmt: skip
    assert not [
        n
        for n in short_day.monitors[second].notifications
        if n.alarm == "DriftCheckSilentAlarm" and n.state == "ALARM"
    ]


@pytest.mark.parametrize("extra_periods", [0, 1, 5])
def test_the_goals_hold_whatever_the_length_of_cloudwatchs_evaluation_range(
    short_day: day.Day, extra_periods: int
) -> None:
    # AWS documents the evaluation range by example only (5 periods for an alarm of 3): the
    # product must not depend on it. The same datapoints, watched again.
    assert day.score(short_day.rewatch(extra_periods)).failures() == []


@pytest.mark.day
def test_the_full_day_meets_the_goals() -> None:
    found = day.run_day(day.day_plan())
    assert {t.kind for t in found.plan.troubles} == KINDS
    assert day.score(found).failures() == []
    for extra in (0, 5):
        assert day.score(found.rewatch(extra)).failures() == []

"""`make bench`, alarms section: a day in the life of two stacks, every alarm watched every minute.

Rehearses ``fleetwise_rehearsal.fleet.day``: 24 virtual hours at the template's defaults (or the
short day at the production cadence, ``--short``), one target of each kind of trouble appearing
and fixed at known times, two stacks side by side in one account and Region. Prints, per alarm
and per target: incidents, ALARM and OK notifications, the minutes from the trouble to its
first notification, the minutes in a wrong state (ALARM while nothing was wrong, OK while
something was) and how many of those came more than one drift interval after the truth
changed; then the goals (one ALARM and one OK notification per incident, each naming its
target, no minute beyond one interval), also with CloudWatch's evaluation range taken 0 and 5
periods long. The last line is `alarms: goals met` or `alarms: N goals missed`. Nothing here is
asserted on timing.

    python bench/bench_alarms.py [--short]
"""

from __future__ import annotations

import argparse
import sys
import time

from fleetwise_rehearsal.fleet import day


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the short day, not the full one")
    args = parser.parse_args(argv)
    plan = day.short_plan() if args.short else day.day_plan()
    started = time.perf_counter()
    found = day.run_day(plan)
    wall = time.perf_counter() - started
    scored = day.score(found)
    cadence = plan.parameters.get("DriftCheckRateMinutes", "15")
    window = plan.parameters.get("DriftCheckWindowMinutes", "5")
    print(
        f"## A day in the life: {plan.hours:g} virtual hours, two stacks, checks every "
        f"{cadence} minutes in a {window}-minute window (one drift interval: "
        f"{plan.interval / 60:g} minutes), rehearsed in {wall:.0f} s"
    )
    print()
    for trouble in plan.troubles:
        began = f"{trouble.start / 3600:g} h"
        if trouble.registrations:
            began = f"its registration {trouble.registrations} failing after {began}"
        print(
            f"- {trouble.kind}: {trouble.stack} {trouble.target}, {trouble.alarm}, "
            f"{began} to {trouble.end / 3600:g} h"
        )
    for stack, since, until in plan.silent:
        print(f"- drift checker stopped: {stack}, {since / 3600:g} h to {until / 3600:g} h")
    print()
    print(day.table(scored))
    print()
    missed = list(scored.failures())
    for extra in (0, 5):
        missed += [f"(range +{extra}) {f}" for f in day.score(found.rewatch(extra)).failures()]
    for failure in missed:
        print(f"missed: {failure}")
    print("alarms: goals met" if not missed else f"alarms: {len(missed)} goals missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

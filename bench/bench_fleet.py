"""`make bench`, fleet section: N targets rehearsed at scale, and what they cost a month.

For each N: the targets spread over ceil(N / 3) accounts (the hub and member accounts, the
member template deployed in each) and IoT FleetWise's three Regions, written at once, settled
on the virtual clock (every target Registered with exactly one RegisterAccount, or the bench
fails), then HOURS of drift ticks at the template's rate with nothing changing. Printed: the
wall times, the virtual time to converge, IoT FleetWise calls and state transitions per
target, the cost per target per month (what N targets add to the idle stack, the steady state
scaled to 730 hours, priced from fleet/prices.py), the idle stack's monthly cost, the wall-time
growth, the quotas checked, and which series dominate the cost. Nothing here is asserted on
timing.

Then the drift tick at each size, and at the ``--written`` sizes (10,000 by default: targets
beyond the hub's and one member account's are written as that rollout left them, since a
rollout of 10,000 takes hours here; rehearse_fleet says why the tick cannot tell): wall time
per target and tick, AssumeRole per tick beside the member-account count (it may not exceed
it: each account's role once, then reused across ticks while its credentials last), status
reads per target per tick, and the drift check's invocations and handler errors per tick.

    python bench/bench_fleet.py [N ...] [--hours H] [--written N ...]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Sequence

from fleetwise_rehearsal.fleet import cost as fleet_cost
from fleetwise_rehearsal.fleet.driver import FLEETWISE_REGIONS, FleetReport, rehearse_fleet
from fleetwise_rehearsal.fleet.prices import READ_ON

SIZES = (1, 10, 100, 1000)
HOURS = 2
WRITTEN = (10000,)


def accounts_for(n: int) -> int:
    """Accounts for ``n`` targets over the three Regions (a target is an account and a Region)."""
    return max(1, math.ceil(n / len(FLEETWISE_REGIONS)))


def per_target(value: float, n: int) -> float:
    return value / n if n else 0.0


def row(report: FleetReport, idle: FleetReport) -> str:
    n = report.n
    ticks = report.steady.hours * 60 / report.drift_rate_minutes
    rollout_calls = per_target(sum(report.rollout.fleetwise.values()), n)
    steady_calls = per_target(sum(report.steady.fleetwise.values()), n) / ticks
    transitions = per_target(report.rollout.state_transitions, n)
    cost = fleet_cost.per_target(report, idle)
    return (
        f"  {n:>5} {report.accounts:>5} {len(report.regions):>3} "
        f"{report.wall_deploy:>8.1f} {report.wall_rollout:>8.1f} {report.wall_steady:>8.1f} "
        f"{report.converge_seconds:>9.1f} {rollout_calls:>9.1f} {steady_calls:>8.2f} "
        f"{transitions:>8.1f} {cost:>10.4f}"
    )


def print_cost_table(report: FleetReport, idle: FleetReport) -> None:
    lines = fleet_cost.report_cost(report)
    idle_lines = {line.part: line for line in fleet_cost.report_cost(idle)}
    print(f"  {'part':<55} {'a month':>14} {'USD':>10} {'of which per target':>20}")
    for line in lines:
        base = idle_lines[line.part].usd
        print(
            f"  {line.part:<55} {line.quantity:>14,.2f} {line.usd:>10.4f} "
            f"{(line.usd - base) / report.n:>20.5f}"
        )
    print(f"  {'total':<55} {'':>14} {fleet_cost.total(lines):>10.2f}")


def print_details(report: FleetReport) -> None:
    steady, rollout = report.steady, report.rollout
    scale = 730 / steady.hours
    starts = rollout.api["stepfunctions:StartExecution"]
    print(
        f"  rollout: {sum(rollout.invocations.values())} Lambda invocations, "
        f"{rollout.executions} executions, StartExecution {starts}"
        f" (refused {rollout.start_execution_refused}, SDK retries "
        f"{rollout.start_execution_retries}; the documented bucket would refuse "
        f"{report.start_execution_peak_refusals}), AssumeRole {rollout.api['sts:AssumeRole']}"
    )
    print(
        f"  spec stream: {report.stream_records} records in {report.stream_batches} batches, "
        f"{report.stream_failed_batches} failed, {report.stream_on_failure} to the on-failure "
        f"queue; rollout writes {report.rollout_write_units:,.0f} WRU"
    )
    print("  steady state, per month:")
    for function, count in sorted(steady.invocations.items()):
        seconds = steady.invocation_seconds[function]
        print(
            f"    {function:<28} {count * scale:>12,.0f} invocations, "
            f"{seconds / count * 1000:>8.1f} ms each (in-process), "
            f"{report.memory_mb.get(function, 128)} MB"
        )
    for table, (reads, writes) in sorted(steady.dynamodb.items()):
        print(f"    {table:<28} {reads * scale:>12,.0f} RRU {writes * scale:>12,.0f} WRU")
    print(f"    {'STS AssumeRole':<28} {steady.api['sts:AssumeRole'] * scale:>12,.0f} calls")
    print(
        f"    {'log bytes (handlers + est.)':<28} {steady.log_bytes * scale:>12,.0f} bytes "
        f"({steady.log_lines * scale:,.0f} lines)"
    )
    series = len(steady.series_hours)
    print(
        f"    custom metric series: {series}, "
        f"{sum(steady.series_hours.values()) / steady.hours:,.1f} metric-months"
    )
    ticks = steady.hours * 60 / report.drift_rate_minutes
    checks = steady.invocations.get("DriftCheckFunction", 0)
    print(
        f"    drift check: {checks / ticks:,.1f} invocations per tick, at most "
        f"{steady.drift_check_max_targets:,} targets and "
        f"{steady.invocation_max_seconds.get('DriftCheckFunction', 0.0):.1f} s (in-process) each"
    )
    if steady.invocation_errors:
        print(f"    handler errors: {dict(steady.invocation_errors)}")


def tick_row(report: FleetReport) -> str:
    ticks = report.ticks
    members = report.accounts - 1
    wall = report.wall_steady / len(ticks) if ticks else 0.0
    assumed = [t.assume_role for t in ticks]
    reads = sum(t.status_reads for t in ticks) / len(ticks) / report.n if ticks else 0.0
    invocations = sum(t.invocations for t in ticks) / len(ticks) if ticks else 0.0
    errors = sum(t.errors for t in ticks)
    how = "written" if report.written else "rolled"
    return (
        f"  {report.n:>6} {how:>7} {members:>6} {wall:>8.1f} {wall / report.n * 1000:>8.2f} "
        f"{assumed[0] if assumed else 0:>7} {max(assumed, default=0):>7} "
        f"{sum(assumed) / max(1, len(assumed)):>7.1f} {reads:>8.3f} {invocations:>6.1f} "
        f"{errors:>6}"
    )


def print_tick_table(
    rolled: Sequence[FleetReport], written: Callable[[], Iterable[FleetReport]]
) -> None:
    print("Drift tick at scale (steady state; first tick in a cold environment)")
    print(
        f"  {'N':>6} {'targets':>7} {'member':>6} {'s/tick':>8} {'ms/t/tk':>8} "
        f"{'AR 1st':>7} {'AR max':>7} {'AR mean':>7} {'SR/t/tk':>8} {'inv/tk':>6} {'errors':>6}",
        flush=True,
    )
    for report in rolled:
        print(tick_row(report), flush=True)
    for report in written():
        print(tick_row(report), flush=True)
        if report.steady.executions or report.steady.invocation_errors:
            print(f"    steady runs {report.steady.executions}, errors "
                  f"{dict(report.steady.invocation_errors)}")  # fmt: skip
    print("  (member: member accounts; AR: AssumeRole per tick, never above the member")
    print("   accounts; SR/t/tk: status table items read per target per tick (a Scan's or")
    print("   Query's ScannedCount, a GetItem's 1, a BatchGetItem's keys; not read units);")
    print("   inv/tk: drift check")
    print("   invocations per tick; errors: drift check invocations that raised, all ticks)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--hours", type=int, default=HOURS)
    parser.add_argument("--written", nargs="*", type=int, default=list(WRITTEN))
    args = parser.parse_args(argv)
    sizes: list[int] = sorted(args.sizes)

    idle = rehearse_fleet(0, 1, hours=args.hours)
    rate = idle.drift_rate_minutes
    print(
        f"Fleet rehearsal: targets over ceil(N/3) accounts x {len(FLEETWISE_REGIONS)} Regions, "
        f"written at once; then {args.hours} h of drift ticks every {rate} min, scaled to 730 h"
    )
    source = "src/fleetwise_rehearsal/fleet/prices.py"
    print(f"  prices: us-east-1, read {READ_ON.isoformat()} ({source})")
    print(
        f"  idle stack (no target): ${fleet_cost.total(fleet_cost.report_cost(idle)):.2f} a month"
    )
    print(
        f"  {'N':>5} {'accts':>5} {'Rgn':>3} {'deploy s':>8} {'rollout':>8} {'steady':>8} "
        f"{'converge':>9} {'FW/target':>9} {'FW/t/tick':>8} {'SFN/tgt':>8} {'USD/tgt/mo':>10}",
        flush=True,
    )
    reports: dict[int, FleetReport] = {}
    for n in sizes:
        reports[n] = rehearse_fleet(n, accounts_for(n), hours=args.hours)
        print(row(reports[n], idle), flush=True)
    print("  (wall: seconds; converge: virtual seconds from the write to the last run's end;")
    print("   FW: IoT FleetWise calls in the rollout, and per target per steady tick;")
    print("   SFN: state transitions per target in the rollout)")

    print()
    print("Wall time growth (rollout + steady state, deploy excluded)")
    previous: FleetReport | None = None
    for n in sizes:
        report = reports[n]
        wall = report.wall_rollout + report.wall_steady
        line = f"  N={n:>5}: {wall:8.1f} s, {wall / n * 1000:7.1f} ms per target"
        if previous is not None:
            before = previous.wall_rollout + previous.wall_steady
            per_target = (wall / n) / (before / previous.n)
            line += (
                f"; x{wall / before:.1f} for x{n / previous.n:g} targets,"
                f" x{per_target:.2f} per target (aim <= 1.5x)"
            )
        print(line)
        previous = report

    smallest, largest = reports[sizes[0]], reports[sizes[-1]]
    print()
    print(f"Monthly cost at N={smallest.n}")
    print_cost_table(smallest, idle)
    print()
    print(f"Monthly cost at N={largest.n}")
    print_cost_table(largest, idle)
    print()
    print(
        f"Top 5 custom metric series by cost at N={largest.n} (of "
        f"{len(largest.steady.series_hours)})"
    )
    for series, usd in fleet_cost.top_series(largest.steady):
        print(f"  ${usd:.2f}/month  {series.label()}")
    print()
    print(f"Counts at N={largest.n} (RegisterAccount exactly 1 per target: checked)")
    print_details(largest)

    print()
    print_tick_table(
        [reports[n] for n in sizes],
        lambda: (rehearse_fleet(n, accounts_for(n), hours=1, written=True) for n in args.written),
    )


if __name__ == "__main__":
    main()

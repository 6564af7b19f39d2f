"""A small fleet end to end: 3 targets over 2 accounts and 2 Regions, written at once, then an
hour of drift ticks; what the fleet driver counts is what the stack did."""

from __future__ import annotations

import pytest

from fleetwise_rehearsal.fleet import cost as fleet_cost
from fleetwise_rehearsal.fleet.driver import FleetReport, Series, rehearse_fleet

pytestmark = pytest.mark.e2e

HUB, MEMBER = "123456789012", "210000000000"
REGIONS = ("us-east-1", "eu-central-1")


@pytest.fixture(scope="module")
def report() -> FleetReport:
    return rehearse_fleet(3, 2, regions=REGIONS, hours=1)


def test_every_target_converges_with_one_register_account(report: FleetReport) -> None:
    assert report.targets == [f"{HUB}:us-east-1", f"{MEMBER}:us-east-1", f"{HUB}:eu-central-1"]
    assert report.register_per_target == dict.fromkeys(report.targets, 1)
    assert report.phases == {"Registered": 3}
    # 300 s pending, the initial wait and the poll jitter pinned at its mean (as the README's
    # cost per run): 20 state transitions, 10 status reads and 13 invocations per registration,
    # plus one stream-trigger invocation for the batch of three records
    rollout = report.rollout
    assert rollout.executions == 3
    assert rollout.state_transitions == 3 * 20
    assert rollout.fleetwise == {"RegisterAccount": 3, "GetRegisterAccountStatus": 30}
    assert sum(rollout.invocations.values()) == 3 * 13 + 1
    assert rollout.invocations["StreamTriggerFunction"] == 1
    assert rollout.api["stepfunctions:StartExecution"] == 3
    assert rollout.start_execution_refused == rollout.start_execution_retries == 0
    assert report.start_execution_peak_refusals == 0
    assert report.converge_seconds > 300
    # every spec write is one stream record, delivered in one batch, none failed
    assert (report.stream_records, report.stream_batches, report.stream_failed_batches) == (3, 1, 0)
    assert report.rollout_write_units == 3.0


def test_the_steady_state_observes_each_target_once_a_tick_and_starts_nothing(
    report: FleetReport,
) -> None:
    steady = report.steady
    ticks = 60 // report.drift_rate_minutes
    assert steady.hours == 1.0
    assert steady.invocations == {"DriftCheckFunction": ticks}
    assert not steady.invocation_errors
    assert steady.executions == steady.state_transitions == 0
    assert steady.fleetwise == {"GetRegisterAccountStatus": 3 * ticks}
    # the member account's role once in the hour (its session serves the next ticks); each
    # table read once a tick, by one Scan each, and no status read per target
    assert steady.api["sts:AssumeRole"] == 1
    assert steady.api.get("dynamodb:GetItem", 0) == 0
    assert steady.api["dynamodb:Scan"] == 2 * ticks
    assert steady.traces == ticks
    spec_table, status_table = sorted(steady.dynamodb)
    assert "Spec" in spec_table
    # a spec Scan of three small items (eventually consistent): half a unit; no writes
    assert steady.dynamodb[spec_table] == (0.5 * ticks, 0.0)
    # a strongly consistent Scan of the three statuses (between 4 and 8 KB with their
    # histories): two units a tick, where a consistent GetItem per target took three and the
    # sweep's Scan half a unit more
    reads, writes = steady.dynamodb[status_table]
    assert writes == 0.0
    assert reads == 2.0 * ticks


def test_the_heartbeat_is_one_series_active_every_hour(report: FleetReport) -> None:
    heartbeat = Series("FleetWiseReconciler", "DriftChecks", (("service", "fleetwise-reconciler"),))
    assert report.steady.series_hours[heartbeat] == 1.0
    assert all(0 < hours <= 1.0 for hours in report.steady.series_hours.values())


def test_the_month_costs_at_least_the_stack_resources(report: FleetReport) -> None:
    lines = {line.part: line for line in fleet_cost.report_cost(report)}
    assert lines["CloudWatch dashboards"].quantity == 1
    assert lines["EventBridge Scheduler invocations"].quantity == 730 * 60 / 15
    assert lines["Lambda requests"].quantity == 730 * 4
    assert fleet_cost.total(lines.values()) > 3.0 + 1.0


def test_a_fleet_written_as_rolled_out_ticks_as_a_rolled_out_one() -> None:
    # GIVEN 12 targets over 6 accounts in 2 Regions, of which the hub's and the first member
    # account's are rolled out and the other eight written as that rollout left its like
    written = rehearse_fleet(12, 6, regions=REGIONS, hours=1, written=True)
    # THEN only the four sampled targets were rolled out, each with one RegisterAccount
    assert written.written == 8
    assert written.rollout.executions == 4
    assert written.register_per_target == {
        f"{account}:{region}": 1 for region in REGIONS for account in (HUB, MEMBER)
    }
    assert written.phases == {"Registered": 12}
    # AND each tick observed all twelve, read each status once, started no run and found
    # every target healthy; the first assumed each of the five member roles once, the next
    # ones reused them
    assert written.steady.executions == 0
    assert written.steady.fleetwise == {"GetRegisterAccountStatus": 12 * 4}
    assert [(t.assume_role, t.status_reads, t.errors, t.unhealthy) for t in written.ticks] == [
        (5, 12, 0, 0),
        (0, 12, 0, 0),
        (0, 12, 0, 0),
        (0, 12, 0, 0),
    ]

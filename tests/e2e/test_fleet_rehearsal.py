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
    # the member account's role, once per tick; a status read per target (one Query of its
    # items: status and WATCH); both tables scanned; nothing written
    assert steady.api["sts:AssumeRole"] == ticks
    assert steady.api["dynamodb:Query"] == 3 * ticks
    assert "dynamodb:GetItem" not in steady.api
    assert steady.api["dynamodb:Scan"] == 2 * ticks
    assert steady.traces == ticks
    spec_table, status_table = sorted(steady.dynamodb)
    assert "Spec" in spec_table
    # a spec Scan of three small items (eventually consistent): half a unit; no writes
    assert steady.dynamodb[spec_table] == (0.5 * ticks, 0.0)
    reads, writes = steady.dynamodb[status_table]
    assert writes == 0.0
    assert reads >= 3 * ticks + 0.5 * ticks


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

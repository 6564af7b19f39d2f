"""The fleet bench's counting and cost model, on small hand-made inputs with exact figures."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetwise_rehearsal.aws.lambda_runtime import Invocation
from fleetwise_rehearsal.fleet import cost as fleet_cost
from fleetwise_rehearsal.fleet.driver import (
    Series,
    Usage,
    fleet_targets,
    log_bytes,
    member_accounts,
    series_hours,
    state_transitions,
    token_bucket_refusals,
)

HOUR = 3600.0


def emf(stamp: float, target: str | None, **values: float) -> dict[str, Any]:
    """An EMF document as Powertools prints it (service dimension, and target when given)."""
    dims = ["service", "target"] if target else ["service"]
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(stamp * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "FleetWiseReconciler",
                    "Dimensions": [dims],
                    "Metrics": [{"Name": n, "Unit": "Count"} for n in values],
                }
            ],
        },
        "service": "fleetwise-reconciler",
        **values,
    }
    if target:
        doc["target"] = target
    return doc


def test_targets_spread_over_every_account_before_a_second_region() -> None:
    assert fleet_targets(4, ["111111111111", "222222222222"], ("us-east-1", "eu-central-1")) == [
        "111111111111:us-east-1",
        "222222222222:us-east-1",
        "111111111111:eu-central-1",
        "222222222222:eu-central-1",
    ]
    assert member_accounts(2) == ["210000000000", "210000000001"]


def test_more_targets_than_accounts_times_regions_is_refused() -> None:
    with pytest.raises(ValueError, match="1000 targets need at least 334 accounts"):
        fleet_targets(1000, member_accounts(100), ("a", "b", "c"))


def test_state_transitions_count_each_state_entered_and_each_retry() -> None:
    # GIVEN a Pass, then a Task scheduled three times (two retries), then a Succeed
    history = [
        {"type": "ExecutionStarted"},
        {"type": "PassStateEntered"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {"type": "TaskScheduled"},
        {"type": "TaskScheduled"},
        {"type": "SucceedStateEntered"},
        {"type": "ExecutionSucceeded"},
    ]
    assert state_transitions(history) == 3 + 2


def test_a_series_counts_each_hour_it_got_data_in_once() -> None:
    # GIVEN data at 15, 30 and 60 minutes (hour 1) and at 75 minutes (hour 2), for one target,
    # and the heartbeat at 60 minutes only; a point before the window is ignored
    start = 1_000_000.0
    docs = [
        emf(start - 10, "a", RegistrationHealthy=1),
        emf(start + 900, "a", RegistrationHealthy=1),
        emf(start + 1800, "a", RegistrationHealthy=1),
        emf(start + 3600, "a", RegistrationHealthy=1, DriftDetected=1),
        emf(start + 4500, "a", RegistrationHealthy=1),
        emf(start + 3600, None, DriftChecks=1),
    ]
    hours = series_hours(docs, start, start + 2 * HOUR)
    dims = (("service", "fleetwise-reconciler"), ("target", "a"))
    assert hours == {
        Series("FleetWiseReconciler", "RegistrationHealthy", dims): 2.0,
        Series("FleetWiseReconciler", "DriftDetected", dims): 1.0,
        Series("FleetWiseReconciler", "DriftChecks", (("service", "fleetwise-reconciler"),)): 1.0,
    }


def test_log_bytes_are_the_printed_lines_plus_the_platform_estimate() -> None:
    invocation = Invocation("f", "r", {}, datetime(2026, 1, 1, tzinfo=UTC))
    invocation.stdout = ["abc", "é"]
    assert log_bytes([invocation, invocation]) == (2 * (350 + 4 + 3), 4)


def test_the_token_bucket_refuses_what_exceeds_its_size_and_refill() -> None:
    # GIVEN a bucket of 3 tokens refilled at 1 a second: 5 calls at once, then one 2 s later
    assert token_bucket_refusals([0, 0, 0, 0, 0, 2.0], size=3, refill=1.0) == 2
    assert token_bucket_refusals([0.0] * 1300, size=1300, refill=300.0) == 0
    assert token_bucket_refusals([0.0] * 1301, size=1300, refill=300.0) == 1


def steady(**kwargs: Any) -> Usage:
    usage = Usage(seconds=2 * HOUR)
    for key, value in kwargs.items():
        setattr(usage, key, value)
    return usage


STACK = fleet_cost.Stack(
    alarms={
        "One": {"MetricName": "X", "Namespace": "N"},
        "Math": {
            "Metrics": [
                {"Id": "a", "MetricStat": {}},
                {"Id": "b", "MetricStat": {}},
                {"Id": "e", "Expression": "a+b"},
            ]
        },
        "Fleet": {
            "Metrics": [
                {
                    "Id": "q",
                    "Expression": "SELECT MIN(RegistrationHealthy) FROM "
                    'SCHEMA("FleetWiseReconciler", service, target) '
                    "WHERE service = 's' GROUP BY target",
                }
            ]
        },
    },
    dashboards=1,
    keys=1,
    memory_mb={"DriftCheckFunction": 256},
    drift_rate_minutes=15,
    log_retention_days=30,
)


def test_a_metrics_insights_alarm_is_priced_per_series_its_query_analyzes() -> None:
    dims = (("service", "s"), ("target", "a"))
    usage = steady(
        series_hours={
            Series("FleetWiseReconciler", "RegistrationHealthy", dims): 2.0,
            Series(
                "FleetWiseReconciler", "RegistrationHealthy", (("target", "b"), ("service", "s"))
            ): 1.0,
            # another dimension set: not in the SCHEMA
            Series("FleetWiseReconciler", "RegistrationHealthy", (("service", "s"),)): 2.0,
            # another service: left out by the query's WHERE
            Series(
                "FleetWiseReconciler", "RegistrationHealthy", (("service", "x"), ("target", "c"))
            ): 2.0,
        }
    )
    # THEN one alarm metric + two listed metrics, and 1.5 series analyzed on average
    assert fleet_cost.alarm_metrics(STACK.alarms, usage) == (3, 1.5)


def test_the_month_scales_the_steady_state_and_prices_each_part() -> None:
    # GIVEN two hours with 8 drift checks of 50 ms each, 16 eventually consistent scans of
    # one unit, 2 series active both hours, 1 MB of logs and 8 traces
    usage = steady(
        invocations=Counter({"DriftCheckFunction": 8}),
        invocation_billed_ms={"DriftCheckFunction": 400},
        dynamodb={"Spec": (8.0, 0.0), "Status": (4.0, 2.0)},
        series_hours={
            Series("N", "A", ()): 2.0,
            Series("N", "B", (("target", "a"),)): 1.0,
        },
        log_bytes=1_000_000,
        traces=8,
        state_transitions=10,
        api=Counter({"sts:AssumeRole": 8}),
    )
    lines = {
        line.part: line for line in fleet_cost.monthly_cost(usage, STACK, storage_bytes=2_000_000)
    }
    scale = 730 / 2
    assert lines["Lambda requests"].quantity == 8 * scale
    assert lines["Lambda requests"].usd == pytest.approx(8 * scale * 0.20 / 1e6)
    gb_s = 0.4 * 0.25 * scale
    assert lines["Lambda duration (GB-seconds, rehearsed in-process)"].usd == pytest.approx(
        gb_s * 0.0000133334
    )
    assert lines["Step Functions state transitions"].usd == pytest.approx(10 * scale * 0.025 / 1000)
    assert lines["DynamoDB read request units"].quantity == 12 * scale
    assert lines["DynamoDB write request units"].usd == pytest.approx(2 * scale * 0.625 / 1e6)
    assert lines["DynamoDB storage and point-in-time recovery (GB)"].usd == pytest.approx(
        0.002 * (0.25 + 0.20)
    )
    assert lines["CloudWatch custom metrics (metric-months)"].quantity == 1.5
    assert lines["CloudWatch custom metrics (metric-months)"].usd == pytest.approx(0.45)
    assert lines["CloudWatch alarm metrics"].usd == pytest.approx(0.30)
    assert lines["CloudWatch Metrics Insights alarms (metrics analyzed)"].quantity == 0.0
    assert lines["CloudWatch dashboards"].usd == 3.0
    assert lines["KMS keys"].usd == 1.0
    assert lines["CloudWatch Logs ingestion (GB)"].usd == pytest.approx(0.001 * scale * 0.50)
    assert lines["CloudWatch Logs storage (GB-months, uncompressed)"].quantity == pytest.approx(
        0.001 * scale * 30 / (730 / 24)
    )
    assert lines["EventBridge Scheduler invocations"].quantity == 2920
    assert lines["X-Ray traces (every run and every other invocation)"].quantity == 8 * scale
    assert lines["STS AssumeRole"].usd == 0.0


def test_top_series_rank_by_their_monthly_cost() -> None:
    usage = steady(series_hours={Series("N", "A", ()): 1.0, Series("N", "B", ()): 2.0})
    assert fleet_cost.top_series(usage, 1) == [(Series("N", "B", ()), pytest.approx(0.30))]


def cloudtrail_usage() -> Usage:
    """Two hours: 8 drift ticks, 2 runs, 100 FleetWise calls, 10 AssumeRoles, one read of the
    member lists, 2 StartExecutions, 8 Scans of 2 tables, one SQS message, 8 invocations."""
    return steady(
        fleetwise=Counter({"GetRegisterAccountStatus": 100}),
        executions=2,
        invocations=Counter({"DriftCheckFunction": 8}),
        dynamodb={"Spec": (4.0, 0.0), "Status": (4.0, 0.0)},
        api=Counter(
            {
                "sts:AssumeRole": 10,
                "ssm:GetParametersByPath": 1,
                "states:StartExecution": 2,
                "dynamodb:Scan": 8,
                "sqs:SendMessage": 1,
                "lambda:Invoke": 3,
            }
        ),
    )


def test_one_trail_and_no_data_key_cost_nothing_more() -> None:
    lines = {
        line.part: line
        for line in fleet_cost.monthly_cost(cloudtrail_usage(), STACK, storage_bytes=0)
    }
    assert lines["KMS requests to the data key (DataKmsKeyArn)"].usd == 0.0
    assert lines["CloudTrail management events in trails past the first"].quantity == 0.0
    assert lines["CloudTrail data events (trails that record them)"].quantity == 0.0


def test_a_second_trail_pays_for_every_management_event_and_the_data_key_for_its_requests() -> None:
    # GIVEN a data key, two trails of management events and one recording data events
    stack = dataclasses.replace(STACK, data_kms_key=True)
    trails = fleet_cost.Trails(management_copies=2, data_events=True)
    lines = {
        line.part: line
        for line in fleet_cost.monthly_cost(
            cloudtrail_usage(), stack, storage_bytes=0, trails=trails
        )
    }
    scale = 730 / 2
    # THEN each table read in a tick or a run asks for its key once, each message once:
    # (8 ticks + 2 runs) x 2 tables + 1
    kms = lines["KMS requests to the data key (DataKmsKeyArn)"]
    assert kms.quantity == pytest.approx(21 * scale)
    assert kms.usd == pytest.approx(21 * scale * 0.03 / 1e4)
    # AND the second trail pays for the FleetWise, STS, SSM, Step Functions and KMS events
    management = lines["CloudTrail management events in trails past the first"]
    assert management.quantity == pytest.approx((100 + 10 + 1 + 2 + 21) * scale)
    assert management.usd == pytest.approx((100 + 10 + 1 + 2 + 21) * scale * 2.00 / 1e5)
    # AND the data events are the Scans, the message and every invocation (the hand-outs'
    # Invoke calls are among the invocations)
    data = lines["CloudTrail data events (trails that record them)"]
    assert data.quantity == pytest.approx((8 + 1 + 8) * scale)
    assert data.usd == pytest.approx((8 + 1 + 8) * scale * 0.10 / 1e5)


def test_drift_checks_closer_than_the_key_caches_last_are_refused() -> None:
    stack = dataclasses.replace(STACK, data_kms_key=True, drift_rate_minutes=2)
    with pytest.raises(ValueError, match="not modelled"):
        fleet_cost.kms_requests(cloudtrail_usage(), stack)

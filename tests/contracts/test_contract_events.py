"""EventBridge rule, Scheduler schedule and stream filter payloads (event_rules.py lists the
rules and their sources), matched against the sample events in events/."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
from event_rules import filter_patterns, matches, rule_findings, sample, schedule_findings
from stack_values import PARAMETER_SETS, Deployed, deployed

from fleetwise_reconciler.handlers import drift_check


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_rules_and_schedules_follow_the_documented_rules(parameter_set: str) -> None:
    stack = deployed(parameter_set)
    assert rule_findings(stack) == []
    assert schedule_findings(stack) == []


def _failed_run_pattern() -> object:
    return deployed("default").resources["ExecutionFailedRule"]["Properties"]["EventPattern"]


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_the_failed_run_rule_matches_the_documented_event_of_each_status(status: str) -> None:
    # GIVEN the sample "Step Functions Execution Status Change" event of this stack's machine
    event = sample("execution-timed-out.json")
    event["detail"]["status"] = status
    # THEN the rule matches it
    assert matches(_failed_run_pattern(), event)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "SUCCEEDED"),
        ("stateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:Other"),
    ],
)
def test_the_failed_run_rule_ignores_other_runs(field: str, value: str) -> None:
    event = sample("execution-timed-out.json")
    event["detail"][field] = value
    assert not matches(_failed_run_pattern(), event)


def test_the_stream_mapping_filters_nothing() -> None:
    # Every change of the spec table, a REMOVE included, starts a run (one that records a
    # deleted target as no longer managed): no FilterCriteria may drop any record.
    assert filter_patterns(deployed("default")) == {"SpecStreamEventSourceMapping": []}


def test_a_misspelt_pattern_matches_no_sample() -> None:
    # The matcher can fail: a field name EventBridge would not find matches nothing.
    record = sample("stream-insert-and-modify.json")["Records"][0]
    assert not matches(json.dumps({"eventname": ["INSERT", "MODIFY"]}), record)


def test_the_schedule_input_is_what_the_drift_check_reads() -> None:
    # GIVEN the deployed schedule's input, as Scheduler fills in its scheduled time
    schedule = deployed("default").resources["DriftCheckSchedule"]["Properties"]
    raw = schedule["Target"]["Input"]
    event = json.loads(raw.replace("<aws.scheduler.scheduled-time>", "2026-11-26T12:15:00Z"))
    # THEN it is the tick's scheduled time and the schedule's own rate
    rate = schedule["ScheduleExpression"].removeprefix("rate(").split(" ")[0]
    assert event == {"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": int(rate)}
    # AND the drift check reads the tick's sweep segment from it (tick 1,995,217 of 15 min)
    assert drift_check.sweep_segment(event) == 1_995_217 % drift_check.SWEEP_TICKS


def _rule_target(stack: Deployed) -> dict[str, object]:
    target: dict[str, object] = stack.resources["ExecutionFailedRule"]["Properties"]["Targets"][0]
    return target


def _schedule(stack: Deployed) -> dict[str, object]:
    props: dict[str, object] = stack.resources["DriftCheckSchedule"]["Properties"]
    return props


def _retry_forever(stack: Deployed) -> None:
    _rule_target(stack)["RetryPolicy"] = {"MaximumRetryAttempts": 200}


def _no_permission(stack: Deployed) -> None:
    del stack.resources["ExecutionFailedInvokePermission"]


def _no_queue_policy(stack: Deployed) -> None:
    del stack.resources["ExecutionEventsDeadLetterQueuePolicy"]


def _singular_rate(stack: Deployed) -> None:
    _schedule(stack)["ScheduleExpression"] = "rate(1 minutes)"


def _text_input(stack: Deployed) -> None:
    _schedule(stack)["Target"]["Input"] = "tick"  # type: ignore[index]


def _young_events(stack: Deployed) -> None:
    _schedule(stack)["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] = 30  # type: ignore[index]


@pytest.mark.parametrize(
    ("breaks", "check", "expected"),
    [
        (
            _retry_forever,
            rule_findings,
            "ExecutionFailedRule/ExecutionFailedFunction: MaximumRetryAttempts 200 outside 0-185",
        ),
        (
            _no_permission,
            rule_findings,
            "ExecutionFailedRule/ExecutionFailedFunction: no Lambda permission lets this rule "
            "invoke ExecutionFailedFunction",
        ),
        (
            _no_queue_policy,
            rule_findings,
            "ExecutionFailedRule/ExecutionFailedFunction: no queue policy lets this rule send to "
            "its dead-letter queue",
        ),
        (
            _singular_rate,
            schedule_findings,
            "DriftCheckSchedule: 'rate(1 minutes)': the unit is singular for 1 only",
        ),
        (
            _text_input,
            schedule_findings,
            "DriftCheckSchedule: the target Input is not JSON (a Lambda target gets JSON)",
        ),
        (
            _young_events,
            schedule_findings,
            "DriftCheckSchedule: MaximumEventAgeInSeconds 30 outside 60-86400",
        ),
    ],
)
def test_a_broken_copy_fails_with_its_fault(
    breaks: Callable[[Deployed], None], check: Callable[[Deployed], list[str]], expected: str
) -> None:
    stack = copy.deepcopy(deployed("default"))
    breaks(stack)
    assert check(stack) == [expected]

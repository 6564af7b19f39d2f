"""Alarms against PutMetricAlarm's documented rules (alarm_rules.py lists them)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from alarm_rules import alarm_findings
from stack_values import PARAMETER_SETS, STACK_NAME, Deployed, deploy_with, deployed

from fleetwise_rehearsal.aws.alarms import parse_query


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_every_alarm_follows_put_metric_alarms_rules(parameter_set: str) -> None:
    assert alarm_findings(deployed(parameter_set)) == []


def test_the_longest_period_the_parameters_allow_fits_three_hours() -> None:
    # Every per-target alarm evaluates one period: the longest HealthAlarmPeriodSeconds is the
    # 3 hours a Metrics Insights alarm can see (tests/template/test_alarm_model.py).
    slow = {"DriftCheckRateMinutes": "150", "DriftCheckWindowMinutes": "30"}
    assert alarm_findings(deploy_with({**slow, "HealthAlarmPeriodSeconds": "10800"})) == []
    # AND a copy evaluating two such periods is found
    stack = copy.deepcopy(deploy_with({**slow, "HealthAlarmPeriodSeconds": "10800"}))
    _props(stack, "RegistrationUnhealthyAlarm")["EvaluationPeriods"] = 2
    assert alarm_findings(stack) == [
        "RegistrationUnhealthyAlarm: EvaluationPeriods x Period = 21600 s, more than the 3 hours "
        "(10800 s) a Metrics Insights alarm evaluates"
    ]


def test_an_alarm_longer_than_a_day_is_found() -> None:
    stack = copy.deepcopy(deployed("default"))
    props = _props(stack, "DriftCheckSilentAlarm")
    props["Metrics"][0]["MetricStat"]["Period"], props["EvaluationPeriods"] = 21600, 5
    assert alarm_findings(stack) == [
        "DriftCheckSilentAlarm: EvaluationPeriods x Period = 108000 s, more than one day (86400 s)"
    ]


def _props(stack: Deployed, name: str) -> dict[str, Any]:
    props: dict[str, Any] = stack.resources[name]["Properties"]
    return props


def _metric(stack: Deployed, alarm: str) -> dict[str, Any]:
    """The metric a FILL alarm reads."""
    [stat] = [q for q in _props(stack, alarm)["Metrics"] if "MetricStat" in q]
    metric: dict[str, Any] = stat["MetricStat"]["Metric"]
    return metric


def _other_function(stack: Deployed) -> None:
    _metric(stack, "AcquireFunctionErrorsAlarm")["Dimensions"][0]["Value"] = "NotOurs"


def _bad_period(stack: Deployed) -> None:
    _props(stack, "RegistrationFailedAlarm")["Metrics"][0]["Period"] = 90


def _query(alarm: str, old: str, new: str) -> Callable[[Deployed], None]:
    def breaks(stack: Deployed) -> None:
        [query] = _props(stack, alarm)["Metrics"]
        assert old in query["Expression"]
        query["Expression"] = query["Expression"].replace(old, new)

    return breaks


def _unknown_dimension(stack: Deployed) -> None:
    dimensions = _metric(stack, "TriggerFailedRecordsAlarm")["Dimensions"]
    dimensions.append({"Name": "region", "Value": "x"})


def _misspelt_metric(stack: Deployed) -> None:
    _metric(stack, "DriftCheckSilentAlarm")["MetricName"] = "DriftCheck"


def _period_left_out(stack: Deployed) -> None:
    del _props(stack, "InvalidSpecAlarm")["Metrics"][0]["Period"]


def _second_query(stack: Deployed) -> None:
    _props(stack, "InvalidSpecAlarm")["Metrics"].append(dict(SUM_OF))


def _foreign_topic(stack: Deployed) -> None:
    _props(stack, "DriftPersistsAlarm")["AlarmActions"] = ["arn:aws:sns:us-east-1:1:other"]


def _math(queries: list[dict[str, Any]]) -> Callable[[Deployed], None]:
    def breaks(stack: Deployed) -> None:
        _props(stack, "ExecutionsFailedAlarm")["Metrics"] = queries

    return breaks


def _stat(query_id: str, function: str = "AcquireFunction") -> dict[str, Any]:
    return {
        "Id": query_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
            },
            "Stat": "Sum",
            "Period": 300,
        },
    }


SUM_OF = {"Id": "total", "Expression": "SUM(METRICS())", "ReturnData": True}


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (
            _other_function,
            "AcquireFunctionErrorsAlarm: Metrics[metric]: FunctionName 'NotOurs' names no "
            "AWS::Lambda::Function of the stack",
        ),
        (
            _bad_period,
            "RegistrationFailedAlarm: Metrics[failed]: period 90 is not a multiple of "
            "60 (standard-resolution metrics)",
        ),
        (
            _unknown_dimension,
            "TriggerFailedRecordsAlarm: Metrics[failed]: the code emits no dimension 'region'",
        ),
        (
            _misspelt_metric,
            "DriftCheckSilentAlarm: Metrics[checks]: FleetWiseReconciler publishes no metric "
            "'DriftCheck'",
        ),
        (
            _query("DriftPersistsAlarm", "MIN(TargetInTrouble)", "MIN(TargetInTroubles)"),
            "DriftPersistsAlarm: Metrics[drifted]: FleetWiseReconciler publishes no metric "
            "'TargetInTroubles'",
        ),
        (
            _query("InvalidSpecAlarm", "state, target)", "state, target, region)"),
            "InvalidSpecAlarm: Metrics[invalid]: the query reads dimension 'region', which "
            "the code does not emit",
        ),
        (
            _query("RegistrationUnhealthyAlarm", "GROUP BY target", "GROUP BY account"),
            "RegistrationUnhealthyAlarm: Metrics[reconciling]: 'account' is not a "
            "dimension of the query's SCHEMA",
        ),
        (
            _query("RegistrationFailedAlarm", '"FleetWiseReconciler"', '"Other"'),
            "RegistrationFailedAlarm: Metrics[failed]: the query reads namespace "
            "'Other', not the stack's",
        ),
        (
            _period_left_out,
            "InvalidSpecAlarm: Metrics[invalid]: a Metrics Insights query in an alarm needs "
            "its own Period",
        ),
        (
            _second_query,
            "InvalidSpecAlarm: 2 queries beside a Metrics Insights query (it must be alone)",
        ),
        (
            _foreign_topic,
            "DriftPersistsAlarm: AlarmActions: 'arn:aws:sns:us-east-1:1:other' is not a topic of "
            "the stack",
        ),
        (_math([_stat("m1"), SUM_OF]), None),
        (
            _math([_stat(f"m{i}") for i in range(11)] + [SUM_OF]),
            "ExecutionsFailedAlarm: 11 metrics in one alarm (at most 10)",
        ),
        (
            _math([_stat("m1"), {**SUM_OF, "ReturnData": False}]),
            "ExecutionsFailedAlarm: 0 queries return data (exactly one must: [])",
        ),
        (
            _math([_stat("M1"), SUM_OF]),
            "ExecutionsFailedAlarm: Metrics: id 'M1' must start with a lowercase letter and use "
            "only letters, digits and _",
        ),
        (
            _math([_stat("m1"), {**SUM_OF, "Expression": "m1 + m2"}]),
            "ExecutionsFailedAlarm: Metrics[total]: the expression reads 'm2', which no metric or "
            "expression of it defines",
        ),
    ],
)
def test_a_broken_copy_fails_with_its_fault(
    breaks: Callable[[Deployed], None], expected: str | None
) -> None:
    stack = copy.deepcopy(deployed("default"))
    breaks(stack)
    # None: a valid metric math alarm, so the checker accepts what AWS accepts.
    assert alarm_findings(stack) == ([] if expected is None else [expected])


def test_every_alarm_on_the_reconcilers_metrics_selects_this_stack_only() -> None:
    # Two stacks in one account and Region share the namespace (and metric names): each alarm
    # reads the series of its own stack's service dimension (its name) and no other.
    stack = deployed("default")
    namespace = str(stack.parameters["MetricsNamespace"])
    selected = 0
    for name, resource in stack.of_type("AWS::CloudWatch::Alarm").items():
        for query in resource["Properties"]["Metrics"]:
            if str(query.get("Expression", "")).startswith("SELECT"):
                parsed = parse_query(query["Expression"])
                assert dict(parsed.where)["service"] == STACK_NAME, name
                selected += 1
            elif "MetricStat" in query and query["MetricStat"]["Metric"]["Namespace"] == namespace:
                dimensions = query["MetricStat"]["Metric"]["Dimensions"]
                assert {"Name": "service", "Value": STACK_NAME} in dimensions, name
                selected += 1
    assert selected == 6 + 2  # the per-target alarms, the heartbeat, the trigger's failures

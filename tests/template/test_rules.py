"""The template's Rules, evaluated as CloudFormation evaluates them before any change
("Rules syntax" and "Rule functions", CloudFormation User Guide): a rule's assertions apply
when its RuleCondition is true, and a false assertion refuses the stack operation.

The alarm periods: every pair of HealthAlarmPeriodSeconds and UnhealthyEvaluationPeriods (and
DriftAlarmPeriods) the parameters allow is accepted exactly when it fits in the 3 hours a
Metrics Insights alarm evaluates."""

from __future__ import annotations

from typing import Any

import pytest
from template_support import load_template

WINDOW = 3 * 3600


def _value(node: Any, parameters: dict[str, str]) -> Any:
    """A rule function's value (the functions the template uses; anything else fails)."""
    if isinstance(node, list):
        return [_value(item, parameters) for item in node]
    if not isinstance(node, dict):
        return str(node)
    [(name, args)] = node.items()
    if name == "Ref":
        return parameters[args]
    values = _value(args, parameters)
    if name == "Fn::Equals":
        return values[0] == values[1]
    if name == "Fn::Not":
        return not values[0]
    if name == "Fn::Contains":
        return values[1] in values[0]
    raise AssertionError(f"a rule function this test does not evaluate: {name}")


def refusals(template: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    """The AssertDescription of every assertion the parameters fail."""
    parameters = {
        name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()
    }
    parameters.update(overrides)
    found = []
    for rule in template["Rules"].values():
        if "RuleCondition" in rule and not _value(rule["RuleCondition"], parameters):
            continue
        for assertion in rule["Assertions"]:
            if not _value(assertion["Assert"], parameters):
                found.append(" ".join(assertion["AssertDescription"].split()))
    return found


TEMPLATE = load_template()
PERIODS = [int(p) for p in TEMPLATE["Parameters"]["HealthAlarmPeriodSeconds"]["AllowedValues"]]
COUNTS = range(
    int(TEMPLATE["Parameters"]["UnhealthyEvaluationPeriods"]["MinValue"]),
    int(TEMPLATE["Parameters"]["UnhealthyEvaluationPeriods"]["MaxValue"]) + 1,
)


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("parameter", ["UnhealthyEvaluationPeriods", "DriftAlarmPeriods"])
def test_alarm_periods_are_accepted_exactly_when_they_fit_three_hours(
    period: int, parameter: str
) -> None:
    for count in COUNTS:
        found = refusals(TEMPLATE, {"HealthAlarmPeriodSeconds": str(period), parameter: str(count)})
        if period * count <= WINDOW:
            assert found == [], (period, count)
        else:
            [refused] = found
            assert refused.startswith(f"With HealthAlarmPeriodSeconds {period}, {parameter}")
            assert f"at most {WINDOW // period}:" in refused


def test_the_defaults_and_the_prod_configuration_pass() -> None:
    assert refusals(TEMPLATE, {}) == []
    prod = {"HealthAlarmPeriodSeconds": "900", "UnhealthyEvaluationPeriods": "2"}
    assert refusals(TEMPLATE, prod) == []


def test_timestream_mode_still_needs_its_resources() -> None:
    assert refusals(TEMPLATE, {"TargetMode": "timestream"}) == [
        "TargetMode timestream needs TimestreamDatabaseName.",
        "TargetMode timestream needs TimestreamTableName.",
        "TargetMode timestream needs TimestreamRoleArn.",
    ]

"""The template's Rules, evaluated as CloudFormation evaluates them before any change
("Rules syntax" and "Rule functions", CloudFormation User Guide): a rule's assertions apply
when its RuleCondition is true, and a false assertion refuses the stack operation.

The drift cadence: DriftCheckRateMinutes and DriftCheckWindowMinutes are accepted with a
HealthAlarmPeriodSeconds only when every period holds a check (tests/template/test_alarm_model.py
checks every combination the parameters allow against the whole alarm model)."""

from __future__ import annotations

from template_support import load_template, refusals

TEMPLATE = load_template()


def test_a_cadence_that_does_not_fit_the_health_period_is_refused_with_what_fits() -> None:
    # 25 + 5 minutes fit a 30-minute period; 26 + 5 do not, and the refusal says the bound
    assert refusals(TEMPLATE, {"DriftCheckRateMinutes": "25"}) == []
    assert refusals(TEMPLATE, {"DriftCheckRateMinutes": "26"}) == [
        "With HealthAlarmPeriodSeconds 1800, DriftCheckRateMinutes must be at most 25 (and "
        "DriftCheckWindowMinutes at most 5): every alarm period must hold a drift check. "
        "Choose a longer HealthAlarmPeriodSeconds for a slower drift check."
    ]
    assert refusals(TEMPLATE, {"DriftCheckWindowMinutes": "6"}) == [
        "With HealthAlarmPeriodSeconds 1800, DriftCheckWindowMinutes must be at most 5: every "
        "alarm period must hold a drift check."
    ]
    slow = {"DriftCheckRateMinutes": "150", "DriftCheckWindowMinutes": "30"}
    assert refusals(TEMPLATE, {**slow, "HealthAlarmPeriodSeconds": "10800"}) == []


def test_the_defaults_and_the_prod_configuration_pass() -> None:
    assert refusals(TEMPLATE, {}) == []
    prod = {
        "DriftCheckRateMinutes": "5",
        "DriftCheckWindowMinutes": "2",
        "HealthAlarmPeriodSeconds": "900",
        "UnhealthyEvaluationPeriods": "2",
        "DriftAlarmPeriods": "2",
        "FailureAlarmPeriodSeconds": "60",
    }
    assert refusals(TEMPLATE, prod) == []


def test_timestream_mode_still_needs_its_resources() -> None:
    assert refusals(TEMPLATE, {"TargetMode": "timestream"}) == [
        "TargetMode timestream needs TimestreamDatabaseName.",
        "TargetMode timestream needs TimestreamTableName.",
        "TargetMode timestream needs TimestreamRoleArn.",
    ]

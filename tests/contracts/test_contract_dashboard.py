"""The dashboard body PutDashboard receives, against "Dashboard Body Structure and Syntax".

The rules are listed in dashboard_rules.py with their sources. The real body passes for every
combination of the template's conditions; each broken copy fails with exactly its fault.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from dashboard_rules import dashboard_findings
from stack_values import PARAMETER_SETS, STACK_NAME, dashboard_body, deployed

Body = dict[str, Any]


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_the_dashboard_body_follows_cloudwatchs_rules(parameter_set: str) -> None:
    stack = deployed(parameter_set)
    assert dashboard_findings(dashboard_body(stack), stack) == []


def _widget(body: Body, title: str) -> dict[str, Any]:
    [widget] = [w for w in body["widgets"] if w.get("properties", {}).get("title") == title]
    return widget


HEALTH = "Which targets are in trouble (per target and state: 1 while in it)"
ERRORS = "Lambda errors"
ALARMS = "Alarm states"


def _bare_expression(body: Body) -> None:
    # The defect PutDashboard refused: an expression object not wrapped in an array.
    metrics = _widget(body, HEALTH)["properties"]["metrics"]
    metrics[0] = metrics[0][0]


def _unknown_widget_type(body: Body) -> None:
    body["widgets"][0]["type"] = "chart"


def _function_of_another_stack(body: Body) -> None:
    _widget(body, ERRORS)["properties"]["metrics"][0][3] = "SomeoneElsesFunction"


def _upper_case_id(body: Body) -> None:
    _widget(body, HEALTH)["properties"]["metrics"][0][0]["id"] = "Healthy"


def _misspelt_metric_in_search(body: Body) -> None:
    expression = _widget(body, HEALTH)["properties"]["metrics"][0][0]
    expression["expression"] = expression["expression"].replace(
        "TargetInTrouble", "TargetInTroubles"
    )


def _bad_search_statistic(body: Body) -> None:
    expression = _widget(body, HEALTH)["properties"]["metrics"][0][0]
    expression["expression"] = expression["expression"].replace("'Maximum'", "'Max'")


def _metric_math_reads_an_undefined_id(body: Body) -> None:
    _widget(body, HEALTH)["properties"]["metrics"].append(
        [{"expression": "inTrouble * missing", "id": "scaled"}]
    )


def _alarm_of_another_stack(body: Body) -> None:
    _widget(body, ALARMS)["properties"]["alarms"].append(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:Elsewhere"
    )


def _no_region(body: Body) -> None:
    del _widget(body, ERRORS)["properties"]["region"]


def _too_wide(body: Body) -> None:
    body["widgets"][0]["width"] = 25


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (
            _bare_expression,
            "{health}: metrics[0] is dict, not an array (an expression too must be "
            '[{{"expression": ..., "id": ...}}])',
        ),
        (
            _unknown_widget_type,
            "widget 0: type 'chart' is not one of ['alarm', 'explorer', 'log', 'metric', 'text']",
        ),
        (
            _function_of_another_stack,
            "{errors}: metrics[0]: FunctionName 'SomeoneElsesFunction' names no "
            "AWS::Lambda::Function of the stack",
        ),
        (
            _upper_case_id,
            "{health}: id 'Healthy' must start with a lowercase letter and use only "
            "letters, digits and _",
        ),
        (
            _misspelt_metric_in_search,
            "{health}: metrics[0]: SEARCH looks for metric 'TargetInTroubles', "
            "which nothing publishes in FleetWiseReconciler",
        ),
        (_bad_search_statistic, "{health}: metrics[0]: 'Max' is not a CloudWatch statistic"),
        (
            _metric_math_reads_an_undefined_id,
            "{health}: metrics[1]: the expression reads 'missing', which no metric "
            "or expression of it defines",
        ),
        (
            _alarm_of_another_stack,
            "{alarms}: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:Elsewhere' "
            "is not the ARN of an alarm of the stack",
        ),
        (_no_region, "{errors}: a metric widget needs a region"),
        (_too_wide, "widget 0: width 25 outside 1-24"),
    ],
)
def test_a_broken_copy_fails_with_its_fault(breaks: Callable[[Body], None], expected: str) -> None:
    stack = deployed("default")
    body = copy.deepcopy(dashboard_body(stack))
    where = {
        key: f"widget {body['widgets'].index(_widget(body, title))} ({title})"
        for key, title in (("health", HEALTH), ("errors", ERRORS), ("alarms", ALARMS))
    }
    breaks(body)
    assert dashboard_findings(body, stack) == [expected.format(**where)]


def test_every_widget_on_the_reconcilers_metrics_shows_this_stack_only() -> None:
    # Two stacks in one account and Region share the namespace: each widget selects the
    # stack's own service dimension (its name), as its alarms do.
    stack = deployed("default")
    namespace = str(stack.parameters["MetricsNamespace"])
    searches, metrics = [], []
    for widget in dashboard_body(stack)["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            if isinstance(entry[0], dict) and "SEARCH(" in entry[0].get("expression", ""):
                searches.append(entry[0]["expression"])
            elif entry[0] == namespace:
                metrics.append(entry)
    assert searches and metrics
    for expression in searches:
        assert f'{{"{namespace}",service' in expression, expression
        assert f'service="{STACK_NAME}"' in expression, expression
    for entry in metrics:
        assert entry[2:4] == ["service", STACK_NAME], entry

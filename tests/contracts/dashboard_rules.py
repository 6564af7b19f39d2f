"""The dashboard body against CloudWatch's "Dashboard Body Structure and Syntax".

The rules checked, as that page (Amazon CloudWatch API Reference) states them:
- the body is a JSON object with a ``widgets`` array of 0 to 500 widget objects;
- a widget has a ``type`` (``metric``, ``text``, ``log``, ``alarm`` or ``explorer``), ``x``
  (0-23), ``y`` (0 or more), ``width`` (1-24), ``height`` (1-1000), all integers, and
  ``properties``;
- a metric widget's ``metrics`` is an array of arrays: each metric is
  ``[Namespace, MetricName, DimensionName, DimensionValue, ..., {rendering properties}]`` and
  each expression is an array holding one object, ``[{"expression": ..., "id": ...}]``; the
  rendering properties are ``accountId``, ``color``, ``expression``, ``id``, ``label``,
  ``period``, ``region``, ``stat``, ``visible`` and ``yAxis`` (``left`` or ``right``); a
  metric widget has a ``region``; ``view`` is ``timeSeries``, ``singleValue``, ``gauge``,
  ``bar``, ``pie`` or ``table``; ``period`` and ``stat`` follow the rules of metric_rules;
- a text widget has ``markdown``;
- an alarm widget's ``alarms`` is an array of 1 to 100 alarm ARNs; ``sortBy`` is
  ``default``, ``stateUpdatedTimestamp`` or ``timestamp``.
Beyond the page: ids and expressions follow MetricDataQuery and the search expression syntax
(metric_rules), a dimension of an AWS namespace names a resource of this stack of the right
type, and an alarm ARN names an alarm of this stack.
"""

from __future__ import annotations

from typing import Any

from metric_rules import (
    AWS_DIMENSIONS,
    AWS_METRICS,
    emitted_metric_names,
    expression_findings,
    id_findings,
    period_findings,
    statistic_findings,
)
from stack_values import Deployed

WIDGET_TYPES = frozenset({"metric", "text", "log", "alarm", "explorer"})
VIEWS = frozenset({"timeSeries", "singleValue", "gauge", "bar", "pie", "table"})
RENDERING = frozenset(
    {
        "accountId",
        "color",
        "expression",
        "id",
        "label",
        "period",
        "region",
        "stat",
        "visible",
        "yAxis",
    }
)
SORT_BY = frozenset({"default", "stateUpdatedTimestamp", "timestamp"})


def _int_in(value: Any, low: int, high: int | None) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return value >= low and (high is None or value <= high)


def dashboard_findings(body: Any, stack: Deployed) -> list[str]:
    """Everything in ``body`` (a parsed DashboardBody) that PutDashboard would refuse, or that
    names something this stack does not have."""
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return ["the body has no widgets array"]
    widgets = body["widgets"]
    found = [] if len(widgets) <= 500 else [f"{len(widgets)} widgets (at most 500)"]
    namespaces = {
        str(stack.parameters["MetricsNamespace"]): emitted_metric_names(),
        **AWS_METRICS,
    }
    for index, widget in enumerate(widgets):
        found += _widget_findings(index, widget, stack, namespaces)
    return found


def _widget_findings(
    index: int, widget: Any, stack: Deployed, namespaces: dict[str, frozenset[str]]
) -> list[str]:
    if not isinstance(widget, dict):
        return [f"widget {index}: not an object"]
    props = widget.get("properties")
    title = props.get("title", "") if isinstance(props, dict) else ""
    where = f"widget {index} ({title})" if title else f"widget {index}"
    found = []
    kind = widget.get("type")
    if kind not in WIDGET_TYPES:
        found.append(f"{where}: type {kind!r} is not one of {sorted(WIDGET_TYPES)}")
    for key, low, high in (("x", 0, 23), ("y", 0, None), ("width", 1, 24), ("height", 1, 1000)):
        if key in widget and not _int_in(widget[key], low, high):
            found.append(f"{where}: {key} {widget[key]!r} outside {low}-{high or 'any'}")
    if not isinstance(props, dict):
        return [*found, f"{where}: no properties object"]
    if kind == "metric":
        found += _metric_widget_findings(where, props, stack, namespaces)
    elif kind == "text" and not isinstance(props.get("markdown"), str):
        found.append(f"{where}: a text widget needs markdown")
    elif kind == "alarm":
        found += _alarm_widget_findings(where, props, stack)
    return found


def _metric_widget_findings(
    where: str, props: dict[str, Any], stack: Deployed, namespaces: dict[str, frozenset[str]]
) -> list[str]:
    found = []
    if not isinstance(props.get("region"), str):
        found.append(f"{where}: a metric widget needs a region")
    if "view" in props and props["view"] not in VIEWS:
        found.append(f"{where}: view {props['view']!r} is not one of {sorted(VIEWS)}")
    if "period" in props:
        found += period_findings(where, props["period"])
    if "stat" in props:
        found += statistic_findings(where, props["stat"])
    metrics = props.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return [*found, f"{where}: metrics must be a non-empty array of arrays"]
    ids: list[Any] = []
    expressions: list[tuple[str, Any]] = []
    previous: list[Any] = []
    for position, entry in enumerate(metrics):
        at = f"{where}: metrics[{position}]"
        if not isinstance(entry, list):
            found.append(
                f"{at} is {type(entry).__name__}, not an array (an expression too "
                'must be [{"expression": ..., "id": ...}])'
            )
            continue
        rendering = entry[-1] if entry and isinstance(entry[-1], dict) else None
        fields = entry[:-1] if rendering is not None else entry
        if rendering is not None:
            unknown = sorted(set(rendering) - RENDERING)
            if unknown:
                found.append(f"{at}: unknown rendering properties {unknown}")
            if "id" in rendering:
                ids.append(rendering["id"])
            if "stat" in rendering:
                found += statistic_findings(at, rendering["stat"])
            if "period" in rendering:
                found += period_findings(at, rendering["period"])
            if rendering.get("yAxis", "left") not in ("left", "right"):
                found.append(f"{at}: yAxis {rendering['yAxis']!r} is neither left nor right")
        if rendering is not None and "expression" in rendering:
            if fields:
                found.append(f"{at}: an expression is an array of one object, nothing else")
            expressions.append((at, rendering["expression"]))
            continue
        # "." repeats the value at the same position in the previous metric.
        values = [
            previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(fields)
        ]
        previous = values
        found += _metric_fields_findings(at, values, stack, namespaces)
    found += id_findings(where, ids)
    defined = {str(i) for i in ids}
    for at, expression in expressions:
        found += expression_findings(at, expression, defined, namespaces)
    return found


def _metric_fields_findings(
    at: str, values: list[Any], stack: Deployed, namespaces: dict[str, frozenset[str]]
) -> list[str]:
    if len(values) < 2 or len(values) % 2 or not all(isinstance(v, str) for v in values):
        return [f"{at}: a metric is [Namespace, MetricName, (DimensionName, DimensionValue)...]"]
    namespace, metric, *pairs = values
    if len(pairs) > 60:
        return [f"{at}: more than 30 dimensions"]
    if namespace not in namespaces:
        return [f"{at}: namespace {namespace!r} is neither the stack's nor an AWS one it reads"]
    found = []
    if metric not in namespaces[namespace]:
        found.append(f"{at}: {namespace} publishes no metric {metric!r}")
    dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
    found += resource_dimension_findings(at, namespace, dimensions, stack)
    return found


def resource_dimension_findings(
    at: str, namespace: str, dimensions: dict[str, Any], stack: Deployed
) -> list[str]:
    """An AWS namespace's dimensions must name a resource of this stack of the right type."""
    expected = AWS_DIMENSIONS.get(namespace)
    if expected is None:
        return []
    found = []
    for name, value in dimensions.items():
        if name not in expected:
            found.append(f"{at}: {namespace} metrics carry no dimension {name!r}")
            continue
        logical_id = stack.named(value)
        if logical_id is None or stack.resources[logical_id]["Type"] != expected[name]:
            found.append(f"{at}: {name} {value!r} names no {expected[name]} of the stack")
    return found


def _alarm_widget_findings(where: str, props: dict[str, Any], stack: Deployed) -> list[str]:
    alarms = props.get("alarms")
    if not isinstance(alarms, list) or not 1 <= len(alarms) <= 100:
        return [f"{where}: alarms must be an array of 1 to 100 alarm ARNs"]
    found = []
    if props.get("sortBy", "default") not in SORT_BY:
        found.append(f"{where}: sortBy {props['sortBy']!r} is not one of {sorted(SORT_BY)}")
    for arn in alarms:
        logical_id = stack.named(arn)
        if logical_id is None or stack.resources[logical_id]["Type"] != "AWS::CloudWatch::Alarm":
            found.append(f"{where}: {arn!r} is not the ARN of an alarm of the stack")
    return found

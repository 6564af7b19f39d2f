"""Alarms against PutMetricAlarm's documented rules (Amazon CloudWatch API Reference,
"PutMetricAlarm" and "MetricDataQuery"; User Guide, "Alarms based on metric math"):

- an alarm watches one metric (``MetricName``, ``Namespace``, ``Statistic`` or
  ``ExtendedStatistic``, ``Period``) or a ``Metrics`` array of metric data queries, never both;
- a ``Metrics`` array holds at most 10 metrics (``MetricStat``) and exactly one query with
  ``ReturnData`` true (the one the alarm watches); ids follow MetricDataQuery's rules and an
  expression reads only ids of the same array;
- ``Period`` is 10, 30 or a multiple of 60; 10 and 30 only for high-resolution metrics, which
  neither AWS's service metrics nor the reconciler's EMF metrics are (metric_rules);
- ``EvaluationPeriods`` x ``Period`` is at most one day (86,400 s) and ``DatapointsToAlarm``
  at most ``EvaluationPeriods``;
- ``TreatMissingData`` is ``breaching``, ``notBreaching``, ``ignore`` or ``missing``;
- at most 30 dimensions; a dimension of an AWS namespace names a resource of the stack of the
  right type, and the reconciler's namespace is read with the dimension names the code emits;
- every action is a topic of the stack;
- an alarm on a Metrics Insights query (User Guide, "Create a CloudWatch alarm based on a
  Metrics Insights query" and its "Limits") has one query, with its own ``Period``, that
  returns the data; ``EvaluationPeriods`` x ``Period`` is at most 3 hours (the query sees no
  older data); the query reads the stack's namespace, a metric the code emits, and only
  dimensions the code emits, and is in the subset the rehearsal evaluates
  (``fleetwise_rehearsal.aws.alarms.parse_query``).
"""

from __future__ import annotations

from typing import Any

from dashboard_rules import resource_dimension_findings
from metric_rules import (
    AWS_METRICS,
    CUSTOM_DIMENSIONS,
    emitted_metric_names,
    expression_findings,
    id_findings,
    period_findings,
    statistic_findings,
)
from stack_values import Deployed

from fleetwise_rehearsal.aws.alarms import QUERY_WINDOW_SECONDS, UnsupportedAlarm, parse_query

MISSING_DATA = frozenset({"breaching", "notBreaching", "ignore", "missing"})
ONE_DAY = 86_400
INTEGER_PROPERTIES = frozenset({"Period", "EvaluationPeriods", "DatapointsToAlarm"})
SINGLE_METRIC = ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Period")


def alarm_findings(stack: Deployed) -> list[str]:
    namespaces = {
        str(stack.parameters["MetricsNamespace"]): emitted_metric_names(),
        **AWS_METRICS,
    }
    found = []
    for name, alarm in sorted(stack.of_type("AWS::CloudWatch::Alarm").items()):
        found += [f"{name}: {f}" for f in _findings(alarm["Properties"], stack, namespaces)]
    return found


def _integers(props: dict[str, Any]) -> dict[str, Any]:
    # A Ref to a Number parameter is a string; CloudFormation converts it to the property's
    # integer type before calling PutMetricAlarm (a query's and a MetricStat's Period included).
    def whole(key: str, value: Any) -> Any:
        if key in INTEGER_PROPERTIES and isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    def query(q: Any) -> Any:
        if not isinstance(q, dict):
            return q
        converted = {k: whole(k, v) for k, v in q.items()}
        if isinstance(converted.get("MetricStat"), dict):
            stat = converted["MetricStat"]
            converted["MetricStat"] = {k: whole(k, v) for k, v in stat.items()}
        return converted

    out = {key: whole(key, value) for key, value in props.items()}
    if isinstance(out.get("Metrics"), list):
        out["Metrics"] = [query(q) for q in out["Metrics"]]
    return out


def _is_insights(queries: Any) -> bool:
    return isinstance(queries, list) and any(
        isinstance(q, dict) and str(q.get("Expression", "")).lstrip().startswith("SELECT")
        for q in queries
    )


def _insights_findings(
    queries: list[Any], stack: Deployed, namespaces: dict[str, frozenset[str]]
) -> list[str]:
    if len(queries) != 1:
        return [f"{len(queries)} queries beside a Metrics Insights query (it must be alone)"]
    [query] = queries
    at = f"Metrics[{query.get('Id')}]"
    found = id_findings("Metrics", [query.get("Id")])
    if not query.get("ReturnData", True):
        found.append(f"{at}: the query must return the data the alarm watches")
    if "Period" not in query:
        found.append(f"{at}: a Metrics Insights query in an alarm needs its own Period")
    else:
        found += period_findings(at, query["Period"])
    try:
        parsed = parse_query(str(query.get("Expression")))
    except UnsupportedAlarm as error:
        return [*found, f"{at}: {error}"]
    own = str(stack.parameters["MetricsNamespace"])
    if parsed.namespace != own:
        found.append(f"{at}: the query reads namespace {parsed.namespace!r}, not the stack's")
    elif parsed.metric not in namespaces[own]:
        found.append(f"{at}: {own} publishes no metric {parsed.metric!r}")
    found += [
        f"{at}: the query reads dimension {name!r}, which the code does not emit"
        for name in sorted(parsed.schema)
        if name not in CUSTOM_DIMENSIONS
    ]
    return found


def _findings(
    props: dict[str, Any], stack: Deployed, namespaces: dict[str, frozenset[str]]
) -> list[str]:
    props = _integers(props)
    single = [key for key in SINGLE_METRIC if key in props]
    found = []
    insights = _is_insights(props.get("Metrics"))
    if insights:
        if single:
            found.append(f"Metrics and {single} together (one or the other)")
        found += _insights_findings(props["Metrics"], stack, namespaces)
        period = props["Metrics"][0].get("Period")
    elif "Metrics" in props:
        if single:
            found.append(f"Metrics and {single} together (one or the other)")
        found += _metric_math_findings(props["Metrics"], stack, namespaces)
        periods = [q["MetricStat"]["Period"] for q in props["Metrics"] if "MetricStat" in q] or [
            q.get("Period", 60) for q in props["Metrics"]
        ]
        period = max(periods) if periods else 60
    else:
        found += _metric_findings(
            "the metric",
            props.get("Namespace"),
            props.get("MetricName"),
            props.get("Dimensions", []),
            stack,
            namespaces,
        )
        if "Statistic" in props:
            found += statistic_findings("Statistic", props["Statistic"])
        elif "ExtendedStatistic" not in props:
            found.append("neither Statistic nor ExtendedStatistic")
        period = props.get("Period")
        found += period_findings("Period", period)
    evaluation = props.get("EvaluationPeriods")
    if not isinstance(evaluation, int) or evaluation < 1:
        found.append(f"EvaluationPeriods {evaluation!r} is not a positive integer")
    elif insights and isinstance(period, int) and evaluation * period > QUERY_WINDOW_SECONDS:
        found.append(
            f"EvaluationPeriods x Period = {evaluation * period} s, more than the 3 hours "
            f"({QUERY_WINDOW_SECONDS} s) a Metrics Insights alarm evaluates"
        )
    elif isinstance(period, int) and evaluation * period > ONE_DAY:
        found.append(
            f"EvaluationPeriods x Period = {evaluation * period} s, more than one day ({ONE_DAY} s)"
        )
    datapoints = props.get("DatapointsToAlarm", evaluation)
    if isinstance(evaluation, int) and isinstance(datapoints, int) and datapoints > evaluation:
        found.append(f"DatapointsToAlarm {datapoints} exceeds EvaluationPeriods {evaluation}")
    if props.get("TreatMissingData", "missing") not in MISSING_DATA:
        found.append(
            f"TreatMissingData {props['TreatMissingData']!r} is not one of {sorted(MISSING_DATA)}"
        )
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        for action in props.get(key, []):
            logical_id = stack.named(action)
            if logical_id is None or stack.resources[logical_id]["Type"] != "AWS::SNS::Topic":
                found.append(f"{key}: {action!r} is not a topic of the stack")
    return found


def _metric_findings(
    at: str,
    namespace: Any,
    metric: Any,
    dimensions: list[dict[str, Any]],
    stack: Deployed,
    namespaces: dict[str, frozenset[str]],
) -> list[str]:
    if namespace not in namespaces:
        return [f"{at}: namespace {namespace!r} is neither the stack's nor an AWS one it reads"]
    found = []
    if metric not in namespaces[namespace]:
        found.append(f"{at}: {namespace} publishes no metric {metric!r}")
    if len(dimensions) > 30:
        found.append(f"{at}: {len(dimensions)} dimensions (at most 30)")
    pairs = {d["Name"]: d["Value"] for d in dimensions}
    if namespace in AWS_METRICS:
        found += resource_dimension_findings(at, namespace, pairs, stack)
    else:
        found += [
            f"{at}: the code emits no dimension {name!r}"
            for name in pairs
            if name not in CUSTOM_DIMENSIONS
        ]
    return found


def _metric_math_findings(
    queries: Any, stack: Deployed, namespaces: dict[str, frozenset[str]]
) -> list[str]:
    if not isinstance(queries, list) or not queries:
        return ["Metrics is not a non-empty array of queries"]
    found = []
    stats = [q for q in queries if "MetricStat" in q]
    if len(stats) > 10:
        found.append(f"{len(stats)} metrics in one alarm (at most 10)")
    returned = [q.get("Id") for q in queries if q.get("ReturnData", True)]
    if len(returned) != 1:
        found.append(f"{len(returned)} queries return data (exactly one must: {returned})")
    ids = [q.get("Id") for q in queries]
    found += id_findings("Metrics", ids)
    defined = {str(i) for i in ids}
    for query in queries:
        at = f"Metrics[{query.get('Id')}]"
        if ("MetricStat" in query) == ("Expression" in query):
            found.append(f"{at}: one of MetricStat or Expression")
            continue
        if "Expression" in query:
            found += expression_findings(
                at, query["Expression"], defined - {str(query.get("Id"))}, namespaces
            )
            continue
        stat = query["MetricStat"]
        metric = stat.get("Metric", {})
        found += _metric_findings(
            at,
            metric.get("Namespace"),
            metric.get("MetricName"),
            metric.get("Dimensions", []),
            stack,
            namespaces,
        )
        found += statistic_findings(at, stat.get("Stat"))
        found += period_findings(at, stat.get("Period"))
    return found

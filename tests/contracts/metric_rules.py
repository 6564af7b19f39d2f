"""Rules CloudWatch documents for metrics, shared by the dashboard and the alarm checks.

Sources (AWS documentation, by title):
- Amazon CloudWatch API Reference, "MetricDataQuery": an ``Id`` "must start with a lowercase
  letter"; "valid characters are letters, numbers, and underscore".
- Amazon CloudWatch User Guide, "CloudWatch search expression syntax":
  ``SEARCH(' {Namespace, DimensionName1, DimensionName2, ...} SearchTerm', 'Statistic')`` or
  with a third argument, the period in seconds; the statistic is one of CloudWatch's
  statistics.
- Amazon CloudWatch User Guide, "Metrics concepts" (periods): a period is 1, 5, 10, 30 or a
  multiple of 60 seconds; periods under 60 s exist only for high-resolution metrics, and the
  metrics AWS services publish (and the reconciler's EMF metrics, which set no
  StorageResolution) are standard resolution, so their periods are multiples of 60.
- The metric pages of each service, for the dimension each metric is published under:
  AWS Lambda Developer Guide "Types of metrics for Lambda functions" (``FunctionName``),
  AWS Step Functions Developer Guide "Monitoring Step Functions metrics" (execution metrics
  by ``StateMachineArn``), Amazon SQS Developer Guide "Available CloudWatch metrics for
  Amazon SQS" (``QueueName``).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from fleetwise_reconciler import observability

ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")
BASIC_STATISTICS = frozenset({"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
# Percentiles and the other extended statistics: p99, p99.9, tm90, TM(10%:90%), ...
EXTENDED_STATISTIC = re.compile(r"^(p|tm|tc|ts|wm|PR|TM|TC|TS|WM)(\d{1,2}(\.\d+)?|\(.+\))$")

# Namespace -> the dimension its metrics are published under -> the resource type that names.
AWS_DIMENSIONS: dict[str, dict[str, str]] = {
    "AWS/Lambda": {"FunctionName": "AWS::Lambda::Function"},
    "AWS/States": {"StateMachineArn": "AWS::StepFunctions::StateMachine"},
    "AWS/SQS": {"QueueName": "AWS::SQS::Queue"},
}
# Namespace -> metric names the service publishes (the ones a stack like this one may read).
AWS_METRICS: dict[str, frozenset[str]] = {
    "AWS/Lambda": frozenset(
        {
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "IteratorAge",
            "ConcurrentExecutions",
            "DeadLetterErrors",
            "DestinationDeliveryFailures",
            "AsyncEventsReceived",
            "AsyncEventAge",
            "AsyncEventsDropped",
        }
    ),
    "AWS/States": frozenset(
        {
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsFailed",
            "ExecutionsAborted",
            "ExecutionsTimedOut",
            "ExecutionThrottled",
            "ExecutionTime",
        }
    ),
    "AWS/SQS": frozenset(
        {
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesNotVisible",
            "NumberOfMessagesSent",
        }
    ),
}
# The reconciler's own metrics (EMF): the dimension names Powertools and the code emit.
CUSTOM_DIMENSIONS = frozenset({"service", "target", "reason", "state"})


def emitted_metric_names() -> frozenset[str]:
    """The metric names the code declares in ``observability`` (the only ones it emits)."""
    return frozenset(
        value
        for name, value in vars(observability).items()
        if name.isupper()
        and isinstance(value, str)
        and not isinstance(value, Enum)
        and not name.startswith("DEFAULT_")
    )


def statistic_findings(where: str, statistic: Any) -> list[str]:
    if statistic in BASIC_STATISTICS or (
        isinstance(statistic, str) and EXTENDED_STATISTIC.match(statistic)
    ):
        return []
    return [f"{where}: {statistic!r} is not a CloudWatch statistic"]


def period_findings(where: str, period: Any) -> list[str]:
    if isinstance(period, bool) or not isinstance(period, int):
        return [f"{where}: period {period!r} is not an integer number of seconds"]
    if period <= 0 or period % 60:
        return [f"{where}: period {period} is not a multiple of 60 (standard-resolution metrics)"]
    return []


def id_findings(where: str, ids: list[Any]) -> list[str]:
    found = [
        f"{where}: id {i!r} must start with a lowercase letter and use only letters, digits and _"
        for i in ids
        if not isinstance(i, str) or not ID.match(i)
    ]
    duplicates = sorted({str(i) for i in ids if ids.count(i) > 1})
    found += [f"{where}: id {i!r} is used twice" for i in duplicates]
    return found


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_IDENTIFIER = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\b")
_SEARCH = re.compile(
    r"^SEARCH\(\s*'(?P<query>(?:[^'\\]|\\.)*)'\s*,\s*'(?P<stat>[^']*)'"
    r"\s*(?:,\s*(?P<period>[^)\s]+)\s*)?\)$"
)
_SCHEMA = re.compile(r"^\s*\{(?P<schema>[^{}]*)\}(?P<terms>.*)$", re.DOTALL)
_METRIC_NAME_TERM = re.compile(r'MetricName\s*=\s*"([^"]*)"')


def expression_findings(
    where: str, expression: Any, defined_ids: set[str], namespaces: dict[str, frozenset[str]]
) -> list[str]:
    """A metric math, SEARCH or Metrics Insights expression, as far as it is checkable offline.

    ``namespaces`` maps each namespace the stack publishes or reads to its metric names.
    """
    if not isinstance(expression, str) or not expression.strip():
        return [f"{where}: the expression is empty"]
    text = expression.strip()
    if text.upper().startswith("SELECT"):
        if " FROM " not in text.upper():
            return [f"{where}: a Metrics Insights query needs FROM"]
        return []
    if text.startswith("SEARCH("):
        return _search_findings(where, text, namespaces)
    # Metric math: the lowercase identifiers outside strings are ids of the same query set
    # (functions are upper case: SUM, METRICS, FILL, ...).
    bare = _QUOTED.sub("''", text)
    if bare.count("(") != bare.count(")"):
        return [f"{where}: unbalanced parentheses in {expression!r}"]
    return [
        f"{where}: the expression reads {name!r}, which no metric or expression of it defines"
        for name in _IDENTIFIER.findall(bare)
        if name[0].islower() and name not in defined_ids
    ]


def _search_findings(where: str, text: str, namespaces: dict[str, frozenset[str]]) -> list[str]:
    match = _SEARCH.match(text)
    if not match:
        return [f"{where}: {text!r} is not SEARCH('{{schema}} terms', 'Statistic'[, period])"]
    found = statistic_findings(where, match["stat"])
    if match["period"] is not None:
        try:
            found += period_findings(where, int(match["period"]))
        except ValueError:
            found.append(f"{where}: SEARCH period {match['period']!r} is not an integer")
    schema = _SCHEMA.match(match["query"])
    if not schema:
        return [*found, f"{where}: the SEARCH query names no {{namespace,dimensions}} schema"]
    parts = [p.strip().strip('"') for p in schema["schema"].split(",")]
    namespace, dimensions = parts[0], parts[1:]
    if namespace not in namespaces:
        found.append(
            f"{where}: SEARCH reads namespace {namespace!r}, which the stack neither "
            "publishes nor reads"
        )
        return found
    allowed = set(AWS_DIMENSIONS.get(namespace, {})) or set(CUSTOM_DIMENSIONS)
    found += [
        f"{where}: SEARCH names dimension {d!r}, which {namespace} metrics do not carry"
        for d in dimensions
        if d not in allowed
    ]
    found += [
        f"{where}: SEARCH looks for metric {name!r}, which nothing publishes in {namespace}"
        for name in _METRIC_NAME_TERM.findall(schema["terms"])
        if name not in namespaces[namespace]
    ]
    return found

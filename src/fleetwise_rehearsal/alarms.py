"""CloudWatch alarm evaluation over the datapoints the rehearsal saw.

moto stores alarms but never evaluates them. The rehearsal evaluates each alarm of the template
the way CloudWatch does for a single-metric alarm: the metric is identified by namespace,
metric name and the *exact* dimension set (a datapoint published with more or fewer
dimensions is another metric); datapoints are aggregated per period (aligned on the epoch)
with the alarm's statistic; the last ``EvaluationPeriods`` periods up to the evaluation time
are compared with the threshold; the alarm is in ALARM when at least ``DatapointsToAlarm``
(default: ``EvaluationPeriods``) of them breach. Periods without data follow
``TreatMissingData`` (``missing``, the default, and ``ignore`` keep them out of the count;
``breaching`` counts them as breaching; ``notBreaching`` as not). With every period missing,
``missing`` gives INSUFFICIENT_DATA, which is not ALARM.

Not rehearsed: metric-math alarms (``Metrics``), extended statistics (percentiles) and
anomaly-detection thresholds; an alarm using one raises ``UnsupportedAlarm``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class UnsupportedAlarm(ValueError):
    """An alarm shape the rehearsal does not evaluate."""


@dataclass(frozen=True)
class Datapoint:
    """One value of one metric at one (virtual) moment."""

    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    timestamp: float
    value: float
    unit: str | None = None


def datapoints_from_emf(documents: Iterable[Mapping[str, Any]]) -> list[Datapoint]:
    """Every datapoint of CloudWatch's embedded metric format documents.

    A document publishes each of its metrics once per dimension set of its directive (as
    CloudWatch does), with the document's own timestamp (epoch milliseconds)."""
    out: list[Datapoint] = []
    for doc in documents:
        meta = doc.get("_aws") or {}
        stamp = float(meta.get("Timestamp", 0)) / 1000.0
        for directive in meta.get("CloudWatchMetrics") or []:
            namespace = str(directive.get("Namespace", ""))
            for dimension_set in directive.get("Dimensions") or [[]]:
                dims = frozenset((str(k), str(doc.get(k, ""))) for k in dimension_set)
                for metric in directive.get("Metrics") or []:
                    name = str(metric["Name"])
                    raw = doc.get(name)
                    values = raw if isinstance(raw, list) else [raw]
                    for value in values:
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            out.append(
                                Datapoint(
                                    namespace,
                                    name,
                                    dims,
                                    stamp,
                                    float(value),
                                    metric.get("Unit"),
                                )
                            )
    return out


def _statistic(name: str, values: list[float]) -> float:
    if name == "Sum":
        return sum(values)
    if name == "Average":
        return sum(values) / len(values)
    if name == "Maximum":
        return max(values)
    if name == "Minimum":
        return min(values)
    if name == "SampleCount":
        return float(len(values))
    raise UnsupportedAlarm(f"statistic {name!r} is not rehearsed")


_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Evaluation:
    """An alarm's state at one moment and the per-period values it was decided on."""

    name: str
    state: str
    periods: tuple[float | None, ...]


def evaluate(
    name: str, alarm: Mapping[str, Any], datapoints: Iterable[Datapoint], now: float
) -> Evaluation:
    """Evaluate one alarm (its template properties) at virtual epoch second ``now``."""
    if "Metrics" in alarm or "ExtendedStatistic" in alarm or "ThresholdMetricId" in alarm:
        raise UnsupportedAlarm(f"{name}: only single-metric, standard-statistic alarms")
    namespace = str(alarm["Namespace"])
    metric = str(alarm["MetricName"])
    dims = frozenset((str(d["Name"]), str(d["Value"])) for d in alarm.get("Dimensions") or [])
    period = int(alarm["Period"])
    evaluation_periods = int(alarm["EvaluationPeriods"])
    to_alarm = int(alarm.get("DatapointsToAlarm") or evaluation_periods)
    threshold = float(alarm["Threshold"])
    compare = _COMPARISONS.get(str(alarm["ComparisonOperator"]))
    if compare is None:
        raise UnsupportedAlarm(f"{name}: comparison {alarm['ComparisonOperator']!r}")
    missing = str(alarm.get("TreatMissingData") or "missing")
    statistic = str(alarm["Statistic"])

    # The newest period is the one containing ``now``; CloudWatch aligns periods on the epoch.
    newest_start = math.floor(now / period) * period
    starts = [newest_start - period * i for i in reversed(range(evaluation_periods))]
    buckets: dict[float, list[float]] = {s: [] for s in starts}
    for point in datapoints:
        if (point.namespace, point.name, point.dimensions) != (namespace, metric, dims):
            continue
        start = math.floor(point.timestamp / period) * period
        if start in buckets:
            buckets[start].append(point.value)
    values: list[float | None] = [
        _statistic(statistic, buckets[s]) if buckets[s] else None for s in starts
    ]
    breaching = 0
    counted = 0
    for value in values:
        if value is None:
            if missing == "breaching":
                breaching += 1
                counted += 1
            elif missing == "notBreaching":
                counted += 1
            continue
        counted += 1
        if compare(value, threshold):
            breaching += 1
    if breaching >= to_alarm:
        state = ALARM
    elif counted == 0:
        state = INSUFFICIENT_DATA
    else:
        state = OK
    return Evaluation(name, state, tuple(values))

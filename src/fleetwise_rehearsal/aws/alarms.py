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

Alarms on a Metrics Insights query (``Metrics``: one query whose ``Expression`` is a
``SELECT``) are evaluated as CloudWatch documents them ("Limits that apply to alarms based on
Metrics Insights queries", "Acting on alarm changes"): only the latest 3 hours of data count;
a query with ``GROUP BY`` returns one time series per group that has data in those hours,
each a *contributor* evaluated on its own, and the alarm is in ALARM while any contributor
is; a contributor is only ever ALARM or OK (a series exists only while it has data), at most
100 are reported in ALARM, and a query matching more than 500 series is evaluated on the
first 500 of its ``ORDER BY`` (the alarm's data is then partial). The query language is
checked, not guessed: the subset the template uses is parsed
(``SELECT FUNC(metric) FROM SCHEMA("namespace", dimension, ...) [WHERE dimension = 'value'
[AND ...]] [GROUP BY dimension, ...] [ORDER BY FUNC() ASC|DESC] [LIMIT n]``, FUNC one of
AVG, COUNT, MAX, MIN, SUM) and anything else raises ``UnsupportedAlarm``. ``SCHEMA`` matches
the metrics whose dimension names are exactly the ones it lists.

Not rehearsed: metric-math alarms over several metrics, extended statistics (percentiles)
and anomaly-detection thresholds; an alarm using one raises ``UnsupportedAlarm``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
class Contributor:
    """One time series of a multi-time-series alarm: its ``GROUP BY`` values, its state."""

    attributes: tuple[tuple[str, str], ...]
    state: str
    periods: tuple[float | None, ...]


@dataclass(frozen=True)
class Evaluation:
    """An alarm's state at one moment and the per-period values it was decided on; for a
    multi-time-series alarm, its contributors in ALARM (at most 100, in the query's order)
    and whether the query matched more series than it returns."""

    name: str
    state: str
    periods: tuple[float | None, ...]
    contributors: tuple[Contributor, ...] = field(default=())
    partial: bool = False

    def in_alarm(self, dimension: str) -> list[str]:
        """The ``dimension`` value of each contributor in ALARM (e.g. each target)."""
        return [
            dict(c.attributes).get(dimension, "") for c in self.contributors if c.state == ALARM
        ]


def _settings(name: str, alarm: Mapping[str, Any]) -> tuple[Any, ...]:
    evaluation_periods = int(alarm["EvaluationPeriods"])
    to_alarm = int(alarm.get("DatapointsToAlarm") or evaluation_periods)
    threshold = float(alarm["Threshold"])
    compare = _COMPARISONS.get(str(alarm["ComparisonOperator"]))
    if compare is None:
        raise UnsupportedAlarm(f"{name}: comparison {alarm['ComparisonOperator']!r}")
    missing = str(alarm.get("TreatMissingData") or "missing")
    return evaluation_periods, to_alarm, threshold, compare, missing


def _period_starts(now: float, period: int, evaluation_periods: int) -> list[float]:
    # The newest period is the one containing ``now``; CloudWatch aligns periods on the epoch.
    newest_start = math.floor(now / period) * period
    return [newest_start - period * i for i in reversed(range(evaluation_periods))]


def _decide(
    values: list[float | None],
    to_alarm: int,
    threshold: float,
    compare: Any,
    missing: str,
) -> str:
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
        return ALARM
    if counted == 0:
        return INSUFFICIENT_DATA
    return OK


def evaluate(
    name: str, alarm: Mapping[str, Any], datapoints: Iterable[Datapoint], now: float
) -> Evaluation:
    """Evaluate one alarm (its template properties) at virtual epoch second ``now``."""
    if "ExtendedStatistic" in alarm or "ThresholdMetricId" in alarm:
        raise UnsupportedAlarm(f"{name}: extended statistics and bands are not rehearsed")
    if "Metrics" in alarm:
        return _evaluate_query(name, alarm, datapoints, now)
    namespace = str(alarm["Namespace"])
    metric = str(alarm["MetricName"])
    dims = frozenset((str(d["Name"]), str(d["Value"])) for d in alarm.get("Dimensions") or [])
    period = int(alarm["Period"])
    evaluation_periods, to_alarm, threshold, compare, missing = _settings(name, alarm)
    statistic = str(alarm["Statistic"])

    starts = _period_starts(now, period, evaluation_periods)
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
    return Evaluation(name, _decide(values, to_alarm, threshold, compare, missing), tuple(values))


# --- Metrics Insights ----------------------------------------------------------------------

# Documented limits of alarms on Metrics Insights queries.
QUERY_WINDOW_SECONDS = 3 * 3600
MAX_SERIES = 500
MAX_CONTRIBUTORS_IN_ALARM = 100

_FUNCTIONS = {"AVG": "Average", "COUNT": "SampleCount", "MAX": "Maximum", "MIN": "Minimum",
              "SUM": "Sum"}  # fmt: skip
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_QUERY = re.compile(
    rf"""^SELECT\s+(?P<function>AVG|COUNT|MAX|MIN|SUM)\((?P<metric>{_NAME})\)
    \s+FROM\s+SCHEMA\(\s*"(?P<namespace>[^"]+)"(?P<dimensions>(\s*,\s*{_NAME})*)\s*\)
    (\s+WHERE\s+(?P<where>{_NAME}\s*=\s*'[^']*'(\s+AND\s+{_NAME}\s*=\s*'[^']*')*))?
    (\s+GROUP\s+BY\s+(?P<group>{_NAME}(\s*,\s*{_NAME})*))?
    (\s+ORDER\s+BY\s+(?P<order>AVG|COUNT|MAX|MIN|SUM)\(\)\s+(?P<direction>ASC|DESC))?
    (\s+LIMIT\s+(?P<limit>\d+))?\s*$""",
    re.VERBOSE,
)
_CONDITION = re.compile(rf"({_NAME})\s*=\s*'([^']*)'")


@dataclass(frozen=True)
class Query:
    """A parsed Metrics Insights query (the subset described in the module's docstring)."""

    function: str
    metric: str
    namespace: str
    schema: frozenset[str]
    where: tuple[tuple[str, str], ...]
    group_by: tuple[str, ...]
    descending: bool
    limit: int


def parse_query(expression: str) -> Query:
    """The query ``expression`` states; ``UnsupportedAlarm`` when it is outside the subset."""
    found = _QUERY.match(" ".join(expression.split()))
    if found is None:
        raise UnsupportedAlarm(f"not a Metrics Insights query the rehearsal reads: {expression}")
    schema = frozenset(d.strip() for d in (found["dimensions"] or "").split(",") if d.strip())
    where = tuple(_CONDITION.findall(found["where"] or ""))
    group_by = tuple(g.strip() for g in (found["group"] or "").split(",") if g.strip())
    for dimension in (*(k for k, _ in where), *group_by):
        if dimension not in schema:
            raise UnsupportedAlarm(f"{dimension!r} is not a dimension of the query's SCHEMA")
    if found["order"] and found["order"] != found["function"]:
        raise UnsupportedAlarm("ORDER BY must name the query's own function")
    limit = int(found["limit"] or MAX_SERIES)
    if not 1 <= limit <= MAX_SERIES:
        raise UnsupportedAlarm(f"LIMIT must be 1 to {MAX_SERIES}, got {limit}")
    return Query(
        function=found["function"],
        metric=found["metric"],
        namespace=found["namespace"],
        schema=schema,
        where=where,
        group_by=group_by,
        descending=found["direction"] == "DESC",
        limit=limit,
    )


def _evaluate_query(
    name: str, alarm: Mapping[str, Any], datapoints: Iterable[Datapoint], now: float
) -> Evaluation:
    queries = list(alarm["Metrics"])
    if len(queries) != 1 or not str(queries[0].get("Expression", "")).startswith("SELECT"):
        raise UnsupportedAlarm(f"{name}: only alarms on one Metrics Insights query")
    entry = queries[0]
    query = parse_query(str(entry["Expression"]))
    period = int(entry["Period"])
    evaluation_periods, to_alarm, threshold, compare, missing = _settings(name, alarm)
    if period * evaluation_periods > QUERY_WINDOW_SECONDS:
        raise UnsupportedAlarm(
            f"{name}: {evaluation_periods} periods of {period} s reach past the 3 hours a "
            "Metrics Insights alarm can evaluate"
        )
    statistic = _FUNCTIONS[query.function]
    starts = _period_starts(now, period, evaluation_periods)
    oldest = now - QUERY_WINDOW_SECONDS
    conditions = set(query.where)
    # Every datapoint of the query's series within the window, by group.
    groups: dict[tuple[tuple[str, str], ...], list[Datapoint]] = {}
    for point in datapoints:
        if (point.namespace, point.name) != (query.namespace, query.metric):
            continue
        if {k for k, _ in point.dimensions} != query.schema:
            continue
        if not conditions <= point.dimensions or not oldest < point.timestamp <= now:
            continue
        values = dict(point.dimensions)
        key = tuple((d, values[d]) for d in query.group_by)
        groups.setdefault(key, []).append(point)
    # ORDER BY sorts the series on the function over the whole window; LIMIT keeps the first.
    ranked = sorted(
        groups.items(),
        key=lambda item: _statistic(statistic, [p.value for p in item[1]]),
        reverse=query.descending,
    )
    returned = ranked[: query.limit]
    contributors = []
    for key, points in returned:
        buckets: dict[float, list[float]] = {s: [] for s in starts}
        for point in points:
            start = math.floor(point.timestamp / period) * period
            if start in buckets:
                buckets[start].append(point.value)
        series: list[float | None] = [
            _statistic(statistic, buckets[s]) if buckets[s] else None for s in starts
        ]
        state = _decide(series, to_alarm, threshold, compare, missing)
        # A series exists only while it has data: a contributor is ALARM or OK, never more.
        contributors.append(Contributor(key, ALARM if state == ALARM else OK, tuple(series)))
    in_alarm = tuple(c for c in contributors if c.state == ALARM)[:MAX_CONTRIBUTORS_IN_ALARM]
    if not query.group_by:
        # One aggregated series: an alarm like any single-metric one.
        periods = contributors[0].periods if contributors else tuple(None for _ in starts)
        state = _decide(list(periods), to_alarm, threshold, compare, missing)
        return Evaluation(name, state, periods, partial=len(ranked) > len(returned))
    if in_alarm:
        state = ALARM
    elif contributors:
        state = OK
    else:  # no series at all: the alarm's own missing-data rule decides
        state = _decide([None for _ in starts], to_alarm, threshold, compare, missing)
    return Evaluation(
        name,
        state,
        (),
        contributors=in_alarm,
        partial=len(ranked) > len(returned),
    )

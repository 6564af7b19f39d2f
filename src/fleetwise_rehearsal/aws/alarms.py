"""CloudWatch alarm evaluation over the datapoints the rehearsal saw.

moto stores alarms but never evaluates them. The rehearsal evaluates each alarm of the template
as CloudWatch documents it; each rule below names the page it comes from, and
``tests/rehearsal/test_alarm_evaluation.py`` holds each one with the page's own examples.

- *When* ("Alarm evaluation window"; "Limits", connected data sources): an alarm of a period
  of a minute or more is evaluated every minute. By default (``EvaluationWindow`` absent or
  ``SlidingWindow``) the window slides with each evaluation: at minute ``t`` the newest
  period is ``[t - Period, t)``, the one before ``[t - 2 Period, t - Period)`` and so on ("an
  alarm with a period of 1 hour ... might evaluate 13:07-14:07 in one evaluation and
  13:08-14:08 in the next"). A ``WallClockWindow`` evaluates complete periods aligned on
  the clock only: a datapoint counts once the period holding it has ended.
- *What* ("Evaluating an alarm"; "How alarm state is evaluated when data is missing"): each
  period's datapoints are aggregated with the statistic; the alarm looks at ``EvaluationPeriods``
  (N) values and is ALARM when at least ``DatapointsToAlarm`` (M, default N) of them breach.
  CloudWatch retrieves more periods than N, the *evaluation range*; when at least N of them
  hold data, the N most recent that do are evaluated and ``TreatMissingData`` is not used
  (which is why an alarm on a metric that stopped keeps re-evaluating its last datapoints);
  when fewer do, every real one in the range is evaluated and the missing ones are filled
  with the treatment, as few as possible, up to N. ``breaching`` and ``notBreaching`` fill;
  ``missing`` evaluates the real ones alone (ALARM with M breaching, OK with a non-breaching
  one, INSUFFICIENT_DATA otherwise) and ``ignore`` does the same but keeps the current state
  instead of INSUFFICIENT_DATA. With no data in the range: INSUFFICIENT_DATA, the current
  state, ALARM, OK. How long the range is, AWS documents only by example (5 periods for an
  alarm of 3): ``EXTRA_PERIODS`` (2) past N, a setting of ``evaluate``.
- *Warm-up* (PutMetricAlarm, ``WarmUpConfiguration``): for ``WarmUpPeriodDurationInMinutes``
  after the alarm is created it stays INSUFFICIENT_DATA and takes no action; with
  ``OnlyStartEvaluatingAfterWarmUpPeriodEnds`` it waits the whole duration (the rehearsal
  rehearses only that form).
- *Metric math* ("Using metric math"): ``FILL(m, value)`` replaces each missing value of
  ``m`` with ``value``, so an alarm on it never sees missing data. Other expressions raise
  ``UnsupportedAlarm``.
- *Metrics Insights* ("Create alarms on Metrics Insights queries", "Limits", "Acting on alarm
  changes", "Metrics Insights quotas"): only the latest 3 hours count; a query with
  ``GROUP BY`` returns one time series per group with data in those hours, each a
  *contributor* evaluated as a metric of its own; a contributor is only ever ALARM or OK (a
  series exists only while it has data); the alarm is ALARM while a contributor is; at most
  100 contributors are in ALARM; a query processes at most 10,000 metrics and returns at most
  500 series (the first 500 of its ``ORDER BY``), past which its data is partial. The query
  language is checked, not guessed: the subset the template uses is parsed (``SELECT
  FUNC(metric) FROM SCHEMA("namespace", dimension, ...) [WHERE dimension = 'value' [AND ...]]
  [GROUP BY dimension, ...] [ORDER BY FUNC() ASC|DESC] [LIMIT n]``, FUNC one of AVG, COUNT,
  MAX, MIN, SUM) and anything else raises ``UnsupportedAlarm``. ``SCHEMA`` matches the
  metrics whose dimension names are exactly the ones it lists.

Not rehearsed: extended statistics (percentiles), anomaly-detection bands, PromQL criteria,
time zones of a wall-clock window, and ``missing`` with a lone breaching datapoint older than
the evaluated periods (docs/rehearsal.md lists what AWS leaves undocumented).

Why one module: the evaluation of one alarm, whatever it reads (one metric, FILL over one,
a Metrics Insights query), shares its windows, its evaluation range and its decision; the
query language's parser is the part the others cannot do without.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
MINUTE = 60
# Periods of the evaluation range past the evaluated ones ("CloudWatch retrieves the 5 most
# recent data points" for an alarm of 3 evaluation periods). An assumption for other N.
EXTRA_PERIODS = 2


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


class MetricStore:
    """Datapoints by (namespace, metric name), each list in time order, so an evaluation reads
    only its own metric's window. Datapoints may be added in any order."""

    def __init__(self, points: Iterable[Datapoint] = ()) -> None:
        self._series: dict[tuple[str, str], list[Datapoint]] = {}
        self._stamps: dict[tuple[str, str], list[float]] = {}
        self.add(points)

    def add(self, points: Iterable[Datapoint]) -> None:
        for point in points:
            key = (point.namespace, point.name)
            stamps = self._stamps.setdefault(key, [])
            at = bisect.bisect_right(stamps, point.timestamp)
            stamps.insert(at, point.timestamp)
            self._series.setdefault(key, []).insert(at, point)

    def between(self, namespace: str, name: str, start: float, end: float) -> list[Datapoint]:
        """The metric's datapoints stamped in ``[start, end)``."""
        key = (namespace, name)
        stamps = self._stamps.get(key)
        if not stamps:
            return []
        low = bisect.bisect_left(stamps, start)
        high = bisect.bisect_left(stamps, end)
        return self._series[key][low:high]

    def names(self) -> list[tuple[str, str]]:
        """Every (namespace, metric name) with data."""
        return sorted(self._series)

    def __len__(self) -> int:
        return sum(len(s) for s in self._series.values())


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
    """An alarm's state at one moment and the values it was decided on (newest period first);
    for a multi-time-series alarm, its contributors in ALARM (at most 100, in the query's
    order) and whether the query matched more series than it returns."""

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


@dataclass(frozen=True)
class Rule:
    """How an alarm decides from its values: N, M, threshold, comparison, missing data."""

    evaluation_periods: int
    to_alarm: int
    threshold: float
    compare: Any
    missing: str

    @classmethod
    def of(cls, name: str, alarm: Mapping[str, Any]) -> Rule:
        evaluation_periods = int(alarm["EvaluationPeriods"])
        to_alarm = int(alarm.get("DatapointsToAlarm") or evaluation_periods)
        if not 1 <= to_alarm <= evaluation_periods:
            raise UnsupportedAlarm(f"{name}: DatapointsToAlarm must be 1 to EvaluationPeriods")
        compare = _COMPARISONS.get(str(alarm["ComparisonOperator"]))
        if compare is None:
            raise UnsupportedAlarm(f"{name}: comparison {alarm['ComparisonOperator']!r}")
        missing = str(alarm.get("TreatMissingData") or "missing")
        if missing not in ("missing", "ignore", "breaching", "notBreaching"):
            raise UnsupportedAlarm(f"{name}: TreatMissingData {missing!r}")
        return cls(evaluation_periods, to_alarm, float(alarm["Threshold"]), compare, missing)

    def decide(self, values: list[float | None], previous: str | None = None) -> str:
        """The state from the evaluation range's values, newest first (None: no data)."""
        existing = [v for v in values if v is not None]
        n = self.evaluation_periods
        if len(existing) >= n:
            evaluated: list[float | bool] = list(existing[:n])
        elif self.missing in ("breaching", "notBreaching"):
            # Every real datapoint of the range, filled up to N with the treatment.
            evaluated = [*existing, *([self.missing == "breaching"] * (n - len(existing)))]
        else:
            breaching = sum(1 for v in existing if self.compare(v, self.threshold))
            if breaching >= self.to_alarm:
                return ALARM
            if len(existing) > breaching:
                return OK
            if self.missing == "ignore" and previous is not None:
                return previous
            return INSUFFICIENT_DATA
        breaching = sum(
            1
            for v in evaluated
            if (v is True) or (not isinstance(v, bool) and self.compare(v, self.threshold))
        )
        return ALARM if breaching >= self.to_alarm else OK


@dataclass(frozen=True)
class Window:
    """The periods an evaluation at ``now`` reads, newest first, as ``(start, end)``."""

    starts: tuple[float, ...]
    period: int

    @classmethod
    def of(cls, name: str, alarm: Mapping[str, Any], period: int, count: int, now: float) -> Window:
        if period < MINUTE or period % MINUTE:
            raise UnsupportedAlarm(f"{name}: a period of {period} s is not rehearsed")
        window = alarm.get("EvaluationWindow") or {"SlidingWindow": {}}
        if "WallClockWindow" in window:
            if (window["WallClockWindow"] or {}).get("Timezone") not in (None, "UTC"):
                raise UnsupportedAlarm(f"{name}: a wall-clock window's time zone")
            end = math.floor(now / period) * period  # complete periods only
        elif "SlidingWindow" in window:
            end = math.floor(now / MINUTE) * MINUTE
        else:
            raise UnsupportedAlarm(f"{name}: EvaluationWindow {window!r}")
        return cls(tuple(end - period * (i + 1) for i in range(count)), period)

    @property
    def oldest(self) -> float:
        return self.starts[-1]

    @property
    def end(self) -> float:
        return self.starts[0] + self.period

    def values(self, points: Iterable[Datapoint], statistic: str) -> list[float | None]:
        """Each period's aggregate of ``points`` (None: no datapoint), newest first."""
        buckets: list[list[float]] = [[] for _ in self.starts]
        for point in points:
            if not self.oldest <= point.timestamp < self.end:
                continue
            index = int((self.end - point.timestamp - 1e-9) // self.period)
            buckets[index].append(point.value)
        return [_statistic(statistic, b) if b else None for b in buckets]


def _store(datapoints: Iterable[Datapoint] | MetricStore) -> MetricStore:
    return datapoints if isinstance(datapoints, MetricStore) else MetricStore(datapoints)


def evaluate(
    name: str,
    alarm: Mapping[str, Any],
    datapoints: Iterable[Datapoint] | MetricStore,
    now: float,
    *,
    previous: str | None = None,
    extra_periods: int = EXTRA_PERIODS,
    created: float | None = None,
) -> Evaluation:
    """Evaluate one alarm (its template properties) at virtual epoch second ``now``.

    ``previous`` is the alarm's state before (``ignore`` keeps it); ``extra_periods`` sets
    how far past ``EvaluationPeriods`` the evaluation range reaches; ``created`` is when the
    alarm was created (its warm-up counts from then)."""
    if "ExtendedStatistic" in alarm or "ThresholdMetricId" in alarm:
        raise UnsupportedAlarm(f"{name}: extended statistics and bands are not rehearsed")
    if "EvaluationCriteria" in alarm:
        raise UnsupportedAlarm(f"{name}: PromQL alarms are not rehearsed")
    warm_up = alarm.get("WarmUpConfiguration")
    if warm_up:
        if str(warm_up.get("OnlyStartEvaluatingAfterWarmUpPeriodEnds")).lower() != "true":
            raise UnsupportedAlarm(f"{name}: a warm-up that may end early is not rehearsed")
        minutes = float(warm_up["WarmUpPeriodDurationInMinutes"])
        if created is not None and now < created + minutes * MINUTE:
            return Evaluation(name, INSUFFICIENT_DATA, ())
    store = _store(datapoints)
    rule = Rule.of(name, alarm)
    count = rule.evaluation_periods + extra_periods
    if "Metrics" in alarm:
        queries = list(alarm["Metrics"])
        if len(queries) == 1 and str(queries[0].get("Expression", "")).startswith("SELECT"):
            return _evaluate_query(
                name, alarm, rule, queries[0], store, now=now, count=count, previous=previous
            )
        return _evaluate_math(
            name, alarm, rule, queries, store, now=now, count=count, previous=previous
        )
    metric = {
        "Namespace": alarm["Namespace"],
        "MetricName": alarm["MetricName"],
        "Dimensions": alarm.get("Dimensions") or [],
    }
    window = Window.of(name, alarm, int(alarm["Period"]), count, now)
    values = window.values(_matching(store, metric, window), str(alarm["Statistic"]))
    return Evaluation(name, rule.decide(values, previous), tuple(values))


def _matching(store: MetricStore, metric: Mapping[str, Any], window: Window) -> list[Datapoint]:
    # A metric is its namespace, name and *exact* dimension set: a datapoint published with
    # more or fewer dimensions is another metric.
    dims = frozenset((str(d["Name"]), str(d["Value"])) for d in metric.get("Dimensions") or [])
    return [
        p
        for p in store.between(
            str(metric["Namespace"]), str(metric["MetricName"]), window.oldest, window.end
        )
        if p.dimensions == dims
    ]


_FILL = re.compile(r"^FILL\(\s*([a-z][A-Za-z0-9_]*)\s*,\s*(-?[0-9]+(\.[0-9]+)?)\s*\)$")


def _evaluate_math(
    name: str,
    alarm: Mapping[str, Any],
    rule: Rule,
    queries: list[Mapping[str, Any]],
    store: MetricStore,
    *,
    now: float,
    count: int,
    previous: str | None,
) -> Evaluation:
    returned = [q for q in queries if q.get("ReturnData", True)]
    if len(returned) != 1:
        raise UnsupportedAlarm(f"{name}: exactly one query must return data")
    stats = {str(q["Id"]): q["MetricStat"] for q in queries if "MetricStat" in q}
    wanted = returned[0]
    fill: float | None = None
    if "MetricStat" in wanted:
        stat = wanted["MetricStat"]
    else:
        found = _FILL.match(str(wanted.get("Expression", "")).strip())
        if found is None or found[1] not in stats:
            raise UnsupportedAlarm(f"{name}: only FILL(metric, number) is rehearsed")
        stat, fill = stats[found[1]], float(found[2])
    window = Window.of(name, alarm, int(stat["Period"]), count, now)
    values = window.values(_matching(store, stat["Metric"], window), str(stat["Stat"]))
    if fill is not None:
        values = [fill if v is None else v for v in values]
    return Evaluation(name, rule.decide(values, previous), tuple(values))


# --- Metrics Insights ----------------------------------------------------------------------

# Documented limits of alarms on Metrics Insights queries.
QUERY_WINDOW_SECONDS = 3 * 3600
MAX_SERIES = 500
MAX_METRICS = 10_000
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
    name: str,
    alarm: Mapping[str, Any],
    rule: Rule,
    entry: Mapping[str, Any],
    store: MetricStore,
    *,
    now: float,
    count: int,
    previous: str | None,
) -> Evaluation:
    query = parse_query(str(entry["Expression"]))
    period = int(entry["Period"])
    if period * rule.evaluation_periods > QUERY_WINDOW_SECONDS:
        raise UnsupportedAlarm(
            f"{name}: {rule.evaluation_periods} periods of {period} s reach past the 3 hours a "
            "Metrics Insights alarm can evaluate"
        )
    statistic = _FUNCTIONS[query.function]
    window = Window.of(name, alarm, period, count, now)
    # Only the latest 3 hours: the evaluation range stops there.
    oldest = window.end - QUERY_WINDOW_SECONDS
    window = Window(tuple(s for s in window.starts if s >= oldest), period)
    conditions = set(query.where)
    # Every matching metric with data in the window, by group (one metric per dimension set).
    groups: dict[tuple[tuple[str, str], ...], list[Datapoint]] = {}
    metrics: set[frozenset[tuple[str, str]]] = set()
    for point in store.between(query.namespace, query.metric, oldest, window.end):
        if {k for k, _ in point.dimensions} != query.schema:
            continue
        if not conditions <= point.dimensions:
            continue
        if point.dimensions not in metrics and len(metrics) >= MAX_METRICS:
            continue  # the query processes the first 10,000 metrics it finds
        metrics.add(point.dimensions)
        named = dict(point.dimensions)
        key = tuple((d, named[d]) for d in query.group_by)
        groups.setdefault(key, []).append(point)
    # ORDER BY sorts the series on the function over the whole window; LIMIT keeps the first.
    ranked = sorted(
        groups.items(),
        key=lambda item: _statistic(statistic, [p.value for p in item[1]]),
        reverse=query.descending,
    )
    returned = ranked[: query.limit]
    partial = len(ranked) > len(returned) or len(metrics) >= MAX_METRICS
    if not query.group_by:
        # One aggregated series: an alarm like any single-metric one.
        points = returned[0][1] if returned else []
        values = window.values(points, statistic) if window.starts else []
        state = rule.decide(values, previous)
        return Evaluation(name, state, tuple(values), partial=partial)
    contributors = []
    for key, points in returned:
        values = window.values(points, statistic)
        state = rule.decide(values)
        # A series exists only while it has data: a contributor is ALARM or OK, never more.
        contributors.append(Contributor(key, ALARM if state == ALARM else OK, tuple(values)))
    in_alarm = tuple(c for c in contributors if c.state == ALARM)[:MAX_CONTRIBUTORS_IN_ALARM]
    if in_alarm:
        state = ALARM
    elif contributors:
        state = OK
    else:  # no series at all: the alarm's own missing-data rule decides
        state = rule.decide([None] * max(1, len(window.starts)), previous)
    return Evaluation(name, state, (), contributors=in_alarm, partial=partial)

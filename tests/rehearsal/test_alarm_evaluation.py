"""The rehearsal's alarm evaluator against what CloudWatch documents, page by page.

Each test names the page whose rule (or example) it holds; what the pages leave open is
listed in docs/rehearsal.md ("Alarms"), not guessed silently.

- "Alarm evaluation window", Amazon CloudWatch User Guide
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation-window.html)
- "Evaluating an alarm" and "How alarm state is evaluated when data is missing", Amazon
  CloudWatch User Guide, "Using Amazon CloudWatch alarms"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)
- "Using metric math", FILL
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)
- PutMetricAlarm, ``WarmUpConfiguration``, Amazon CloudWatch API Reference
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)
- "Limits" (alarms on Metrics Insights queries and on connected data sources)
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html)
- "Acting on alarm changes"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Acting_Alarm_Changes.html)
"""

from __future__ import annotations

from typing import Any

import pytest

from fleetwise_rehearsal.aws import alarms as alarm_eval
from fleetwise_rehearsal.aws.alarm_monitor import AlarmMonitor, Notification
from fleetwise_rehearsal.aws.alarms import ALARM, INSUFFICIENT_DATA, OK, Datapoint, MetricStore

HOUR = 3600
# 2026-11-26T13:00:00Z: a whole hour, so minutes and periods read as the pages' examples.
T13 = 1_795_698_000.0
METRIC = frozenset({("FunctionName", "f")})


def point(at: float, value: float = 1.0) -> Datapoint:
    return Datapoint("AWS/Lambda", "Errors", METRIC, at, value)


def single(period: int = 60, periods: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
        "Statistic": "Sum",
        "Period": period,
        "EvaluationPeriods": periods,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **extra,
    }


# -- "Alarm evaluation window" ------------------------------------------------------------------


def test_a_sliding_window_ends_at_each_minute_it_is_evaluated() -> None:
    # The page's example: a 1-hour period "might evaluate 13:07-14:07 in one evaluation and
    # 13:08-14:08 in the next". A datapoint at 13:07:30 is in the first, not in the second.
    alarm = single(period=HOUR, TreatMissingData="notBreaching")
    # (a value of 0 later keeps the newest period from being empty: see the next tests)
    points = [point(T13 + 7 * 60 + 30), point(T13 + HOUR + 7 * 60 + 30, 0)]
    assert alarm_eval.evaluate("a", alarm, points, T13 + HOUR + 7 * 60).state == ALARM
    assert alarm_eval.evaluate("a", alarm, points, T13 + HOUR + 8 * 60).state == OK
    # AND within the minute of the evaluation the window ends at that minute: a datapoint
    # counts from the next evaluation on (an alarm is evaluated every minute, "Limits")
    fresh = [point(T13 + 30)]
    assert alarm_eval.evaluate("a", alarm, fresh, T13 + 45).state == OK
    assert alarm_eval.evaluate("a", alarm, fresh, T13 + 60).state == ALARM


def test_a_wall_clock_window_reflects_a_datapoint_once_its_period_has_ended() -> None:
    # "A wall clock window ... reflects a data point only after the period that holds it ends"
    alarm = single(
        period=HOUR, TreatMissingData="notBreaching", EvaluationWindow={"WallClockWindow": {}}
    )
    points = [point(T13 + 10 * 60), point(T13 + HOUR + 30 * 60, 0)]
    assert alarm_eval.evaluate("a", alarm, points, T13 + 59 * 60).state == OK
    assert alarm_eval.evaluate("a", alarm, points, T13 + HOUR).state == ALARM
    assert alarm_eval.evaluate("a", alarm, points, T13 + 2 * HOUR - 60).state == ALARM
    assert alarm_eval.evaluate("a", alarm, points, T13 + 2 * HOUR).state == OK


# -- "How alarm state is evaluated when data is missing" ---------------------------------------

# The page's two tables: datapoints oldest first (0 not breaching, X breaching, - missing) in
# the 5 periods CloudWatch retrieves for an alarm of 3 evaluation periods; the state for each
# treatment of missing data (None: the current state is kept).
TABLE_3_OF_3 = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT_DATA, None, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT_DATA, None, ALARM, OK),
]
TABLE_2_OF_3 = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT_DATA, None, ALARM, OK),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def _from_pattern(pattern: str, period: int, now: float) -> list[Datapoint]:
    """The pattern's datapoints in the 5 sliding periods before ``now`` (oldest first)."""
    slots = pattern.split()
    return [
        point(now - period * (len(slots) - i) + 1, 0.0 if slot == "0" else 2.0)
        for i, slot in enumerate(slots)
        if slot != "-"
    ]


@pytest.mark.parametrize(
    ("pattern", "to_alarm", "expected"),
    [(row[0], 3, dict(zip(TREATMENTS, row[1:], strict=True))) for row in TABLE_3_OF_3]
    + [(row[0], 2, dict(zip(TREATMENTS, row[1:], strict=True))) for row in TABLE_2_OF_3],
)
def test_the_pages_tables_of_missing_data(
    pattern: str, to_alarm: int, expected: dict[str, str | None]
) -> None:
    now = T13 + HOUR
    points = _from_pattern(pattern, 300, now)
    for treatment, state in expected.items():
        alarm = single(period=300, periods=3, DatapointsToAlarm=to_alarm,
                       TreatMissingData=treatment)  # fmt: skip
        # an alarm that keeps its state keeps whichever it had (shown with two)
        for previous in (OK, ALARM):
            found = alarm_eval.evaluate("a", alarm, points, now, previous=previous)
            assert found.state == (state or previous), (pattern, treatment, previous)


def test_one_row_of_the_page_is_not_followed_and_docs_rehearsal_says_so() -> None:
    # "X - - - -" with missing data treated as missing: the page says ALARM ("the oldest
    # evaluated data point is breaching"); the rule the other rows follow gives
    # INSUFFICIENT_DATA, which the rehearsal answers (docs/rehearsal.md, "Alarms").
    alarm = single(period=300, periods=3, TreatMissingData="missing")
    now = T13 + HOUR
    found = alarm_eval.evaluate("a", alarm, _from_pattern("X - - - -", 300, now), now)
    assert found.state == INSUFFICIENT_DATA


def test_an_alarm_keeps_evaluating_the_last_datapoints_after_a_metric_stops() -> None:
    # "CloudWatch alarms may repeatedly re-evaluate the last set of data points for a period
    # of time after the metric has stopped flowing": with at least N datapoints in the
    # evaluation range, missing data is not used at all.
    alarm = single(period=300, periods=1, TreatMissingData="notBreaching")
    points = [point(T13)]
    # newest period [13:05, 13:10) is empty, yet the range holds the 13:00 datapoint
    assert alarm_eval.evaluate("a", alarm, points, T13 + 600).state == ALARM
    # once the range (N + 2 periods here: the page's 5 for 3) no longer holds it, OK
    assert alarm_eval.evaluate("a", alarm, points, T13 + 900).state == ALARM
    assert alarm_eval.evaluate("a", alarm, points, T13 + 960).state == OK
    # AND the length of the range is the rehearsal's assumption, a setting of the evaluator
    assert alarm_eval.evaluate("a", alarm, points, T13 + 600, extra_periods=0).state == OK


def test_m_of_n_counts_breaching_datapoints_that_need_not_be_consecutive() -> None:
    # "Evaluating an alarm": "The breaching data points do not have to be consecutive"
    alarm = single(period=60, periods=3, DatapointsToAlarm=2, TreatMissingData="notBreaching")
    now = T13 + 600
    points = [point(now - 170, 1), point(now - 110, 0), point(now - 50, 1)]
    assert alarm_eval.evaluate("a", alarm, points, now).state == ALARM
    assert alarm_eval.evaluate("a", {**alarm, "DatapointsToAlarm": 3}, points, now).state == OK


# -- "Using metric math": FILL --------------------------------------------------------------


def filled(period: int = 300, missing: str = "notBreaching") -> dict[str, Any]:
    return {
        "Metrics": [
            {
                "Id": "metric",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Errors",
                        "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "filled", "Expression": "FILL(metric, 0)", "ReturnData": True},
        ],
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": missing,
    }


def test_fill_makes_a_period_without_data_a_value_so_the_alarm_returns_to_ok_one_period_on() -> (
    None
):
    # FILL "fills the missing values of a time series": the alarm no longer re-evaluates the
    # last datapoint of a metric that stopped (compare the test above).
    points = [point(T13)]
    assert alarm_eval.evaluate("a", filled(), points, T13 + 300).state == ALARM
    assert alarm_eval.evaluate("a", filled(), points, T13 + 360).state == OK
    # AND a heartbeat read through FILL breaches one period after its last beat
    heartbeat = {**filled(), "ComparisonOperator": "LessThanThreshold"}
    assert alarm_eval.evaluate("h", heartbeat, points, T13 + 300).state == OK
    assert alarm_eval.evaluate("h", heartbeat, points, T13 + 360).state == ALARM


def test_other_expressions_are_refused() -> None:
    other = filled()
    other["Metrics"][1]["Expression"] = "metric * 2"
    with pytest.raises(alarm_eval.UnsupportedAlarm, match="only FILL"):
        alarm_eval.evaluate("a", other, [], T13)


# -- PutMetricAlarm: WarmUpConfiguration ------------------------------------------------------


def test_a_warm_up_keeps_a_new_alarm_insufficient_for_its_duration() -> None:
    # "After you create or update the alarm, the alarm stays in INSUFFICIENT_DATA for this
    # duration. During this time, the alarm does not perform alarm actions."
    warm = {
        **filled(missing="breaching"),
        "ComparisonOperator": "LessThanThreshold",
        "WarmUpConfiguration": {
            "WarmUpPeriodDurationInMinutes": 30,
            "OnlyStartEvaluatingAfterWarmUpPeriodEnds": True,
        },
    }
    assert alarm_eval.evaluate("h", warm, [], T13 + 1799, created=T13).state == INSUFFICIENT_DATA
    assert alarm_eval.evaluate("h", warm, [], T13 + 1800, created=T13).state == ALARM
    early = {**warm, "WarmUpConfiguration": {"WarmUpPeriodDurationInMinutes": 30}}
    with pytest.raises(alarm_eval.UnsupportedAlarm, match="may end early"):
        alarm_eval.evaluate("h", early, [], T13, created=T13)


# -- Metrics Insights: contributors, their states and notifications -----------------------------

QUERY = (
    'SELECT MIN(TargetInTrouble) FROM SCHEMA("NS", service, state, target) '
    "WHERE service = 'stack' AND state = 'Failed' GROUP BY target ORDER BY MIN() DESC"
)


def insights(period: int = 900) -> dict[str, Any]:
    return {
        "Metrics": [{"Id": "failed", "Expression": QUERY, "Period": period, "ReturnData": True}],
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": ["topic"],
        "OKActions": ["topic"],
    }


def trouble(target: str, at: float, value: float, stack: str = "stack") -> Datapoint:
    dims = frozenset({("service", stack), ("state", "Failed"), ("target", target)})
    return Datapoint("NS", "TargetInTrouble", dims, at, value)


def test_each_contributor_notifies_alone_and_the_alarm_as_a_whole_once() -> None:
    # "Acting on alarm changes": SNS notifications are sent at the alarm level and at the
    # contributor level; a contributor is only ever ALARM or OK ("a time series only exists
    # when data is present"). Two targets fail one after the other, the first recovers.
    store = MetricStore(
        [
            trouble("a", T13 + 30, 1),
            trouble("b", T13 + 330, 1),
            trouble("a", T13 + 630, 0),  # the clear: the period's minimum is 0
            trouble("b", T13 + 930, 1),
            trouble("b", T13 + 1230, 0),
            # another stack's target is not this alarm's (WHERE service = 'stack')
            trouble("z", T13 + 30, 1, stack="other"),
        ]
    )
    monitor = AlarmMonitor({"Failed": insights()}, created=T13)
    monitor.advance(store, T13 + 1500)
    events = [((n.at - T13) / 60, n.state, n.value("target")) for n in monitor.notifications]
    assert events == [
        (0, OK, None),  # the new alarm's first evaluation, from INSUFFICIENT_DATA
        (1, ALARM, None),
        (1, ALARM, "a"),
        (6, ALARM, "b"),
        (11, OK, "a"),
        (21, OK, None),
        (21, OK, "b"),
    ]
    assert all(isinstance(n, Notification) for n in monitor.notifications)


def test_a_contributor_with_no_data_left_in_three_hours_is_gone() -> None:
    # "Limits": only the latest 3 hours of data can be used for evaluating the alarm.
    points = [trouble("a", T13, 1)]
    found = alarm_eval.evaluate("q", insights(HOUR), points, T13 + 3 * HOUR + 60)
    assert (found.state, found.contributors) == (OK, ())
    assert alarm_eval.evaluate("q", insights(HOUR), points, T13 + 120).in_alarm("target") == ["a"]


def test_at_most_100_contributors_in_alarm_and_partial_data_past_500_series() -> None:
    # "Limits": "Alarms evaluating multiple time series will limit the number of contributors
    # in ALARM to 100"; EvaluationState PARTIAL_DATA "If the Metrics Insights query returns
    # more than 500 time series".
    points = [trouble(f"t{i:03d}", T13 + 10, 1) for i in range(150)]
    points += [trouble(f"u{i:03d}", T13 + 10, 0) for i in range(400)]
    found = alarm_eval.evaluate("q", insights(), points, T13 + 60)
    assert len(found.in_alarm("target")) == 100
    assert found.partial is True
    # ORDER BY MIN() DESC puts the targets in trouble first: the 500 returned hold all 150
    assert alarm_eval.evaluate("q", insights(), points[:500], T13 + 60).partial is False

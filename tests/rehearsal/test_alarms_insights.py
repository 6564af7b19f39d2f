"""The rehearsal's evaluation of alarms on Metrics Insights queries: one contributor per
``GROUP BY`` group with data in the last 3 hours, ALARM or OK each, at most 100 reported in
ALARM, at most 500 series evaluated, and a query language checked rather than guessed."""

from __future__ import annotations

from typing import Any

import pytest

from fleetwise_rehearsal.aws import alarms as alarm_eval
from fleetwise_rehearsal.aws.alarms import ALARM, INSUFFICIENT_DATA, OK, Datapoint

NAMESPACE = "FleetWiseReconciler"
SERVICE = ("service", "fleetwise-reconciler")
QUERY = (
    'SELECT MIN(RegistrationHealthy) FROM SCHEMA("FleetWiseReconciler", service, target) '
    "WHERE service = 'fleetwise-reconciler' GROUP BY target ORDER BY MIN() ASC"
)
PERIOD = 1800
NOW = 1_800_000_000.0  # a period boundary (divisible by 1800), plus what each test adds


def _alarm(query: str = QUERY, periods: int = 2, missing: str = "notBreaching") -> dict[str, Any]:
    return {
        "Metrics": [{"Id": "unhealthy", "Expression": query, "Period": PERIOD}],
        "EvaluationPeriods": periods,
        "Threshold": 1,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": missing,
    }


def _point(target: str, at: float, value: float, *extra: tuple[str, str]) -> Datapoint:
    dims = frozenset({SERVICE, ("target", target), *extra})
    return Datapoint(NAMESPACE, "RegistrationHealthy", dims, at, value)


def test_each_target_is_a_contributor_and_only_the_unhealthy_ones_alarm() -> None:
    now = NOW + 100  # evaluated at the minute NOW + 60: the periods end there
    points = [
        _point("111111111111:us-east-1", now - 2000, 0),
        _point("111111111111:us-east-1", now - 70, 0),
        _point("222222222222:eu-central-1", now - 2000, 1),
        _point("222222222222:eu-central-1", now - 70, 1),
        # Recovered within the newest period: that period's minimum is still 0.
        _point("333333333333:us-east-1", now - 2800, 0),
        _point("333333333333:us-east-1", now - 110, 0),
        _point("333333333333:us-east-1", now - 70, 1),
    ]
    found = alarm_eval.evaluate("Unhealthy", _alarm(), points, now)
    assert found.state == ALARM
    # (ties of the ORDER BY keep the order in which the series were found)
    assert sorted(found.in_alarm("target")) == ["111111111111:us-east-1", "333333333333:us-east-1"]
    # each period's minimum, newest first, over the evaluation range (2 periods and 2 more)
    assert [c.periods for c in found.contributors] == [
        (0.0, 0.0, None, None),
        (0.0, 0.0, None, None),
    ]
    assert found.partial is False


def test_a_target_that_recovered_for_whole_periods_is_ok_and_the_alarm_with_it() -> None:
    now = NOW + 100
    points = [
        _point("111111111111:us-east-1", now - 3 * PERIOD, 0),  # before the evaluated periods
        _point("111111111111:us-east-1", now - PERIOD, 1),
        _point("111111111111:us-east-1", now - 10, 1),
    ]
    found = alarm_eval.evaluate("Unhealthy", _alarm(), points, now)
    assert (found.state, found.contributors) == (OK, ())


def test_data_older_than_three_hours_makes_no_contributor() -> None:
    now = NOW + 100
    points = [_point("111111111111:us-east-1", now - 3 * 3600 - 1, 0)]
    long = _alarm(periods=6)  # 6 x 30 min: the whole 3 hours
    assert alarm_eval.evaluate("Unhealthy", long, points, now).state == OK
    assert alarm_eval.evaluate("Unhealthy", long, points, now).contributors == ()
    # AND with no series at all, the alarm's own missing-data rule decides
    assert alarm_eval.evaluate("U", _alarm(missing="breaching"), [], now).state == ALARM
    assert alarm_eval.evaluate("U", _alarm(missing="missing"), [], now).state == INSUFFICIENT_DATA


def test_schema_matches_exactly_its_dimensions_and_where_filters() -> None:
    now = NOW + 100
    points = [
        _point("111111111111:us-east-1", now - 10, 0, ("reason", "AccessDenied")),
        Datapoint(
            NAMESPACE,
            "RegistrationHealthy",
            frozenset({("service", "other"), ("target", "222222222222:us-east-1")}),
            now - 10,
            0,
        ),
        Datapoint("Other", "RegistrationHealthy", frozenset({SERVICE}), now - 10, 0),
    ]
    found = alarm_eval.evaluate("Unhealthy", _alarm(), points, now)
    assert (found.state, found.contributors) == (OK, ())


def test_at_most_100_contributors_are_reported_in_alarm_and_500_series_evaluated() -> None:
    now = NOW + 100
    failing = [_point(f"{i:012d}:us-east-1", now - t, 0) for i in range(150) for t in (2000, 70)]
    healthy = [_point(f"{i:012d}:eu-central-1", now - 70, 1) for i in range(400)]
    found = alarm_eval.evaluate("Unhealthy", _alarm(), failing + healthy, now)
    assert found.state == ALARM
    assert len(found.contributors) == 100
    # ORDER BY MIN() ASC puts the failing ones first: the 500 evaluated hold all 150 of them,
    # and 50 of the 400 healthy ones are left out
    assert found.partial is True


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("SELECT MIN(RegistrationHealthy) FROM FleetWiseReconciler", "not a Metrics Insights"),
        (QUERY.replace("GROUP BY target", "GROUP BY region"), "'region' is not a dimension"),
        (QUERY.replace("ORDER BY MIN()", "ORDER BY MAX()"), "ORDER BY must name"),
        (QUERY + " LIMIT 501", "LIMIT must be 1 to 500"),
        (QUERY.replace("MIN(RegistrationHealthy)", "P90(RegistrationHealthy)"), "not a Metrics"),
    ],
)
def test_a_query_outside_the_subset_is_refused(query: str, problem: str) -> None:
    with pytest.raises(alarm_eval.UnsupportedAlarm, match=problem):
        alarm_eval.evaluate("Unhealthy", _alarm(query), [], NOW)


def test_an_evaluation_longer_than_three_hours_is_refused() -> None:
    with pytest.raises(alarm_eval.UnsupportedAlarm, match="past the 3 hours"):
        alarm_eval.evaluate("Unhealthy", _alarm(periods=7), [], NOW)


def test_a_query_without_group_by_is_one_aggregated_series() -> None:
    now = NOW + 100
    query = QUERY.replace(" GROUP BY target ORDER BY MIN() ASC", "")
    points = [
        _point("111111111111:us-east-1", now - 70, 1),
        _point("222222222222:us-east-1", now - 70, 0),
    ]
    found = alarm_eval.evaluate("Any", _alarm(query, periods=1), points, now)
    assert (found.state, found.periods[0], found.contributors) == (ALARM, 0.0, ())

"""The alarm model (docs/runbook.md, "The alarm model"), held against the template.

- The runbook's table has one row for every alarm of the template, and each row says what the
  template defines: the metric (and the trouble state a per-target alarm selects), the
  statistic, whether the metric is read through FILL, the period's parameter, the evaluation
  periods, the datapoints to alarm and the treatment of missing data.
- Each trouble state of ``logic.health.TROUBLE`` is selected by exactly the alarm the table of
  states names, and every per-target alarm selects one of them, in this stack's service.
- For every value the parameters allow (their ``MinValue``/``MaxValue`` and ``AllowedValues``)
  and the template's Rules accept, the model's rules hold: every period of an alarm on a
  condition the drift check samples holds a check (``DriftCheckRateMinutes`` +
  ``DriftCheckWindowMinutes`` <= the period), a Metrics Insights alarm reads at most its 3
  hours, every period is whole minutes, and the graces are at least one period.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from template_support import load_template, refusals

from fleetwise_reconciler.logic.health import TROUBLE
from fleetwise_rehearsal.aws.alarms import QUERY_WINDOW_SECONDS, parse_query

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
TEMPLATE = load_template()
ALARMS = {
    name: resource["Properties"]
    for name, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::CloudWatch::Alarm"
}
PARAMETERS = TEMPLATE["Parameters"]
MISSING = {"not breaching": "notBreaching", "breaching": "breaching"}
FUNCTIONS = {"MIN": "Minimum", "Sum": "Sum", "Maximum": "Maximum"}
TIMES = "\N{MULTIPLICATION SIGN}"  # between the period, the periods and the datapoints


def _rows() -> list[list[str]]:
    text = RUNBOOK.read_text()
    section = text.split("### The alarm model", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _names(cell: str) -> list[str]:
    """The template alarms a row's first cell names (``<Function>XAlarm``: every function's)."""
    found = []
    for name in re.findall(r"`([^`]+)`", cell):
        if name.startswith("<Function>"):
            suffix = name.removeprefix("<Function>")
            found += sorted(a for a in ALARMS if a.endswith(suffix) and a != suffix)
        else:
            found.append(name)
    return found


def _ref(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Ref"}, value
    return str(value["Ref"])


def _described(row: list[str]) -> dict[str, Any]:
    """What a row says: metric, state, statistic, FILL, period parameter, N, M, missing."""
    _alarm, _condition, metric, periods, missing, _ok = row
    named = re.findall(r"`([A-Za-z]+)`", metric)
    state = re.search(r"state `(\w+)`", metric)
    statistic = next(s for word, s in FUNCTIONS.items() if re.search(rf"\b{word}\b", metric))
    shape = re.fullmatch(rf"`(\w+)` {TIMES} (\d+) {TIMES} (\d+)", periods)
    assert shape is not None, periods
    parameter, n, m = shape.groups()
    treatment = next(t for words, t in MISSING.items() if missing.startswith(words))
    return {
        "metrics": [n for n in named if n != (state[1] if state else None)],
        "state": state[1] if state else None,
        "statistic": statistic,
        "fill": "through FILL" in metric,
        "period": parameter,
        "evaluation_periods": int(n),
        "to_alarm": int(m),
        "missing": treatment,
    }


def _defined(props: dict[str, Any]) -> dict[str, Any]:
    """What the template defines for one alarm, in the row's terms."""
    queries = props["Metrics"]
    returned = [q for q in queries if q.get("ReturnData", True)]
    [shown] = returned
    found: dict[str, Any] = {
        "evaluation_periods": int(props["EvaluationPeriods"]),
        "to_alarm": int(props.get("DatapointsToAlarm", props["EvaluationPeriods"])),
        "missing": props["TreatMissingData"],
    }
    expression = shown.get("Expression")
    if isinstance(expression, dict):  # a Metrics Insights query under Fn::Sub
        text = expression["Fn::Sub"].replace("${MetricsNamespace}", "NS")
        query = parse_query(text.replace("${AWS::StackName}", "STACK"))
        where = dict(query.where)
        assert where["service"] == "STACK"  # this stack's targets only
        assert query.group_by == ("target",)
        assert query.descending  # the series in trouble are the 500 it returns
        return found | {
            "metric": query.metric,
            "state": where["state"],
            "statistic": FUNCTIONS[query.function],
            "fill": False,
            "period": _ref(shown["Period"]),
        }
    [stat] = [q for q in queries if "MetricStat" in q]
    assert expression == f"FILL({stat['Id']}, 0)"
    metric = stat["MetricStat"]["Metric"]
    return found | {
        "metric": metric["MetricName"],
        "state": None,
        "statistic": stat["MetricStat"]["Stat"],
        "fill": True,
        "period": _ref(stat["MetricStat"]["Period"]),
    }


def test_the_runbooks_table_has_one_row_for_every_alarm() -> None:
    named = [name for row in _rows() for name in _names(row[0])]
    assert sorted(named) == sorted(ALARMS)


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row[0][:40])
def test_each_row_says_what_the_template_defines(row: list[str]) -> None:
    said = _described(row)
    for name in _names(row[0]):
        defined = _defined(ALARMS[name])
        assert defined["metric"] in said["metrics"], name
        for key in ("state", "statistic", "fill", "period", "evaluation_periods", "to_alarm",
                    "missing"):  # fmt: skip
            assert defined[key] == said[key], (name, key)


def test_every_trouble_state_is_selected_by_the_alarm_that_names_it() -> None:
    selecting = {
        _defined(props)["state"]: name
        for name, props in ALARMS.items()
        if _defined(props)["state"] is not None
    }
    assert selecting == {str(state): trouble.alarm for state, trouble in TROUBLE.items()}
    # AND the runbook's table of states names the same alarm for each
    states = RUNBOOK.read_text().split("### Target states", 1)[1].split("\n### ", 1)[0]
    for state, trouble in TROUBLE.items():
        assert re.search(rf"^\| `{state}` \|.*\| `{trouble.alarm}` \|$", states, re.M), state


def _range(name: str) -> list[int]:
    spec = PARAMETERS[name]
    if "AllowedValues" in spec:
        return sorted(int(v) for v in spec["AllowedValues"])
    return list(range(int(spec["MinValue"]), int(spec["MaxValue"]) + 1))


def test_the_rules_hold_for_every_value_the_parameters_allow() -> None:
    # GIVEN every drift rate, window and health period the parameters allow
    rates = _range("DriftCheckRateMinutes")
    windows = _range("DriftCheckWindowMinutes")
    periods = _range("HealthAlarmPeriodSeconds")
    accepted = [
        (rate, window, period)
        for period in periods
        for rate in rates
        for window in windows
        if not refusals(
            TEMPLATE,
            {
                "DriftCheckRateMinutes": str(rate),
                "DriftCheckWindowMinutes": str(window),
                "HealthAlarmPeriodSeconds": str(period),
            },
        )
    ]
    # THEN every combination the Rules accept gives every alarm period a drift check: a
    # condition sampled once per check is evaluated over periods that fit the check
    assert accepted
    assert all(rate + window <= period // 60 for rate, window, period in accepted)
    # AND no value the parameters allow is refused whatever the others are
    assert {r for r, _, _ in accepted} == set(rates)
    assert {w for _, w, _ in accepted} == set(windows)
    assert {p for _, _, p in accepted} == set(periods)
    # AND the defaults are accepted
    cadence = ("DriftCheckRateMinutes", "DriftCheckWindowMinutes", "HealthAlarmPeriodSeconds")
    defaults = tuple(int(PARAMETERS[n]["Default"]) for n in cadence)
    assert defaults in accepted


def test_every_alarm_period_is_whole_minutes_and_a_per_target_alarm_reads_three_hours_at_most() -> (
    None
):
    for name, props in ALARMS.items():
        defined = _defined(props)
        for value in _range(defined["period"]):
            assert value % 60 == 0, (name, value)
            assert value * defined["evaluation_periods"] <= 86_400, name
            if defined["state"] is not None:
                assert value * defined["evaluation_periods"] <= QUERY_WINDOW_SECONDS, name


def test_the_graces_are_at_least_one_health_period() -> None:
    # a Reconciling or Drifted target is named after its grace, which is whole periods
    for name in ("UnhealthyEvaluationPeriods", "DriftAlarmPeriods"):
        assert min(_range(name)) >= 1, name


def test_the_heartbeat_waits_one_period_after_it_is_created() -> None:
    props = ALARMS["DriftCheckSilentAlarm"]
    warm = props["WarmUpConfiguration"]
    assert warm["OnlyStartEvaluatingAfterWarmUpPeriodEnds"] is True
    mapping, key, field = warm["WarmUpPeriodDurationInMinutes"]["Fn::FindInMap"]
    assert _ref(key) == "HealthAlarmPeriodSeconds"
    minutes = TEMPLATE["Mappings"][mapping]
    assert {int(k): v[field] for k, v in minutes.items()} == {
        p: p // 60 for p in _range("HealthAlarmPeriodSeconds")
    }

"""The alarm contract, checked against the deployed template in the rehearsal.

- Every alarm on the product's namespace names (namespace, metric, statistic, dimensions) a
  metric the handlers actually emitted in a rehearsed run (captured from their EMF output).
- Every alarm on an AWS namespace names a metric AWS publishes, with the dimension AWS uses,
  whose value resolves to a resource of the stack.
- Each product alarm fires in a rehearsed scenario that causes it (the day in the life,
  tests/e2e/test_day_in_the_life.py, has one of each per-target alarm). Each AWS alarm is
  shown to fire in the rehearsal's alarm evaluator from datapoints this test injects: what is
  checked there is the alarm's definition (metric, dimensions, statistic, threshold), not
  AWS's publishing.
- Every alarm has a runbook entry, and every metric the runbook lists exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TARGET, operator_managed
from fleetwise_reconciler.logic.health import TROUBLE, FleetState
from fleetwise_rehearsal.aws import alarms as alarm_eval
from fleetwise_rehearsal.rehearsal import Rehearsal

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
NAMESPACE = "FleetWiseReconciler"

# What AWS publishes, with the dimension each metric is published under for these resources.
AWS_METRICS = {
    ("AWS/States", "ExecutionsFailed"): "StateMachineArn",
    ("AWS/States", "ExecutionsTimedOut"): "StateMachineArn",
    ("AWS/States", "ExecutionsAborted"): "StateMachineArn",
    ("AWS/Lambda", "Errors"): "FunctionName",
    ("AWS/Lambda", "Throttles"): "FunctionName",
    ("AWS/Lambda", "IteratorAge"): "FunctionName",
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "QueueName",
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): "QueueName",
}
# The statistic of each product metric an alarm reads through FILL (counters: Sum).
STATISTICS = {"TriggerFailedRecords": "Sum", "DriftChecks": "Sum"}
STACK = "fleetwise-reconciler"  # the rehearsal's stack name: every metric's service


def _break_stream_trigger(r: Rehearsal) -> dict[str, str]:
    """Point the trigger at a state machine that does not exist; returns the old environment."""
    client = r.client("lambda")
    name = r.stack.function_name("StreamTriggerFunction")
    env = dict(client.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
    broken = dict(env, STATE_MACHINE_ARN=env["STATE_MACHINE_ARN"] + "-gone")
    client.update_function_configuration(FunctionName=name, Environment={"Variables": broken})
    return env


def _restore_stream_trigger(r: Rehearsal, env: dict[str, str]) -> None:
    name = r.stack.function_name("StreamTriggerFunction")
    r.client("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": env}
    )


@pytest.fixture(scope="module")
def everything_emitted() -> tuple[set[tuple[str, str, frozenset[str]]], dict[str, Any]]:
    """One rehearsal that makes every product metric appear: a poison spec change, a terminal
    failure, a registration, a drift and its repair, a pause and an invalid spec. Returns the
    (namespace, metric, dimension names) emitted and the deployed alarms."""
    with Rehearsal(operator_managed(), jitter_fraction=0.5) as r:
        assert r.sim is not None
        env = _break_stream_trigger(r)
        r.write_spec({"target": TARGET, "reconcileToken": "lost"})
        r.settle()
        _restore_stream_trigger(r, env)
        r.sim.fail_next("RegisterAccount", "AccessDeniedException", "not allowed")
        r.write_spec({"target": TARGET})
        r.settle()
        r.write_spec({"target": TARGET, "reconcileToken": "2"})
        r.settle()
        r.sim.set_account_status("REGISTRATION_FAILURE")
        r.advance(900)
        r.tick()
        r.settle()
        r.write_spec({"target": TARGET, "paused": True})
        r.settle()
        r.write_spec({"target": TARGET, "colour": "blue"})
        r.settle()
        emitted = {
            (p.namespace, p.name, frozenset(name for name, _ in p.dimensions))
            for p in alarm_eval.datapoints_from_emf(r.metrics())
        }
        return emitted, dict(r.stack.alarms)


def _stat(alarm: dict[str, Any]) -> dict[str, Any]:
    """The metric an alarm reads through FILL."""
    [query] = [q for q in alarm["Metrics"] if "MetricStat" in q]
    stat: dict[str, Any] = query["MetricStat"]
    return stat


def test_every_product_alarm_matches_an_emitted_metric(
    everything_emitted: tuple[set[tuple[str, str, frozenset[str]]], dict[str, Any]],
) -> None:
    emitted, alarms = everything_emitted
    per_target = {
        k: a
        for k, a in alarms.items()
        if str(a["Metrics"][0].get("Expression", "")).startswith("SELECT")
    }
    # Every per-target alarm is on a Metrics Insights query grouped by target, on the trouble
    # metric, one state each: it watches every target of the table, whenever it was added
    assert set(per_target) == {t.alarm for t in TROUBLE.values()}
    for logical_id, alarm in per_target.items():
        [entry] = alarm["Metrics"]
        query = alarm_eval.parse_query(entry["Expression"])
        assert (query.namespace, query.metric, query.schema) in emitted
        assert query.namespace == NAMESPACE
        assert (query.metric, query.function) == ("TargetInTrouble", "MIN"), logical_id
        where = dict(query.where)
        assert where["service"] == STACK
        assert TROUBLE[FleetState(where["state"])].alarm == logical_id
        assert query.group_by == ("target",)
    fleet_wide = {
        k: a
        for k, a in alarms.items()
        if k not in per_target and _stat(a)["Metric"]["Namespace"] == NAMESPACE
    }
    assert set(fleet_wide) == {"TriggerFailedRecordsAlarm", "DriftCheckSilentAlarm"}
    for logical_id, alarm in fleet_wide.items():
        stat = _stat(alarm)
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        key = (NAMESPACE, stat["Metric"]["MetricName"], frozenset(dimensions))
        assert key in emitted, logical_id
        assert stat["Stat"] == STATISTICS[stat["Metric"]["MetricName"]], logical_id
        assert dimensions == {"service": STACK}


def test_every_product_metric_is_emitted_with_its_dimension_sets(
    everything_emitted: tuple[set[tuple[str, str, frozenset[str]]], dict[str, Any]],
) -> None:
    emitted, _ = everything_emitted
    per_target = frozenset({"service", "target"})
    for metric in (
        "RegistrationSucceeded",
        "RegistrationFailed",
        "ReconcileDuration",
        "RegisterAccountCalls",
        "StatusPolls",
    ):
        assert (NAMESPACE, metric, per_target) in emitted, metric
    assert (NAMESPACE, "TargetInTrouble", frozenset({"service", "state", "target"})) in emitted
    reasons = frozenset({"service", "target", "reason"})
    assert (NAMESPACE, "RegistrationFailed", reasons) in emitted
    assert (NAMESPACE, "TriggerFailedRecords", frozenset({"service"})) in emitted
    assert (NAMESPACE, "DriftChecks", frozenset({"service"})) in emitted
    assert (NAMESPACE, "Targets", frozenset({"service", "state"})) in emitted


def test_every_aws_alarm_names_a_published_metric_of_a_stack_resource(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse(parameters=operator_managed())
    resolvable = {
        "StateMachineArn": {r.state_machine_arn},
        "FunctionName": {
            res.physical_id for res in r.stack.of_type("AWS::Lambda::Function").values()
        },
        "QueueName": {
            str(res.attributes["QueueName"]) for res in r.stack.of_type("AWS::SQS::Queue").values()
        },
    }
    aws_alarms = {
        k: _stat(a)["Metric"]
        for k, a in r.stack.alarms.items()
        if "MetricStat" in str(a["Metrics"]) and _stat(a)["Metric"]["Namespace"].startswith("AWS/")
    }
    assert len(aws_alarms) == 3 + 6 + 9 + 1 + 3
    for logical_id, metric in aws_alarms.items():
        dimension = AWS_METRICS[(metric["Namespace"], metric["MetricName"])]
        [only] = metric["Dimensions"]
        assert only["Name"] == dimension, logical_id
        assert only["Value"] in resolvable[dimension], logical_id
    # every queue and every function that can fail unexpectedly is covered
    queues = {
        m["Dimensions"][0]["Value"] for m in aws_alarms.values() if m["Namespace"] == "AWS/SQS"
    }
    assert queues == resolvable["QueueName"]
    throttled = {
        m["Dimensions"][0]["Value"] for m in aws_alarms.values() if m["MetricName"] == "Throttles"
    }
    assert throttled == resolvable["FunctionName"]


def test_every_aws_alarm_fires_on_injected_datapoints(rehearse: Callable[..., Rehearsal]) -> None:
    # What is checked: each alarm's own definition, evaluated by the rehearsal's evaluator,
    # turns to ALARM on one datapoint at its threshold (AWS's publishing is not rehearsed).
    r = rehearse(parameters=operator_managed())
    now = r.clock.time() // 60 * 60 + 60  # the next minute: the datapoint's has ended
    checked = 0
    for logical_id, alarm in r.stack.alarms.items():
        if "MetricStat" not in str(alarm["Metrics"]):
            continue
        metric = _stat(alarm)["Metric"]
        if not metric["Namespace"].startswith("AWS/"):
            continue
        [dimension] = metric["Dimensions"]
        point = alarm_eval.Datapoint(
            metric["Namespace"],
            metric["MetricName"],
            frozenset({(dimension["Name"], dimension["Value"])}),
            now - 30,
            float(alarm["Threshold"]),
        )
        quiet = alarm_eval.evaluate(logical_id, alarm, [], now)
        fired = alarm_eval.evaluate(logical_id, alarm, [point], now)
        assert (quiet.state, fired.state) == ("OK", "ALARM"), logical_id
        checked += 1
    assert checked == 3 + 6 + 9 + 1 + 3


def test_a_healthy_registration_alarms_nothing_even_though_polls_raise(
    rehearse: Callable[..., Rehearsal],
) -> None:
    # Poll raises RegistrationPending on every pending poll (the workflow's protocol): Lambda
    # counts them as Errors, so no Errors alarm may watch the Poll function.
    r = rehearse(parameters=operator_managed())
    r.write_spec({"target": TARGET})
    r.settle()
    r.tick()  # the schedule's check, as a deployed stack has one every DriftCheckRateMinutes
    r.settle()
    assert r.status()["phase"] == "Registered"  # type: ignore[index]
    assert r.invoker.calls(r.stack.function_name("PollFunction"))[0].error_type is not None
    assert r.alarms_in_alarm() == []


def test_a_silent_drift_checker_alarms(rehearse: Callable[..., Rehearsal]) -> None:
    # GIVEN a healthy registration, checked by the schedule
    r = rehearse(parameters=operator_managed())
    r.write_spec({"target": TARGET})
    r.settle()
    r.tick()
    r.settle()
    assert r.alarms_in_alarm() == []
    # WHEN no drift check runs for a whole health period (the check's minute included)
    r.advance(1800 + 60)
    # THEN the heartbeat's alarm fires (and only it: a healthy target reports nothing)
    assert r.alarms_in_alarm() == ["DriftCheckSilentAlarm"]
    # AND the next check clears it, once its minute has passed
    r.tick()
    r.settle()
    r.advance(60)
    assert r.alarms_in_alarm() == []


def test_deleting_a_target_records_it_unmanaged_and_alarms_nothing(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse(parameters=operator_managed())
    r.write_spec({"target": TARGET})
    r.settle()
    r.delete_spec(TARGET)
    r.settle()
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Unmanaged", "SpecDeleted")
    assert [e.status for e in r.executions()] == ["SUCCEEDED", "SUCCEEDED"]
    for _ in range(4):  # two health periods of schedule ticks
        r.advance(900)
        r.tick()
        r.settle()
    assert r.alarms_in_alarm() == []


def test_an_invalid_spec_alarms(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse(parameters=operator_managed())
    r.write_spec({"target": TARGET, "colour": "blue"})
    r.settle()
    r.advance(60)  # the minute of the run's report has ended
    assert r.alarm_targets() == {"InvalidSpecAlarm": [TARGET]}


def test_a_failing_trigger_alarms_and_parks_the_record(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse(parameters=operator_managed())
    _break_stream_trigger(r)
    r.write_spec({"target": TARGET})
    r.settle()
    r.advance(60)
    assert {
        "TriggerFailedRecordsAlarm",
        "OnFailureQueueMessagesAlarm",
        "StreamTriggerFunctionErrorsAlarm",
    } <= set(r.alarms_in_alarm())


def test_every_alarm_has_a_runbook_entry_and_every_runbook_metric_exists(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse(parameters=operator_managed())
    text = RUNBOOK.read_text()
    headings = set(re.findall(r"^### `(\w+)`", text, re.M))
    per_function = {"LambdaErrors", "LambdaThrottles"}
    for logical_id, alarm in r.stack.alarms.items():
        entry = re.search(r"Runbook: (\w+)\.", str(alarm["AlarmDescription"]))
        assert entry is not None, logical_id
        assert entry.group(1) in headings, logical_id
        assert logical_id in text or entry.group(1) in per_function, logical_id
    # the runbook's metric table lists only metrics that exist
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, re.M)
    product = {"TargetInTrouble", "RegistrationSucceeded", "RegistrationFailed",
               "ReconcileDuration", "RegisterAccountCalls", "StatusPolls",
               "TriggerFailedRecords", "DriftChecks", "Targets"}  # fmt: skip
    aws = {metric for _, metric in AWS_METRICS}
    assert listed
    assert set(listed) <= product | aws
    assert product <= set(listed)

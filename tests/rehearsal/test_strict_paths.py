"""Paths that select nothing fail the execution as Step Functions does (aws/strict.py).

Each case is a small state machine run twice: with the field missing it ends FAILED with the
error and cause Step Functions reports; with the field present the same definition succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from strict_fixtures import Machines, running_machines


@pytest.fixture
def machines() -> Iterator[Machines]:
    with running_machines() as running:
        yield running


PREFIX = "An error occurred while executing the state 'A' (entered at the event id #{event}). "


@dataclass(frozen=True)
class Case:
    name: str
    definition: dict[str, Any]
    missing: Any
    present: Any
    error: str
    cause: str
    event: int = 2  # the id of the failing state's "entered" event
    # Step Functions prefixes a States.Runtime cause with the state and its entered event;
    # moto does so for the failures it models, not for an intrinsic function's Python error.
    prefixed: bool = True


def one_state(state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "A", "States": {"A": {**state, "End": True}}}


def choice(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Succeed"},
            "No": {"Type": "Succeed"},
        },
    }


def task(echo_arn: str, **fields: Any) -> dict[str, Any]:
    return one_state(
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": echo_arn, "Payload.$": "$"},
            **fields,
        }
    )


def cases(echo_arn: str) -> list[Case]:
    return [
        Case(
            "parameters",
            one_state({"Type": "Pass", "Parameters": {"x.$": "$.a.b"}}),
            {"a": {}},
            {"a": {"b": 1}},
            "States.Runtime",
            "The JSONPath '$.a.b' specified for the field 'x.$' could not be found in the "
            "input '{\"a\": {}}'",
        ),
        Case(
            "task parameters",
            one_state(
                {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": echo_arn, "Payload": {"v.$": "$.v"}},
                }
            ),
            {},
            {"v": None},  # a JSON null is selected, not missing
            "States.Runtime",
            "The JSONPath '$.v' specified for the field 'v.$' could not be found in the input '{}'",
        ),
        Case(
            "result selector",
            task(echo_arn, ResultSelector={"rawSpec.$": "$.Payload.rawSpec"}),
            {"action": "Unmanaged"},
            {"action": "Observe", "rawSpec": {"target": "x"}},
            "States.Runtime",
            "The JSONPath '$.Payload.rawSpec' specified for the field 'rawSpec.$' could not be "
            'found in the input \'{"StatusCode": 200, "Payload": {"action": "Unmanaged"}}\'',
            event=5,
        ),
        Case(
            "input path",
            one_state({"Type": "Pass", "InputPath": "$.a"}),
            {},
            {"a": 1},
            "States.Runtime",
            "Invalid path '$.a' : No results for path: $['a']",
        ),
        Case(
            "output path",
            one_state({"Type": "Pass", "OutputPath": "$.a"}),
            {},
            {"a": 1},
            "States.Runtime",
            "Invalid path '$.a' : No results for path: $['a']",
        ),
        Case(
            "result path below a value that is not an object",
            one_state({"Type": "Pass", "Result": 1, "ResultPath": "$.a.b"}),
            {"a": "text"},
            {"a": {"c": 2}},
            "States.ResultPathMatchFailure",
            "Unable to apply ResultPath '$.a.b': '$.a' is not a JSON object.",
        ),
        Case(
            "StringToJson of text that is not JSON",
            one_state({"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.s)"}}),
            {"s": "not json"},
            {"s": '{"k": 1}'},
            "States.Runtime",
            "JSONDecodeError(Expecting value: line 1 column 1 (char 0))",
            prefixed=False,
        ),
        Case(
            "SecondsPath to a missing field",
            one_state({"Type": "Wait", "SecondsPath": "$.w"}),
            {},
            {"w": 3},
            "States.Runtime",
            "The SecondsPath parameter does not reference an input value: $.w",
        ),
        Case(
            "SecondsPath to a value that is not a number",
            one_state({"Type": "Wait", "SecondsPath": "$.w"}),
            {"w": "soon"},
            {"w": 0},
            "States.Runtime",
            "The SecondsPath parameter cannot be parsed as a long value: $.w == soon",
        ),
        Case(
            "choice variable",
            choice({"Variable": "$.flag", "BooleanEquals": True}),
            {},
            {"flag": False},
            "States.Runtime",
            "Invalid path '$.flag': The choice state's condition path references an invalid value.",
        ),
        Case(
            "choice variable inside Not",
            choice({"Not": {"Variable": "$.kind", "StringEquals": "x"}}),
            {"other": 1},
            {"kind": "y"},
            "States.Runtime",
            "Invalid path '$.kind': The choice state's condition path references an invalid value.",
        ),
    ]


CASE_NAMES = [c.name for c in cases("arn")]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_a_path_that_selects_nothing_fails_the_execution(machines: Machines, name: str) -> None:
    case = next(c for c in cases(machines.echo_arn) if c.name == name)
    # WHEN the field the path names is missing
    failed = machines.run(case.definition, case.missing)
    # THEN the execution fails with Step Functions' error and cause
    assert (failed["status"], failed.get("error")) == ("FAILED", case.error)
    runtime = case.error == "States.Runtime" and case.prefixed
    prefix = PREFIX.format(event=case.event) if runtime else ""
    assert failed.get("cause") == prefix + case.cause
    # AND the same definition succeeds when the field is there
    assert machines.run(case.definition, case.present)["status"] == "SUCCEEDED"


def test_a_result_path_creates_the_fields_it_names(machines: Machines) -> None:
    definition = one_state({"Type": "Pass", "Result": 1, "ResultPath": "$.a.b.c"})
    done = machines.run(definition, {"a": {"x": 0}})
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"a": {"x": 0, "b": {"c": 1}}}


def test_is_present_guards_a_missing_variable(machines: Machines) -> None:
    definition = choice(
        {
            "And": [
                {"Variable": "$.maybe", "IsPresent": True},
                {"Variable": "$.maybe", "StringEquals": "foo"},
            ]
        }
    )
    arn = machines.start(definition, {})
    machines.clock.settle(timeout_wall=30)
    described = machines.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in machines.history(arn)
        if e["type"].endswith("StateEntered")
    ]
    assert entered == ["A", "No"]


def test_a_variable_of_another_type_does_not_match(machines: Machines) -> None:
    # AWS: "Step Functions doesn't attempt to match a numeric field to a string value."
    arn = machines.start(choice({"Variable": "$.n", "StringEquals": "1"}), {"n": 1})
    machines.clock.settle(timeout_wall=30)
    assert machines.sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in machines.history(arn)
        if e["type"].endswith("StateEntered")
    ]
    assert entered == ["A", "No"]


@pytest.mark.parametrize(
    ("task", "execution_input", "error"),
    [
        ({"ResultSelector": {"x.$": "$.Payload.nope"}}, {}, "States.Runtime"),
        (
            {"Parameters": {"Payload": {"a.$": "$.s", "b.$": "$.s"}}},
            {"s": "x" * 150_000},
            "States.DataLimitExceeded",
        ),
    ],
    ids=["runtime", "data limit"],
)
def test_states_all_catches_neither_runtime_nor_data_limit_errors(
    machines: Machines, task: dict[str, Any], execution_input: Any, error: str
) -> None:
    parameters = {"FunctionName": machines.echo_arn, "Payload": {}}
    parameters.update(task.pop("Parameters", {}))
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": parameters,
                **task,
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    described = machines.run(definition, execution_input)
    assert (described["status"], described["error"]) == ("FAILED", error)
    assert machines.clock.delays_for("retry:") == []

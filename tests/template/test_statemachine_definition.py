"""statemachine/reconcile.asl.json: substitutions, graph, retries, and Step Functions' own parser.

The file is a SAM definition template (numbers substituted unquoted), so every check works on
the definition after the template's DefinitionSubstitutions are applied.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from template_support import (
    ACCOUNT_ID,
    REGION,
    STEP_FUNCTION_ARNS,
    iter_states,
    placeholders,
    substitute,
    substitution_values,
)

LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    # A step that hit its function's timeout (or ran out of memory): "Unhandled errors in
    # Lambda are reported as Lambda.Unknown ... These include out-of-memory errors and
    # function timeouts" (Step Functions, "Handle Lambda service exceptions"); newer runtimes
    # name a timeout Sandbox.Timedout; a Lambda client timeout is the first one.
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
]
CONTRACT_STATES = {
    "Init": "Pass",
    "Acquire": "Task",
    "LeaseAcquired": "Choice",
    "LeftToHolder": "Succeed",
    "LeaseLost": "Succeed",
    "Observe": "Task",
    "Decide": "Choice",
    "Register": "Task",
    "AwaitRegistration": "Wait",
    "Poll": "Task",
    "AfterPoll": "Choice",
    "PollGaveUp": "Pass",
    "ThrottledInObserve": "Pass",
    "ThrottledInRegister": "Pass",
    "ThrottledInPoll": "Pass",
    "ReadRetryAfter": "Pass",
    "WithinThrottleBudget": "Choice",
    "ThrottleBudgetSpent": "Pass",
    "RetryAfterWait": "Wait",
    "ResumeAfterThrottle": "Choice",
    "Record": "Task",
    "Again": "Choice",
    "Reset": "Pass",
    "Done": "Succeed",
}
# moto parses a definition (with the interpreter that also runs it) only in this mode.
PARSING: Any = {"stepfunctions": {"execute_state_machine": True}}
TASK_FUNCTIONS = {
    "Acquire": "AcquireFunctionArn",
    "Observe": "ObserveFunctionArn",
    "Register": "RegisterFunctionArn",
    "Poll": "PollFunctionArn",
    "Record": "RecordFunctionArn",
}


def _transitions(state: dict[str, Any]) -> list[str]:
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return targets


def _graph_problems(states: dict[str, Any], start_at: str) -> list[str]:
    """Dangling transitions, unreachable states and non-terminal dead ends of one state graph."""
    problems = []
    for name, state in states.items():
        for target in _transitions(state):
            if target not in states:
                problems.append(f"{name} -> {target}: no such state")
        ends = state.get("End") is True or state["Type"] in ("Succeed", "Fail")
        if not ends and not _transitions(state):
            problems.append(f"{name}: neither Next nor End")
        if ends and state["Type"] in ("Succeed", "Fail") and "Next" in state:
            problems.append(f"{name}: terminal state with a Next")
    seen = {start_at}
    queue = deque([start_at])
    while queue:
        for target in _transitions(states.get(queue.popleft(), {})):
            if target in states and target not in seen:
                seen.add(target)
                queue.append(target)
    problems += [f"{name}: unreachable from {start_at}" for name in states if name not in seen]
    for state in states.values():
        for branch in state.get("Branches", []):
            problems += _graph_problems(branch["States"], branch["StartAt"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                problems += _graph_problems(state[key]["States"], state[key]["StartAt"])
    return problems


# --- substitutions ------------------------------------------------------------------------


def test_every_placeholder_has_a_substitution_and_every_substitution_is_used(
    sam_template: dict[str, Any], definition_text: str
) -> None:
    machine = sam_template["Resources"]["ReconcileStateMachine"]["Properties"]
    assert placeholders(definition_text) == set(machine["DefinitionSubstitutions"])


def test_the_unsubstituted_file_is_not_json_but_the_substituted_one_is(
    sam_template: dict[str, Any], definition_text: str
) -> None:
    # Numbers are substituted unquoted (Step Functions requires numbers), so the raw file is
    # a template, not JSON; a quoted "${PollMaxAttempts}" would make it JSON again.
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        json.loads(definition_text)
    json.loads(substitute(definition_text, substitution_values(sam_template)))


def test_numeric_fields_are_numbers_after_substitution(definition: dict[str, Any]) -> None:
    assert definition["TimeoutSeconds"] == 3600
    assert definition["States"]["AwaitRegistration"]["Seconds"] == 210
    for name, state in iter_states(definition["States"]):
        for retrier in state.get("Retry", []):
            for field in ("IntervalSeconds", "MaxDelaySeconds", "MaxAttempts", "BackoffRate"):
                assert isinstance(retrier[field], int | float), (name, field)
                assert not isinstance(retrier[field], bool), (name, field)


def test_functions_are_only_reached_through_substitutions(definition_text: str) -> None:
    assert "arn:aws:lambda:" not in definition_text
    for name, key in TASK_FUNCTIONS.items():
        assert f'"FunctionName": "${{{key}}}"' in definition_text, name


# --- graph --------------------------------------------------------------------------------


def test_the_states_are_exactly_those_of_the_contract(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == "Init"
    assert {name: s["Type"] for name, s in definition["States"].items()} == CONTRACT_STATES


def test_every_transition_names_a_state_and_every_state_is_reachable(
    definition: dict[str, Any],
) -> None:
    assert _graph_problems(definition["States"], definition["StartAt"]) == []


def test_the_graph_check_catches_what_moto_accepts() -> None:
    # A dangling Next, an orphan and a dead end: the checker above must see all three.
    states = {
        "A": {"Type": "Pass", "Next": "Missing"},
        "Orphan": {"Type": "Pass", "End": True},
        "Dead": {"Type": "Pass"},
    }
    assert _graph_problems(states, "A") == [
        "A -> Missing: no such state",
        "Dead: neither Next nor End",
        "Orphan: unreachable from A",
        "Dead: unreachable from A",
    ]


def test_the_workflow_follows_the_contract_flow(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert states["Init"]["Next"] == "Acquire"
    assert states["Acquire"]["Next"] == "LeaseAcquired"
    assert states["LeaseAcquired"]["Choices"] == [
        {"Variable": "$.lease.acquired", "BooleanEquals": True, "Next": "Observe"}
    ]
    assert states["LeaseAcquired"]["Default"] == "LeftToHolder"
    assert states["Observe"]["Next"] == "Decide"
    assert [(c["StringEquals"], c["Next"]) for c in states["Decide"]["Choices"]] == [
        ("Register", "Register"),
        ("Await", "AwaitRegistration"),
    ]
    assert states["Decide"]["Default"] == "Record"
    assert states["Register"]["Next"] == "AwaitRegistration"
    assert states["AwaitRegistration"]["Next"] == "Poll"
    assert states["Poll"]["Next"] == "AfterPoll"
    assert states["AfterPoll"]["Choices"] == [
        {"Variable": "$.poll.outcome", "StringEquals": "Reregister", "Next": "Register"}
    ]
    assert states["AfterPoll"]["Default"] == "Record"
    assert states["PollGaveUp"]["Next"] == "Record"
    assert states["PollGaveUp"]["Result"]["outcome"] == "TimedOut"
    assert states["PollGaveUp"]["ResultPath"] == "$.poll"
    assert states["Record"]["Next"] == "Again"
    assert states["Again"]["Choices"] == [
        {"Variable": "$.record.again", "BooleanEquals": True, "Next": "Reset"}
    ]
    assert states["Again"]["Default"] == "Done"
    assert states["Reset"]["Next"] == "Observe"


def test_tasks_invoke_their_function_and_write_their_slot(definition: dict[str, Any]) -> None:
    slots = {
        "Acquire": "$.lease",
        "Observe": "$.plan",
        "Register": "$.registration",
        "Poll": "$.poll",
        "Record": "$.record",
    }
    for name, key in TASK_FUNCTIONS.items():
        state = definition["States"][name]
        assert state["Resource"] == "arn:aws:states:::lambda:invoke"
        assert state["Parameters"]["FunctionName"] == STEP_FUNCTION_ARNS[key]
        assert state["Parameters"]["Payload"]["execution.$"] == "$.execution"
        assert state["ResultPath"] == slots[name]
        assert all(v.startswith("$.Payload.") for v in state["ResultSelector"].values())
    assert definition["States"]["Init"]["Parameters"]["execution.$"] == "$$.Execution.Id"


def test_no_jsonata_and_no_assign(definition_text: str, definition: dict[str, Any]) -> None:
    assert "QueryLanguage" not in definition
    assert "{%" not in definition_text
    for name, state in iter_states(definition["States"]):
        assert "Assign" not in state, name
        assert "Arguments" not in state and "Output" not in state, name


# --- retries and catches ------------------------------------------------------------------


def test_no_retry_or_catch_matches_everything(definition: dict[str, Any]) -> None:
    for name, state in iter_states(definition["States"]):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            assert not {"States.ALL", "States.TaskFailed"} & set(rule["ErrorEquals"]), name


def test_every_task_retries_lambda_transient_errors(definition: dict[str, Any]) -> None:
    for name in TASK_FUNCTIONS:
        retriers = definition["States"][name]["Retry"]
        assert [r for r in retriers if r["ErrorEquals"] == LAMBDA_ERRORS], name


def test_poll_retries_pending_with_the_templates_jittered_backoff(
    definition_text: str, definition: dict[str, Any]
) -> None:
    [pending] = [
        r
        for r in definition["States"]["Poll"]["Retry"]
        if r["ErrorEquals"] == ["RegistrationPending"]
    ]
    assert pending == {
        "ErrorEquals": ["RegistrationPending"],
        "IntervalSeconds": 5,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 30,
        "MaxAttempts": 80,
        "JitterStrategy": "FULL",
    }
    # Every field comes from the template, not from the file: give each placeholder a
    # distinct marker number and see which one lands where.
    markers = {name: 1000 + i for i, name in enumerate(sorted(placeholders(definition_text)))}
    raw = json.loads(substitute(definition_text, {k: str(v) for k, v in markers.items()}))
    [raw_pending] = [
        r for r in raw["States"]["Poll"]["Retry"] if r["ErrorEquals"] == ["RegistrationPending"]
    ]
    assert raw_pending == {
        "ErrorEquals": ["RegistrationPending"],
        "IntervalSeconds": markers["PollIntervalSeconds"],
        "BackoffRate": markers["PollBackoffRate"],
        "MaxDelaySeconds": markers["PollMaxDelaySeconds"],
        "MaxAttempts": markers["PollMaxAttempts"],
        "JitterStrategy": "FULL",
    }


@pytest.mark.parametrize("name", ["Observe", "Register", "Poll"])
def test_fleetwise_steps_retry_transient_errors_and_record_failures(
    definition: dict[str, Any], name: str
) -> None:
    state = definition["States"][name]
    [transient] = [r for r in state["Retry"] if r["ErrorEquals"] == ["FleetWiseTransientError"]]
    assert transient["JitterStrategy"] == "FULL"
    assert transient["MaxAttempts"] == 6
    assert {
        "ErrorEquals": ["FleetWiseTransientError", "FleetWiseTerminalError"],
        "ResultPath": "$.error",
        "Next": "Record",
    } in state["Catch"]


def test_poll_gives_up_through_poll_gave_up(definition: dict[str, Any]) -> None:
    catches = definition["States"]["Poll"]["Catch"]
    assert catches[1] == {
        "ErrorEquals": ["RegistrationPending"],
        "ResultPath": "$.poll",
        "Next": "PollGaveUp",
    }


def test_a_step_that_finds_its_lease_lost_stops_the_run(definition: dict[str, Any]) -> None:
    # Invariant 3: every step that acts checks the lease first; a run that lost it stops
    # there, without recording (the status belongs to the run that holds the lease now).
    states = definition["States"]
    for step in ("Observe", "Register", "Poll"):
        assert states[step]["Catch"][-1] == {
            "ErrorEquals": ["LeaseLost"],
            "ResultPath": "$.error",
            "Next": "LeaseLost",
        }, step
        assert not any("LeaseLost" in r["ErrorEquals"] for r in states[step]["Retry"])
    assert states["LeaseLost"]["Type"] == "Succeed"


def test_the_decisions_the_workflow_branches_on_are_the_planners(
    definition: dict[str, Any],
) -> None:
    # The Decide choices name actions by string: each must be one of the planner's actions,
    # and the actions the workflow acts on must each have their branch.
    from fleetwise_reconciler.logic.plan import Action

    choices = {c["StringEquals"]: c["Next"] for c in definition["States"]["Decide"]["Choices"]}
    assert set(choices) <= {str(action) for action in Action}
    assert choices == {str(Action.REGISTER): "Register", str(Action.AWAIT): "AwaitRegistration"}


def test_acquire_and_record_catch_nothing(definition: dict[str, Any]) -> None:
    # A failure there fails the run, and the ExecutionFailed function records it.
    assert "Catch" not in definition["States"]["Acquire"]
    assert "Catch" not in definition["States"]["Record"]


# --- Step Functions' parser ---------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"PollBackoffRate": "1.5", "InitialWaitSeconds": "0", "TransientRetryMaxAttempts": "0"},
    ],
    ids=["defaults", "edge-values"],
)
def test_step_functions_accepts_the_substituted_definition(
    sam_template: dict[str, Any],
    definition_text: str,
    overrides: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the definition as CloudFormation would hand it over
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    values = substitution_values(sam_template) | overrides
    asl = substitute(definition_text, values)
    with mock_aws(config=PARSING):
        client = boto3.client("stepfunctions", region_name=REGION)
        # WHEN it is created
        created = client.create_state_machine(
            name="reconcile",
            definition=asl,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/reconcile",
            type="STANDARD",
        )
        # THEN Step Functions parsed it and keeps it as given
        described = client.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert json.loads(described["definition"]) == json.loads(asl)


def test_step_functions_rejects_a_quoted_number(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above is worth something only if the parser rejects what a careless
    # substitution produces: a number in quotes.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    quoted = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": STEP_FUNCTION_ARNS["PollFunctionArn"]},
                "Retry": [{"ErrorEquals": ["RegistrationPending"], "IntervalSeconds": "5"}],
                "End": True,
            }
        },
    }
    with mock_aws(config=PARSING):
        client = boto3.client("stepfunctions", region_name=REGION)
        # moto 5.2.5 returns InvalidDefinition without its error code: match the message.
        with pytest.raises(ClientError, match=r"ASLParserException.*expecting INT"):
            client.create_state_machine(
                name="quoted",
                definition=json.dumps(quoted),
                roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/reconcile",
            )


def test_a_throttle_with_retry_after_waits_the_services_delay(definition: dict[str, Any]) -> None:
    # Architecture section 5: honour retryAfterSeconds where the workflow can. Each FleetWise
    # step catches FleetWiseThrottled first, waits the delay the service asked for (SecondsPath),
    # then resumes the step it came from; past ThrottleMaxWaits it records the error.
    states = definition["States"]
    for step in ("Observe", "Register", "Poll"):
        assert states[step]["Catch"][0] == {
            "ErrorEquals": ["FleetWiseThrottled"],
            "ResultPath": "$.throttle.error",
            "Next": f"ThrottledIn{step}",
        }
        assert states[f"ThrottledIn{step}"]["Parameters"]["resume"] == step
        assert states[f"ThrottledIn{step}"]["Next"] == "ReadRetryAfter"
        assert not any("FleetWiseThrottled" in r["ErrorEquals"] for r in states[step]["Retry"])
    assert states["RetryAfterWait"]["SecondsPath"] == "$.throttle.detail.retryAfterSeconds"
    assert [(c["StringEquals"], c["Next"]) for c in states["ResumeAfterThrottle"]["Choices"]] == [
        ("Register", "Register"),
        ("Poll", "Poll"),
    ]
    assert states["ResumeAfterThrottle"]["Default"] == "Observe"
    assert states["ThrottleBudgetSpent"] == {
        "Type": "Pass",
        "Comment": states["ThrottleBudgetSpent"]["Comment"],
        "InputPath": "$.throttle.error",
        "ResultPath": "$.error",
        "Next": "Record",
    }

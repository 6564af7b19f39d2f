"""The definition's data flow, run by moto's Step Functions interpreter with scripted steps.

The five step functions are replaced by scripts (no handler code): what is checked is the
workflow's own wiring, i.e. which step runs next, the exact payload each step receives, where
its result lands, and the exact retry and wait delays (FULL jitter pinned to its upper bound).
The rehearsal runs the same definition with the real handlers.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.parser.asl.component.common.retry import (
    jitter_strategy_decl,
    retrier_decl,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from template_support import ACCOUNT_ID, REGION, substitute, substitution_values

EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:reconcile:run-1"
TARGET = f"{ACCOUNT_ID}:{REGION}"
STEP_NAMES = ("Acquire", "Observe", "Register", "Poll", "Record")

Step = Callable[[dict[str, Any]], dict[str, Any]]


class StepError(Exception):
    """Raised by a scripted step: surfaces as a Lambda error named ``error_type``."""

    def __init__(self, error_type: str, **detail: Any) -> None:
        super().__init__(error_type)
        self.error_type = error_type
        self.detail = {"code": error_type, "message": "scripted", **detail}


@dataclass
class Run:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    retry_delays: list[float] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)

    def steps(self) -> list[str]:
        return [name for name, _ in self.calls]

    def payloads(self, step: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.calls if name == step]


@dataclass
class Harness:
    run_definition: Callable[[dict[str, list[Any]], dict[str, str]], tuple[dict[str, Any], Run]]


def _scripted(outcomes: list[Any]) -> Step:
    """A step answering with each outcome in turn (the last one repeats); errors are raised."""
    queue = list(outcomes)

    def step(_: dict[str, Any]) -> dict[str, Any]:
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, StepError):
            raise outcome
        result: dict[str, Any] = outcome
        return result

    return step


@pytest.fixture
def harness(
    monkeypatch: pytest.MonkeyPatch, sam_template: dict[str, Any], definition_text: str
) -> Iterator[Harness]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    run = Run()
    steps: dict[str, Step] = {}
    lock = threading.Lock()

    def invoke(
        self: LambdaFunction, body: str, request_headers: Any, response_headers: Any
    ) -> bytes:
        step = self.function_name.removeprefix("reconciler-")
        payload = json.loads(body) if body else {}
        with lock:
            run.calls.append((step, payload))
        try:
            result: Any = steps[step](payload)
        except StepError as error:
            # The Python runtime's error shape: Step Functions matches on errorType.
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": error.error_type, "errorMessage": json.dumps(error.detail)}
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaFunction, "invoke", invoke)
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=run.retry_delays.append))
    # FULL jitter draws from [0, delay]; pinning it to the top makes the delays exact.
    monkeypatch.setattr(jitter_strategy_decl, "random", SimpleNamespace(uniform=lambda _a, b: b))
    monkeypatch.setattr(
        WaitFunction,
        "_wait_interval",
        lambda _self, env, wait_seconds: run.waits.append(wait_seconds),
    )

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        iam = boto3.client("iam")
        role = iam.create_role(
            RoleName="step", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
        )["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
        lambda_client = boto3.client("lambda")
        arns = {
            f"{name}FunctionArn": lambda_client.create_function(
                FunctionName=f"reconciler-{name}",
                Runtime="python3.13",
                Role=role,
                Handler="handler.lambda_handler",
                Code={"ZipFile": archive.getvalue()},
            )["FunctionArn"]
            for name in STEP_NAMES
        }
        sfn = boto3.client("stepfunctions")

        def run_definition(
            script: dict[str, list[Any]], overrides: dict[str, str]
        ) -> tuple[dict[str, Any], Run]:
            steps.clear()
            steps.update({name: _scripted(outcomes) for name, outcomes in script.items()})
            values = substitution_values(sam_template) | arns | overrides
            machine = sfn.create_state_machine(
                name="reconcile",
                definition=substitute(definition_text, values),
                roleArn=role,
            )["stateMachineArn"]
            execution = sfn.start_execution(
                stateMachineArn=machine,
                name="run-1",
                input=json.dumps({"target": TARGET, "trigger": "stream", "eventId": "ev-1"}),
            )["executionArn"]
            # The interpreter runs the execution on a worker thread. The deadline only stops a
            # hung execution from hanging the suite (generous: no speed is being measured).
            deadline = time.monotonic() + 300
            described = sfn.describe_execution(executionArn=execution)
            while described["status"] == "RUNNING":
                assert time.monotonic() < deadline, "the execution did not finish"
                time.sleep(0.01)
                described = sfn.describe_execution(executionArn=execution)
            return described, run

        yield Harness(run_definition)


# --- scripted answers -----------------------------------------------------------------------

SPEC = {"target": TARGET, "mode": "cloudwatch", "policy": "enforce", "paused": False}
LEASE = {"acquired": True, "holder": EXECUTION_ARN, "expiresAt": 1_800}
PLAN_REGISTER = {
    "action": "Register",
    "phase": "Registering",
    "reason": "NotRegistered",
    "message": "never registered",
    "drift": [],
    "specHash": "0123456789abcdef",
    "spec": SPEC,
    "rawSpec": {"target": TARGET},
    "observation": {"registered": False},
    "attempts": 0,
    "observedAt": "2026-11-26T12:00:00Z",
}
REGISTRATION = {
    "startedAt": "2026-11-26T12:00:00Z",
    "attempt": 1,
    "accountStatus": "REGISTRATION_PENDING",
    "conflict": False,
}
REGISTERED = {
    "outcome": "Registered",
    "observation": {"accountStatus": "REGISTRATION_SUCCESS"},
    "reason": "Converged",
    "message": "ok",
    "drift": [],
}
RECORDED = {"again": False, "loop": 0, "phase": "Registered", "leaseLost": False}
PENDING = StepError("RegistrationPending")


def _script(**overrides: list[Any]) -> dict[str, list[Any]]:
    script: dict[str, list[Any]] = {
        "Acquire": [LEASE],
        "Observe": [PLAN_REGISTER],
        "Register": [REGISTRATION],
        "Poll": [REGISTERED],
        "Record": [RECORDED],
    }
    return script | overrides


# --- paths ----------------------------------------------------------------------------------


def test_a_registration_waits_polls_with_backoff_and_records(harness: Harness) -> None:
    # GIVEN an unregistered account whose registration stays pending for three polls
    script = _script(Poll=[PENDING, PENDING, PENDING, REGISTERED])
    # WHEN the workflow runs
    execution, run = harness.run_definition(script, {})
    # THEN it registers once, waits, polls with jittered exponential backoff and records
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == [
        "Acquire",
        "Observe",
        "Register",
        "Poll",
        "Poll",
        "Poll",
        "Poll",
        "Record",
    ]
    assert run.waits == [210]
    assert run.retry_delays == [5, 10, 20]
    execution_arn = execution["executionArn"]
    assert run.payloads("Acquire") == [{"target": TARGET, "execution": execution_arn}]
    assert run.payloads("Observe") == [
        {"target": TARGET, "execution": execution_arn, "trigger": "stream"}
    ]
    assert run.payloads("Register") == [
        {
            "target": TARGET,
            "execution": execution_arn,
            "spec": SPEC,
            "specHash": "0123456789abcdef",
            "attempt": 0,
            "plan": PLAN_REGISTER,
            "registration": {},
        }
    ]
    assert run.payloads("Poll")[0] == {
        "target": TARGET,
        "execution": execution_arn,
        "spec": SPEC,
        "specHash": "0123456789abcdef",
        "plan": PLAN_REGISTER,
        "registration": REGISTRATION,
    }
    assert run.payloads("Record") == [
        {
            "target": TARGET,
            "execution": execution_arn,
            "trigger": "stream",
            "eventId": "ev-1",
            "plan": PLAN_REGISTER,
            "registration": REGISTRATION,
            "poll": REGISTERED,
            "error": {},
            "loop": 0,
        }
    ]
    output = json.loads(execution["output"])
    assert output["lease"] == LEASE
    assert output["record"] == RECORDED


def test_the_poll_delay_is_capped(harness: Harness) -> None:
    script = _script(Poll=[PENDING] * 6 + [REGISTERED])
    execution, run = harness.run_definition(script, {})
    assert execution["status"] == "SUCCEEDED"
    assert run.retry_delays == [5, 10, 20, 30, 30, 30]


def test_a_held_lease_leaves_the_target_to_its_holder(harness: Harness) -> None:
    held = {"acquired": False, "holder": "arn:other", "expiresAt": 1_800}
    execution, run = harness.run_definition(_script(Acquire=[held]), {})
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == ["Acquire"]


@pytest.mark.parametrize(
    ("action", "expected_steps"),
    [
        ("NoChange", ["Acquire", "Observe", "Record"]),
        ("Invalid", ["Acquire", "Observe", "Record"]),
        ("Await", ["Acquire", "Observe", "Poll", "Record"]),
    ],
)
def test_decide_routes_on_the_planned_action(
    harness: Harness, action: str, expected_steps: list[str]
) -> None:
    execution, run = harness.run_definition(
        _script(Observe=[PLAN_REGISTER | {"action": action}]), {}
    )
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == expected_steps


def test_polls_exhausted_record_a_timeout(harness: Harness) -> None:
    execution, run = harness.run_definition(_script(Poll=[PENDING]), {"PollMaxAttempts": "2"})
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == ["Acquire", "Observe", "Register", "Poll", "Poll", "Poll", "Record"]
    assert run.retry_delays == [5, 10]
    [record] = run.payloads("Record")
    assert record["poll"] == {
        "outcome": "TimedOut",
        "observation": None,
        "reason": "PollAttemptsExhausted",
        "message": "The registration was still pending after the workflow's last poll.",
        "drift": [],
    }
    assert record["error"] == {}


def test_a_terminal_error_is_recorded_without_retry(harness: Harness) -> None:
    denied = StepError("FleetWiseTerminalError", retryable=False)
    execution, run = harness.run_definition(_script(Register=[denied]), {})
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == ["Acquire", "Observe", "Register", "Record"]
    assert run.retry_delays == []
    [record] = run.payloads("Record")
    assert record["error"]["Error"] == "FleetWiseTerminalError"
    cause = json.loads(record["error"]["Cause"])
    assert cause["errorType"] == "FleetWiseTerminalError"
    assert json.loads(cause["errorMessage"]) == {
        "code": "FleetWiseTerminalError",
        "message": "scripted",
        "retryable": False,
    }
    assert record["registration"] == {}


def test_transient_errors_are_retried_with_backoff_then_recorded(harness: Harness) -> None:
    throttled = StepError("FleetWiseTransientError", retryable=True)
    execution, run = harness.run_definition(
        _script(Observe=[throttled]), {"TransientRetryMaxAttempts": "3"}
    )
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == ["Acquire"] + ["Observe"] * 4 + ["Record"]
    assert run.retry_delays == [2, 4, 8]
    [record] = run.payloads("Record")
    assert record["error"]["Error"] == "FleetWiseTransientError"
    assert record["plan"] == {}


def test_a_transient_error_that_clears_continues_the_run(harness: Harness) -> None:
    throttled = StepError("FleetWiseTransientError", retryable=True)
    execution, run = harness.run_definition(_script(Poll=[throttled, REGISTERED]), {})
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == ["Acquire", "Observe", "Register", "Poll", "Poll", "Record"]
    assert run.retry_delays == [2]


def test_an_unexpected_error_fails_the_run(harness: Harness) -> None:
    # Not retried, not caught: the run fails and the ExecutionFailed function records it.
    execution, run = harness.run_definition(_script(Observe=[StepError("KeyError")]), {})
    assert execution["status"] == "FAILED"
    assert run.steps() == ["Acquire", "Observe"]
    assert run.retry_delays == []


def test_reregister_goes_back_to_register(harness: Harness) -> None:
    again = {
        "outcome": "Reregister",
        "observation": {"accountStatus": "REGISTRATION_FAILURE"},
        "reason": "RegistrationFailed",
        "message": "iam",
        "drift": [],
    }
    second = REGISTRATION | {"attempt": 2}
    execution, run = harness.run_definition(
        _script(Poll=[again, REGISTERED], Register=[REGISTRATION, second]), {}
    )
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == ["Acquire", "Observe", "Register", "Poll", "Register", "Poll", "Record"]
    assert run.waits == [210, 210]
    assert run.payloads("Register")[1]["registration"] == REGISTRATION
    assert run.payloads("Poll")[1]["registration"] == second
    assert run.payloads("Record")[0]["registration"] == second


def test_a_spec_changed_during_the_run_loops_from_observe_with_clean_slots(
    harness: Harness,
) -> None:
    # GIVEN Record finds a newer spec the first time
    loop_again = {"again": True, "loop": 1, "phase": "Registered", "leaseLost": False}
    done = {"again": False, "loop": 1, "phase": "Registered", "leaseLost": False}
    no_change = PLAN_REGISTER | {"action": "NoChange"}
    script = _script(Observe=[PLAN_REGISTER, no_change], Record=[loop_again, done])
    # WHEN the run goes on
    execution, run = harness.run_definition(script, {})
    # THEN it re-observes (not re-acquires) and the second Record sees only the second pass
    assert execution["status"] == "SUCCEEDED"
    assert run.steps() == [
        "Acquire",
        "Observe",
        "Register",
        "Poll",
        "Record",
        "Observe",
        "Record",
    ]
    first, second = run.payloads("Record")
    assert first["loop"] == 0
    assert second["loop"] == 1
    assert second["plan"] == no_change
    assert second["registration"] == {}
    assert second["poll"] == {}
    assert second["error"] == {}
    assert json.loads(execution["output"])["record"] == done

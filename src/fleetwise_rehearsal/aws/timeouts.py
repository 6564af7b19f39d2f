"""An execution's ``TimeoutSeconds`` on the virtual clock.

moto 5.2.5 runs a program on a thread and joins it for ``TimeoutSeconds`` of wall time, so a
rehearsed execution, whose waits take no wall time, never times out. Here the deadline is
virtual: start + ``TimeoutSeconds``. Virtual time only moves while every execution sleeps, so
an execution always reaches its deadline asleep (in a Wait or a Retry delay): that sleep
wakes at the deadline instead of its own end, and the execution ends ``TIMED_OUT`` there.
No further state runs; the history ends with ``ExecutionTimedOut`` stamped at the deadline.

Step Functions names the execution-level timeout ``States.Timeout``; the rehearsal puts that
name on the ``ExecutionTimedOut`` event and on DescribeExecution's ``error`` (and so on the
status-change event). AWS documents the error name, not whether DescribeExecution repeats it
for a timed-out execution: docs/rehearsal.md says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

from fleetwise_rehearsal.aws.patching import Patcher
from fleetwise_rehearsal.aws.vclock import VirtualClock

TIMEOUT_ERROR: Final = "States.Timeout"

_PROGRAM = "moto.stepfunctions.parser.asl.component.program.program"
_EXECUTION = "moto.stepfunctions.parser.backend.execution"
_ENVIRONMENT = "moto.stepfunctions.parser.asl.eval.environment"
_RESPONSES = "moto.stepfunctions.responses"

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_PROGRAM, "Program.eval", "method"),
    (_PROGRAM, "ExecutionTimedOutEventDetails", "class"),
    (_EXECUTION, "BaseExecutionWorkerCommunication._reflect_execution_status", "method"),
    (_ENVIRONMENT, "Environment.set_stop", "method"),
    (_ENVIRONMENT, "Environment.set_error", "method"),
    # moto answers stopDate only for SUCCEEDED, FAILED and ABORTED executions.
    (_RESPONSES, "StepFunctionResponse.describe_execution", "method"),
    (_RESPONSES, "StepFunctionResponse.list_executions", "method"),
)

EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "Program.eval": ("self", "env"),
    "BaseExecutionWorkerCommunication._reflect_execution_status": ("self",),
    "Environment.set_stop": ("self", "stop_date", "cause", "error"),
    "Environment.set_error": ("self", "error"),
    "StepFunctionResponse.describe_execution": ("self",),
    "StepFunctionResponse.list_executions": ("self",),
}


def execution_id(env: Any) -> str:
    """The execution ARN an environment (or a Map/Parallel frame of it) belongs to."""
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


class Deadlines:
    """Each running execution's virtual deadline; the interpreter's sleeps go through here."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._by_execution: dict[str, tuple[float, Any]] = {}

    def start(self, env: Any, timeout_seconds: float | None) -> None:
        if timeout_seconds is None:
            return
        with self._lock:
            self._by_execution[execution_id(env)] = (self.clock.time() + timeout_seconds, env)

    def end(self, env: Any) -> None:
        with self._lock:
            self._by_execution.pop(execution_id(env), None)

    def deadline(self, env: Any) -> float | None:
        with self._lock:
            entry = self._by_execution.get(execution_id(env))
        return None if entry is None else entry[0]

    def sleep(
        self,
        env: Any,
        seconds: float,
        *,
        label: str,
        interrupted: Callable[[], bool] | None = None,
    ) -> bool:
        """The interpreter's sleep for ``env``'s execution; True when woken by time.

        A sleep that reaches the execution's deadline wakes at the deadline and times the
        execution out (the requested delay is still what the clock records)."""
        with self._lock:
            entry = self._by_execution.get(execution_id(env))
        if entry is None or self.clock.time() + seconds < entry[0]:
            return self.clock.sleep(seconds, label=label, interrupted=interrupted)
        deadline, root = entry
        woke = self.clock.sleep(seconds, label=label, interrupted=interrupted, wake_at=deadline)
        if woke:
            root.set_timed_out()
        return woke


def apply(patcher: Patcher, clock: VirtualClock) -> Deadlines:
    """Put executions on virtual deadlines; returns the registry the sleeps must use."""
    deadlines = Deadlines(clock)
    original_eval: Callable[[Any, Any], None] = patcher.original(_PROGRAM, "Program.eval")

    def program_eval(self: Any, env: Any) -> None:
        if env.is_frame():
            original_eval(self, env)
            return
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        deadlines.start(env, timeout)
        env.next_state_name = self.start_at.start_at_name
        try:
            # In this (the execution's) thread: no wall-clock join.
            EvalComponent.eval(self, env)
        finally:
            deadlines.end(env)

    def timed_out_details() -> dict[str, str]:
        return {"error": TIMEOUT_ERROR}

    original_reflect: Callable[[Any], None] = patcher.original(
        _EXECUTION, "BaseExecutionWorkerCommunication._reflect_execution_status"
    )

    def reflect_execution_status(self: Any) -> None:
        original_reflect(self)
        if self.execution.exec_status == ExecutionStatus.TIMED_OUT:
            self.execution.error = TIMEOUT_ERROR

    original_set_stop: Callable[..., None] = patcher.original(_ENVIRONMENT, "Environment.set_stop")

    def set_stop(self: Any, stop_date: Any, cause: Any, error: Any) -> None:
        original_set_stop(self, stop_date, cause, error)
        # A Wait asleep on the clock notices StopExecution now, not at its next check (so
        # does every other way an execution stops running: an error, a time-out).
        clock.poke()

    original_set_error: Callable[..., None] = patcher.original(
        _ENVIRONMENT, "Environment.set_error"
    )

    def set_error(self: Any, error: Any) -> None:
        # An execution that was stopped (or timed out) ended then: a Task that answers an
        # error afterwards (its function still ran) cannot turn it FAILED. AWS: StopExecution
        # ends the execution when it is called.
        if self.is_running():
            original_set_error(self, error)
            clock.poke()

    original_set_timed_out: Callable[[Any], None] = patcher.original(
        _ENVIRONMENT, "Environment.set_timed_out"
    )

    def set_timed_out(self: Any) -> None:
        original_set_timed_out(self)
        clock.poke()

    patcher.replace(_ENVIRONMENT, "Environment.set_error", set_error)
    patcher.replace(_ENVIRONMENT, "Environment.set_timed_out", set_timed_out)
    _stop_dates_of_timed_out_executions(patcher)
    patcher.replace(_PROGRAM, "Program.eval", program_eval)
    patcher.replace(_PROGRAM, "ExecutionTimedOutEventDetails", timed_out_details)
    patcher.replace(
        _EXECUTION,
        "BaseExecutionWorkerCommunication._reflect_execution_status",
        reflect_execution_status,
    )
    patcher.replace(_ENVIRONMENT, "Environment.set_stop", set_stop)
    return deadlines


def _stop_dates_of_timed_out_executions(patcher: Patcher) -> None:
    """DescribeExecution and ListExecutions answer a timed-out execution's ``stopDate``, as
    for every execution that ended."""
    original_describe: Callable[[Any], Any] = patcher.original(
        _RESPONSES, "StepFunctionResponse.describe_execution"
    )
    original_list: Callable[[Any], Any] = patcher.original(
        _RESPONSES, "StepFunctionResponse.list_executions"
    )

    def stop_date(response: Any, arn: str) -> Any:
        return response.stepfunction_backend.describe_execution(arn).stop_date

    def describe_execution(self: Any) -> Any:
        answer = original_describe(self)
        result = answer.result
        if result.get("status") == ExecutionStatus.TIMED_OUT and "stopDate" not in result:
            result["stopDate"] = stop_date(self, result["executionArn"])
        return answer

    def list_executions(self: Any) -> Any:
        answer = original_list(self)
        for item in answer.result.get("executions", []):
            if item.get("status") == ExecutionStatus.TIMED_OUT and "stopDate" not in item:
                item["stopDate"] = stop_date(self, item["executionArn"])
        return answer

    patcher.replace(_RESPONSES, "StepFunctionResponse.describe_execution", describe_execution)
    patcher.replace(_RESPONSES, "StepFunctionResponse.list_executions", list_executions)

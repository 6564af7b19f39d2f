"""An execution's TimeoutSeconds runs on the virtual clock (aws/timeouts.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from strict_fixtures import T0, Machines, running_machines


@pytest.fixture
def machines() -> Iterator[Machines]:
    with running_machines() as running:
        yield running


def waiting(timeout: int, wait: int) -> dict[str, Any]:
    return {
        "StartAt": "Before",
        "TimeoutSeconds": timeout,
        "States": {
            "Before": {"Type": "Pass", "Next": "Sleep"},
            "Sleep": {"Type": "Wait", "Seconds": wait, "Next": "After"},
            "After": {"Type": "Pass", "End": True},
        },
    }


def test_a_sleep_past_the_deadline_times_the_execution_out_at_the_deadline(
    machines: Machines,
) -> None:
    arn = machines.start(waiting(timeout=60, wait=100), {})
    machines.clock.settle(timeout_wall=30)
    described = machines.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "TIMED_OUT"
    assert described["stopDate"] == T0 + timedelta(seconds=60)
    assert described["error"] == "States.Timeout"
    assert "cause" not in described
    events = machines.history(arn)
    assert [e["type"] for e in events][-2:] == ["WaitStateEntered", "ExecutionTimedOut"]
    assert events[-1]["timestamp"] == T0 + timedelta(seconds=60)
    assert events[-1]["executionTimedOutEventDetails"] == {"error": "States.Timeout"}
    # the Wait asked for its own 100 s; the clock stopped at the deadline
    assert machines.clock.delays_for("wait:Sleep") == [100.0]
    assert machines.clock.time() == (T0 + timedelta(seconds=60)).timestamp()


def test_an_execution_within_its_timeout_succeeds(machines: Machines) -> None:
    described = machines.run(waiting(timeout=100, wait=99), {})
    assert described["status"] == "SUCCEEDED"
    assert described["stopDate"] == T0 + timedelta(seconds=99)


def test_reaching_the_deadline_exactly_in_a_sleep_times_out(machines: Machines) -> None:
    described = machines.run(waiting(timeout=100, wait=100), {})
    assert (described["status"], described["stopDate"]) == (
        "TIMED_OUT",
        T0 + timedelta(seconds=100),
    )


def test_a_retry_delay_past_the_deadline_times_out(machines: Machines) -> None:
    failing = machines.function("failing", "strict_fixtures.failing")
    definition = {
        "StartAt": "Call",
        "TimeoutSeconds": 10,
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": failing, "Payload": {}},
                "Retry": [{"ErrorEquals": ["NotYet"], "IntervalSeconds": 4, "MaxAttempts": 5}],
                "End": True,
            }
        },
    }
    arn = machines.start(definition, {})
    machines.clock.settle(timeout_wall=30)
    described = machines.sfn.describe_execution(executionArn=arn)
    # retries at 4 and 4+8=12 > 10: the second delay ends at the deadline, no third call
    assert (described["status"], described["stopDate"]) == (
        "TIMED_OUT",
        T0 + timedelta(seconds=10),
    )
    assert machines.clock.delays_for("retry:Call:NotYet") == [4.0, 8.0]
    assert [i.started_at for i in machines.invoker.calls("failing")] == [
        T0,
        T0 + timedelta(seconds=4),
    ]


def test_stop_execution_still_interrupts_a_wait(machines: Machines) -> None:
    machines.clock.auto_advance = False
    arn = machines.start(waiting(timeout=600, wait=300), {})
    machines.clock.settle(timeout_wall=30)
    machines.sfn.stop_execution(executionArn=arn, error="Operator")
    machines.clock.auto_advance = True
    machines.clock.settle(timeout_wall=5)
    described = machines.sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["stopDate"]) == ("ABORTED", T0)


def counting_pokes(machines: Machines, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pokes: list[int] = []
    poke = machines.clock.poke

    def counted() -> None:
        pokes.append(1)
        poke()

    monkeypatch.setattr(machines.clock, "poke", counted)
    return pokes


def test_an_execution_timing_out_pokes_the_clock(
    machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the clock's pokes counted (each makes every interruptible sleeper check at once:
    # nothing waits for a sleeper's own check, every 10 s of wall time)
    pokes = counting_pokes(machines, monkeypatch)
    # WHEN an execution times out in a Wait
    described = machines.run(waiting(timeout=60, wait=100), {})
    # THEN it poked the clock once, when it timed out
    assert described["status"] == "TIMED_OUT"
    assert len(pokes) == 1


def test_an_execution_failing_pokes_the_clock(
    machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    pokes = counting_pokes(machines, monkeypatch)
    # GIVEN the clock's pokes counted; WHEN a run's one Task fails (no Retry)
    failing = machines.function("failing", "strict_fixtures.failing")
    described = machines.run(calling(failing, 0), {})
    # THEN it poked the clock once, when it failed
    assert described["status"] == "FAILED"
    assert len(pokes) == 1


# -- a function's timeout, on the virtual clock ------------------------------------------------


def calling(function_arn: str, seconds: float, retry: bool = False) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": {"seconds": seconds}},
        "End": True,
    }
    if retry:
        task["Retry"] = [
            {"ErrorEquals": ["Lambda.Unknown"], "IntervalSeconds": 1, "MaxAttempts": 1}
        ]
    return {"StartAt": "Call", "States": {"Call": task}}


def test_a_handler_that_waits_takes_that_virtual_time_and_sees_it_spent(
    machines: Machines,
) -> None:
    # GIVEN a function (timeout 3 s, moto's default) whose handler waits 2 s for an answer
    waiting = machines.function("waiting", "strict_fixtures.waiting")
    described = machines.run(calling(waiting, 2), {})
    # THEN the Task took those 2 s, and the handler saw 1 s left
    assert (described["status"], described["stopDate"]) == ("SUCCEEDED", T0 + timedelta(seconds=2))
    assert json.loads(described["output"])["Payload"] == {"seconds": 2, "left": 1000}


def test_a_handler_past_its_timeout_did_its_work_and_fails_with_lambda_unknown(
    machines: Machines,
) -> None:
    # GIVEN a handler that waits 5 s, past its function's 3 s
    waiting = machines.function("waiting", "strict_fixtures.waiting")
    arn = machines.start(calling(waiting, 5), {})
    machines.clock.settle(timeout_wall=30)
    described = machines.sfn.describe_execution(executionArn=arn)
    # THEN the Task fails at the timeout with the name Step Functions gives a function timeout
    assert (described["status"], described["error"]) == ("FAILED", "Lambda.Unknown")
    assert described["stopDate"] == T0 + timedelta(seconds=3)
    assert "Task timed out after 3.00 seconds" in described["cause"]
    [invocation] = machines.invoker.calls("waiting")
    assert invocation.timed_out and invocation.error_type == "Lambda.Unknown"


def test_a_timed_out_task_is_retried_by_a_retrier_of_lambda_unknown(machines: Machines) -> None:
    waiting = machines.function("waiting", "strict_fixtures.waiting")
    arn = machines.start(calling(waiting, 5, retry=True), {})
    machines.clock.settle(timeout_wall=30)
    described = machines.sfn.describe_execution(executionArn=arn)
    # timed out at 3 s, retried 1 s later, timed out again at 7 s
    assert (described["status"], described["stopDate"]) == ("FAILED", T0 + timedelta(seconds=7))
    assert [i.started_at for i in machines.invoker.calls("waiting")] == [
        T0,
        T0 + timedelta(seconds=4),
    ]


def test_stop_execution_ends_a_run_asleep_in_a_retry_backoff_at_once(machines: Machines) -> None:
    # GIVEN a run sleeping in a 300 s Retry backoff
    failing = machines.function("failing", "strict_fixtures.failing")
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": failing, "Payload": {}},
                "Retry": [{"ErrorEquals": ["NotYet"], "IntervalSeconds": 300, "MaxAttempts": 3}],
                "End": True,
            }
        },
    }
    machines.clock.auto_advance = False
    arn = machines.start(definition, {})
    machines.clock.settle(timeout_wall=30)
    # WHEN it is stopped THEN it ends ABORTED at that moment, as in AWS (it ended only when
    # the backoff ended before), and its function is not called again
    machines.sfn.stop_execution(executionArn=arn, error="Operator")
    machines.clock.auto_advance = True
    machines.clock.settle(timeout_wall=5)
    described = machines.sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["stopDate"]) == ("ABORTED", T0)
    assert len(machines.invoker.calls("failing")) == 1


def test_stop_execution_ends_a_run_whose_task_waits_for_its_function(machines: Machines) -> None:
    # GIVEN a Task whose function waits 100 s (of its 300) for an answer
    waiting = machines.function("waiting", "strict_fixtures.waiting", timeout=300)
    machines.clock.auto_advance = False
    arn = machines.start(calling(waiting, 100), {})
    machines.clock.settle(timeout_wall=30)
    # WHEN it is stopped THEN it ends ABORTED at that moment, the function's wait notwithstanding
    machines.sfn.stop_execution(executionArn=arn, error="Operator")
    machines.clock.auto_advance = True
    machines.clock.settle(timeout_wall=5)
    described = machines.sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["stopDate"]) == ("ABORTED", T0)


def test_a_stopped_run_stays_aborted_when_its_task_then_fails(machines: Machines) -> None:
    # GIVEN a Task whose function will time out (it waits 500 s of its 300)
    waiting = machines.function("waiting", "strict_fixtures.waiting", timeout=300)
    machines.clock.auto_advance = False
    arn = machines.start(calling(waiting, 500), {})
    machines.clock.settle(timeout_wall=30)
    # WHEN it is stopped THEN the Task's later error cannot turn the run FAILED
    machines.sfn.stop_execution(executionArn=arn, error="Operator")
    machines.clock.auto_advance = True
    machines.clock.settle(timeout_wall=5)
    described = machines.sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["stopDate"]) == ("ABORTED", T0)

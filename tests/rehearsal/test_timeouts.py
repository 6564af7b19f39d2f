"""An execution's TimeoutSeconds runs on the virtual clock (aws/timeouts.py)."""

from __future__ import annotations

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

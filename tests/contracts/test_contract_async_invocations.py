"""Failures of asynchronously invoked functions reach an alarmed queue (async_rules.py).

The drift check is invoked by EventBridge Scheduler, asynchronously: without an on-failure
destination a check that raises is retried by Lambda and dropped, never reaching the
schedule's dead-letter queue.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from async_rules import ACCEPTED_WITHOUT_DESTINATION, async_findings, async_invokers
from stack_values import PARAMETER_SETS, Deployed, deployed


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_every_asynchronously_invoked_function_keeps_its_failures(parameter_set: str) -> None:
    assert async_findings(deployed(parameter_set)) == []


def test_the_drift_check_is_the_scheduled_function_and_the_exception_is_real() -> None:
    invokers = async_invokers(deployed("default"))
    assert invokers["DriftCheckFunction"] == ["DriftCheckSchedule"]
    assert set(ACCEPTED_WITHOUT_DESTINATION) <= set(invokers)


def _without_config(stack: Deployed) -> None:
    del stack.resources["DriftCheckInvokeConfig"]


def _too_many_retries(stack: Deployed) -> None:
    stack.resources["DriftCheckInvokeConfig"]["Properties"]["MaximumRetryAttempts"] = 3


def _unalarmed(stack: Deployed) -> None:
    del stack.resources["DriftCheckFailuresAlarm"]


def _no_send_grant(stack: Deployed) -> None:
    [policy] = stack.resources["DriftCheckFunctionRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "FailedChecks"]


def _fifo(stack: Deployed) -> None:
    stack.resources["DriftCheckFailureQueue"]["Properties"]["FifoQueue"] = True


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (
            _without_config,
            "DriftCheckFunction: invoked asynchronously by DriftCheckSchedule with no "
            "EventInvokeConfig: a failing invocation is retried twice, then dropped",
        ),
        (_too_many_retries, "DriftCheckFunction: MaximumRetryAttempts 3 outside 0-2"),
        (_unalarmed, "DriftCheckFunction: nothing alarms on messages in DriftCheckFailureQueue"),
        (
            _no_send_grant,
            "DriftCheckFunction: its role may not sqs:SendMessage to DriftCheckFailureQueue",
        ),
        (
            _fifo,
            "DriftCheckFunction: DriftCheckFailureQueue is a FIFO queue, which Lambda cannot "
            "send records to",
        ),
    ],
)
def test_a_broken_copy_fails_with_its_fault(
    breaks: Callable[[Deployed], None], expected: str
) -> None:
    stack = copy.deepcopy(deployed("default"))
    breaks(stack)
    assert async_findings(stack) == [expected]

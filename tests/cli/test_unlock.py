# ruff: noqa: E501 - expected lines are compared whole
"""unlock: a lease no live run holds is removed; a live one never, and a lease that changes
while it is checked is kept (the delete is conditional on the lease as read)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from cli_support import TARGET, Operator

pytestmark = pytest.mark.e2e

GONE = "arn:aws:states:us-east-1:123456789012:execution:ReconcileStateMachine:gone"


def leased(op: Operator, holder: str, expires: int = 4102444800) -> None:
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("StatusTable"),
        Item={
            "target": {"S": TARGET},
            "kind": {"S": "LEASE"},
            "holder": {"S": holder},
            "expiresAt": {"N": str(expires)},
        },
    )


def test_a_lease_of_a_run_step_functions_does_not_know_is_released(
    operator: Callable[..., Operator],
) -> None:
    # GIVEN a target whose lease names an execution that does not exist (any more)
    op = operator()
    op.r.write_spec({"target": TARGET})
    op.r.settle()
    leased(op, GONE)
    # WHEN unlocked
    result = op.run("unlock", TARGET)
    # THEN the lease is gone, and the operator is told how to reconcile now
    assert result.code == 0
    assert result.lines == [
        f"{TARGET}: lease released (Step Functions no longer knows its run gone). Start a run now with 'fleetwise-reconciler reconcile {TARGET}', or let the next drift check do it"
    ]
    assert op.r.lease(TARGET) is None
    # AND again: nothing to unlock
    assert op.run("unlock", TARGET).lines == [f"{TARGET}: no lease: nothing to unlock"]


def test_a_lease_of_a_running_run_is_kept(operator: Callable[..., Operator]) -> None:
    # GIVEN a registration running (its lease held by a live execution)
    op = operator()
    op.r.clock.auto_advance = False
    op.r.write_spec({"target": TARGET})
    op.r.pump()
    [run] = op.r.running_executions(TARGET)
    # WHEN the operator tries to unlock it
    result = op.run("unlock", TARGET, "-o", "json")
    # THEN nothing is deleted, and the answer says why
    assert result.code == 1
    data = json.loads(result.out)
    assert (data["released"], data["execution"]["status"]) == (False, "RUNNING")
    assert op.r.lease(TARGET) is not None
    assert op.r.lease(TARGET)["holder"] == run["executionArn"]
    op.r.run_until(None)


def test_a_lease_taken_over_while_it_is_checked_is_kept(operator: Callable[..., Operator]) -> None:
    # GIVEN a dead run's lease, taken over by a new run between the check and the delete
    op = operator()
    op.r.write_spec({"target": TARGET})
    op.r.settle()
    leased(op, GONE)
    session = boto3.Session(region_name="us-east-1")

    def take_over(**_: Any) -> None:
        leased(op, GONE.replace("gone", "new"), expires=4102444900)

    session.events.register("before-parameter-build.dynamodb.DeleteItem", take_over)
    # WHEN unlocked
    result = op.run("unlock", TARGET, session=session)
    # THEN the new run's lease stands
    assert result.code == 3
    assert result.errors == [
        f"fleetwise-reconciler: {TARGET}: the lease changed while it was checked (a run took it over, renewed or released it): nothing unlocked; look again with 'fleetwise-reconciler status {TARGET}'"
    ]
    assert op.r.lease(TARGET)["holder"].endswith(":new")

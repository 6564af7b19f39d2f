"""VirtualClock.hold(): what the driver does at one moment happens before the runs it starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from strict_fixtures import Machines, running_machines


@pytest.fixture
def machines() -> Iterator[Machines]:
    with running_machines() as running:
        yield running


def test_an_execution_started_in_a_hold_runs_when_the_hold_ends(machines: Machines) -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    with machines.clock.hold():
        arn = machines.start(definition, {})
        # the driver may still act at this moment: the run has not begun
        described = machines.sfn.describe_execution(executionArn=arn)
        assert described["status"] == "RUNNING"
        assert machines.history(arn) == []
    machines.clock.settle(timeout_wall=30)
    assert machines.sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"

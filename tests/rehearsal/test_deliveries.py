"""What AWS delivers at least once, or late, the rehearsal delivers so when asked: a stream
record lost or its batch twice, a tick twice, an asynchronous invocation retried after an
error (and delivered twice), an execution-status event twice or late."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from fleetwise_reconciler.handlers import drift_check
from fleetwise_rehearsal.rehearsal import Rehearsal
from fleetwise_rehearsal.scenarios.runner import ScenarioRunner

pytestmark = pytest.mark.e2e

T = "123456789012:us-east-1"


@pytest.fixture
def runner() -> Iterator[ScenarioRunner]:
    with Rehearsal({"ManageDefaultTarget": "false"}, jitter_fraction=0.5) as rehearsal:
        yield ScenarioRunner(rehearsal)


def function_calls(runner: ScenarioRunner, logical_id: str) -> list[float]:
    """When each invocation of the function began (seconds since the runner's origin)."""
    r = runner.rehearsal
    return [
        (i.started_at - runner.origin).total_seconds()
        for i in r.invoker.calls(r.stack.function_name(logical_id))
    ]


def test_a_lost_stream_record_reaches_no_trigger_and_the_drift_check_finds_the_item(
    runner: ScenarioRunner,
) -> None:
    runner.apply({"write": {"target": T}, "stream": "lost"})
    assert function_calls(runner, "StreamTriggerFunction") == []
    assert runner.rehearsal.executions() == []
    runner.apply({"at": 900, "tick": None})
    runner.finish()
    assert (runner.rehearsal.status(T) or {}).get("phase") == "Registered"


def test_a_stream_batch_delivered_twice_starts_one_run(runner: ScenarioRunner) -> None:
    runner.apply({"write": {"target": T}, "stream": "twice"})
    runner.finish()
    assert function_calls(runner, "StreamTriggerFunction") == [0.0, 0.0]
    assert len(runner.rehearsal.executions()) == 1


def test_a_tick_delivered_twice_starts_one_run(runner: ScenarioRunner) -> None:
    runner.apply({"write": {"target": T}, "stream": "lost"})
    runner.apply({"deliver": {"schedule": "twice"}})
    runner.apply({"at": 900, "tick": None})
    runner.finish()
    assert function_calls(runner, "DriftCheckFunction") == [900.0, 900.0]
    assert len(runner.rehearsal.executions()) == 1


def test_a_drift_check_that_fails_is_retried_a_minute_later_once(
    runner: ScenarioRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a drift check whose every StartExecution is refused (a target then needs a run:
    # its registration was lost)
    runner.apply({"write": {"target": T}})
    runner.finish()
    runner.rehearsal.sim.forget_registration()

    def refused(*_args: object, **_kwargs: object) -> bool:
        raise ClientError(
            {"Error": {"Code": "ExecutionLimitExceeded", "Message": "too many"}},
            "StartExecution",
        )

    monkeypatch.setattr(drift_check, "start_run", refused)
    # WHEN the tick's check fails (DriftCheckIncomplete) THEN Lambda retries its
    # asynchronous invocation a minute later, once (DriftCheckInvokeConfig's
    # MaximumRetryAttempts), and no more
    runner.apply({"at": 900, "tick": None})
    runner.apply({"advance": 600})
    checks = runner.rehearsal.invoker.calls(
        runner.rehearsal.stack.function_name("DriftCheckFunction")
    )
    assert [(c.started_at - runner.origin).total_seconds() for c in checks] == [900.0, 960.0]
    assert [c.error_type for c in checks] == ["DriftCheckIncomplete", "DriftCheckIncomplete"]


def test_an_asynchronous_invocation_delivered_twice_runs_twice(runner: ScenarioRunner) -> None:
    runner.apply({"write": {"target": T}})
    runner.finish()
    runner.apply({"deliver": {"async": "twice"}})
    runner.apply({"at": 900, "tick": None})
    assert function_calls(runner, "DriftCheckFunction") == [900.0, 900.0]


def test_an_execution_status_event_delivered_twice_or_late(runner: ScenarioRunner) -> None:
    # GIVEN two aborted runs, the first's event delivered twice, the second's 120 s late
    runner.apply({"deliver": {"rule": "twice"}})
    runner.apply({"write": {"target": T}})
    runner.apply({"at": 30, "abort": "running"})
    runner.apply({"deliver": {"rule": {"late": 120}}})
    runner.apply({"at": 60, "patch": {"target": T, "reconcileToken": "again"}})
    runner.apply({"at": 90, "abort": "running"})
    assert function_calls(runner, "ExecutionFailedFunction") == [30.0, 30.0]
    runner.apply({"advance": 300})
    # THEN the late one arrives at 210 s, and the status says the last run was aborted
    assert function_calls(runner, "ExecutionFailedFunction") == [30.0, 30.0, 210.0]
    status = runner.rehearsal.status(T) or {}
    assert (status.get("phase"), status.get("reason")) == ("Failed", "ExecutionAborted")
    assert runner.rehearsal.lease(T) is None
    assert runner.rehearsal.clock.now() == runner.origin + timedelta(seconds=390)

"""TIMED_OUT rehearsed end to end: the product's template, its execution timeout on the virtual
clock, the execution-status rule and the ExecutionFailed function."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetwise_rehearsal.fleetwise import Outcome
from fleetwise_rehearsal.rehearsal import START, Rehearsal

pytestmark = pytest.mark.e2e


def test_a_run_that_outlives_its_execution_timeout_is_recorded_as_timed_out() -> None:
    # GIVEN a stack whose runs may last 600 s, and a registration pending for 5000 s
    parameters = {
        "ManageDefaultTarget": "false",
        "ExecutionTimeoutSeconds": "600",
        "RegistrationBudgetSeconds": "7200",
    }
    with Rehearsal(parameters, jitter_fraction=0.5) as r:
        assert r.sim is not None
        r.sim.script_registrations([Outcome(pending_seconds=5000)])
        # WHEN the spec is written and everything settles
        r.write_spec({"target": r.default_target})
        r.settle()
        # THEN the run ended TIMED_OUT exactly 600 virtual seconds after it started
        [run] = r.executions()
        assert run.status == "TIMED_OUT"
        assert run.started_at == START
        assert run.stopped_at == START + timedelta(seconds=600)
        assert run.error == "States.Timeout"
        history = r.history(run.name)
        assert history[-1]["type"] == "ExecutionTimedOut"
        assert history[-1]["timestamp"] == START + timedelta(seconds=600)
        # AND no state ran after the deadline
        assert all(e["timestamp"] <= START + timedelta(seconds=600) for e in history)
        assert max(c.at for c in r.sim.calls()) < (START + timedelta(seconds=600)).timestamp()
        # AND the status rule delivered the TIMED_OUT event to the ExecutionFailed function
        [handled] = r.invoker.calls(r.stack.function_name("ExecutionFailedFunction"))
        assert handled.event["detail"]["status"] == "TIMED_OUT"
        assert handled.event["detail"]["executionArn"] == run.arn
        assert handled.error_type is None
        assert handled.started_at == START + timedelta(seconds=600)
        # AND the status says so and the lease is free
        status = r.status()
        assert status is not None
        assert (status["phase"], status["reason"]) == ("Failed", "ExecutionTimedOut")
        assert status["lastExecutionArn"] == run.arn
        assert r.lease() is None
        # AND the ExecutionsTimedOut alarm sees the datapoint
        timed_out = [p for p in r.datapoints() if p.name == "ExecutionsTimedOut"]
        assert [p.timestamp for p in timed_out] == [(START + timedelta(seconds=600)).timestamp()]

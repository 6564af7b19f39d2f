"""Every FleetWise call of a rehearsal names the Lambda invocation that made it, and so the
execution: the invariant "no two runs' FleetWise calls interleave" can be checked from it."""

from __future__ import annotations

import pytest

from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e


def test_each_fleetwise_call_names_its_function_and_execution() -> None:
    with Rehearsal({"ManageDefaultTarget": "false"}, jitter_fraction=0.5) as r:
        assert r.sim is not None
        r.write_spec({"target": r.default_target})
        r.settle()
        [run] = r.executions()
        functions = {
            r.stack.function_name(logical): logical
            for logical in ("ObserveFunction", "RegisterFunction", "PollFunction")
        }
        calls = r.sim.calls()
        assert len(calls) == 11  # Get, Register, then 9 polls (300 s pending, jitter 0.5)
        tagged = [tuple(str(c.tag).split(" ")) for c in calls]
        assert {arn for _, arn in tagged} == {run.arn}
        assert [functions[name] for name, _ in tagged] == (
            ["ObserveFunction", "RegisterFunction"] + ["PollFunction"] * 9
        )
        assert {(c.region, c.account) for c in calls} == {(r.region, r.account_id)}
        # outside any invocation nothing is running
        assert r.invoker.current is None

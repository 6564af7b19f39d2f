"""Rehearsal.reset(): one deployed stack reused, behaving exactly as a fresh one."""

from __future__ import annotations

from typing import Any

import pytest

from fleetwise_rehearsal.fleetwise import Outcome
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

# Fields that hold a moment or an execution's name, which differ between two runs.
MOMENTS = {
    "updatedAt",
    "lastReconcileStartedAt",
    "lastReconcileFinishedAt",
    "lastTransitionTime",
    "at",
    "observedAt",
    "creationTime",
    "lastModificationTime",
    "lastExecutionArn",
    "execution",
    "expiresAt",
    "managedSince",
}


def without_moments(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_moments(v) for k, v in value.items() if k not in MOMENTS}
    if isinstance(value, list):
        return [without_moments(v) for v in value]
    return value


def registration(r: Rehearsal) -> dict[str, Any]:
    """One full registration (a FAILURE, then a success) from the current moment."""
    assert r.sim is not None
    r.sim.script_registrations([Outcome(pending_seconds=120, result="FAILURE"), Outcome()])
    start = r.clock.time()
    r.write_spec({"target": r.default_target})
    r.settle()
    return {
        "calls": [
            (c.operation, c.input, round(c.at - start, 6), c.status, c.tag is not None)
            for c in r.sim.calls()
        ],
        "delays": [(d.label, d.seconds) for d in r.clock.delays],
        "paths": [(e.status, e.path) for e in r.executions()],
        "status": without_moments(r.status()),
        "lease": r.lease(),
        "invocations": sorted({i.function_name for i in r.invoker.invocations}),
        "stream": [len(d.sequence_numbers) for d in r.delivery.deliveries],
        "alarms": r.alarms_in_alarm(),
    }


def test_a_reset_rehearsal_registers_exactly_as_a_fresh_one() -> None:
    parameters = {"ManageDefaultTarget": "false"}
    with Rehearsal(parameters, jitter_fraction=0.5) as fresh:
        expected = registration(fresh)
    with Rehearsal(parameters, jitter_fraction=0.5) as reused:
        first = registration(reused)
        reused.advance(3600)
        reused.reset()
        # nothing of the first registration is left
        assert reused.specs() == [] and reused.status() is None and reused.lease() is None
        assert reused.executions() == [] and reused.fleetwise_operations() == []
        again = registration(reused)
    assert first == expected
    assert again == expected
    assert expected["status"]["phase"] == "Registered"


def test_reset_refuses_while_an_execution_runs() -> None:
    with Rehearsal({"ManageDefaultTarget": "false"}, jitter_fraction=0.5) as r:
        r.clock.auto_advance = False
        r.write_spec({"target": r.default_target})
        r.clock.settle()
        with pytest.raises(RuntimeError, match="settle"):
            r.reset()
        r.clock.auto_advance = True
        r.settle()

"""Product defects the strict rehearsal exposes, kept visible until they are fixed.

Each test states what AWS would do and the behaviour the product should have; it fails today
for the reason given (``xfail(strict=True)``: once the product is fixed it passes, the strict
xfail turns red, and the marker must go).
"""

from __future__ import annotations

import pytest

from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "invariant 10 (a deleted item stops management): Observe's result for a deleted spec "
        "item has no rawSpec, which its ResultSelector requires, so Step Functions fails the "
        "run with States.Runtime"
    ),
)
def test_deleting_the_item_while_a_run_is_in_flight_does_not_fail_the_run() -> None:
    with Rehearsal({"ManageDefaultTarget": "false"}, jitter_fraction=0.5) as r:
        r.clock.auto_advance = False
        r.write_spec({"target": r.default_target})
        r.clock.settle()  # the run now waits in AwaitRegistration
        # WHEN the item is edited (the holder will loop) and then deleted
        r.update_spec(reconcileToken="2026-11-26T12:01Z")
        r.delete_spec()
        r.clock.auto_advance = True
        r.settle()
        runs = r.executions()
        failed = [(e.name, e.error, e.cause) for e in runs if e.status == "FAILED"]
        # (today: the holder loops, Observe finds no item and the ResultSelector fails)
        assert not [f for f in failed if f[1] == "States.Runtime" and "rawSpec" in str(f[2])]
        assert failed == []

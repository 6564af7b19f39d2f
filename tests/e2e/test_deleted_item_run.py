"""A spec item deleted while a run is in flight (invariant 10, violation 6), end to end.

The strict rehearsal fails a run whose ResultSelector path selects nothing, as Step Functions
does: that is what an Observe result without ``rawSpec`` did to a deleted item. The first test
shows the product's run now ends well; the second shows the rehearsal alone would catch the
defect again (the same run, with Observe's result missing the field, fails with
States.Runtime naming it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import TARGET, operator_managed
from fleetwise_reconciler.handlers import observe
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e


def _delete_while_in_flight(r: Rehearsal) -> None:
    r.clock.auto_advance = False
    r.write_spec({"target": TARGET})
    r.clock.settle()  # the run now waits in AwaitRegistration
    # WHEN the item is edited (the holder will loop) and then deleted
    r.update_spec(reconcileToken="2026-11-26T12:01Z")
    r.delete_spec()
    r.clock.auto_advance = True
    r.settle()


def test_deleting_the_item_while_a_run_is_in_flight_records_unmanaged(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse(parameters=operator_managed())
    _delete_while_in_flight(r)
    assert [e.status for e in r.executions()] == ["SUCCEEDED"] * 3
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Unmanaged", "SpecDeleted")
    assert r.lease(TARGET) is None
    # no tick yet, but the drift check's silence alarm is still warming up; nothing else alarms
    assert r.alarms_in_alarm() == []


def test_the_strict_rehearsal_alone_catches_a_result_without_raw_spec(
    rehearse: Callable[..., Rehearsal], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Observe's deleted-item result as it was: without the rawSpec its ResultSelector names
    original = observe._result

    def without_raw_spec(**fields: Any) -> dict[str, Any]:
        result = original(**fields)
        if result["action"] == "Unmanaged":
            del result["rawSpec"]
        return result

    monkeypatch.setattr(observe, "_result", without_raw_spec)
    r = rehearse(parameters=operator_managed())
    _delete_while_in_flight(r)
    # THEN the run that observed the deleted item fails as Step Functions would fail it
    failed = [e for e in r.executions() if e.status == "FAILED"]
    assert [e.error for e in failed] == ["States.Runtime"]
    assert "rawSpec" in str(failed[0].cause)

"""Invariants 1-7 and 11 of architecture section 3, end to end on the rehearsed stack."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import PENDING_300_POLLS, TARGET, operator_managed
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

GET = "GetRegisterAccountStatus"
REGISTER = "RegisterAccount"
ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"
LEGACY = {
    "target": TARGET,
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": ROLE,
}
LEGACY_REQUEST = {
    "timestreamResources": {"timestreamDatabaseName": "fleet", "timestreamTableName": "signals"},
    "iamResources": {"roleArn": ROLE},
}


def spec_hash(item: dict[str, Any]) -> str:
    """docs/workflow.md: SHA-256 of the canonical JSON of every attribute, 16 hex digits."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_1_status_writes_never_start_a_reconcile(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse()
    r.deploy_spec()
    r.settle()
    # a whole registration wrote the status and the lease many times; one stream record only
    assert [len(d.sequence_numbers) for d in r.delivery.deliveries] == [1]
    assert len(r.executions()) == 1
    assert r.pump() == 0


def test_2_redelivered_record_starts_one_execution(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse()
    r.deploy_spec()
    r.settle()
    # WHEN Lambda delivers the same stream record again (at-least-once)
    streams = r.client("dynamodbstreams")
    arn = r.stack.attribute("SpecTable", "StreamArn")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    record = r.delivery._lambda_record(streams.get_records(ShardIterator=iterator)["Records"][0])
    answer = r.client("lambda").invoke(
        FunctionName=r.stack.function_name("StreamTriggerFunction"),
        Payload=json.dumps({"Records": [record]}).encode(),
    )
    assert json.loads(answer["Payload"].read()) == {"batchItemFailures": []}
    r.settle()
    # THEN still one execution, named from the record, and one registration
    [run] = r.executions()
    assert run.name == record["eventID"]
    assert r.sim is not None and r.sim.count(REGISTER) == 1


def test_2_revert_a_b_a_is_reconciled(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse(parameters=operator_managed())
    a = {"target": TARGET, "mode": "cloudwatch"}
    for item in (a, LEGACY, a):
        r.write_spec(item)
        r.settle()
    assert r.sim is not None
    assert [c.input for c in r.sim.calls(REGISTER)] == [{}, LEGACY_REQUEST, {}]
    assert [e.status for e in r.executions()] == ["SUCCEEDED"] * 3
    assert len({e.name for e in r.executions()}) == 3
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["specHash"]) == ("Registered", spec_hash(a))


def test_3_lease_one_run_acts_the_other_marks_pending(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse(parameters=operator_managed())
    # WHEN a stream run and a drift run start at the same virtual moment
    with r.clock.hold():
        r.write_spec({"target": TARGET})
        drift = r.tick()
    r.settle()
    runs = {e.name: e for e in r.executions()}
    [stream_run] = [e for n, e in runs.items() if n not in drift]
    paths = sorted([stream_run.path, runs[drift[0]].path], key=len)
    # THEN one run stepped aside, the holder acted once and then looped for the pending request
    assert paths[0] == ("Init", "Acquire", "LeaseAcquired", "LeftToHolder")
    assert paths[1].count("Observe") == 2 and paths[1][-1] == "Done"
    assert r.sim is not None and r.sim.count(REGISTER) == 1
    assert r.lease(TARGET) is None


def test_4_quick_edits_end_matching_the_last_edit(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse(parameters=operator_managed())
    # WHEN three edits land at the same moment
    with r.clock.hold():
        r.write_spec({"target": TARGET})
        r.write_spec({"target": TARGET, "policy": "enforce", "reconcileToken": "t1"})
        r.write_spec(LEGACY)
    r.settle()
    # THEN the service and the status match the LAST edit
    assert r.sim is not None
    assert r.sim.calls(REGISTER)[-1].input == LEGACY_REQUEST
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["specHash"]) == ("Registered", spec_hash(LEGACY))
    assert all(e.status == "SUCCEEDED" for e in r.executions())
    assert r.lease(TARGET) is None


def test_5_register_only_when_needed(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse()
    r.deploy_spec()
    r.settle()
    # a reconcile-now token and a tick on a registered, matching account: observe only
    r.update_spec(reconcileToken="now")
    r.settle()
    r.tick()
    r.settle()
    assert r.fleetwise_operations() == [GET, REGISTER] + [GET] * PENDING_300_POLLS + [GET, GET]


def test_6_modern_sends_nothing_legacy_sends_both(rehearse: Callable[..., Rehearsal]) -> None:
    r = rehearse(parameters=operator_managed())
    r.write_spec({"target": TARGET, "mode": "cloudwatch"})
    r.settle()
    r.write_spec(LEGACY)
    r.settle()
    assert r.sim is not None
    assert [c.input for c in r.sim.calls(REGISTER)] == [{}, LEGACY_REQUEST]


def test_7_invalid_spec_no_call_message_metric_stream_not_blocked(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse(parameters=operator_managed())
    r.write_spec({"target": TARGET, "mode": "cloudwatch", "colour": "blue"})
    r.settle()
    assert r.fleetwise_operations() == []
    status = r.status(TARGET)
    assert status is not None
    assert status["phase"] == "Invalid"
    assert "colour" in status["message"]
    assert any(
        doc.get("state") == "Invalid" and doc.get("TargetInTrouble") == [1.0] for doc in r.metrics()
    )
    # the stream is not blocked: nothing failed delivery, and the fix is reconciled
    assert r.delivery.on_failure_records == []
    r.write_spec({"target": TARGET, "mode": "cloudwatch"})
    r.settle()
    assert r.fleetwise_operations() == [GET, REGISTER] + [GET] * PENDING_300_POLLS
    fixed = r.status(TARGET)
    assert fixed is not None and fixed["phase"] == "Registered"


def test_11_first_registration_after_deploy_is_not_missed(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse()
    # the trigger's mapping reads from TRIM_HORIZON: the deploy's write is delivered
    assert r.stack.event_source_mapping.starting_position == "TRIM_HORIZON"
    r.deploy_spec()
    r.settle()
    [run] = r.executions()
    assert (run.status, run.input["trigger"]) == ("SUCCEEDED", "stream")
    status = r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"


def test_10_deleting_an_item_stops_management_and_never_deregisters(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse()
    r.deploy_spec()
    r.settle()
    before = r.fleetwise_operations()
    r.delete_spec()
    r.settle()
    # THEN the REMOVE record starts a run that only records the end of management
    removal = r.executions()[-1]
    assert removal.path == (
        "Init", "Acquire", "LeaseAcquired", "Observe", "Decide", "Record", "Again", "Done"
    )  # fmt: skip
    assert r.fleetwise_operations() == before  # not even an observation
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Unmanaged", "SpecDeleted")
    assert r.lease(TARGET) is None


def test_aborted_run_is_recorded_by_the_execution_status_rule(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse()
    r.clock.auto_advance = False
    r.deploy_spec()
    r.clock.settle()  # the run now sleeps in AwaitRegistration
    [run] = r.executions()
    r.client("stepfunctions").stop_execution(executionArn=run.arn, error="Operator")
    r.clock.auto_advance = True
    r.settle()
    [aborted] = r.executions()
    assert aborted.status == "ABORTED"
    status = r.status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", "ExecutionAborted")
    assert r.lease(TARGET) is None
    assert r.invoker.calls(r.stack.function_name("ExecutionFailedFunction"))

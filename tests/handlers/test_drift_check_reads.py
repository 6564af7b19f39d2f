"""What one drift tick reads and assumes, counted at the wire: each table once per tick, one
AssumeRole per member account and tick (none on the next ticks of a warm environment).

The tables are moto's; IoT FleetWise answers a registered account through the real adapter;
STS is moto's. Every botocore request the handler makes is recorded, and DynamoDB's reads are
counted as items read: a GetItem one, a BatchGetItem one per key, a Scan its ScannedCount.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from handler_fakes import Clock, status_response
from test_drift_check import SEEN_REGISTERED, record_status

from fleetwise_reconciler import wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.handlers import drift_check

OWN = "123456789012"
REGIONS = ("ap-south-1", "eu-central-1", "us-east-1")
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:stack-DriftCheckFunction-abc"


class Wire:
    """Every request the product's clients send, with its answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def record(self, client: BaseClient, operation: str, params: Any, answer: Any) -> None:
        with self._lock:
            self.calls.append((client.meta.service_model.service_name, operation, params, answer))

    def take(self) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
        with self._lock:
            taken, self.calls = self.calls, []
        return taken


def items_read(calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> Counter[str]:
    """Items read per table (the tables named by their role: spec, status)."""
    read: Counter[str] = Counter()
    for service, operation, params, answer in calls:
        if service != "dynamodb":
            continue
        if operation in ("GetItem", "Scan"):
            table = params["TableName"]
            read[table] += 1 if operation == "GetItem" else int(answer["ScannedCount"])
        elif operation == "BatchGetItem":
            for table, asked in params["RequestItems"].items():
                read[table] += len(asked["Keys"])
    return Counter({("spec" if "spec" in t else "status"): n for t, n in read.items()})


def operations(calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> Counter[str]:
    return Counter(operation for _service, operation, _params, _answer in calls)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    recorder = Wire()
    send = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: Any) -> Any:
        answer = send(client, operation, params)
        recorder.record(client, operation, params, answer)
        return answer

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return recorder


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """IoT FleetWise reports every account registered, through the adapter's own parsing;
    the Regions asked are counted."""
    asked: Counter[str] = Counter()
    real = FleetWise.get_status

    class Registered:
        def get_register_account_status(self) -> dict[str, Any]:
            return status_response("REGISTRATION_SUCCESS")

    def get_status(port: FleetWise) -> dict[str, Any]:
        asked[port.client.meta.region_name] += 1
        return real(FleetWise(client=Registered()))

    monkeypatch.setattr(FleetWise, "get_status", get_status)
    yield asked


def fleet(members: int, regions: int) -> tuple[list[str], list[str]]:
    """This account and ``members`` member accounts, each in ``regions`` Regions: the member
    accounts and the targets."""
    accounts = [f"2109876{n:05d}" for n in range(members)]
    targets = [f"{a}:{r}" for a in [OWN, *accounts] for r in REGIONS[:regions]]
    return accounts, targets


def settle(
    specs: SpecRepository, statuses: StatusRepository, now: Clock, targets: list[str]
) -> None:
    for target in targets:
        specs.put({"target": target})
        record_status(statuses, now, target, {"target": target}, phase="Registered",
                      reason="UpToDate", observed=SEEN_REGISTERED)  # fmt: skip


class Invocations:
    """A Lambda client that keeps each asynchronous invocation's event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.events.append(json.loads(request["Payload"]))
        return {"StatusCode": 202}


@pytest.mark.parametrize(("members", "regions"), [(0, 1), (4, 3), (7, 2)])
def test_a_tick_reads_each_table_once_and_assumes_each_member_role_once(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    wire: Wire,
    observed: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
    members: int,
    regions: int,
) -> None:
    # GIVEN N targets, settled, over this account and M member accounts in R Regions
    accounts, targets = fleet(members, regions)
    monkeypatch.setenv("MEMBER_ACCOUNT_IDS", ",".join(accounts))
    wiring.reset()
    settle(spec_repository, status_repository, now, targets)
    client, _arn = state_machine
    wire.take()
    # WHEN the schedule fires (a cold environment)
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                stepfunctions=client)  # fmt: skip
    # THEN every target is in sync, each account and Region observed once
    assert [t["why"] for t in result["targets"]] == ["InSync"] * len(targets)
    assert sum(observed.values()) == len(targets)
    # AND each table was read once: every spec item and every status once, by one Scan each
    calls = wire.take()
    assert items_read(calls) == {"spec": len(targets), "status": len(targets)}
    assert operations(calls) == Counter({"Scan": 2, "AssumeRole": members})
    # WHEN the next tick runs in the same (warm) environment
    now.advance(900)
    drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                       stepfunctions=client)  # fmt: skip
    # THEN the same reads, and no AssumeRole: the member credentials are still good
    calls = wire.take()
    assert items_read(calls) == {"spec": len(targets), "status": len(targets)}
    assert operations(calls) == {"Scan": 2}


def test_a_fanned_out_tick_reads_each_spec_item_once_and_assumes_each_member_role_once(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    wire: Wire,
    observed: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN 24 targets (this account and 7 member accounts, 3 Regions each) and batches of
    # 8 targets
    accounts, targets = fleet(7, 3)
    monkeypatch.setenv("MEMBER_ACCOUNT_IDS", ",".join(accounts))
    monkeypatch.setenv("DRIFT_CHECK_BATCH_SIZE", "8")
    wiring.reset()
    settle(spec_repository, status_repository, now, targets)
    client, _arn = state_machine
    lam = Invocations()
    wire.take()
    # WHEN the schedule fires, and each batch then runs in an environment of its own
    tick = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                              stepfunctions=client, function=FUNCTION,
                              lambda_client=lam)  # fmt: skip
    at_tick = wire.take()
    in_batches = []
    for event in lam.events:
        wiring.reset()
        drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                           stepfunctions=client)  # fmt: skip
        in_batches.append(wire.take())
    # THEN the tick checks two accounts' six targets (a batch ends where an account's
    # targets end) and hands out three batches of six
    assert len(tick["targets"]) == 6
    assert [len(e["targets"]) for e in lam.events] == [6, 6, 6]
    assert sum(observed.values()) == len(targets)
    # AND the tick read each spec item and each status once; each batch read no spec item
    # (its items came with its event) and asked for its own targets' status and WATCH item
    # once each (a key each: there is no WATCH item while a target is healthy, and a batch
    # cannot know which have one without asking)
    assert items_read(at_tick) == {"spec": 24, "status": 24}
    assert [items_read(calls) for calls in in_batches] == [{"status": 6 * 2}] * 3
    # AND every member account's role was assumed once in the whole tick
    assumed = [operations(calls)["AssumeRole"] for calls in [at_tick, *in_batches]]
    assert assumed == [1, 2, 2, 2]
    assert sum(assumed) == len(accounts)


def test_a_batch_reads_only_the_items_its_event_could_not_carry(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    wire: Wire,
    observed: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN three targets of a batch: one whose item JSON cannot hold as it is (a string
    # set: invalid, but an item DynamoDB holds), two plain ones of which the event has room
    # for one only
    _accounts, targets = fleet(0, 3)
    settle(spec_repository, status_repository, now, targets)
    odd = {"target": targets[0], "tags": {"a", "b"}}
    spec_repository.put(odd)
    items = [odd, {"target": targets[1]}, {"target": targets[2]}]
    carried = {"tick": "20261126T1200Z", "batch": 1, "batches": 1, "targets": targets,
               "items": [items[1]]}  # fmt: skip
    # room for that event, not for the third item
    monkeypatch.setattr(drift_check, "HAND_OUT_BYTES", len(json.dumps(carried)))
    event = json.loads(drift_check.batch_event("20261126T1200Z", 1, 1, items))
    assert event["targets"] == targets
    assert event["items"] == [{"target": targets[1]}]
    client, _arn = state_machine
    wire.take()
    # WHEN the batch runs
    result = drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                                stepfunctions=client)  # fmt: skip
    # THEN it read the two items the event did not carry, and checked all three as they are;
    # of the status table, the three statuses and WATCH items, and the lease of the target
    # given a run (its status is of another spec version)
    calls = wire.take()
    assert items_read(calls) == {"spec": 2, "status": 3 * 2 + 1}
    assert result["started"] == ["drift-123456789012-ap-south-1-20261126T1200Z"]
    [spec_read] = [p for _s, o, p, _a in calls if o == "BatchGetItem" and "spec" in str(p)]
    keys = next(iter(spec_read["RequestItems"].values()))["Keys"]
    assert sorted(k["target"]["S"] for k in keys) == [targets[0], targets[2]]
    assert [(t["target"], t["invalid"]) for t in result["targets"]] == [
        (targets[0], True),
        (targets[1], False),
        (targets[2], False),
    ]


def test_a_status_that_says_unmanaged_costs_no_lease_read(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    wire: Wire,
    observed: Counter[str],
) -> None:
    # GIVEN a settled target, and the status of a deleted one that says Unmanaged
    _accounts, targets = fleet(0, 1)
    settle(spec_repository, status_repository, now, targets)
    gone = "123456789019:us-east-1"
    record_status(status_repository, now, gone, {"target": gone}, phase="Unmanaged",
                  reason="SpecDeleted")  # fmt: skip
    client, _arn = state_machine
    wire.take()
    # WHEN a tick runs THEN both statuses are read by its one Scan, and nothing else
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                stepfunctions=client)  # fmt: skip
    calls = wire.take()
    assert result["started"] == []
    assert items_read(calls) == {"spec": 1, "status": 2}
    assert operations(calls) == {"Scan": 2}


def test_one_summary_line_per_invocation_and_a_line_only_for_targets_in_trouble(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    observed: Counter[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN three settled targets and a fourth that is invalid and not yet recorded
    _accounts, targets = fleet(0, 3)
    settle(spec_repository, status_repository, now, targets)
    invalid = "123456789013:us-east-1"
    spec_repository.put({"target": invalid, "colour": "blue"})
    client, _arn = state_machine
    caplog.clear()
    # WHEN a tick runs
    drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                       stepfunctions=client)  # fmt: skip
    # THEN one line for the invalid target (given a run to record it), one summary line
    name = "drift-123456789013-us-east-1-20261126T1200Z"
    fields = ("target", "why", "state", "execution", "checked", "targets", "started",
              "executions", "unobserved", "missed", "batches")  # fmt: skip
    assert [
        {"message": r.getMessage()} | {k: getattr(r, k) for k in fields if hasattr(r, k)}
        for r in caplog.records
    ] == [
        {"message": "drift checked", "target": invalid, "why": "StaleStatus",
         "state": "Invalid", "execution": name},
        {"message": "drift check summary", "checked": 4,
         "targets": {"Healthy": 3, "Invalid": 1}, "started": 1, "executions": [name],
         "unobserved": 0, "missed": 0, "batches": 0},
    ]  # fmt: skip


@pytest.mark.parametrize("spare", [0, -1])
def test_a_batch_event_carries_items_up_to_its_size_exactly(
    monkeypatch: pytest.MonkeyPatch, spare: int
) -> None:
    # GIVEN three items, and room for the event with the first two (or one byte less)
    items = [{"target": f"12345678901{n}:us-east-1", "paused": n == 1} for n in range(3)]
    two = {"tick": "20261126T1200Z", "batch": 2, "batches": 3,
           "targets": [raw["target"] for raw in items], "items": items[:2]}  # fmt: skip
    monkeypatch.setattr(drift_check, "HAND_OUT_BYTES", len(json.dumps(two)) + spare)
    # WHEN the event is made
    payload = drift_check.batch_event("20261126T1200Z", 2, 3, items)
    # THEN it is within the size, with as many whole items as fit, in order
    event = json.loads(payload)
    assert len(payload) <= drift_check.HAND_OUT_BYTES
    assert event == dict(two, items=items[: 2 if spare == 0 else 1])


@pytest.mark.parametrize(
    ("event", "segment"),
    [
        ({"scheduledTime": "2026-11-26T12:00:00Z", "rateMinutes": 15}, 1_995_216 % 10),
        ({"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": 15}, 1_995_217 % 10),
        ({"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": 5}, 5_985_651 % 10),
        ({}, None),  # an invocation by hand: sweep everything
        ({"scheduledTime": "2026-11-26T12:15:00Z"}, None),
        ({"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": True}, None),
        ({"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": 0}, None),
        ({"scheduledTime": "2026-11-26 12:15", "rateMinutes": 15}, None),
        ({"scheduledTime": "<aws.scheduler.scheduled-time>", "rateMinutes": 15}, None),
    ],
)
def test_the_sweep_segment_is_the_tick_number_modulo_the_sweep_ticks(
    event: dict[str, Any], segment: int | None
) -> None:
    assert drift_check.SWEEP_TICKS == 10
    assert drift_check.sweep_segment(event) == segment

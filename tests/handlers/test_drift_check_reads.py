"""What one drift tick reads and assumes, counted at the wire: each table once per tick, one
AssumeRole per member account and tick (none on the next ticks of a warm environment).

The tables are moto's; IoT FleetWise answers a registered account through the real adapter;
STS is moto's. Every botocore request the handler makes is recorded, and DynamoDB's reads are
counted as items read: a GetItem one, a BatchGetItem one per key, a Scan or Query its
ScannedCount (the items it read, before any filter).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
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
        if operation in ("GetItem", "Scan", "Query"):
            table = params["TableName"]
            read[table] += 1 if operation == "GetItem" else int(answer["ScannedCount"])
        elif operation == "BatchGetItem":
            for table, asked in params["RequestItems"].items():
                read[table] += len(asked["Keys"])
    return Counter({("spec" if "spec" in t else "status"): n for t, n in read.items()})


def operations(calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> Counter[str]:
    return Counter(operation for _service, operation, _params, _answer in calls)


def scheduled(now: Clock) -> dict[str, Any]:
    """The schedule's event at ``now``, as EventBridge Scheduler fills it in (template.yaml)."""
    return {"scheduledTime": now().strftime("%Y-%m-%dT%H:%M:%SZ"), "rateMinutes": 15}


def segments_of(statuses: StatusRepository) -> dict[tuple[str, str], int]:
    """The sweep segment of each STATUS and WATCH item, as ``(target, kind)``."""
    found: dict[tuple[str, str], int] = {}
    for segment in range(drift_check.SWEEP_TICKS):
        for kind, items in zip(("STATUS", "WATCH"), statuses.all_statuses_and_watches(
                segment, drift_check.SWEEP_TICKS), strict=True):  # fmt: skip
            found.update({(target, kind): segment for target in items})
    return found


def status_queries(calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> list[str]:
    """The target of each Query of the status table, each checked consistent and bounded to
    the target's STATUS and WATCH items."""
    asked = []
    for _service, operation, params, _answer in calls:
        if operation != "Query":
            continue
        assert "status" in params["TableName"]
        assert params["ConsistentRead"] is True
        values = {v["S"] for v in params["ExpressionAttributeValues"].values()}
        assert " BETWEEN " in params["KeyConditionExpression"]
        assert {"STATUS", "WATCH"} <= values
        asked += sorted(values - {"STATUS", "WATCH"})
    return asked


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


def test_a_fanned_out_tick_reads_each_status_once_and_one_segment_for_its_sweep(
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
    event = scheduled(now)
    segment = drift_check.sweep_segment(event)
    in_segment = [t for (t, _kind), s in segments_of(status_repository).items() if s == segment]
    wire.take()
    # WHEN the schedule fires, and each batch then runs in an environment of its own
    tick = drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                              stepfunctions=client, function=FUNCTION,
                              lambda_client=lam)  # fmt: skip
    at_tick = wire.take()
    in_batches = []
    for batch in lam.events:
        wiring.reset()
        drift_check.handle(batch, specs=spec_repository, statuses=status_repository,
                           stepfunctions=client)  # fmt: skip
        in_batches.append(wire.take())
    # THEN the tick checks two accounts' six targets (a batch ends where an account's
    # targets end) and hands out three batches of six
    own = [t["target"] for t in tick["targets"]]
    assert own == targets[:6]
    assert [e["targets"] for e in lam.events] == [targets[6:12], targets[12:18], targets[18:]]
    assert sum(observed.values()) == len(targets)
    # AND the tick read each spec item once, its own six statuses by one Query each, and one
    # segment of the status table for its sweep (a consistent Scan of that segment only)
    assert items_read(at_tick) == {"spec": 24, "status": 6 + len(in_segment)}
    assert status_queries(at_tick) == own
    [sweep] = [p for _s, o, p, _a in at_tick if o == "Scan" and "status" in p["TableName"]]
    assert (sweep["Segment"], sweep["TotalSegments"], sweep["ConsistentRead"]) == (
        segment, drift_check.SWEEP_TICKS, True)  # fmt: skip
    # AND each batch read no spec item (its items came with its event) and each of its six
    # statuses by one Query (no WATCH item while a target is healthy: nothing more to read)
    assert [items_read(calls) for calls in in_batches] == [{"status": 6}] * 3
    assert [status_queries(calls) for calls in in_batches] == [e["targets"] for e in lam.events]
    assert [operations(calls)["Query"] for calls in in_batches] == [6, 6, 6]
    # AND every member account's role was assumed once in the whole tick
    assumed = [operations(calls)["AssumeRole"] for calls in [at_tick, *in_batches]]
    assert assumed == [1, 2, 2, 2]
    assert sum(assumed) == len(accounts)


def test_a_batch_of_six_reads_each_status_and_only_the_watch_items_there_are(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    wire: Wire,
    observed: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a batch of six settled targets (this account and a member account, 3 Regions),
    # two of which the drift check remembers in trouble (reported Unobserved: a WATCH item
    # each), and a third whose lease a run holds
    accounts, targets = fleet(1, 3)
    monkeypatch.setenv("MEMBER_ACCOUNT_IDS", ",".join(accounts))
    wiring.reset()
    settle(spec_repository, status_repository, now, targets)
    troubled = [targets[1], targets[4]]
    for target in troubled:
        status_repository.put_watch(target, {"state": "Unobserved", "reported": True,
                                             "since": "2026-11-26T11:00:00Z"})  # fmt: skip
    status_repository.acquire_lease(targets[2], "arn:run", now=now(), lease_seconds=60)
    event = json.loads(drift_check.batch_event("20261126T1200Z", 2, 2,
                                               [{"target": t} for t in targets]))  # fmt: skip
    client, _arn = state_machine
    wire.take()
    # WHEN the batch runs
    result = drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                                stepfunctions=client)  # fmt: skip
    # THEN it read its six statuses and the two WATCH items, by one consistent Query per
    # target after observing (each account and Region once), and nothing else of the table
    # (not the lease either)
    calls = wire.take()
    assert items_read(calls) == {"status": 6 + 2}
    assert status_queries(calls) == targets
    assert operations(calls) == {"Query": 6, "DeleteItem": 2, "AssumeRole": 1}
    assert sum(observed.values()) == 6
    # AND the two targets' trouble, over, was cleared: their WATCH items deleted
    assert [t["why"] for t in result["targets"]] == ["InSync"] * 6
    assert [status_repository.get_status_and_watch(t)[1] for t in troubled] == [None, None]


def test_the_sweep_goes_round_the_table_one_segment_a_tick(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    wire: Wire,
    observed: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN 24 settled targets in batches of 8 (the tick checks six, three batches of six),
    # the status of a deleted target whose run never recorded it, and the WATCH item of
    # another deleted target
    accounts, targets = fleet(7, 3)
    monkeypatch.setenv("MEMBER_ACCOUNT_IDS", ",".join(accounts))
    monkeypatch.setenv("DRIFT_CHECK_BATCH_SIZE", "8")
    wiring.reset()
    settle(spec_repository, status_repository, now, targets)
    gone, forgotten = "123456789019:us-east-1", "123456789018:us-east-1"
    record_status(status_repository, now, gone, {"target": gone}, phase="Registered",
                  reason="UpToDate", observed=SEEN_REGISTERED)  # fmt: skip
    status_repository.put_watch(forgotten, {"state": "Failed", "reported": True,
                                            "since": "2026-11-26T11:00:00Z"})  # fmt: skip
    where = segments_of(status_repository)
    client, _arn = state_machine
    ticks = drift_check.SWEEP_TICKS
    wire.take()
    # WHEN the schedule fires SWEEP_TICKS times, 15 minutes apart, each batch run as well
    reads, segments, runs = [], [], []
    for _ in range(ticks):
        now.advance(900)
        lam = Invocations()
        event = scheduled(now)
        tick = drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                                  stepfunctions=client, function=FUNCTION,
                                  lambda_client=lam)  # fmt: skip
        calls = wire.take()
        for batch in lam.events:
            drift_check.handle(batch, specs=spec_repository, statuses=status_repository,
                               stepfunctions=client)  # fmt: skip
            calls += wire.take()
        reads.append(items_read(calls)["status"])
        segments.append(drift_check.sweep_segment(event))
        runs += [name for name in tick["started"] if "123456789019" in name]
    # THEN consecutive ticks swept consecutive segments, each once
    assert sorted(segments) == list(range(ticks))
    assert [(b - a) % ticks for a, b in pairwise(segments)] == [1] * (ticks - 1)
    # AND the deleted target's status was swept once (one run, after one lease read), and
    # the forgotten WATCH item once (deleted then)
    assert len(runs) == 1
    assert status_repository.get_status_and_watch(forgotten) == (None, None)
    # AND each tick read each of the 24 statuses once, by Query, and the items of its
    # segment: over the ticks, every item once more, and the deleted target's lease
    lease = {where[(gone, "STATUS")]: 1}
    assert reads == [
        24 + sum(1 for s in where.values() if s == segment) + lease.get(segment, 0)
        for segment in segments
    ]
    assert sum(reads) == ticks * 24 + (24 + 2) + 1
    assert sum(reads) / (ticks * len(targets)) <= 1.1


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
    # of the status table, the three statuses (a Query each, no WATCH item there), and the
    # lease of the target given a run (its status is of another spec version)
    calls = wire.take()
    assert items_read(calls) == {"spec": 2, "status": 3 + 1}
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
        ({"scheduledTime": "2026-11-26T12:00:00Z", "rateMinutes": 15}, 1_995_216 % 16),
        ({"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": 15}, 1_995_217 % 16),
        ({"scheduledTime": "2026-11-26T12:15:00Z", "rateMinutes": 5}, 5_985_651 % 16),
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
    assert drift_check.SWEEP_TICKS == 16
    assert drift_check.sweep_segment(event) == segment


class Flaky:
    """A Region's port whose first ``failures`` GetRegisterAccountStatus calls fail with
    ``error``; the calls are counted per Region."""

    def __init__(self, failures: dict[str, int], error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls: Counter[str] = Counter()

    def __call__(self, region: str) -> Any:
        flaky = self

        class Port:
            def get_status(self) -> dict[str, Any]:
                flaky.calls[region] += 1
                if flaky.calls[region] <= flaky.failures.get(region, 0):
                    raise flaky.error
                return {"registered": True, "region": region}

        return Port()


@pytest.mark.parametrize(
    ("failures", "unobserved", "calls"),
    [
        # one dropped connection in a Region: observed on the second attempt
        ({"eu-central-1": 1}, [], {"ap-south-1": 1, "eu-central-1": 2, "us-east-1": 1}),
        # throttled twice: the third and last attempt
        ({"us-east-1": 2}, [], {"ap-south-1": 1, "eu-central-1": 1, "us-east-1": 3}),
        # failing every attempt: unobserved after three
        ({"us-east-1": 3}, ["us-east-1"], {"ap-south-1": 1, "eu-central-1": 1, "us-east-1": 3}),
    ],
)
def test_a_transient_observation_failure_is_tried_again_before_the_target_is_unobserved(
    monkeypatch: pytest.MonkeyPatch,
    failures: dict[str, int],
    unobserved: list[str],
    calls: dict[str, int],
) -> None:
    # GIVEN three Regions of this account, whose observations fail transiently at first
    # (the drift check runs outside Step Functions: nothing else retries them this tick)
    from fleetwise_reconciler.errors import FleetWiseTransientError

    pauses: list[float] = []
    monkeypatch.setattr(drift_check, "pause", pauses.append)
    error = FleetWiseTransientError("EndpointUnreachable", "connect timeout",
                                    operation="GetRegisterAccountStatus")  # fmt: skip
    port = Flaky(failures, error)
    keys = [f"{OWN}:{region}" for region in REGIONS]
    # WHEN the tick observes them
    observed, errors = drift_check.observe_all(keys, run="drift-check", given=port)
    # THEN each is observed within three attempts, paused 0.25 s, then 0.5 s, between them
    assert sorted(k.partition(":")[2] for k in errors) == unobserved
    assert sorted(k.partition(":")[2] for k in observed) == sorted(
        r for r in REGIONS if r not in unobserved
    )
    assert dict(port.calls) == calls
    assert sorted(pauses) == sorted(
        [0.25, 0.5][: min(f, 2)][i] for f in failures.values() for i in range(min(f, 2))
    )


def test_a_terminal_observation_failure_is_not_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a Region whose observation is refused (access denied: terminal)
    from fleetwise_reconciler.errors import FleetWiseTerminalError

    monkeypatch.setattr(drift_check, "pause", lambda _s: pytest.fail("paused"))
    port = Flaky({"us-east-1": 5}, FleetWiseTerminalError("AccessDenied", "no"))
    # WHEN the tick observes it THEN once, and it is unobserved
    observed, errors = drift_check.observe_all([f"{OWN}:us-east-1"], run="r", given=port)
    assert (observed, list(errors), dict(port.calls)) == (
        {},
        [f"{OWN}:us-east-1"],
        {"us-east-1": 1},
    )


class Remaining:
    """A Lambda context's clock: the seconds left, spent by each pause."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.seconds -= seconds

    def millis(self) -> int:
        return int(self.seconds * 1000)


@pytest.mark.parametrize(
    ("spare", "pauses", "calls"),
    [
        # room for both pauses and the attempts after them: three attempts
        (0.75, [0.25, 0.5], 3),
        # room for the first pause only: two attempts, then the failure stands
        (0.5, [0.25], 2),
        # no room for a pause: one attempt
        (0.2, [], 1),
    ],
)
def test_a_transient_failure_is_tried_again_only_while_the_time_left_allows(
    monkeypatch: pytest.MonkeyPatch, spare: float, pauses: list[float], calls: int
) -> None:
    # GIVEN a Region whose observation fails transiently on every attempt, and an invocation
    # with time for one target's work and the sweep, and ``spare`` seconds more
    from fleetwise_reconciler import budget
    from fleetwise_reconciler.errors import FleetWiseTransientError

    need = budget.seconds(budget.LOOPS["DriftCheckFunction"]) + budget.seconds(
        ((budget.DYNAMODB, 1),))  # fmt: skip
    left = Remaining(need + spare)
    monkeypatch.setattr(drift_check, "pause", left.pause)
    error = FleetWiseTransientError("ThrottlingException", "slow down",
                                    operation="GetRegisterAccountStatus")  # fmt: skip
    port = Flaky({"us-east-1": 5}, error)
    # WHEN the tick observes it
    observed, errors = drift_check.observe_all([f"{OWN}:us-east-1"], run="drift-check",
                                               given=port,
                                               deadline=budget.Deadline(left.millis))  # fmt: skip
    # THEN it is tried again only while a pause and one more attempt fit; the failure that
    # stands is the target's (unobserved), not the invocation's (no TimeBudgetSpent)
    assert (observed, left.pauses, port.calls["us-east-1"]) == ({}, pauses, calls)
    assert errors[f"{OWN}:us-east-1"] is error

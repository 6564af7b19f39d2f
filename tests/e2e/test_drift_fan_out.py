"""A drift tick over more targets than one invocation checks: the scheduled invocation checks
the first batch and hands the others to asynchronous invocations of the same function, through
moto's Lambda API; every target is observed once and counted once, beside one heartbeat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from fleetwise_reconciler.handlers import drift_check
from fleetwise_rehearsal.fleet.call_meter import CallMeter, items_per_table
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

HUB, MEMBER, OTHER = "123456789012", "210000000000", "210000000001"
REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
# Sorted as the tick sorts them: an account's targets stay together.
TARGETS = sorted(f"{a}:{region}" for a in (HUB, MEMBER, OTHER) for region in REGIONS)
TICK = 900  # DriftCheckRateMinutes' default


@pytest.fixture
def fleet(rehearse: Callable[..., Rehearsal]) -> Rehearsal:
    r = rehearse(
        parameters={"ManageDefaultTarget": "false", "MemberAccountIds": f"{MEMBER},{OTHER}",
                    "DriftCheckBatchSize": "4"},
        member_accounts={MEMBER: {}, OTHER: {}},
    )  # fmt: skip
    for target in TARGETS:
        r.write_spec({"target": target})
    r.settle()
    assert {t: (r.status(t) or {}).get("phase") for t in TARGETS} == dict.fromkeys(
        TARGETS, "Registered"
    )
    return r


def test_a_tick_hands_out_sorted_batches_and_each_target_is_observed_and_counted_once(
    fleet: Rehearsal,
) -> None:
    r = fleet
    r.advance(TICK)
    function = r.stack.function_name("DriftCheckFunction")
    invocations, metrics = len(r.invoker.invocations), len(r.metrics())
    calls = r.fleetwise_calls()
    started = r.tick()
    r.settle()
    # THEN three invocations of the drift check: the schedule's, then one per further batch,
    # each batch ending where an account's targets end (three of the four a batch may hold),
    # each event carrying its items
    ran = r.invoker.invocations[invocations:]
    assert [i.function_name for i in ran] == [function] * 3
    assert [i.error_type for i in ran] == [None] * 3
    stamp = r.clock.now().strftime("%Y%m%dT%H%MZ")
    assert [i.event for i in ran[1:]] == [
        {"tick": stamp, "batch": 1, "batches": 2, "targets": TARGETS[3:6],
         "items": [{"target": t} for t in TARGETS[3:6]]},
        {"tick": stamp, "batch": 2, "batches": 2, "targets": TARGETS[6:],
         "items": [{"target": t} for t in TARGETS[6:]]},
    ]  # fmt: skip
    assert [[t["target"] for t in i.result["targets"]] for i in ran] == [
        TARGETS[:3], TARGETS[3:6], TARGETS[6:]
    ]  # fmt: skip
    # AND each account and Region observed once, nothing started
    after = r.fleetwise_calls()
    assert {k: after[k] - calls.get(k, 0) for k in after if after[k] != calls.get(k, 0)} == {
        "GetRegisterAccountStatus": 9
    }
    assert started == []
    # AND the fleet's counts, three invocations' worth, all at the tick's minute, add up to
    # the fleet beside one heartbeat at that minute
    docs = r.metrics()[metrics:]
    counts: Counter[str] = Counter()
    stamps: set[int] = set()
    for doc in docs:
        if "Targets" in doc:
            counts[doc["state"]] += sum(doc["Targets"])
            stamps.add(doc["_aws"]["Timestamp"])
    beats = [doc["_aws"]["Timestamp"] for doc in docs if "DriftChecks" in doc]
    assert +counts == {"Healthy": 9}
    assert sum(1 for doc in docs if "Targets" in doc) == 3 * 8  # each batch, every state
    assert len(beats) == 1
    assert stamps == set(beats)
    assert beats[0] % 60_000 == 0
    assert r.alarms_in_alarm() == []


def test_a_scheduled_tick_reads_each_status_once_and_one_segment_for_its_sweep(
    fleet: Rehearsal,
) -> None:
    # GIVEN the settled fleet of three batches, the schedule due
    r = fleet
    r.advance(TICK)
    invocations = len(r.invoker.invocations)
    status_table = r.stack.physical_id("StatusTable")
    # WHEN the schedule fires (its input filled in as EventBridge Scheduler fills it) and
    # the batches run, every AWS call of the product metered
    with CallMeter(r.clock.time, account=HUB, region="us-east-1") as meter:
        r.tick()
        r.settle()
    # THEN the tick's event names its scheduled time, so it swept one segment of the table
    event = r.invoker.invocations[invocations].event
    segment = drift_check.sweep_segment(event)
    assert segment is not None
    in_segment = r.client("dynamodb").scan(
        TableName=status_table, Segment=segment, TotalSegments=drift_check.SWEEP_TICKS,
        ConsistentRead=True, Select="COUNT")["ScannedCount"]  # fmt: skip
    # AND the status table was read by one consistent Query per target (nine) and that
    # segment's Scan: each status once, and the segment's items once more
    operations = Counter(c.operation for c in meter.calls if c.service == "dynamodb")
    assert (operations["Query"], operations["Scan"], operations["BatchGetItem"]) == (9, 2, 0)
    assert items_per_table(meter.calls)[status_table] == 9 + in_segment


def test_a_target_a_batch_cannot_observe_is_named_and_no_invocation_fails(
    fleet: Rehearsal,
) -> None:
    # GIVEN IoT FleetWise throttling the last member account in eu-central-1 on every attempt
    # the tick makes: a target of the last batch (sorted: 123456789012's three,
    # 210000000000's, then 210000000001's)
    r = fleet
    assert r.sim is not None
    r.advance(TICK)
    r.sim.fail_next("GetRegisterAccountStatus", "ThrottlingException",
                    times=drift_check.OBSERVE_ATTEMPTS, region="eu-central-1",
                    account=OTHER)  # fmt: skip
    invocations, metrics = len(r.invoker.invocations), len(r.metrics())
    r.tick()
    r.settle()
    # THEN no invocation fails: the batch that could not observe it reports it by name
    ran = r.invoker.invocations[invocations:]
    assert [i.error_type for i in ran] == [None, None, None]
    assert ran[2].result["unobserved"] == [f"{OTHER}:eu-central-1 (ThrottlingException)"]
    # AND the tick's counts still cover the fleet: eight healthy, one unobserved
    counts: Counter[str] = Counter()
    for doc in r.metrics()[metrics:]:
        if "Targets" in doc:
            counts[doc["state"]] += sum(doc["Targets"])
    assert +counts == {"Healthy": 8, "Unobserved": 1}
    # AND the per-target alarm names it, and only it; the function's Errors alarm stays OK
    r.advance(60)
    assert r.alarm_targets() == {"TargetUnobservedAlarm": [f"{OTHER}:eu-central-1"]}
    assert "DriftCheckFunctionErrorsAlarm" not in r.alarms_in_alarm()

"""The data-access port against moto's DynamoDB: stored shapes, the lease protocol, races."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    CancellationReason,
    GetError,
    TransactWriteError,
    VerboseClientError,
)

from fleetwise_reconciler.dal import models
from fleetwise_reconciler.dal.repository import (
    LeaseContention,
    LeaseLost,
    LeaseResult,
    SpecRepository,
    StatusRepository,
)
from fleetwise_reconciler.models.attempts import Attempts

TARGET = "123456789012:us-east-1"
RUN_A = "arn:aws:states:us-east-1:123456789012:execution:reconcile:run-a"
RUN_B = "arn:aws:states:us-east-1:123456789012:execution:reconcile:run-b"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOW_EPOCH = int(NOW.timestamp())
LEASE = 1800
# The names tests/conftest.py gives the moto tables.
SPEC_TABLE = "fleetwise-reconciler-spec"
STATUS_TABLE = "fleetwise-reconciler-status"
REGION = "us-east-1"


def lost(holder: str, action: str, target: str = TARGET) -> str:
    """The exact message of the LeaseLost a repository raises."""
    return f"^{re.escape(f'{holder} no longer holds the lease of {target} ({action})')}$"


def raw_spec(dynamodb: Any, target: str = TARGET) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=SPEC_TABLE, Key={"target": {"S": target}}, ConsistentRead=True
    ).get("Item")
    return item


def raw_status(dynamodb: Any, kind: str, target: str = TARGET) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=STATUS_TABLE,
        Key={"target": {"S": target}, "kind": {"S": kind}},
        ConsistentRead=True,
    ).get("Item")
    return item


def a_status(phase: str, execution: str) -> dict[str, Any]:
    return {
        "phase": phase,
        "message": f"{phase} by {execution}",
        "specHash": "0123456789abcdef",
        "lastExecutionArn": execution,
    }


# -- spec table -----------------------------------------------------------------------------


def test_spec_get_of_a_missing_target_is_none(spec_repository: SpecRepository) -> None:
    assert spec_repository.get(TARGET) is None


def test_spec_put_stores_exactly_the_attributes_as_native_types(
    spec_repository: SpecRepository, dynamodb: Any
) -> None:
    # GIVEN a legacy spec with a nested map, a bool, numbers and an unknown attribute
    spec = {
        "target": TARGET,
        "mode": "timestream",
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iamRoleArn": "arn:aws:iam::123456789012:role/FleetWiseTimestream",
        "paused": False,
        "retries": 3,
        "ratio": 1.5,
        "tags": ["a", "b"],
        "colour": "blue",
        "reconcileToken": None,
    }
    # WHEN it is put
    spec_repository.put(spec)
    # THEN DynamoDB holds native types (maps stay maps) and no attribute for the None value
    assert raw_spec(dynamodb) == {
        "target": {"S": TARGET},
        "mode": {"S": "timestream"},
        "timestream": {"M": {"databaseName": {"S": "fleet"}, "tableName": {"S": "signals"}}},
        "iamRoleArn": {"S": "arn:aws:iam::123456789012:role/FleetWiseTimestream"},
        "paused": {"BOOL": False},
        "retries": {"N": "3"},
        "ratio": {"N": "1.5"},
        "tags": {"L": [{"S": "a"}, {"S": "b"}]},
        "colour": {"S": "blue"},
    }


def test_spec_get_returns_every_raw_attribute_as_plain_python(
    spec_repository: SpecRepository, dynamodb: Any
) -> None:
    # GIVEN an item an operator wrote by hand, with an attribute the reconciler does not know
    dynamodb.put_item(
        TableName=SPEC_TABLE,
        Item={
            "target": {"S": TARGET},
            "paused": {"BOOL": True},
            "reconcileToken": {"S": "2026-11-26T12:00Z"},
            "generation": {"N": "7"},
            "weight": {"N": "0.25"},
            "timestream": {"M": {"databaseName": {"S": "fleet"}}},
            "notes": {"L": [{"S": "x"}, {"N": "2"}, {"BOOL": False}]},
            "Colour": {"S": "blue"},
        },
    )
    # WHEN it is read
    item = spec_repository.get(TARGET)
    # THEN all of it comes back, numbers as int or float, nothing as Decimal
    assert item == {
        "target": TARGET,
        "paused": True,
        "reconcileToken": "2026-11-26T12:00Z",
        "generation": 7,
        "weight": 0.25,
        "timestream": {"databaseName": "fleet"},
        "notes": ["x", 2, False],
        "Colour": "blue",
    }
    assert type(item["generation"]) is int


def test_spec_put_replaces_the_whole_item(spec_repository: SpecRepository, dynamodb: Any) -> None:
    spec_repository.put({"target": TARGET, "mode": "timestream", "iamRoleArn": "arn:x"})
    spec_repository.put({"target": TARGET, "mode": "cloudwatch"})
    assert raw_spec(dynamodb) == {"target": {"S": TARGET}, "mode": {"S": "cloudwatch"}}


def test_spec_put_accepts_decimals_from_boto3_images(
    spec_repository: SpecRepository, dynamodb: Any
) -> None:
    spec_repository.put({"target": TARGET, "generation": Decimal("4"), "w": Decimal("0.5")})
    assert raw_spec(dynamodb) == {
        "target": {"S": TARGET},
        "generation": {"N": "4"},
        "w": {"N": "0.5"},
    }


@pytest.mark.parametrize("item", [{}, {"target": ""}, {"target": 5}])
def test_spec_put_without_a_target_is_refused(
    spec_repository: SpecRepository, item: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"^a spec item needs a non-empty string 'target'$"):
        spec_repository.put(item)


def test_spec_put_refuses_values_dynamodb_cannot_hold(spec_repository: SpecRepository) -> None:
    with pytest.raises(TypeError, match="object"):
        spec_repository.put({"target": TARGET, "odd": object()})
    assert spec_repository.get(TARGET) is None


def test_spec_scan_yields_every_item(spec_repository: SpecRepository) -> None:
    targets = [f"12345678901{i}:us-east-1" for i in range(3)]
    for target in targets:
        spec_repository.put({"target": target, "mode": "cloudwatch"})
    scanned = sorted(spec_repository.scan(), key=lambda item: item["target"])
    assert scanned == [{"target": t, "mode": "cloudwatch"} for t in targets]


def test_spec_get_many_reads_the_items_that_exist_in_the_order_asked(
    spec_repository: SpecRepository,
) -> None:
    # More than BatchGetItem's 100 keys a request, a duplicate and a target with no item
    targets = [f"{100000000000 + i}:us-east-1" for i in range(130)]
    for target in targets:
        spec_repository.put({"target": target, "mode": "cloudwatch"})
    asked = [*reversed(targets), targets[7], "999999999999:us-east-1"]
    reads: list[dict[str, Any]] = []
    model = spec_repository._model
    original = model.batch_get

    def spy(keys: Any, **options: Any) -> Any:
        reads.append(options)
        return original(keys, **options)

    model.batch_get = spy  # type: ignore[method-assign]
    try:
        found = spec_repository.get_many(asked)
    finally:
        del model.batch_get
    # consistent reads: a batch sees the items its tick's scan saw, or newer
    assert reads == [{"consistent_read": True}]
    assert found == [{"target": t, "mode": "cloudwatch"} for t in reversed(targets)]
    assert spec_repository.get_many([]) == []


# -- lease ----------------------------------------------------------------------------------


def test_acquire_takes_an_absent_lease_and_stores_it(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    result = status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    assert result == LeaseResult(
        acquired=True, holder=RUN_A, expires_at=NOW_EPOCH + LEASE, marked_pending=False
    )
    assert raw_status(dynamodb, "LEASE") == {
        "target": {"S": TARGET},
        "kind": {"S": "LEASE"},
        "holder": {"S": RUN_A},
        "acquiredAt": {"S": "2026-11-26T12:00:00.000Z"},
        "expiresAt": {"N": str(NOW_EPOCH + LEASE)},
        "pending": {"BOOL": False},
    }
    assert status_repository.get_lease(TARGET) == {
        "holder": RUN_A,
        "acquiredAt": "2026-11-26T12:00:00.000Z",
        "expiresAt": NOW_EPOCH + LEASE,
        "pending": False,
        "specHash": None,
    }


def test_acquire_is_reentrant_for_the_holder(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    later = NOW + timedelta(seconds=10)

    result = status_repository.acquire_lease(TARGET, RUN_A, now=later, lease_seconds=LEASE)

    assert result == LeaseResult(True, RUN_A, NOW_EPOCH + 10 + LEASE, marked_pending=False)


def test_acquire_of_a_held_lease_marks_it_pending(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    # GIVEN run A holds the lease
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    # WHEN run B asks for it before it expires
    result = status_repository.acquire_lease(
        TARGET, RUN_B, now=NOW + timedelta(seconds=60), lease_seconds=LEASE
    )
    # THEN B does not get it, learns who has it, and A's lease now says a newer request waits
    assert result == LeaseResult(False, RUN_A, NOW_EPOCH + LEASE, marked_pending=True)
    lease = raw_status(dynamodb, "LEASE")
    assert lease is not None
    assert lease["holder"] == {"S": RUN_A}
    assert lease["expiresAt"] == {"N": str(NOW_EPOCH + LEASE)}
    assert lease["pending"] == {"BOOL": True}


def test_an_expired_lease_is_taken_over_and_pending_cleared(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)  # pending
    after_expiry = NOW + timedelta(seconds=LEASE + 1)

    result = status_repository.acquire_lease(TARGET, RUN_B, now=after_expiry, lease_seconds=LEASE)

    assert result == LeaseResult(True, RUN_B, NOW_EPOCH + 2 * LEASE + 1, marked_pending=False)
    assert status_repository.get_lease(TARGET) == {
        "holder": RUN_B,
        "acquiredAt": "2026-11-26T12:30:01.000Z",
        "expiresAt": NOW_EPOCH + 2 * LEASE + 1,
        "pending": False,
        "specHash": None,
    }


def test_a_lease_at_its_exact_expiry_second_is_still_held(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    at_expiry = NOW + timedelta(seconds=LEASE)

    result = status_repository.acquire_lease(TARGET, RUN_B, now=at_expiry, lease_seconds=LEASE)

    assert result.acquired is False
    assert result.marked_pending is True


def test_acquire_retries_when_the_holder_releases_between_the_two_writes(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN A holds the lease, and releases it just as B tries to mark it pending
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    lease_cls = models.lease_model(STATUS_TABLE, REGION)
    real_update = lease_cls.update
    calls: list[str] = []

    def release_first(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("update")
        if len(calls) == 1:
            assert status_repository.release_lease(TARGET, RUN_A) is True
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(lease_cls, "update", release_first)
    # WHEN B acquires
    result = status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    # THEN the failed mark sends B round again, and B takes the now free lease
    assert calls == ["update"]
    assert result == LeaseResult(True, RUN_B, NOW_EPOCH + LEASE, marked_pending=False)


def test_acquire_takes_its_own_lease_taken_between_the_two_writes(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN A holds the lease; B's Acquire runs twice at once (a retried invocation), and the
    # other copy takes the lease for B just as this one tries to mark A's lease pending
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    lease_cls = models.lease_model(STATUS_TABLE, REGION)
    real_update = lease_cls.update
    calls: list[str] = []

    def duplicate_first(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("update")
        if len(calls) == 1:
            assert status_repository.release_lease(TARGET, RUN_A) is True
            other_copy = status_repository.acquire_lease(
                TARGET, RUN_B, now=NOW, lease_seconds=LEASE
            )
            assert other_copy.acquired
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(lease_cls, "update", duplicate_first)
    # WHEN this copy goes on
    result = status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    # THEN it does not mark B's own lease pending (B would loop for nothing): it takes it
    assert calls == ["update"]
    assert result == LeaseResult(True, RUN_B, NOW_EPOCH + LEASE, marked_pending=False)
    assert status_repository.get_lease(TARGET)["pending"] is False


def test_acquire_gives_up_after_three_rounds_of_contention(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch, dynamodb: Any
) -> None:
    # GIVEN a lease that another run re-takes before every save and drops before every mark
    lease_cls = models.lease_model(STATUS_TABLE, REGION)
    real_save, real_update = lease_cls.save, lease_cls.update
    rounds: list[int] = []
    key = {"target": {"S": TARGET}, "kind": {"S": "LEASE"}}

    def held_by_other(self: Any, *args: Any, **kwargs: Any) -> Any:
        rounds.append(1)
        dynamodb.put_item(
            TableName=STATUS_TABLE,
            Item={**key, "holder": {"S": "other"}, "expiresAt": {"N": str(NOW_EPOCH + 60)}},
        )
        return real_save(self, *args, **kwargs)

    def dropped(self: Any, *args: Any, **kwargs: Any) -> Any:
        dynamodb.delete_item(TableName=STATUS_TABLE, Key=key)
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(lease_cls, "save", held_by_other)
    monkeypatch.setattr(lease_cls, "update", dropped)

    with pytest.raises(
        LeaseContention, match=re.escape(f"the lease of {TARGET} changed hands 3 times")
    ):
        status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    assert len(rounds) == 3


def test_renew_pushes_the_expiry(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    status_repository.renew_lease(
        TARGET, RUN_A, now=NOW + timedelta(seconds=600), lease_seconds=LEASE
    )

    lease = status_repository.get_lease(TARGET)
    assert lease is not None
    assert lease["expiresAt"] == NOW_EPOCH + 600 + LEASE
    assert lease["holder"] == RUN_A


def test_renew_by_a_run_that_lost_the_lease_raises(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    with pytest.raises(LeaseLost, match=lost(RUN_B, "renew")):
        status_repository.renew_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    with pytest.raises(LeaseLost, match=lost(RUN_A, "renew", "123456789012:eu-central-1")):
        status_repository.renew_lease("123456789012:eu-central-1", RUN_A, now=NOW, lease_seconds=1)


def test_renew_with_a_spec_version_notes_what_the_holder_reconciles(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    status_repository.renew_lease(
        TARGET, RUN_A, now=NOW, lease_seconds=LEASE, spec_hash="0123456789abcdef"
    )

    stored = raw_status(dynamodb, "LEASE")
    assert stored is not None
    assert stored["specHash"] == {"S": "0123456789abcdef"}
    assert stored["expiresAt"] == {"N": str(NOW_EPOCH + LEASE)}


def test_renew_of_a_lost_lease_changes_nothing(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    before = raw_status(dynamodb, "LEASE")

    with pytest.raises(LeaseLost, match=f"{RUN_B} no longer holds the lease of {TARGET}"):
        status_repository.renew_lease(
            TARGET, RUN_B, now=NOW + timedelta(seconds=60), lease_seconds=LEASE, spec_hash="x"
        )
    assert raw_status(dynamodb, "LEASE") == before


V1, V2 = "feedfacecafebeef", "0123456789abcdef"


def counts(version: str, count: int, refused: int = 0) -> dict[str, Any]:
    return {"specHash": version, "count": count, "refused": refused}


def test_count_attempt_adds_one_in_place_and_leaves_the_rest_of_the_status(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))

    made = [status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5) for _ in "abc"]

    assert made == [Attempts(1, 0), Attempts(2, 0), Attempts(3, 0)]
    # The rest of the status is the Record step's: untouched.
    assert status_repository.get_status(TARGET) == {
        **a_status("Registered", RUN_A),
        "attempts": counts(V1, 3),
    }


def test_count_attempt_creates_the_count_before_any_status(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    assert status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5) == Attempts(1)
    assert status_repository.get_status(TARGET) == {"attempts": counts(V1, 1)}


def test_another_version_counts_afresh(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    for _ in range(2):
        status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=2)
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)

    assert status_repository.count_attempt(TARGET, RUN_A, spec_hash=V2, limit=2) == Attempts(1)
    assert status_repository.get_status(TARGET) == {"attempts": counts(V2, 1)}


@pytest.mark.parametrize(("made", "refused"), [(2, 0), (0, 2), (1, 2), (2, 1)])
def test_at_either_bound_nothing_is_counted_and_the_call_is_refused(
    status_repository: StatusRepository, made: int, refused: int
) -> None:
    # GIVEN the version's calls at the bound (2) that may have acted, or refused ones
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    for _ in range(made + refused):
        status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5)
    for _ in range(refused):
        status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)
    # WHEN one more call is asked for THEN it may not be made, and nothing changed
    spent = status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=2)
    assert spent == Attempts(made, refused, allowed=False)
    assert status_repository.get_status(TARGET) == {"attempts": counts(V1, made, refused)}


def test_below_both_bounds_a_call_is_counted(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    for _ in range(2):
        status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5)
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)
    assert status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=2) == Attempts(2, 1)


def test_a_count_written_before_refusals_were_counted_goes_on(
    status_repository: StatusRepository,
) -> None:
    # GIVEN a status of an earlier release: {specHash, count}, no refused
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(
        TARGET, RUN_A, {**a_status("Failed", RUN_A), "attempts": {"specHash": V1, "count": 1}}
    )
    assert status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5) == Attempts(2)
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)
    assert status_repository.attempts(TARGET, V1) == Attempts(1, 1)


def test_count_refusal_moves_the_counted_call_to_the_refused_ones(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5)
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)
    assert status_repository.get_status(TARGET) == {"attempts": counts(V1, 0, 1)}
    # nothing left to move (count 0), or counts of another version: nothing changes
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V2)
    assert status_repository.get_status(TARGET) == {"attempts": counts(V1, 0, 1)}


def test_counting_by_a_run_without_the_lease_writes_nothing(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5)

    with pytest.raises(LeaseLost, match=lost(RUN_B, "attempt count")):
        status_repository.count_attempt(TARGET, RUN_B, spec_hash=V1, limit=5)
    with pytest.raises(LeaseLost, match=lost(RUN_B, "attempt count")):
        status_repository.count_attempt(TARGET, RUN_B, spec_hash=V2, limit=5)
    with pytest.raises(LeaseLost, match=lost(RUN_B, "attempt count")):
        status_repository.count_refusal(TARGET, RUN_B, spec_hash=V1)
    assert status_repository.get_status(TARGET) == {"attempts": counts(V1, 1)}


def test_release_without_a_newer_request_deletes_the_lease(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    assert status_repository.release_lease(TARGET, RUN_A) is True
    assert raw_status(dynamodb, "LEASE") is None
    assert status_repository.get_lease(TARGET) is None


def test_release_of_a_lease_that_is_gone_raises(status_repository: StatusRepository) -> None:
    with pytest.raises(LeaseLost, match=lost(RUN_A, "release")):
        status_repository.release_lease(TARGET, RUN_A)


def test_two_racing_runs_the_second_is_left_to_the_first_which_loops(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    # GIVEN run A holds the lease and run B (a newer edit) found it held
    assert status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE).acquired
    second = status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    assert (second.acquired, second.marked_pending) == (False, True)
    # WHEN A tries to release at the end of its iteration
    first_release = status_repository.release_lease(TARGET, RUN_A)
    # THEN it is told to loop: the lease is kept, the flag cleared
    assert first_release is False
    lease = raw_status(dynamodb, "LEASE")
    assert lease is not None
    assert lease["holder"] == {"S": RUN_A}
    assert lease["pending"] == {"BOOL": False}
    # AND after looping once more it releases for good
    assert status_repository.release_lease(TARGET, RUN_A) is True
    assert raw_status(dynamodb, "LEASE") is None


def test_after_a_takeover_the_old_holder_cannot_overwrite_the_newer_status(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    # GIVEN A held the lease, wrote a status, and stalled past its expiry
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, a_status("Registering", RUN_A))
    later = NOW + timedelta(seconds=LEASE + 5)
    # AND B took the lease over and wrote the newer status
    taken = status_repository.acquire_lease(TARGET, RUN_B, now=later, lease_seconds=LEASE)
    assert taken.acquired
    status_repository.put_status(TARGET, RUN_B, a_status("Registered", RUN_B))
    # WHEN A wakes up and writes, renews or releases
    with pytest.raises(LeaseLost, match=lost(RUN_A, "status write")):
        status_repository.put_status(TARGET, RUN_A, a_status("Failed", RUN_A))
    with pytest.raises(LeaseLost, match=lost(RUN_A, "renew")):
        status_repository.renew_lease(TARGET, RUN_A, now=later, lease_seconds=LEASE)
    with pytest.raises(LeaseLost, match=lost(RUN_A, "release")):
        status_repository.release_lease(TARGET, RUN_A)
    # THEN B's status and lease are intact
    assert status_repository.get_status(TARGET) == a_status("Registered", RUN_B)
    lease = status_repository.get_lease(TARGET)
    assert lease is not None
    assert lease["holder"] == RUN_B


def test_release_if_holder_ignores_pending(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)  # pending

    assert status_repository.release_lease_if_holder(TARGET, RUN_B) is False
    assert raw_status(dynamodb, "LEASE") is not None
    assert status_repository.release_lease_if_holder(TARGET, RUN_A) is True
    assert raw_status(dynamodb, "LEASE") is None
    assert status_repository.release_lease_if_holder(TARGET, RUN_A) is False


# -- status ---------------------------------------------------------------------------------

FULL_STATUS: dict[str, Any] = {
    "phase": "Registered",
    "message": "IoT FleetWise reports REGISTRATION_SUCCESS",
    "specHash": "0123456789abcdef",
    "observedSpec": {"target": TARGET, "mode": "cloudwatch", "paused": False},
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Registered",
            "message": "registered",
            "lastTransitionTime": "2026-11-26T12:05:00.000Z",
            "specHash": "0123456789abcdef",
        },
    ],
    "observed": {
        "accountStatus": "REGISTRATION_SUCCESS",
        "customerAccountId": "123456789012",
        "iam": {"roleArn": None, "registrationStatus": "REGISTRATION_SUCCESS"},
        "timestream": None,
        "observedAt": "2026-11-26T12:05:00.000Z",
    },
    "lastError": None,
    "attempts": {"specHash": "0123456789abcdef", "count": 1},
    "lastExecutionArn": RUN_A,
    "history": [],
}


def test_put_status_stores_native_maps_and_lists_without_nones(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    status_repository.put_status(TARGET, RUN_A, FULL_STATUS)

    assert raw_status(dynamodb, "STATUS") == {
        "target": {"S": TARGET},
        "kind": {"S": "STATUS"},
        "phase": {"S": "Registered"},
        "message": {"S": "IoT FleetWise reports REGISTRATION_SUCCESS"},
        "specHash": {"S": "0123456789abcdef"},
        "observedSpec": {
            "M": {"target": {"S": TARGET}, "mode": {"S": "cloudwatch"}, "paused": {"BOOL": False}}
        },
        "conditions": {
            "L": [
                {
                    "M": {
                        "type": {"S": "Ready"},
                        "status": {"S": "True"},
                        "reason": {"S": "Registered"},
                        "message": {"S": "registered"},
                        "lastTransitionTime": {"S": "2026-11-26T12:05:00.000Z"},
                        "specHash": {"S": "0123456789abcdef"},
                    }
                }
            ]
        },
        "observed": {
            "M": {
                "accountStatus": {"S": "REGISTRATION_SUCCESS"},
                "customerAccountId": {"S": "123456789012"},
                "iam": {"M": {"registrationStatus": {"S": "REGISTRATION_SUCCESS"}}},
                "observedAt": {"S": "2026-11-26T12:05:00.000Z"},
            }
        },
        "attempts": {"M": {"specHash": {"S": "0123456789abcdef"}, "count": {"N": "1"}}},
        "lastExecutionArn": {"S": RUN_A},
        "history": {"L": []},
    }
    # and it reads back as written, minus the None values, without the keys
    assert status_repository.get_status(TARGET) == {
        "phase": "Registered",
        "message": "IoT FleetWise reports REGISTRATION_SUCCESS",
        "specHash": "0123456789abcdef",
        "observedSpec": {"target": TARGET, "mode": "cloudwatch", "paused": False},
        "conditions": FULL_STATUS["conditions"],
        "observed": {
            "accountStatus": "REGISTRATION_SUCCESS",
            "customerAccountId": "123456789012",
            "iam": {"registrationStatus": "REGISTRATION_SUCCESS"},
            "observedAt": "2026-11-26T12:05:00.000Z",
        },
        "attempts": {"specHash": "0123456789abcdef", "count": 1},
        "lastExecutionArn": RUN_A,
        "history": [],
    }


def test_put_status_replaces_the_previous_status(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, {**a_status("Failed", RUN_A), "lastError": {}})

    status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))

    assert status_repository.get_status(TARGET) == a_status("Registered", RUN_A)


def test_put_status_ignores_echoed_keys(status_repository: StatusRepository) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)

    status_repository.put_status(
        TARGET, RUN_A, {"target": TARGET, "kind": "STATUS", **a_status("Registered", RUN_A)}
    )

    assert status_repository.get_status(TARGET) == a_status("Registered", RUN_A)


def test_put_status_without_the_lease_writes_nothing(
    status_repository: StatusRepository, dynamodb: Any
) -> None:
    with pytest.raises(LeaseLost, match=lost(RUN_A, "status write")):
        status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))
    assert raw_status(dynamodb, "STATUS") is None
    assert status_repository.get_status(TARGET) is None


def test_a_status_is_never_written_while_another_run_holds_the_lease(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    with pytest.raises(LeaseLost, match=lost(RUN_A, "status write")):
        status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))
    assert status_repository.get_status(TARGET) is None


# -- after a failed execution ---------------------------------------------------------------


def test_unleased_write_by_the_holder_of_the_lease(status_repository: StatusRepository) -> None:
    # GIVEN A holds the lease (even expired: nobody took it over) and wrote Registering
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, a_status("Registering", RUN_A))
    # WHEN A's failure is recorded
    written = status_repository.put_status_unleased(
        TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
    )
    # THEN it is written
    assert written is True
    assert status_repository.get_status(TARGET) == a_status("Failed", RUN_A)


def test_unleased_write_when_another_run_holds_the_lease_is_skipped(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_B, a_status("Registering", RUN_B))

    written = status_repository.put_status_unleased(
        TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
    )

    assert written is False
    assert status_repository.get_status(TARGET) == a_status("Registering", RUN_B)


def test_unleased_write_with_no_lease_and_no_status(status_repository: StatusRepository) -> None:
    written = status_repository.put_status_unleased(
        TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
    )
    assert written is True
    assert status_repository.get_status(TARGET) == a_status("Failed", RUN_A)


def test_unleased_write_with_no_lease_over_its_own_last_status(
    status_repository: StatusRepository,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, a_status("Registering", RUN_A))
    status_repository.release_lease_if_holder(TARGET, RUN_A)

    written = status_repository.put_status_unleased(
        TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
    )

    assert written is True
    assert status_repository.get_status(TARGET) == a_status("Failed", RUN_A)


def test_unleased_write_never_overwrites_a_newer_runs_status(
    status_repository: StatusRepository,
) -> None:
    # GIVEN B finished after A started: B's status is there and the lease is free
    status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_B, a_status("Registered", RUN_B))
    assert status_repository.release_lease(TARGET, RUN_B) is True
    # WHEN A's failure arrives
    written = status_repository.put_status_unleased(
        TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
    )
    # THEN B's status stands
    assert written is False
    assert status_repository.get_status(TARGET) == a_status("Registered", RUN_B)


# -- binding models to tables ---------------------------------------------------------------


def test_constructing_repositories_does_no_io() -> None:
    # Outside any mock and with no such table: only a request could fail, so none is made.
    SpecRepository("no-such-spec-table", region="eu-central-1")
    StatusRepository("no-such-status-table", region="eu-central-1")


def test_a_table_name_is_required() -> None:
    with pytest.raises(ValueError, match="table name"):
        SpecRepository("")


def test_one_bound_model_per_table_even_across_threads() -> None:
    bound: list[type[Any]] = []
    barrier = threading.Barrier(8)

    def bind() -> None:
        barrier.wait()
        bound.append(models.spec_model("concurrent-table", "us-east-1"))

    threads = [threading.Thread(target=bind) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(cls) for cls in bound}) == 1
    assert bound[0].Meta.table_name == "concurrent-table"
    assert models.spec_model("other-table", "us-east-1") is not bound[0]
    status_cls, lease_cls = (
        models.status_model("concurrent-table"),
        models.lease_model("concurrent-table"),
    )
    assert id(status_cls) != id(lease_cls)


# -- transaction conflicts ------------------------------------------------------------------


def _conflict() -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code="TransactionConflict"), None],
    )
    return TransactWriteError("Failed to write transaction items", cause)


def _conflicting(times: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the next ``times`` transactions fail with TransactionConflict; counts all calls."""
    real = Connection.transact_write_items
    calls: list[int] = []

    def flaky(self: Connection, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise _conflict()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", flaky)
    return calls


def test_a_transaction_conflict_is_retried(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    calls = _conflicting(1, monkeypatch)

    status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))

    assert len(calls) == 2
    assert status_repository.get_status(TARGET) == a_status("Registered", RUN_A)


def test_transaction_conflicts_are_retried_once_at_most(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # budget.TRANSACTION_ATTEMPTS: two attempts in all, within the functions' time budget
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    calls = _conflicting(2, monkeypatch)

    with pytest.raises(TransactWriteError, match=r"^Failed to write transaction items"):
        status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))

    assert len(calls) == 2
    assert status_repository.get_status(TARGET) is None


# -- the data layer's error paths -----------------------------------------------------------


def _cancelled(*reasons: CancellationReason | None) -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=list(reasons),
    )
    return TransactWriteError("Failed to write transaction items", cause)


def _failing_transactions(error: TransactWriteError, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def cancelled(self: Connection, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise error

    monkeypatch.setattr(Connection, "transact_write_items", cancelled)
    return calls


@pytest.mark.parametrize(
    "error",
    [
        _cancelled(),
        _cancelled(None, CancellationReason(code="ConditionalCheckFailed")),
        _cancelled(CancellationReason(code="ValidationError"), None),
    ],
    ids=["no-reasons", "the-status-item-failed", "not-a-condition"],
)
def test_a_transaction_cancelled_for_another_cause_is_raised_as_it_is(
    status_repository: StatusRepository,
    monkeypatch: pytest.MonkeyPatch,
    error: TransactWriteError,
) -> None:
    # GIVEN a transaction DynamoDB cancels, but not on the lease check (item 0)
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    calls = _failing_transactions(error, monkeypatch)
    # WHEN the holder writes THEN the error is not mistaken for a lost lease, nor retried
    with pytest.raises(TransactWriteError) as raised:
        status_repository.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))
    assert (raised.value, len(calls)) == (error, 1)


@pytest.mark.parametrize(
    "error",
    [_cancelled(), _cancelled(CancellationReason(code="ValidationError"), None)],
    ids=["no-reasons", "not-a-condition"],
)
@pytest.mark.parametrize("write", ["count_attempt", "count_refusal"])
def test_a_count_cancelled_for_another_cause_is_raised_as_it_is(
    status_repository: StatusRepository,
    monkeypatch: pytest.MonkeyPatch,
    error: TransactWriteError,
    write: str,
) -> None:
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    calls = _failing_transactions(error, monkeypatch)
    with pytest.raises(TransactWriteError) as raised:
        if write == "count_attempt":
            status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5)
        else:
            status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1)
    assert (raised.value, len(calls)) == (error, 1)


def test_a_count_whose_both_writes_are_cancelled_on_the_status_is_spent(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN both counting writes cancelled on the status item's condition: the version is the
    # item's and its count at the bound
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5)
    calls = _failing_transactions(
        _cancelled(None, CancellationReason(code="ConditionalCheckFailed")), monkeypatch
    )
    # WHEN one more is asked for THEN the two writes were tried and the call is refused
    assert status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5) == Attempts(
        1, 0, allowed=False
    )
    assert len(calls) == 2


def test_an_unleased_write_cancelled_for_another_cause_is_raised(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN both unleased transactions are cancelled without any reason
    error = _cancelled()
    calls = _failing_transactions(error, monkeypatch)
    # WHEN a failed run's status is recorded THEN the first one's error is raised at once
    with pytest.raises(TransactWriteError) as raised:
        status_repository.put_status_unleased(
            TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
        )
    assert (raised.value, len(calls)) == (error, 1)


def test_an_unleased_second_write_cancelled_for_another_cause_is_raised(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no lease (the first transaction's check fails) and a second transaction that
    # DynamoDB cancels for another cause
    real = Connection.transact_write_items
    other = _cancelled(None, CancellationReason(code="ValidationError"))
    calls: list[int] = []

    def second_fails(self: Connection, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise other
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", second_fails)
    with pytest.raises(TransactWriteError) as raised:
        status_repository.put_status_unleased(
            TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
        )
    assert (raised.value, len(calls)) == (other, 2)


def test_a_lease_taken_between_the_two_unleased_writes_wins(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a failed run A that holds no lease, and a run B that takes the lease after A's
    # first transaction ("A holds the lease") failed, before its second ("no lease") runs
    real = Connection.transact_write_items
    calls: list[int] = []

    def b_takes_the_lease_in_between(self: Connection, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            taken = status_repository.acquire_lease(TARGET, RUN_B, now=NOW, lease_seconds=LEASE)
            assert taken.acquired
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", b_takes_the_lease_in_between)
    # WHEN A's failure is recorded
    written = status_repository.put_status_unleased(
        TARGET, a_status("Failed", RUN_A), only_if_holder=RUN_A
    )
    # THEN nothing is written: B owns the target now
    assert (written, len(calls)) == (False, 2)
    assert status_repository.get_status(TARGET) is None
    assert status_repository.get_lease(TARGET)["holder"] == RUN_B


def test_every_read_of_the_lease_protocol_is_strongly_consistent(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto answers every read with the latest write; DynamoDB does only for a strongly
    # consistent read ("ConsistentRead": true), and a stale lease or status would let two runs
    # act at once. So the reads are checked as requested.
    real = Connection.get_item
    requested: list[tuple[str, bool | None]] = []

    def recorded(self: Connection, table_name: str, *args: Any, **kwargs: Any) -> Any:
        requested.append((table_name, kwargs.get("consistent_read")))
        return real(self, table_name, *args, **kwargs)

    monkeypatch.setattr(Connection, "get_item", recorded)
    spec_repository.get(TARGET)
    status_repository.get_status(TARGET)
    status_repository.get_lease(TARGET)
    assert requested == [(SPEC_TABLE, True), (STATUS_TABLE, True), (STATUS_TABLE, True)]


# -- where the repositories connect -----------------------------------------------------------


def test_the_repositories_use_the_region_they_are_given(tables: dict[str, str]) -> None:
    # GIVEN the tables in us-east-1 only, and repositories for eu-central-1
    specs = SpecRepository(SPEC_TABLE, region="eu-central-1")
    statuses = StatusRepository(STATUS_TABLE, region="eu-central-1")
    # WHEN they read and write THEN they find no table there (they did not fall back to the
    # process's default Region)
    with pytest.raises(GetError, match="ResourceNotFoundException"):
        specs.get(TARGET)
    with pytest.raises(GetError, match="ResourceNotFoundException"):
        statuses.get_status(TARGET)
    with pytest.raises(TransactWriteError) as raised:
        statuses.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))
    assert raised.value.cause_response_code == "ResourceNotFoundException"


def test_the_repositories_use_the_endpoint_they_are_given(tables: dict[str, str]) -> None:
    # GIVEN repositories pointed at an endpoint where nothing listens
    nowhere = "http://127.0.0.1:9"
    specs = SpecRepository(SPEC_TABLE, region=REGION, host=nowhere)
    statuses = StatusRepository(STATUS_TABLE, region=REGION, host=nowhere)
    # WHEN they read and write THEN they try that endpoint (not moto's default one)
    with pytest.raises(GetError, match="Could not connect to the endpoint URL"):
        specs.get(TARGET)
    with pytest.raises(TransactWriteError) as raised:
        statuses.put_status(TARGET, RUN_A, a_status("Registered", RUN_A))
    assert "Could not connect to the endpoint URL" in str(raised.value.cause)
    with pytest.raises(GetError, match="Could not connect to the endpoint URL"):
        statuses.get_lease(TARGET)
    with pytest.raises(GetError, match="Could not connect to the endpoint URL"):
        statuses.get_status(TARGET)


def test_lease_times_are_instants_whatever_the_clocks_zone(
    status_repository: StatusRepository,
) -> None:
    # GIVEN the same instant as a naive UTC time (a test's clock) and in UTC+2
    naive = NOW.replace(tzinfo=None)
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    # WHEN leases are taken and renewed at those times THEN the expiries are the same instants
    assert status_repository.acquire_lease(TARGET, RUN_A, now=naive, lease_seconds=60) == (
        LeaseResult(True, RUN_A, NOW_EPOCH + 60, marked_pending=False)
    )
    status_repository.renew_lease(TARGET, RUN_A, now=plus_two, lease_seconds=90)
    assert status_repository.get_lease(TARGET)["expiresAt"] == NOW_EPOCH + 90
    status_repository.renew_lease(TARGET, RUN_A, now=naive, lease_seconds=120)
    assert status_repository.get_lease(TARGET)["expiresAt"] == NOW_EPOCH + 120


def test_all_statuses_and_watches_is_one_consistent_scan_of_those_kinds_only(
    status_repository: StatusRepository,
) -> None:
    # GIVEN two statuses, a target with a lease only, and a WATCH item
    other, leased = "123456789012:eu-central-1", "123456789012:ap-south-1"
    watched = "123456789013:us-east-1"
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, a_status("Failed", RUN_A))
    status_repository.acquire_lease(other, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(other, RUN_A, {**a_status("Failed", RUN_A), "phase": 3})
    status_repository.acquire_lease(leased, RUN_B, now=NOW, lease_seconds=LEASE)
    watch = {"state": "Unobserved", "since": "2026-11-26T12:00:00.000Z", "reported": True}
    status_repository.put_watch(watched, watch)
    requests = _requests(status_repository, "Scan")
    # WHEN the drift check's tick reads them
    found, watches = status_repository.all_statuses_and_watches()
    # THEN every STATUS item, whole, by target, every WATCH item, and no lease
    assert found == {
        TARGET: a_status("Failed", RUN_A),
        other: {**a_status("Failed", RUN_A), "phase": 3},
    }
    assert found[TARGET] == status_repository.get_status(TARGET)
    assert watches == {watched: watch}
    # AND it was one strongly consistent Scan (a status a run just wrote is seen) of those
    # two kinds
    [request] = requests
    assert request["ConsistentRead"] is True
    assert " IN " in request["FilterExpression"]
    values = request["ExpressionAttributeValues"]
    assert sorted(v["S"] for v in values.values()) == ["STATUS", "WATCH"]


def test_the_segments_of_a_parallel_scan_hold_every_status_and_watch_once(
    status_repository: StatusRepository,
) -> None:
    # GIVEN twenty statuses, five of them with a WATCH item
    targets = [f"1234567890{n:02d}:us-east-1" for n in range(20)]
    for target in targets:
        status_repository.acquire_lease(target, RUN_A, now=NOW, lease_seconds=LEASE)
        status_repository.put_status(target, RUN_A, a_status("Failed", RUN_A))
        status_repository.release_lease(target, RUN_A)
    for target in targets[::4]:
        status_repository.put_watch(target, {"state": "Failed", "since": "x", "reported": True})
    requests = _requests(status_repository, "Scan")
    # WHEN they are read segment by segment, four segments
    parts = [status_repository.all_statuses_and_watches(segment, 4) for segment in range(4)]
    # THEN the segments are disjoint and together every status and WATCH item, as the whole
    # Scan reads them
    whole = status_repository.all_statuses_and_watches()
    for kind, count in ((0, 20), (1, 5)):
        assert sum(len(part[kind]) for part in parts) == count
        assert {t: item for part in parts for t, item in part[kind].items()} == whole[kind]
    # AND each was one consistent Scan of its segment
    assert [(r["Segment"], r["TotalSegments"], r["ConsistentRead"]) for r in requests[:4]] == [
        (segment, 4, True) for segment in range(4)
    ]
    # AND a segment past the last is refused before any request
    with pytest.raises(ValueError, match="segment 4 of 4"):
        status_repository.all_statuses_and_watches(4, 4)
    assert len(requests) == 5


def test_two_segments_are_already_a_parallel_scan(status_repository: StatusRepository) -> None:
    # GIVEN six statuses
    targets = [f"1234567890{n:02d}:us-east-1" for n in range(6)]
    for target in targets:
        status_repository.acquire_lease(target, RUN_A, now=NOW, lease_seconds=LEASE)
        status_repository.put_status(target, RUN_A, a_status("Failed", RUN_A))
        status_repository.release_lease(target, RUN_A)
    requests = _requests(status_repository, "Scan")
    # WHEN they are read in two segments
    first, second = (status_repository.all_statuses_and_watches(s, 2)[0] for s in range(2))
    # THEN each request asked for its half, and the halves hold every status once
    assert [(r["Segment"], r["TotalSegments"]) for r in requests] == [(0, 2), (1, 2)]
    assert not set(first) & set(second)
    assert set(first) | set(second) == set(targets)


def test_statuses_and_watches_of_reads_each_target_asked_once_by_a_consistent_query(
    status_repository: StatusRepository,
) -> None:
    # GIVEN five statuses and their leases, and a WATCH item for one of them
    targets = [f"{100000000000 + i}:us-east-1" for i in range(5)]
    for target in targets:
        status_repository.acquire_lease(target, RUN_A, now=NOW, lease_seconds=LEASE)
        status_repository.put_status(target, RUN_A, {"phase": "Registered", "n": target})
    watch = {"state": "Failed", "since": "2026-11-26T12:00:00.000Z", "reported": True}
    status_repository.put_watch(targets[3], watch)
    requests = _requests(status_repository, "Query")
    # WHEN a batch asks for all but the first, twice one of them, and one with no status
    asked = [*targets[1:], targets[2], "999999999999:us-east-1"]
    found, watches = status_repository.statuses_and_watches_of(asked)
    # THEN the statuses and WATCH items that exist, by target, one Query per target asked
    assert found == {t: {"phase": "Registered", "n": t} for t in targets[1:]}
    assert watches == {targets[3]: watch}
    values = [{v["S"] for v in r["ExpressionAttributeValues"].values()} for r in requests]
    assert values == [{t, "STATUS", "WATCH"} for t in dict.fromkeys(asked)]
    # AND each Query consistent, bounded to the STATUS and WATCH items (no LEASE item read)
    assert all(r["ConsistentRead"] is True for r in requests)
    assert all(" BETWEEN " in r["KeyConditionExpression"] for r in requests)
    # AND nothing asked, nothing read
    assert status_repository.statuses_and_watches_of([]) == ({}, {})
    assert len(requests) == 5


def _requests(status_repository: StatusRepository, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` request the status table's client sends."""
    requests: list[dict[str, Any]] = []
    client = status_repository._status._get_connection().connection.client
    client.meta.events.register(
        f"provide-client-params.dynamodb.{operation}",
        lambda params, **_: requests.append(dict(params)),
    )
    return requests


def test_a_targets_status_and_watch_come_from_one_query_and_the_watch_is_its_own_item(
    status_repository: StatusRepository,
) -> None:
    # GIVEN a target with a lease, a status and a WATCH item, and another target's status
    other = "123456789012:eu-central-1"
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(TARGET, RUN_A, a_status("Failed", RUN_A))
    status_repository.acquire_lease(other, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.put_status(other, RUN_A, a_status("Registered", RUN_A))
    watch = {"state": "Failed", "since": "2026-11-26T12:00:00.000Z", "reported": True}
    status_repository.put_watch(TARGET, {"target": "ignored", "kind": "ignored", **watch})
    requests: list[str] = []
    client = status_repository._status._get_connection().connection.client
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: requests.append(model.name)
    )
    scanned: list[int] = []
    client.meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: scanned.append(parsed["ScannedCount"])
    )
    # WHEN the drift check reads the target
    status, found = status_repository.get_status_and_watch(TARGET)
    # THEN one Query gives both, and reads those two items only (not the lease), the status
    # unchanged by the WATCH item
    assert (requests, scanned) == (["Query"], [2])
    assert status == status_repository.get_status(TARGET)
    assert found == watch
    assert status_repository.get_status_and_watch(other)[1] is None
    # AND deleting the WATCH item leaves the status
    status_repository.delete_watch(TARGET)
    assert status_repository.get_status_and_watch(TARGET) == (status, None)
    assert status_repository.get_status_and_watch("123456789014:us-east-1") == (None, None)


def test_a_targets_status_and_watch_are_read_consistently(
    status_repository: StatusRepository,
) -> None:
    requests = _requests(status_repository, "Query")

    assert status_repository.get_status_and_watch(TARGET) == (None, None)

    assert [(r["KeyConditionExpression"] != "", r["ConsistentRead"]) for r in requests] == [
        (True, True)
    ]


def test_a_refusal_is_written_under_its_own_request_token(
    status_repository: StatusRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a counted call of Lambda request "request-1", and the tokens of each write recorded
    status_repository.acquire_lease(TARGET, RUN_A, now=NOW, lease_seconds=LEASE)
    status_repository.count_attempt(TARGET, RUN_A, spec_hash=V1, limit=5, token="request-1")
    tokens: list[str | None] = []
    commit = status_repository._commit

    def recording(build: Any, token: str | None = None) -> None:
        tokens.append(token)
        commit(build, token=token)

    monkeypatch.setattr(status_repository, "_commit", recording)
    # WHEN the request's call is counted as refused
    status_repository.count_refusal(TARGET, RUN_A, spec_hash=V1, token="request-1")
    # THEN its transaction carries the token of that request, kind and version (a repeated
    # delivery is answered, not applied twice), and the call moved to the refused ones
    expected = hashlib.sha256(f"request-1|refused|{V1}".encode()).hexdigest()
    assert tokens == [expected[:32]]
    assert status_repository.get_status(TARGET) == {"attempts": counts(V1, 0, 1)}

"""DynamoDB Streams writes no record for a write that changes nothing (aws/streams.py)."""

from __future__ import annotations

import pytest

from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e


def stream_records(r: Rehearsal) -> list[dict[str, object]]:
    streams = r.client("dynamodbstreams")
    arn = r.stack.attribute("SpecTable", "StreamArn")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return list(streams.get_records(ShardIterator=iterator)["Records"])


def test_an_update_that_sets_the_current_value_starts_nothing() -> None:
    with Rehearsal({"ManageDefaultTarget": "false"}, jitter_fraction=0.5) as r:
        r.write_spec({"target": r.default_target, "reconcileToken": "2026-11-26T12:00Z"})
        r.settle()
        assert len(r.executions()) == 1
        # WHEN the same token is written again (UpdateItem), and the same item (PutItem)
        r.update_spec(reconcileToken="2026-11-26T12:00Z")
        r.write_spec({"target": r.default_target, "reconcileToken": "2026-11-26T12:00Z"})
        r.settle()
        # THEN the stream holds the first write only, and no run started
        assert [rec["eventName"] for rec in stream_records(r)] == ["INSERT"]
        assert len(r.executions()) == 1
        # AND a real change still gets through
        r.update_spec(reconcileToken="2026-11-26T12:01Z")
        r.settle()
        assert [rec["eventName"] for rec in stream_records(r)] == ["INSERT", "MODIFY"]
        assert len(r.executions()) == 2

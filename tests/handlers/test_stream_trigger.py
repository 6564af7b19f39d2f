"""The stream trigger, fed real stream records that moto produced from real table writes."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from handler_fakes import executions, load_event

from fleetwise_reconciler import budget
from fleetwise_reconciler.dal.repository import SpecRepository
from fleetwise_reconciler.handlers import stream_trigger
from fleetwise_rehearsal.aws.strict import name_problem

REGION = "us-east-1"
TARGET = "123456789012:us-east-1"


def _plain(value: Any) -> Any:
    """A boto3-parsed stream record as Lambda delivers it (JSON: numbers, epoch seconds)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return int(value)
    return value


def stream_records(table: str) -> list[dict[str, Any]]:
    """Every record on the table's stream, from the start, in Lambda's event shape."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            records.append({**_plain(record), "eventSourceARN": arn})
    return records


def test_a_redelivered_record_starts_one_execution(
    spec_repository: SpecRepository, tables: dict[str, str], state_machine: tuple[Any, str]
) -> None:
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    [record] = stream_records(tables["SpecTable"])
    event = {"Records": [record]}

    first = stream_trigger.handle(event, client=client)
    again = stream_trigger.handle(event, client=client)  # at-least-once delivery
    client.stop_execution(
        executionArn=f"{arn.replace(':stateMachine:', ':execution:')}:{record['eventID']}"
    )
    after_finish = stream_trigger.handle(event, client=client)

    assert first == again == after_finish == {"batchItemFailures": []}
    assert executions(client, arn) == [
        {
            "name": record["eventID"],
            "input": {"target": TARGET, "trigger": "stream", "eventId": record["eventID"]},
        }
    ]


def test_each_delivery_of_a_record_says_in_the_log_what_it_did(
    spec_repository: SpecRepository,
    tables: dict[str, str],
    state_machine: tuple[Any, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a record delivered while its run is running, and again once it has ended
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    [record] = stream_records(tables["SpecTable"])
    event = {"Records": [record]}
    stream_trigger.handle(event, client=client)
    stream_trigger.handle(event, client=client)
    client.stop_execution(
        executionArn=f"{arn.replace(':stateMachine:', ':execution:')}:{record['eventID']}"
    )
    stream_trigger.handle(event, client=client)
    # THEN the log says what each delivery did: StartExecution of a running Standard execution
    # with the same name and input answers as the first call did (it is idempotent), so the
    # second delivery reads as a start; once the run has ended, the name is refused
    assert [
        (line.getMessage(), getattr(line, "execution", None), getattr(line, "target", None))
        for line in caplog.records
    ] == [
        ("reconcile started", record["eventID"], TARGET),
        ("reconcile started", record["eventID"], TARGET),
        ("redelivered record: execution already started", record["eventID"], None),
    ]


def test_a_revert_is_a_new_change(
    spec_repository: SpecRepository, tables: dict[str, str], state_machine: tuple[Any, str]
) -> None:
    client, arn = state_machine
    spec_repository.put({"target": TARGET, "policy": "enforce"})  # A
    spec_repository.put({"target": TARGET, "policy": "observe-only"})  # B
    spec_repository.put({"target": TARGET, "policy": "enforce"})  # A again
    records = stream_records(tables["SpecTable"])
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]

    assert stream_trigger.handle({"Records": records}, client=client) == {"batchItemFailures": []}
    assert sorted(e["name"] for e in executions(client, arn)) == sorted(
        r["eventID"] for r in records
    )


def test_one_bad_record_fails_alone(
    spec_repository: SpecRepository,
    tables: dict[str, str],
    state_machine: tuple[Any, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    spec_repository.put({"target": TARGET, "reconcileToken": "1"})
    spec_repository.put({"target": TARGET, "reconcileToken": "2"})
    records = stream_records(tables["SpecTable"])
    bad = records[1]
    del bad["dynamodb"]["Keys"]  # a record the trigger cannot turn into an execution

    response = stream_trigger.handle({"Records": records}, client=client)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]
    }
    assert sorted(e["name"] for e in executions(client, arn)) == sorted(
        [records[0]["eventID"], records[2]["eventID"]]
    )
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert [
        (m.get("TriggerFailedRecords"), m["_aws"]["CloudWatchMetrics"][0]["Dimensions"])
        for m in emitted
    ] == [([1.0], [["service"]])]


def test_the_sample_event_starts_one_execution_per_record(state_machine: tuple[Any, str]) -> None:
    client, arn = state_machine
    event = load_event("stream-insert-and-modify.json")
    assert stream_trigger.handle(event, client=client) == {"batchItemFailures": []}
    assert executions(client, arn) == [
        {
            "name": record["eventID"],
            "input": {
                "target": "123456789012:us-east-1",
                "trigger": "stream",
                "eventId": record["eventID"],
            },
        }
        for record in sorted(event["Records"], key=lambda r: r["eventID"])
    ]


def test_a_record_of_an_odd_key_is_named_validly_and_the_same_when_redelivered(
    spec_repository: SpecRepository, tables: dict[str, str], state_machine: tuple[Any, str]
) -> None:
    # GIVEN a record of an item under a key no run can be named after, and an event ID that
    # is not a name Step Functions takes as it is (DynamoDB's are; nothing documents that)
    client, arn = state_machine
    odd = "123456789012:eu-central-1 lab {x}"
    spec_repository.put({"target": odd})
    [record] = stream_records(tables["SpecTable"])
    record = {**record, "eventID": "odd id: " + record["eventID"]}
    # WHEN it is delivered twice
    for _ in range(2):
        assert stream_trigger.handle({"Records": [record]}, client=client) == {
            "batchItemFailures": []
        }
    # THEN one run, named from the event ID's digest, for the odd key
    [started] = executions(client, arn)
    assert started["name"].startswith("stream-odd-id-")
    assert name_problem(started["name"]) is None
    assert started["input"]["target"] == odd


def _record(event_id: str, dynamodb: dict[str, Any] | None) -> DynamoDBRecord:
    raw: dict[str, Any] = {"eventID": event_id, "eventName": "MODIFY"}
    if dynamodb is not None:
        raw["dynamodb"] = dynamodb
    return DynamoDBRecord(raw)


@pytest.mark.parametrize(
    "dynamodb",
    [
        None,  # no change data at all
        {"SequenceNumber": "1"},  # no keys
        {"Keys": {"target": {"N": "5"}}},  # a number under the key's name
        {"Keys": {"target": {"S": ""}}},  # an empty string
        {"Keys": {"other": {"S": TARGET}}},  # another key
    ],
    ids=["no-dynamodb", "no-keys", "number", "empty", "other-key"],
)
def test_a_record_without_a_string_target_is_refused_by_its_event_id(
    dynamodb: dict[str, Any] | None,
) -> None:
    with pytest.raises(ValueError) as refused:
        stream_trigger.execution_input(_record("e-41", dynamodb))

    assert str(refused.value) == "stream record e-41 has no string 'target' key"


def test_a_record_becomes_a_run_named_after_its_event_id() -> None:
    record = _record("0a1b2c", {"Keys": {"target": {"S": TARGET}}})

    assert stream_trigger.execution_input(record) == (
        "0a1b2c",
        {"target": TARGET, "trigger": "stream", "eventId": "0a1b2c"},
    )


class TimeLeft:
    """A Lambda context with this much time left."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_a_record_whose_start_may_not_finish_in_time_fails_alone_and_is_delivered_again(
    spec_repository: SpecRepository, tables: dict[str, str], state_machine: tuple[Any, str]
) -> None:
    # GIVEN two records and less time left than one StartExecution may take (budget.py)
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    spec_repository.put({"target": "123456789012:eu-central-1"})
    records = stream_records(tables["SpecTable"])
    short = TimeLeft(int(budget.CONTROL.worst_seconds * 1000) - 1)
    # WHEN the batch is delivered THEN nothing is started and the batch fails whole (every
    # record failed: the mapping delivers it again), instead of Lambda killing the function
    # in the middle of a call
    with pytest.raises(BatchProcessingError, match="All records failed processing"):
        stream_trigger.handle({"Records": records}, short, client=client)  # type: ignore[arg-type]
    assert executions(client, arn) == []
    # AND with the time a StartExecution may take, each is started
    enough = TimeLeft(int(budget.CONTROL.worst_seconds * 1000))
    assert stream_trigger.handle({"Records": records}, enough, client=client) == {  # type: ignore[arg-type]
        "batchItemFailures": []
    }
    assert len(executions(client, arn)) == 2


def test_a_batch_whose_every_record_fails_is_counted_before_it_is_delivered_again(
    spec_repository: SpecRepository,
    tables: dict[str, str],
    state_machine: tuple[Any, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN two records the trigger cannot turn into executions (no keys)
    client, _arn = state_machine
    spec_repository.put({"target": TARGET})
    spec_repository.put({"target": "123456789012:eu-central-1"})
    records = stream_records(tables["SpecTable"])
    for record in records:
        del record["dynamodb"]["Keys"]
    capsys.readouterr()
    # WHEN the batch is delivered THEN it fails whole (Powertools raises: the mapping
    # retries it) and both failed records are counted first, for the alarm
    with pytest.raises(BatchProcessingError, match="All records failed processing"):
        stream_trigger.handle({"Records": records}, client=client)
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert [m.get("TriggerFailedRecords") for m in emitted] == [[2.0]]

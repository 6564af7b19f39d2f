"""The rehearsal's TransactWriteItems keeps moto's answers, and its rollback without the
whole-table copy still leaves a cancelled transaction without effect (stream included)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fleetwise_rehearsal.aws import fast_transactions
from fleetwise_rehearsal.aws.patching import Patcher

TABLE = "t"


@pytest.fixture
def ddb(mocked_aws: None) -> Iterator[Any]:
    patcher = Patcher()
    fast_transactions.apply(patcher)
    try:
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "target", "AttributeType": "S"},
                {"AttributeName": "kind", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "target", "KeyType": "HASH"},
                {"AttributeName": "kind", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.put_item(
            TableName=TABLE, Item={"target": {"S": "a"}, "kind": {"S": "STATUS"}, "v": {"N": "1"}}
        )
        yield client
    finally:
        patcher.undo()


def items(client: Any) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=TABLE)["Items"], key=lambda i: i["target"]["S"])


def stream_records(client: Any) -> int:
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE).stream_shard
    return len(shard.items)


def test_a_committed_transaction_writes_every_item(ddb: Any) -> None:
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"target": {"S": "b"}, "kind": {"S": "LEASE"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"target": {"S": "a"}, "kind": {"S": "STATUS"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "2"}},
                }
            },
        ]
    )
    assert items(ddb) == [
        {"target": {"S": "a"}, "kind": {"S": "STATUS"}, "v": {"N": "2"}},
        {"target": {"S": "b"}, "kind": {"S": "LEASE"}},
    ]
    assert stream_records(ddb) == 3


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(ddb: Any) -> None:
    # GIVEN a transaction whose put comes first and whose second condition fails
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"target": {"S": "b"}, "kind": {"S": "L"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"target": {"S": "a"}, "kind": {"S": "STATUS"}},
                        "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "v = :old",
                        "ExpressionAttributeValues": {":v": {"N": "2"}, ":old": {"N": "7"}},
                    }
                },
            ]
        )
    # THEN moto's answer, and no trace of the put
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert items(ddb) == [{"target": {"S": "a"}, "kind": {"S": "STATUS"}, "v": {"N": "1"}}]
    assert stream_records(ddb) == 1

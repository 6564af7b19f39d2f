"""The rehearsal's Query of a table reads one partition and answers exactly as moto does:
the same items, order, pages and counts, for every form of Query the product and AWS allow
(key conditions, filters, limits, backwards, projections, an index, a table without a sort
key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fleetwise_rehearsal.aws import fast_queries
from fleetwise_rehearsal.aws.patching import Patcher

KINDS = ("LEASE", "STATUS", "WATCH", "ZEBRA")


@pytest.fixture
def ddb(mocked_aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="ranged",
        AttributeDefinitions=[
            {"AttributeName": "target", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "phase", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "target", "KeyType": "HASH"},
            {"AttributeName": "kind", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-phase",
                "KeySchema": [{"AttributeName": "phase", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName="plain",
        AttributeDefinitions=[{"AttributeName": "target", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "target", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(12):
        target = f"12345678901{n % 3}:region-{n}"
        client.put_item(TableName="plain", Item={"target": {"S": target}, "n": {"N": str(n)}})
        for kind in KINDS[: 1 + n % 4]:
            item = {"target": {"S": target}, "kind": {"S": kind}, "n": {"N": str(n)},
                    "phase": {"S": "Failed" if n % 2 else "Registered"}}  # fmt: skip
            client.put_item(TableName="ranged", Item=item)
    return client


QUERIES: dict[str, dict[str, Any]] = {
    "status and watch": {
        "TableName": "ranged",
        "KeyConditionExpression": "target = :t AND kind BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":t": {"S": "123456789010:region-3"},
            ":a": {"S": "STATUS"},
            ":b": {"S": "WATCH"},
        },
        "ConsistentRead": True,
    },
    "whole partition": {
        "TableName": "ranged",
        "KeyConditionExpression": "target = :t",
        "ExpressionAttributeValues": {":t": {"S": "123456789011:region-7"}},
    },
    "backwards, one a page": {
        "TableName": "ranged",
        "KeyConditionExpression": "target = :t",
        "ExpressionAttributeValues": {":t": {"S": "123456789010:region-3"}},
        "ScanIndexForward": False,
        "Limit": 1,
    },
    "filtered and projected": {
        "TableName": "ranged",
        "KeyConditionExpression": "target = :t AND begins_with(kind, :k)",
        "FilterExpression": "kind <> :lease",
        "ProjectionExpression": "kind",
        "ExpressionAttributeValues": {
            ":t": {"S": "123456789010:region-3"},
            ":k": {"S": "S"},
            ":lease": {"S": "LEASE"},
        },
    },
    "no such partition": {
        "TableName": "ranged",
        "KeyConditionExpression": "target = :t",
        "ExpressionAttributeValues": {":t": {"S": "999999999999:nowhere"}},
    },
    "an index": {
        "TableName": "ranged",
        "IndexName": "by-phase",
        "KeyConditionExpression": "phase = :p",
        "ExpressionAttributeValues": {":p": {"S": "Failed"}},
    },
    "no sort key": {
        "TableName": "plain",
        "KeyConditionExpression": "target = :t",
        "ExpressionAttributeValues": {":t": {"S": "123456789010:region-9"}},
    },
}


def every_page(client: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Each page's items, counts and continuation, to the last."""
    pages, start = [], None
    while True:
        answer = client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        answer.pop("ResponseMetadata")
        pages.append(answer)
        start = answer.get("LastEvaluatedKey")
        if start is None:
            return pages


@pytest.fixture
def patched() -> Iterator[None]:
    patcher = Patcher()
    fast_queries.apply(patcher)
    try:
        yield
    finally:
        patcher.undo()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_query_answers_as_moto_does(ddb: Any, name: str, request: pytest.FixtureRequest) -> None:
    # GIVEN moto's own answer, page by page
    query = QUERIES[name]
    expected = every_page(ddb, query)
    assert expected[0]["ScannedCount"] or name == "no such partition"
    # WHEN the same Query is answered with the partition read alone
    request.getfixturevalue("patched")
    # THEN every page is the same
    assert every_page(ddb, query) == expected


def test_a_query_reads_the_partition_only_and_a_scan_still_reads_the_table(
    ddb: Any, patched: None
) -> None:
    from moto.dynamodb.models.table import Table

    read: list[int] = []
    inner = Table.all_items

    def counting(self: Any) -> list[Any]:
        found = inner(self)
        read.append(len(found))
        return found

    Table.all_items = counting  # type: ignore[method-assign]
    try:
        ddb.query(**QUERIES["whole partition"])
        ddb.scan(TableName="ranged")
    finally:
        Table.all_items = inner  # type: ignore[method-assign]
    # region-7's four items, then all 30 of the table (12 targets, 1 to 4 kinds each)
    assert read == [4, 30]

"""Read units the fleet bench charges per DynamoDB call (call_meter), on items of known size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetwise_rehearsal.fleet.call_meter import CallMeter, _items_read

SIZES = {("Spec", "a"): 100, ("Spec", "b"): 5000, ("Spec", "c"): 0, ("Status", "s"): 9000}


class Items:
    """Item sizes by table and target, as call_meter's moto reader answers them."""

    def size(self, table: str, key: Mapping[str, Any]) -> int:
        return SIZES[(table, key["target"]["S"])]


def keys(*targets: str) -> list[dict[str, Any]]:
    return [{"target": {"S": t}} for t in targets]


def test_batch_get_item_charges_each_key_read_as_a_get_item_of_its_own() -> None:
    # GIVEN a consistent read of three spec items (100 B, 5,000 B, absent) and an eventually
    # consistent one of a 9,000 B status item, one spec key left unprocessed
    params = {
        "RequestItems": {
            "Spec": {"Keys": keys("a", "b", "c"), "ConsistentRead": True},
            "Status": {"Keys": keys("s")},
        }
    }
    response = {"UnprocessedKeys": {"Spec": {"Keys": keys("b"), "ConsistentRead": True}}}
    units = CallMeter._read_units("BatchGetItem", params, response, Items())  # type: ignore[arg-type]
    # THEN a: 1 unit, c (absent): 1 unit, b: not read; s: 3 blocks of 4 KB, halved
    assert units == (("Spec", 2.0), ("Status", 1.5))
    # AND with nothing unprocessed, b's two blocks count too
    assert CallMeter._read_units("BatchGetItem", params, {}, Items()) == (  # type: ignore[arg-type]
        ("Spec", 4.0),
        ("Status", 1.5),
    )


class Table:
    """call_meter's moto reader for a Scan: every item's size in the table."""

    def __init__(self, sizes: list[int]) -> None:
        self._sizes = sizes

    def sizes(self, _table: str) -> list[int]:
        return self._sizes


def test_a_segment_of_a_parallel_scan_charges_its_items_only() -> None:
    # GIVEN a table of ten 4 KB items
    table = Table([4096] * 10)
    whole = {"TableName": "Status", "ConsistentRead": True}
    segment = {**whole, "Segment": 3, "TotalSegments": 10}
    # WHEN the whole table is scanned, then one segment of two items
    # THEN the whole Scan is charged ten units, the segment two, and the items read counted
    assert CallMeter._read_units("Scan", whole, {"ScannedCount": 10}, table) == (  # type: ignore[arg-type]
        ("Status", 10.0),
    )
    assert CallMeter._read_units("Scan", segment, {"ScannedCount": 2}, table) == (  # type: ignore[arg-type]
        ("Status", 2.0),
    )
    assert _items_read("Scan", segment, {"ScannedCount": 2}) == (("Status", 2),)
    assert _items_read(
        "BatchGetItem",
        {"RequestItems": {"Status": {"Keys": keys("a", "b", "c")}}},
        {"UnprocessedKeys": {"Status": {"Keys": keys("b")}}},
    ) == (("Status", 2),)
    assert _items_read("GetItem", {"TableName": "Status"}, {}) == (("Status", 1),)


class Unsized:
    """A moto reader that must not be asked: the response says all there is to know."""

    def sizes(self, _table: str) -> list[int]:
        raise AssertionError("the table was sized although the response held every item")


def test_a_read_that_returned_every_item_whole_is_charged_on_those_items() -> None:
    # GIVEN a consistent Query that read two items and returned both, all attributes:
    # 10 + 4,100 bytes ("target" 6 + "abcd" 4; the same + "blob" 4 + 4,086 bytes)
    items = [
        {"target": {"S": "abcd"}},
        {"target": {"S": "abcd"}, "blob": {"B": b"x" * 4086}},
    ]
    query = {"TableName": "Status", "ConsistentRead": True, "Select": "ALL_ATTRIBUTES"}
    response = {"Items": items, "Count": 2, "ScannedCount": 2}
    # THEN it is charged on 4,110 bytes: two 4 KB units, without sizing the table
    assert CallMeter._read_units("Query", query, response, Unsized()) == (("Status", 2.0),)  # type: ignore[arg-type]
    # AND a Query whose filter dropped an item, or whose projection cut them, is charged at
    # the table's mean item size (here 4 KB) for each item it read
    filtered = {**response, "Items": items[:1], "Count": 1}
    assert CallMeter._read_units("Query", query, filtered, Table([4096])) == (("Status", 2.0),)  # type: ignore[arg-type]
    projected = {**query, "ProjectionExpression": "target"}
    assert CallMeter._read_units("Query", projected, response, Table([8192])) == (  # type: ignore[arg-type]
        ("Status", 4.0),
    )

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

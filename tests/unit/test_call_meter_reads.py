"""Read units the fleet bench charges per DynamoDB call (call_meter), on items of known size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetwise_rehearsal.fleet.call_meter import CallMeter

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

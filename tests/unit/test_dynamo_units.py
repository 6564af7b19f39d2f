"""DynamoDB's on-demand request units, by its documented rules, on hand-made items."""

from __future__ import annotations

import pytest

from fleetwise_rehearsal.aws.dynamo_units import (
    item_size,
    number_size,
    read_units,
    scan_read_units,
    value_size,
    write_units,
)


def test_an_item_is_the_sum_of_its_names_and_values() -> None:
    # GIVEN a string key (6 + 22), a Boolean (6 + 1) and a number of 3 digits (5 + 3)
    item = {
        "target": {"S": "123456789012:us-east-1"},
        "paused": {"BOOL": False},
        "count": {"N": "125"},
    }
    # THEN its size is exactly their sum
    assert item_size(item) == 6 + 22 + 6 + 1 + 5 + 3


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 2), ("7", 2), ("12", 2), ("125", 3), ("1000", 2), ("0.005", 2), ("-12.50", 3)],
)
def test_a_number_takes_one_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size


def test_lists_and_maps_add_three_bytes_and_one_per_element() -> None:
    # GIVEN a map {"a": "xy", "b": null} and a list ["xyz"]
    assert value_size({"M": {"a": {"S": "xy"}, "b": {"NULL": True}}}) == 3 + (1 + 2 + 1) + (
        1 + 1 + 1
    )
    assert value_size({"L": [{"S": "xyz"}]}) == 3 + 3 + 1
    assert value_size({"SS": ["ab", "c"]}) == 3


def test_reads_round_up_to_4_kb_and_halve_when_eventually_consistent() -> None:
    assert read_units(0, consistent=True) == 1.0  # a missing item still costs a read
    assert read_units(4096, consistent=True) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(4097, consistent=False) == 1.0
    assert read_units(100, consistent=False) == 0.5
    assert read_units(8192, consistent=True, transactional=True) == 4.0


def test_writes_round_up_to_1_kb_and_double_in_a_transaction() -> None:
    assert write_units(0) == 1.0
    assert write_units(1024) == 1.0
    assert write_units(1025) == 2.0
    assert write_units(3000, transactional=True) == 6.0


def test_a_scan_page_is_charged_once_on_everything_it_read() -> None:
    # GIVEN a page that read 3 items of 2,000 bytes: 6,000 bytes, two 4 KB units
    assert scan_read_units([2000, 2000, 2000], consistent=True) == 2.0
    assert scan_read_units([2000, 2000, 2000], consistent=False) == 1.0

"""DynamoDB's on-demand request units, computed by DynamoDB's documented rules.

From the DynamoDB developer guide ("Read/write capacity mode", "Item sizes and formats",
"Managing capacity for transactions"):

- a read request unit (RRU) covers one strongly consistent read of up to 4 KB, or two
  eventually consistent reads (0.5 RRU each); a transactional read takes 2 RRU per 4 KB;
- a write request unit (WRU) covers one write of up to 1 KB; a transactional write takes
  2 WRU per 1 KB;
- sizes round up to the next 4 KB (reads) or 1 KB (writes), and a request consumes at least
  one unit even when the item does not exist;
- a write is charged on the larger of the item before and after it (an update or an
  overwriting put), a delete on the item deleted; a write whose condition fails still
  consumes the units of the item it was checked against;
- a Query or Scan is charged on the sum of the sizes of every item it *reads* (evaluated),
  rounded up to 4 KB once per request (page), whatever its ProjectionExpression or
  FilterExpression returns;
- an item's size is the sum of its attribute names' and values' sizes: a string its UTF-8
  bytes, a number about one byte per two significant digits plus one, binary its bytes, a
  Boolean or null one byte, a list or map 3 bytes plus its elements plus one byte per
  element (a map's keys counted as names), a set the sum of its elements.

Assumed, not read in AWS's text: that a ConditionCheck inside TransactWriteItems consumes
transactional write units on the checked item's size, like the writes beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
CONTAINER_OVERHEAD = 3


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number: 1 + one byte per two significant digits (leading and
    trailing zeroes trimmed)."""
    digits = format(abs(Decimal(text)), "f").replace(".", "").strip("0")
    return 1 + math.ceil(max(len(digits), 1) / 2)


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's wire form (``{"S": "abc"}``...)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return number_size(str(data))
    if kind == "B":
        return len(data) if isinstance(data, bytes | bytearray) else len(str(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in data)
    if kind == "NS":
        return sum(number_size(str(n)) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return CONTAINER_OVERHEAD + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return CONTAINER_OVERHEAD + sum(
            len(k.encode()) + value_size(v) + 1 for k, v in data.items()
        )
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Bytes of an item in wire form (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RRU of one read request over ``size`` bytes (at least one 4 KB unit)."""
    blocks = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * blocks
    return float(blocks) if consistent else 0.5 * blocks


def write_units(size: int, *, transactional: bool = False) -> float:
    """WRU of one write of an item of ``size`` bytes (at least one 1 KB unit)."""
    blocks = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2.0 * blocks if transactional else float(blocks)


def scan_read_units(sizes: Iterable[int], *, consistent: bool) -> float:
    """RRU of one Query or Scan page that read items of ``sizes`` bytes."""
    return read_units(sum(sizes), consistent=consistent)

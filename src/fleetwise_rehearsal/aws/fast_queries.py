"""moto's Query of a table (not an index), reading the items of the key asked for only.

moto 5.2.5 answers a Query of a table by sorting every item of the table
(``Table.all_items``) and keeping those of the partition key asked for, so one Query costs
time in proportion to the table's size. A fanned-out drift tick makes one Query per target, so
a fleet's tick grew with the square of its targets in the rehearsal (py-spy dumps of a
1,000-target tick: the main thread in ``all_items`` under ``Table.query`` in three of four),
where DynamoDB reads one partition. Here, for the duration of a Query of the table itself,
``all_items`` answers that partition's items; moto's own code then does everything else: the
order by sort key, the key condition, the filter, the limit, the pages, the projection and
the counts. Queries of an index, and every other caller of ``all_items`` (Scan), are moto's
own, unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from fleetwise_rehearsal.aws.patching import Patcher

_TABLE = "moto.dynamodb.models.table"

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_TABLE, "Table.query", "method"),
    (_TABLE, "Table.all_items", "method"),
)

EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "Table.query": (
        "self",
        "hash_key",
        "range_comparison",
        "range_objs",
        "limit",
        "exclusive_start_key",
        "scan_index_forward",
        "projection_expressions",
        "index_name",
        "consistent_read",
        "filter_expression",
        "hash_key_conditions",
        "range_key_conditions",
        "filter_kwargs",
    ),
    "Table.all_items": ("self",),
}

# The (table, partition key) a Query of this thread is reading, while it runs.
_reading = threading.local()


def partition_items(table: Any, hash_key: Any) -> list[Any]:
    """The items of one partition of ``table`` (moto's Query sorts them by sort key)."""
    bucket = table.items.get(hash_key)
    if bucket is None:
        return []
    return list(bucket.values()) if table.range_key_attr else [bucket]


def apply(patcher: Patcher) -> None:
    query: Callable[..., Any] = patcher.original(_TABLE, "Table.query")
    all_items: Callable[[Any], list[Any]] = patcher.original(_TABLE, "Table.all_items")

    def one_partition(self: Any) -> list[Any]:
        reading = getattr(_reading, "key", None)
        if reading is None or reading[0] is not self:
            return all_items(self)
        return partition_items(self, reading[1])

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # index_name is the seventh argument after the key (moto's backend passes it by
        # position); a Query of an index, or without a key, stays moto's own.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        _reading.key = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _reading.key = None

    patcher.replace(_TABLE, "Table.all_items", one_partition)
    patcher.replace(_TABLE, "Table.query", partition_query)

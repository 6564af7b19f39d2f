"""moto's TransactWriteItems, with a rollback that costs what the transaction touches.

moto 5.2.5 backs up every table a transaction names with ``copy.deepcopy`` of the whole
table before it starts, so one transaction costs time in proportion to the table's size and a
fleet rehearsal's wall time grows with the square of its targets (measured with py-spy: at
100 targets the deep copies were the largest single cost of a registration). Here the backup
is of the items the transaction names and of the length of each table's stream: on a
cancelled transaction those items are put back as they were and the stream records written
meanwhile dropped, which is what moto's whole-table restore achieved. What the transaction
does, checks and answers is moto's own code, unchanged.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from typing import Any, Final

from fleetwise_rehearsal.aws.patching import Patcher

_MODELS = "moto.dynamodb.models"

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_MODELS, "DynamoDBBackend.transact_write_items", "method"),
    # The module's ``copy``: its deepcopy of a whole Table is what is made cheap.
    (_MODELS, "copy", "module"),
)

EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "DynamoDBBackend.transact_write_items": ("self", "transact_items"),
}


def _table_class() -> type:
    from moto.dynamodb.models.table import Table  # noqa: PLC0415 - moto's, loaded lazily

    return Table


def _key_of(table: Any, op: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    source = op.get("Key") or op.get("Item") or {}
    hash_value = source.get(table.hash_key_attr)
    if hash_value is None:
        return None
    range_value = source.get(table.range_key_attr) if table.range_key_attr else None
    return DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None


def _restore(table: Any, key: tuple[Any, Any], item: Any) -> None:
    hash_key, range_key = key
    if range_key is not None:
        if item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


def apply(patcher: Patcher) -> None:
    original: Callable[[Any, list[dict[str, Any]]], None] = patcher.original(
        _MODELS, "DynamoDBBackend.transact_write_items"
    )
    table_class = _table_class()

    def deepcopy(value: Any, memo: Any = None) -> Any:
        # The transaction's own whole-table backup: kept by reference (rolled back below).
        if isinstance(value, table_class):
            return value
        return copy.deepcopy(value, memo)

    patcher.replace(_MODELS, "copy", types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy))

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, tuple[Any, Any], Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            op = next(iter(entry.values()), None)
            if not isinstance(op, dict):
                continue
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = _key_of(table, op)
            if key is not None:
                current = (
                    table.get_item(*key) if key[1] is not None or not table.range_key_attr else None
                )
                saved.append((table, key, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))
        try:
            original(self, transact_items)
        except Exception:
            for table, key, item in reversed(saved):
                _restore(table, key, item)
            for shard, length in streams.values():
                del shard.items[length:]
            raise

    patcher.replace(_MODELS, "DynamoDBBackend.transact_write_items", transact_write_items)

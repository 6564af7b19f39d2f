"""Every AWS API call the product's code makes in a rehearsal, metered as AWS bills it.

``CallMeter`` wraps botocore's ``BaseClient._make_api_call`` (boto3 clients and PynamoDB
alike go through it) for the duration of a ``with`` block and records each call made from the
product's package (``fleetwise_reconciler``: its handlers, data layer and ports; the
rehearsal's own plumbing is left out): the service, the operation, the handler module, the
virtual time, the error code, the SDK's retry count, and for DynamoDB the request units the
call consumed (``dynamo_units``), from the items as moto holds them before and after it.

The IoT FleetWise calls are not metered here: the simulator logs every request it receives.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from fleetwise_rehearsal.aws import dynamo_units

PRODUCT_PACKAGE = "fleetwise_reconciler."
HANDLER_PACKAGE = "fleetwise_reconciler.handlers."

_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


@dataclass(frozen=True)
class ApiCall:
    """One call of the product's code, as AWS would meter it."""

    service: str
    operation: str
    handler: str
    at: float
    error: str | None
    retries: int
    # DynamoDB only: the table and the request units consumed (per table for transactions).
    read_units: tuple[tuple[str, float], ...] = ()
    write_units: tuple[tuple[str, float], ...] = ()
    # DynamoDB only: the items read per table (a GetItem one, a BatchGetItem each key it
    # processed, a Scan or Query its ScannedCount), whatever their size.
    items_read: tuple[tuple[str, int], ...] = ()


def _caller_module() -> str | None:
    """The product module nearest the call on this thread's stack, preferring a handler."""
    frame = sys._getframe(2)
    found: str | None = None
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith(HANDLER_PACKAGE):
            return module.removeprefix(HANDLER_PACKAGE)
        if found is None and module.startswith(PRODUCT_PACKAGE):
            found = module.removeprefix(PRODUCT_PACKAGE)
        frame = frame.f_back  # type: ignore[assignment]
    return found


class _Items:
    """Item sizes as moto holds them, in one account and Region."""

    def __init__(self, account: str, region: str) -> None:
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - inside the mock

        self._backend = dynamodb_backends[account][region]

    def table(self, name: str) -> Any:
        return self._backend.get_table(name)

    def size(self, table_name: str, key: Mapping[str, Any]) -> int:
        from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

        table = self.table(table_name)
        hash_value = key.get(table.hash_key_attr)
        if hash_value is None:
            return 0
        range_value = key.get(table.range_key_attr) if table.range_key_attr else None
        item = table.get_item(
            DynamoType(hash_value), DynamoType(range_value) if range_value else None
        )
        return dynamo_units.item_size(item.to_json()["Attributes"]) if item else 0

    def key_of(self, table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
        table = self.table(table_name)
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {n: item[n] for n in names if n in item}

    def sizes(self, table_name: str) -> list[int]:
        return [
            dynamo_units.item_size(i.to_json()["Attributes"])
            for i in self.table(table_name).all_items()
        ]


class _Writes:
    """The (table, key, transactional) items a write request touches."""

    @staticmethod
    def of(operation: str, params: Mapping[str, Any], items: _Items) -> list[tuple[str, Any, bool]]:
        if operation in ("PutItem",):
            table = params["TableName"]
            return [(table, items.key_of(table, params["Item"]), False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], False)]
        if operation == "BatchWriteItem":
            out: list[tuple[str, Any, bool]] = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        out.append(
                            (table, items.key_of(table, request["PutRequest"]["Item"]), False)
                        )
                    else:
                        out.append((table, request["DeleteRequest"]["Key"], False))
            return out
        if operation == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                ((_kind, body),) = entry.items()
                table = body["TableName"]
                key = body.get("Key") or items.key_of(table, body.get("Item", {}))
                out.append((table, key, True))
            return out
        return []


class CallMeter:
    """Records the product's AWS calls while active (see the module docstring).

    ``clock``: the virtual epoch seconds; ``account``/``region``: where the product's tables
    live (the hub's)."""

    def __init__(self, clock: Callable[[], float], *, account: str, region: str) -> None:
        self.clock = clock
        self.account = account
        self.region = region
        self.calls: list[ApiCall] = []
        self._lock = threading.Lock()
        self._original: Any = None

    def __enter__(self) -> CallMeter:
        original = BaseClient._make_api_call
        self._original = original
        meter = self

        def make_api_call(client: BaseClient, operation: str, params: Any) -> Any:
            module = _caller_module()
            if module is None:
                return original(client, operation, params)
            return meter._metered(client, operation, params, module)

        BaseClient._make_api_call = make_api_call
        return self

    def __exit__(self, *_: object) -> None:
        BaseClient._make_api_call = self._original

    def _metered(self, client: BaseClient, operation: str, params: Any, module: str) -> Any:
        service = client.meta.service_model.service_name
        dynamodb = service == "dynamodb"
        items = _Items(self.account, client.meta.region_name) if dynamodb else None
        before = self._write_sizes(operation, params, items) if items is not None else []
        at = self.clock()
        error: str | None = None
        retries = 0
        response: Any = None
        try:
            response = self._original(client, operation, params)
        except ClientError as failure:
            error = str(failure.response.get("Error", {}).get("Code"))
            retries = int(failure.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            raise
        else:
            retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            return response
        finally:
            reads: tuple[tuple[str, float], ...] = ()
            writes: tuple[tuple[str, float], ...] = ()
            read: tuple[tuple[str, int], ...] = ()
            if items is not None:
                reads = self._read_units(operation, params, response, items)
                writes = self._write_units(operation, params, before, items)
                read = _items_read(operation, params, response)
            with self._lock:
                self.calls.append(
                    ApiCall(service, operation, module, at, error, retries, reads, writes, read)
                )

    @staticmethod
    def _write_sizes(operation: str, params: Any, items: _Items) -> list[int]:
        return [items.size(t, k) for t, k, _ in _Writes.of(operation, params, items)]

    @staticmethod
    def _write_units(
        operation: str, params: Any, before: list[int], items: _Items
    ) -> tuple[tuple[str, float], ...]:
        touched = _Writes.of(operation, params, items)
        units: dict[str, float] = {}
        for (table, key, transactional), old in zip(touched, before, strict=True):
            size = max(old, items.size(table, key))
            if operation == "PutItem" or (operation == "BatchWriteItem" and old == 0):
                # A put that failed its condition leaves no new item: charge the one checked.
                size = max(size, dynamo_units.item_size(_item_written(params, table, key)))
            units[table] = units.get(table, 0.0) + dynamo_units.write_units(
                size, transactional=transactional
            )
        return tuple(sorted(units.items()))

    @staticmethod
    def _read_units(
        operation: str, params: Any, response: Any, items: _Items
    ) -> tuple[tuple[str, float], ...]:
        if operation == "GetItem":
            table = params["TableName"]
            size = items.size(table, params["Key"])
            consistent = bool(params.get("ConsistentRead"))
            return ((table, dynamo_units.read_units(size, consistent=consistent)),)
        if operation == "BatchGetItem" and response is not None:
            # Each key read is charged as a GetItem of its own; keys left unprocessed are not
            # read (and not charged).
            left = response.get("UnprocessedKeys") or {}
            batch: dict[str, float] = {}
            for table, request in params["RequestItems"].items():
                skipped = (left.get(table) or {}).get("Keys") or []
                consistent = bool(request.get("ConsistentRead"))
                for key in request["Keys"]:
                    if key not in skipped:
                        size = items.size(table, key)
                        batch[table] = batch.get(table, 0.0) + dynamo_units.read_units(
                            size, consistent=consistent
                        )
            return tuple(sorted(batch.items()))
        if operation == "TransactGetItems":
            read: dict[str, float] = {}
            for entry in params["TransactItems"]:
                body = entry["Get"]
                size = items.size(body["TableName"], body["Key"])
                read[body["TableName"]] = read.get(body["TableName"], 0.0) + (
                    dynamo_units.read_units(size, consistent=True, transactional=True)
                )
            return tuple(sorted(read.items()))
        if operation in ("Scan", "Query") and response is not None:
            table = params["TableName"]
            consistent = bool(params.get("ConsistentRead"))
            whole = (
                "ExclusiveStartKey" not in params
                and "LastEvaluatedKey" not in response
                and "TotalSegments" not in params
            )
            if _returned_whole(params, response):
                # Every item it read came back, every attribute of it: charged on their own
                # sizes. (Sizing the whole table for each of a tick's per-target Queries made
                # the bench's metering, not the rehearsal, grow with the square of the fleet.)
                evaluated = sum(dynamo_units.item_size(i) for i in response["Items"])
            elif operation == "Scan" and whole:
                evaluated = sum(items.sizes(table))
            else:
                sizes = items.sizes(table)
                # A filtered or projected page of a longer scan, segment of a parallel one,
                # or query: its evaluated items at the table's mean item size (the
                # rehearsal's tables hold items of similar sizes).
                mean = sum(sizes) / len(sizes) if sizes else 0
                evaluated = round(int(response.get("ScannedCount", 0)) * mean)
            return ((table, dynamo_units.read_units(evaluated, consistent=consistent)),)
        return ()

    # -- summaries ---------------------------------------------------------------------------

    def between(self, start: float, end: float | None = None) -> list[ApiCall]:
        """The calls made at virtual times in [start, end)."""
        with self._lock:
            return [c for c in self.calls if c.at >= start and (end is None or c.at < end)]


def _returned_whole(params: Mapping[str, Any], response: Mapping[str, Any]) -> bool:
    """Did a Scan or Query return every item it read, with all its attributes (no filter
    dropped one, no projection cut one)?"""
    if "Items" not in response:
        return False
    if "ProjectionExpression" in params or "AttributesToGet" in params:
        return False
    if params.get("Select", "ALL_ATTRIBUTES") != "ALL_ATTRIBUTES":
        return False
    return int(response.get("Count", -1)) == int(response.get("ScannedCount", -2))


def _items_read(operation: str, params: Any, response: Any) -> tuple[tuple[str, int], ...]:
    if response is None:
        return ()
    if operation == "GetItem":
        return ((params["TableName"], 1),)
    if operation == "BatchGetItem":
        left = response.get("UnprocessedKeys") or {}
        return tuple(
            sorted(
                (table, len(request["Keys"]) - len((left.get(table) or {}).get("Keys") or []))
                for table, request in params["RequestItems"].items()
            )
        )
    if operation in ("Scan", "Query"):
        return ((params["TableName"], int(response.get("ScannedCount", 0))),)
    return ()


def items_per_table(calls: list[ApiCall]) -> dict[str, int]:
    """Items read per table."""
    out: Counter[str] = Counter()
    for call in calls:
        for table, count in call.items_read:
            out[table] += count
    return dict(sorted(out.items()))


def _item_written(params: Any, table: str, key: Any) -> Mapping[str, Any]:
    if "Item" in params:
        return dict(params["Item"])
    for request in params.get("RequestItems", {}).get(table, []):
        put = request.get("PutRequest")
        if put and all(put["Item"].get(k) == v for k, v in key.items()):
            return dict(put["Item"])
    return {}


def operations(calls: list[ApiCall]) -> Counter[str]:
    """Calls per ``service:Operation``."""
    return Counter(f"{c.service}:{c.operation}" for c in calls)


def units_per_table(calls: list[ApiCall]) -> dict[str, tuple[float, float]]:
    """(read units, write units) per table."""
    out: dict[str, list[float]] = {}
    for call in calls:
        for table, units in call.read_units:
            out.setdefault(table, [0.0, 0.0])[0] += units
        for table, units in call.write_units:
            out.setdefault(table, [0.0, 0.0])[1] += units
    return {t: (r, w) for t, (r, w) in sorted(out.items())}


def iter_errors(calls: list[ApiCall]) -> Iterator[ApiCall]:
    return (c for c in calls if c.error is not None)

"""PynamoDB models of the spec and status tables (docs/workflow.md, "Tables").

Table names come from the deployment, not from the code, so the models here are bases
without a ``Meta``; ``spec_model``, ``lease_model`` and ``status_model`` bind a base to a
table (name, Region, endpoint) on first use and cache the bound class. Binding builds no
client: PynamoDB connects on the first request. One bound class per table is shared by
every repository in the process (the offline rehearsal runs several handlers in one process),
and binding is guarded by a lock so two threads never race to create it.

The spec and status items are open: apart from their keys, their attributes are whatever the
operator or the Record step wrote (validation reports unknown spec attributes, so they must be
read, not dropped). ``OpenModel`` keeps those attributes as plain Python values in ``extra``
and stores them as native DynamoDB types (maps stay maps, so the console shows fields).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import pynamodb.connection.base
from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from fleetwise_reconciler import budget
from fleetwise_reconciler.clock import isoformat

LEASE_KIND = "LEASE"
STATUS_KIND = "STATUS"
# The drift check's memory of a target that is not settled (logic/health.py, ``Watch``): a
# StatusItem of this kind, written only when what it remembers changes.
WATCH_KIND = "WATCH"

# A "raw" MapAttribute (not subclassed) serialises any JSON-like dict by value type. PynamoDB
# leaves its constructor and deserialize unannotated, hence the two ignores.
_RAW_MAP: MapAttribute[str, Any] = MapAttribute()  # type: ignore[no-untyped-call]


def to_storable(value: Any) -> Any:
    """``value`` as types DynamoDB stores natively, with ``None`` map values left out.

    Decimals (from boto3 or a stream image) become int or float, tuples lists and datetimes
    ISO 8601 UTC strings; anything else that DynamoDB cannot hold raises ``TypeError`` here,
    not halfway through a transaction.
    """
    if value is None or isinstance(value, bool | str | int | bytes):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"DynamoDB cannot store the number {value!r}")
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, Mapping):
        return {str(key): to_storable(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [to_storable(item) for item in value]
    if isinstance(value, set | frozenset):
        return {to_storable(item) for item in value}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


class OpenModel(Model):
    """A model that also keeps its undeclared attributes, as plain Python, in ``extra``."""

    extra: dict[str, Any]

    def __init__(
        self,
        hash_key: Any = None,
        range_key: Any = None,
        _user_instantiated: bool = True,
        **attributes: Any,
    ) -> None:
        super().__init__(hash_key, range_key, _user_instantiated, **attributes)
        self.extra = {}

    @classmethod
    def _declared_names(cls) -> set[str]:
        return {attribute.attr_name for attribute in cls.get_attributes().values()}

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = super().serialize(null_check=null_check)
        clash = self._declared_names() & self.extra.keys()
        if clash:
            raise ValueError(f"extra attributes shadow declared ones: {sorted(clash)}")
        values.update(_RAW_MAP.serialize(to_storable(self.extra)))
        return values

    def deserialize(self, attribute_values: dict[str, dict[str, Any]]) -> None:
        super().deserialize(attribute_values)
        self._keep_extra(attribute_values)

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Any:
        # Model.get and Model.scan build instances here, bypassing ``deserialize``.
        instance = super().from_raw_data(data)
        instance._keep_extra(data)
        return instance

    def _keep_extra(self, attribute_values: Mapping[str, dict[str, Any]]) -> None:
        declared = self._declared_names()
        undeclared = {k: v for k, v in attribute_values.items() if k not in declared}
        self.extra = cast(dict[str, Any], _RAW_MAP.deserialize(undeclared))  # type: ignore[no-untyped-call]


class SpecItem(OpenModel):
    """A spec item: ``target`` plus the operator's attributes, kept as written."""

    target = UnicodeAttribute(hash_key=True)


class LeaseItem(Model):
    """The ``kind = "LEASE"`` item of the status table: which run may act on a target."""

    target = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(range_key=True, default=LEASE_KIND)
    holder = UnicodeAttribute()
    acquired_at = UnicodeAttribute(attr_name="acquiredAt")
    # The table's TTL attribute: DynamoDB deletes a long-expired lease on its own; until it
    # does, the expiry is what lets another run take the lease over.
    expires_at = TTLAttribute(attr_name="expiresAt")
    pending = BooleanAttribute(null=True)
    # The spec version the holder is reconciling (set by Observe): what a dead run was about.
    spec_hash = UnicodeAttribute(attr_name="specHash", null=True)


class StatusItem(OpenModel):
    """The ``kind = "STATUS"`` item: the status dict of docs/workflow.md, stored as-is."""

    target = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(range_key=True, default=STATUS_KIND)


_M = TypeVar("_M", bound=Model)
_bound: dict[tuple[str, str, str | None, str | None], type[Model]] = {}
_bind_lock = threading.Lock()


def _bind(base: type[_M], table_name: str, region: str | None, host: str | None) -> type[_M]:
    if not table_name:
        raise ValueError(f"{base.__name__} needs a table name (is the table variable set?)")
    key = (base.__name__, table_name, region, host)
    with _bind_lock:
        bound = _bound.get(key)
        if bound is None:
            meta = type(
                "Meta",
                (),
                {
                    "table_name": table_name,
                    "region": region,
                    "host": host,
                    # The budget's, not PynamoDB's defaults (15 s, 30 s, 3 retries), which
                    # alone could outlast a function's timeout (budget.DYNAMODB).
                    "connect_timeout_seconds": budget.DYNAMODB.connect_timeout,
                    "read_timeout_seconds": budget.DYNAMODB.read_timeout,
                    "max_retry_attempts": budget.DYNAMODB.attempts - 1,
                },
            )
            bound = type(
                base.__name__,
                (base,),
                {
                    "Meta": meta,
                    "__module__": base.__module__,
                    "__qualname__": f"{base.__qualname__}[{table_name}]",
                },
            )
            _bound[key] = bound
    return cast(type[_M], bound)


def spec_model(
    table_name: str, region: str | None = None, host: str | None = None
) -> type[SpecItem]:
    """``SpecItem`` bound to the spec table ``table_name`` (cached per table and endpoint)."""
    return _bind(SpecItem, table_name, region, host)


def lease_model(
    table_name: str, region: str | None = None, host: str | None = None
) -> type[LeaseItem]:
    """``LeaseItem`` bound to the status table ``table_name``."""
    return _bind(LeaseItem, table_name, region, host)


def status_model(
    table_name: str, region: str | None = None, host: str | None = None
) -> type[StatusItem]:
    """``StatusItem`` bound to the status table ``table_name``."""
    return _bind(StatusItem, table_name, region, host)


def use_botocore_session(factory: Callable[[], Any]) -> None:
    """Make every PynamoDB connection build its client from the session ``factory`` returns.

    PynamoDB gives each connection a botocore session of its own, which loads botocore's
    endpoint and service data again for each table (about 100 ms per connection on a Lambda
    cold start). PynamoDB 6.1 takes that session from its module-level ``get_session``;
    pointing it at the process's shared session (one per thread, as PynamoDB's own are: a
    botocore session is not thread safe) shares that work with every other client.
    tests/unit/test_sessions.py fails loudly if a PynamoDB release moves it.
    """
    pynamodb.connection.base.get_session = factory  # type: ignore[attr-defined]


def reset_models() -> None:
    """Forget every bound model and with it its connection (the rehearsal calls this when it
    points the process at other endpoints or credentials)."""
    with _bind_lock:
        _bound.clear()

"""The spec and status tables as the operator's CLI reads and writes them.

Reads are consistent. Every write of the spec is conditional on **the item as it was read**:
each attribute read must still hold the value read, and every spec field that was absent must
still be absent (an item that did not exist must still not exist). DynamoDB has no version
attribute on an item, and adding one to the spec would make it Invalid (unknown fields are),
so the attributes themselves are the version. DynamoDB documents equality as supported for
every attribute type, maps and lists included. A writer who changed the item in between makes
the condition fail: the write is refused (``Conflict``) and nothing is written. One gap,
stated: an attribute outside the spec's fields added meanwhile is not seen (such an item is
Invalid anyway).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from fleetwise_cli.awserrors import code_of, translated
from fleetwise_cli.context import CliError, Context
from fleetwise_cli.deployment import Deployment
from fleetwise_reconciler.dal.models import LEASE_KIND, STATUS_KIND
from fleetwise_reconciler.models.spec import SPEC_FIELDS

_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


class Conflict(Exception):
    """The item changed after it was read: the conditional write was refused."""


def plain(value: Any) -> Any:
    """DynamoDB values as the Lambda's data layer reads them: integral numbers as int, others
    as float (so the spec version computed here is the workflow's)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    return value


def _item(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain(_deserializer.deserialize(v)) for k, v in raw.items()}


def _wire(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = _serializer.serialize(_wire(value))
    return serialized


@dataclass(frozen=True)
class TargetState:
    """What the tables say about one target."""

    target: str
    spec: dict[str, Any] | None
    status: dict[str, Any] | None
    lease: dict[str, Any] | None


class Tables:
    """Reads and conditional writes on one deployment's tables."""

    def __init__(self, ctx: Context, deployment: Deployment) -> None:
        self.ctx = ctx
        self.deployment = deployment
        # The spec items as last read (wire values, None: absent): each write is
        # conditional on them.
        self._read: dict[str, dict[str, Any] | None] = {}
        # The LEASE items as last read (wire values): ``delete_lease`` is conditional on them.
        self._leases: dict[str, dict[str, Any]] = {}

    @property
    def _ddb(self) -> Any:
        return self.ctx.client("dynamodb")

    @contextlib.contextmanager
    def _on(self, table: str, what: str) -> Iterator[None]:
        """AWS errors of a call on ``table`` as messages; a table that does not exist named,
        with the output of the stack it came from."""
        with translated(what, "dynamodb"):
            try:
                yield
            except ClientError as error:
                if code_of(error) != "ResourceNotFoundException":
                    raise
                output = (
                    "SpecTableName" if table == self.deployment.spec_table else "StatusTableName"
                )
                raise CliError(
                    f"{what}: table {table} (output {output} of stack "
                    f"{self.deployment.name!r}) does not exist in {self.deployment.region}: "
                    "was it deleted outside CloudFormation, or is the stack being removed? "
                    "Check the stack's status and resources in CloudFormation"
                ) from None

    # -- reading ---------------------------------------------------------------------------------

    def spec(self, target: str) -> dict[str, Any] | None:
        with self._on(self.deployment.spec_table, f"reading the spec of {target}"):
            answer = self._ddb.get_item(
                TableName=self.deployment.spec_table,
                Key={"target": {"S": target}},
                ConsistentRead=True,
            )
        raw = answer.get("Item")
        self._read[target] = raw or None
        return _item(raw) if raw else None

    def state(self, target: str) -> TargetState:
        """The spec item, the STATUS item and the LEASE item of ``target``."""
        spec = self.spec(target)
        with self._on(self.deployment.status_table, f"reading the status of {target}"):
            answer = self._ddb.query(
                TableName=self.deployment.status_table,
                KeyConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "target"},
                ExpressionAttributeValues={":t": {"S": target}},
                ConsistentRead=True,
            )
        raw = {str(i["kind"]["S"]): i for i in answer.get("Items", [])}
        if LEASE_KIND in raw:
            self._leases[target] = raw[LEASE_KIND]
        kinds = {kind: _item(item) for kind, item in raw.items()}
        return TargetState(
            target, spec, _without_keys(kinds.get(STATUS_KIND)), kinds.get(LEASE_KIND)
        )

    def states(self) -> list[TargetState]:
        """Every target with a spec item or a status, by target."""
        specs = {str(s["target"]): s for s in self._scan(self.deployment.spec_table, "the spec")}
        statuses: dict[str, dict[str, Any]] = {}
        leases: dict[str, dict[str, Any]] = {}
        for item in self._scan(self.deployment.status_table, "the status"):
            if item.get("kind") == STATUS_KIND:
                statuses[str(item["target"])] = _without_keys(item) or {}
            elif item.get("kind") == LEASE_KIND:
                leases[str(item["target"])] = item
        return [
            TargetState(t, specs.get(t), statuses.get(t), leases.get(t))
            for t in sorted(set(specs) | set(statuses))
        ]

    def _scan(self, table: str, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        with self._on(table, f"reading {what} table"):
            while True:
                page = self._ddb.scan(**kwargs)
                items.extend(_item(i) for i in page.get("Items", []))
                if not page.get("LastEvaluatedKey"):
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- conditional writes ----------------------------------------------------------------------

    def put(self, item: Mapping[str, Any]) -> None:
        """Replace the spec item with ``item``, if it is still as last read (or still absent)."""
        self._write(
            "put_item", str(item["target"]), Item={k: serialize(v) for k, v in item.items()}
        )

    def update(self, target: str, *, sets: Mapping[str, Any], removes: Sequence[str] = ()) -> None:
        """Set and remove attributes of the spec item, if it is still as last read."""
        names = {f"#u{i}": name for i, name in enumerate([*sets, *removes])}
        by_name = {name: key for key, name in names.items()}
        parts = []
        if sets:
            parts.append("SET " + ", ".join(f"{by_name[k]} = :u{by_name[k][2:]}" for k in sets))
        if removes:
            parts.append("REMOVE " + ", ".join(by_name[k] for k in removes))
        self._write(
            "update_item",
            target,
            Key={"target": {"S": target}},
            UpdateExpression=" ".join(parts),
            extra_names=names,
            extra_values={f":u{by_name[k][2:]}": serialize(v) for k, v in sets.items()},
        )

    def delete(self, target: str) -> None:
        """Delete the spec item, if it is still as last read."""
        self._write("delete_item", target, Key={"target": {"S": target}})

    def _write(
        self,
        operation: str,
        target: str,
        *,
        extra_names: Mapping[str, str] | None = None,
        extra_values: Mapping[str, Any] | None = None,
        **request: Any,
    ) -> None:
        if target not in self._read:
            raise RuntimeError(f"the spec of {target} is written only after it was read")
        condition, names, values = as_read(self._read[target])
        names.update(extra_names or {})
        values.update(extra_values or {})
        request.update(TableName=self.deployment.spec_table, ConditionExpression=condition)
        request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        with self._on(self.deployment.spec_table, f"writing the spec of {target}"):
            try:
                getattr(self._ddb, operation)(**request)
            except ClientError as error:
                if code_of(error) == "ConditionalCheckFailedException":
                    raise Conflict(target) from None
                raise

    def delete_lease(self, target: str) -> bool:
        """Delete the target's LEASE item only while it is exactly the lease last read
        (``state``): the same holder and the same expiry (each renewal moves it, so it is the
        lease's version). False: it changed meanwhile (renewed, taken over or released), and
        nothing was deleted."""
        read = self._leases.get(target)
        if read is None or "holder" not in read or "expiresAt" not in read:
            raise RuntimeError(f"the lease of {target} is deleted only after it was read")
        values = {":holder": read["holder"], ":expires": read["expiresAt"]}
        with self._on(self.deployment.status_table, f"releasing the lease of {target}"):
            try:
                self._ddb.delete_item(
                    TableName=self.deployment.status_table,
                    Key={"target": {"S": target}, "kind": {"S": LEASE_KIND}},
                    ConditionExpression="#h = :holder AND #e = :expires",
                    ExpressionAttributeNames={"#h": "holder", "#e": "expiresAt"},
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                if code_of(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True


def as_read(read: Mapping[str, Any] | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that holds only while the item is exactly as read (``read``: its wire
    attributes, None: absent): every attribute read still has its value, every spec field
    that was absent is still absent."""
    if read is None:
        return "attribute_not_exists(#c0)", {"#c0": "target"}, {}
    clauses: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for index, (name, value) in enumerate(sorted(read.items())):
        names[f"#c{index}"] = name
        values[f":c{index}"] = value
        clauses.append(f"#c{index} = :c{index}")
    absent = [field for field in SPEC_FIELDS if field not in read]
    for index, name in enumerate(absent, start=len(names)):
        names[f"#c{index}"] = name
        clauses.append(f"attribute_not_exists(#c{index})")
    return " AND ".join(clauses), names, values


def _without_keys(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("target", "kind")}


def require(state: TargetState, deployment: Deployment, known: Sequence[str]) -> None:
    """Refuse a target the stack knows nothing of (neither a spec item nor a status),
    suggesting the closest known ones rather than listing them all."""
    if state.spec is None and state.status is None:
        close = difflib.get_close_matches(state.target, known, n=3, cutoff=0.6)
        if close:
            hint = f"did you mean {' or '.join(close)}?"
        elif known:
            hint = f"it has {len(known)} target(s): fleetwise-reconciler status lists them"
        else:
            hint = "its spec table is empty"
        raise CliError(f"no target {state.target} in stack {deployment.name!r}: {hint}")

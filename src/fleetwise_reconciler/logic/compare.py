"""Does what IoT FleetWise reports match the spec? Decided only from fields the spec sets.

ASSUMPTION (undocumented service behaviour): in modern mode ``iamRegistrationResponse.roleArn``
holds whatever role the service uses (the service-linked role, as far as public tools show);
the spec sets no role in modern mode, so the role is never compared there and never counts
as drift.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetwise_reconciler.models.spec import Spec


# The largest spec item accepted, as canonical JSON (``spec_size``). Every field has a bound
# of its own (the longest valid spec is under 3,000 bytes: a 2,048-character role ARN, two
# 255-character names, a 256-character token), so 4 KiB refuses nothing valid. What it
# protects: the item travels through the workflow's state (Step Functions limits a state's
# data to 256 KiB) and into the status item (DynamoDB limits an item to 400 KB).
MAX_SPEC_BYTES = 4096

SUCCESS = "REGISTRATION_SUCCESS"
PENDING = "REGISTRATION_PENDING"
FAILURE = "REGISTRATION_FAILURE"


def _number_text(value: int | float | Decimal) -> str:
    """A DynamoDB number as one text, whichever way it was read (PynamoDB's int or float,
    boto3's Decimal): an integral one as an integer, another as a plain decimal."""
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        return str(number)
    if number == number.to_integral_value():
        return str(int(number))
    # Equivalent mutant ("F"): it differs from "f" only for NaN and infinity, handled above.
    return format(number.normalize(), "f")  # pragma: no mutate


def _member_key(value: Any) -> tuple[int, Any]:
    """The order of a set's members: numbers by value, the rest by their canonical text."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (0, Decimal(_number_text(value)))
    # Equivalent mutant (another rank above 0): only the order of the two ranks matters.
    return (1, _canonical(value))  # pragma: no mutate


def _canonical(value: Any) -> Any:
    """``value`` as JSON values that do not depend on the process: a set's members in one
    order (a set's own order follows the hash seed, which differs between Lambda's
    processes), numbers as text, binary as base64 text."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [_canonical(v) for v in sorted(value, key=_member_key)]
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return _number_text(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def _canonical_json(raw: Mapping[str, Any]) -> bytes:
    return json.dumps(_canonical(dict(raw)), sort_keys=True, separators=(",", ":")).encode()


def spec_hash(raw: Mapping[str, Any]) -> str:
    """The spec version: any edit of the item (``reconcileToken`` included) changes it."""
    return hashlib.sha256(_canonical_json(raw)).hexdigest()[:16]


def spec_size(raw: Mapping[str, Any]) -> int:
    """The item's size as canonical JSON (UTF-8 bytes): what the spec size limit measures."""
    return len(_canonical_json(raw))


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON values, for a handler's result (Lambda's runtime cannot write a
    set or bytes: ``Runtime.MarshalError``) and the status: sets as lists in the order
    ``spec_hash`` reads them, binary as base64 text, numbers as int or float."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [json_ready(v) for v in sorted(value, key=_member_key)]
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return value


def within_size_limit(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """``raw`` as JSON values (``json_ready``), or None when it is larger than
    ``MAX_SPEC_BYTES`` (such an item is Invalid, and is never carried by the workflow nor
    copied into the status)."""
    if spec_size(raw) > MAX_SPEC_BYTES:
        return None
    ready: dict[str, Any] = json_ready(raw)
    return ready


def differences(spec: Spec, observed: dict[str, Any]) -> list[str]:
    """Human-readable differences between a *registered* account and the spec."""
    found: list[str] = []
    timestream = observed.get("timestream") or {}
    has_timestream = bool(timestream.get("databaseName") or timestream.get("tableName"))
    if not spec.legacy:
        if has_timestream:
            found.append(
                "Timestream metadata is still registered (database "
                f"{timestream.get('databaseName')!r}, table {timestream.get('tableName')!r}) "
                "but the spec's mode is 'cloudwatch'"
            )
        return found
    if spec.timestream is None:  # validation guarantees it in mode 'timestream'
        raise ValueError("a 'timestream' spec without Timestream resources was not validated")
    if not has_timestream:
        found.append("no Timestream metadata is registered but the spec's mode is 'timestream'")
    else:
        if timestream.get("databaseName") != spec.timestream.databaseName:
            found.append(
                f"Timestream database is {timestream.get('databaseName')!r}, "
                f"the spec says {spec.timestream.databaseName!r}"
            )
        if timestream.get("tableName") != spec.timestream.tableName:
            found.append(
                f"Timestream table is {timestream.get('tableName')!r}, "
                f"the spec says {spec.timestream.tableName!r}"
            )
    role = (observed.get("iam") or {}).get("roleArn")
    if role != spec.iamRoleArn:
        found.append(f"IAM role is {role!r}, the spec says {spec.iamRoleArn!r}")
    return found

"""The spec version (its exact hash), the spec size limit, and the differences reported between
a registered account and its spec (docs/workflow.md, "Spec table")."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from spec_samples import ACCOUNT, LEGACY, MODERN, ROLE, SLR, TARGET

from fleetwise_reconciler.logic.compare import (
    MAX_SPEC_BYTES,
    differences,
    json_ready,
    spec_hash,
    spec_size,
    within_size_limit,
)
from fleetwise_reconciler.models.spec import Spec

# -- the spec version ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        (MODERN, "8fc92721e9266db8"),
        (LEGACY, "3d4670615b1ca425"),
        # a nested edit: only timestream.databaseName differs from LEGACY
        (
            {**LEGACY, "timestream": {"databaseName": "fleet2", "tableName": "signals"}},
            "08db4010d57169e5",
        ),
    ],
    ids=["modern", "legacy", "legacy-nested-edit"],
)
def test_the_spec_version_is_pinned(raw: dict[str, Any], version: str) -> None:
    # GIVEN a spec item WHEN hashed THEN exactly this version: a status written by an older
    # release must still be recognised as current for the same item after an upgrade
    assert spec_hash(raw) == version


def test_the_spec_version_is_the_documented_canonical_json() -> None:
    # GIVEN an item with every kind of DynamoDB value (keys out of order, a number, a boolean,
    # a null, a list, a string set, a binary, a nested map)
    raw = {
        "target": TARGET,
        "paused": True,
        "n": Decimal("1.50"),
        "i": 7,
        "none": None,
        "l": [1, "a", None],
        "ss": {"only"},
        "b": b"\x01",
        "m": {"z": 1, "a": False},
    }
    # WHEN hashed THEN it is the first 16 hex digits of the SHA-256 of the canonical JSON:
    # sorted keys, no spaces, numbers as their decimal text, binary as base64 text, a set as
    # a list of its members in order, everything else as JSON has it
    canonical = (
        b'{"b":"AQ==","i":"7","l":["1","a",null],"m":{"a":false,"z":"1"},'
        b'"n":"1.5","none":null,"paused":true,"ss":["only"],"target":"123456789012:us-east-1"}'
    )
    assert spec_hash(raw) == hashlib.sha256(canonical).hexdigest()[:16]
    assert spec_size(raw) == len(canonical)


def test_a_value_of_no_dynamodb_type_is_hashed_as_its_text() -> None:
    # GIVEN values DynamoDB never delivers (a caller's object): they are versioned by their
    # text, so two different ones are two versions and the JSON names the text
    first = {"target": TARGET, "when": datetime(2026, 1, 1, tzinfo=UTC)}
    second = {"target": TARGET, "when": datetime(2026, 1, 2, tzinfo=UTC)}
    canonical = b'{"target":"123456789012:us-east-1","when":"2026-01-01 00:00:00+00:00"}'
    assert spec_hash(first) == hashlib.sha256(canonical).hexdigest()[:16]
    assert spec_hash(first) != spec_hash(second)


def test_any_edit_is_a_new_version_and_key_order_is_not() -> None:
    assert spec_hash({"target": TARGET, "mode": "cloudwatch"}) == spec_hash(
        {"mode": "cloudwatch", "target": TARGET}
    )
    assert spec_hash(MODERN) != spec_hash({**MODERN, "reconcileToken": "x"})
    # a DynamoDB number and the string of it are one canonical value
    assert spec_hash({"target": TARGET, "n": 1}) == spec_hash({"target": TARGET, "n": "1"})


# A spec item holding sets of each kind, nested too: a set's own iteration order follows the
# process's hash seed.
SETS = {
    "target": TARGET,
    "colours": {"red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"},
    "ids": {10, 9, -3, 2.5, 100},
    "blobs": {b"\x00", b"\xff", b"\x10\x20", b"z"},
    "nested": {"m": [{"inner", "outer", "middle"}]},
}


def test_a_sets_members_are_read_in_one_order() -> None:
    # GIVEN sets WHEN made canonical THEN numbers are in order of value, strings in order of
    # text, binary values in order of their base64 text
    canonical = (
        b'{"blobs":["/w==","AA==","ECA=","eg=="],'
        b'"colours":["black","blue","cyan","green","magenta","red","white","yellow"],'
        b'"ids":["-3","2.5","9","10","100"],"nested":{"m":[["inner","middle","outer"]]},'
        b'"target":"123456789012:us-east-1"}'
    )
    assert spec_hash(SETS) == hashlib.sha256(canonical).hexdigest()[:16]


_HASH_IN_A_PROCESS = """
import json, sys
from fleetwise_reconciler.logic.compare import spec_hash
item = {
    "target": "123456789012:us-east-1",
    "colours": {"red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"},
    "ids": {10, 9, -3, 2.5, 100},
    "blobs": {b"\\x00", b"\\xff", b"\\x10\\x20", b"z"},
    "nested": {"m": [{"inner", "outer", "middle"}]},
}
print(spec_hash(item))
"""


def test_the_spec_version_is_the_same_in_every_process() -> None:
    # GIVEN processes that differ in their hash seed, as Lambda's execution environments do
    # (each Observe, Record and drift check runs in its own)
    versions = {
        subprocess.run(  # noqa: S603 - this interpreter, with the test's own code
            [sys.executable, "-c", _HASH_IN_A_PROCESS],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    # WHEN each computes the version of one item with sets THEN they all agree, with this one
    assert versions == {spec_hash(SETS)}


@pytest.mark.parametrize(
    ("read", "as_read_elsewhere"),
    [(2.5, Decimal("2.5")), (100, Decimal("100")), (100.0, Decimal("1E+2")), (0.1, "0.1")],
)
def test_a_number_is_one_version_whichever_way_it_was_read(
    read: object, as_read_elsewhere: object
) -> None:
    # PynamoDB reads a DynamoDB number as int or float, boto3 as Decimal
    assert spec_hash({"target": TARGET, "n": read}) == spec_hash(
        {"target": TARGET, "n": as_read_elsewhere}
    )


def test_json_ready_gives_what_lambdas_runtime_can_write() -> None:
    # GIVEN an item holding what Lambda's runtime refuses to serialise (sets, bytes)
    raw = {**SETS, "n": Decimal("1.25"), "i": Decimal("3"), "b": b"\x01"}
    # WHEN made JSON-ready THEN it is plain JSON, sets in the order the version reads them
    ready = json_ready(raw)
    assert json.loads(json.dumps(ready)) == {
        "target": TARGET,
        "colours": ["black", "blue", "cyan", "green", "magenta", "red", "white", "yellow"],
        "ids": [-3, 2.5, 9, 10, 100],
        "blobs": ["/w==", "AA==", "ECA=", "eg=="],
        "nested": {"m": [["inner", "middle", "outer"]]},
        "n": 1.25,
        "i": 3,
        "b": "AQ==",
    }
    # AND the JSON form is the same version as the item (the status's observedSpec and the
    # item agree)
    assert spec_hash(ready) == spec_hash(raw)


# -- the size limit --------------------------------------------------------------------------


def _item_of(size: int) -> dict[str, Any]:
    """A spec item whose canonical JSON is exactly ``size`` bytes."""
    bare = spec_size({"target": TARGET, "reconcileToken": ""})
    return {"target": TARGET, "reconcileToken": "x" * (size - bare)}


def test_the_size_limit_is_inclusive() -> None:
    # GIVEN items of exactly the limit and one byte more
    at_limit, past_limit = _item_of(MAX_SPEC_BYTES), _item_of(MAX_SPEC_BYTES + 1)
    assert (spec_size(at_limit), spec_size(past_limit)) == (4096, 4097)
    # WHEN checked THEN the first is carried as it is, the second not at all
    assert within_size_limit(at_limit) == at_limit
    assert within_size_limit(past_limit) is None


def test_the_size_counts_the_json_bytes_escapes_included() -> None:
    # GIVEN a non-ASCII value: the canonical JSON escapes it, so it counts 6 bytes
    assert spec_size({"target": "é"}) == len(b'{"target":"\\u00e9"}')


# -- differences between a registered account and the spec -----------------------------------


def spec(raw: dict[str, Any]) -> Spec:
    return Spec.from_dict(raw)


def registered(
    *, timestream: dict[str, Any] | None = None, role: str | None = SLR
) -> dict[str, Any]:
    return {
        "registered": True,
        "accountStatus": "REGISTRATION_SUCCESS",
        "iam": {"roleArn": role},
        "timestream": timestream,
    }


OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Other"


@pytest.mark.parametrize(
    ("raw", "observation", "expected"),
    [
        (MODERN, registered(), []),
        (MODERN, registered(role=OTHER_ROLE), []),
        (MODERN, registered(timestream={"databaseName": None, "tableName": None}), []),
        (
            MODERN,
            registered(timestream={"databaseName": None, "tableName": "t1"}),
            [
                "Timestream metadata is still registered (database None, table 't1') but the "
                "spec's mode is 'cloudwatch'"
            ],
        ),
        (
            MODERN,
            registered(timestream={"databaseName": "d1", "tableName": None}),
            [
                "Timestream metadata is still registered (database 'd1', table None) but the "
                "spec's mode is 'cloudwatch'"
            ],
        ),
        (
            LEGACY,
            registered(timestream={"databaseName": "fleet", "tableName": "signals"}, role=ROLE),
            [],
        ),
        (
            LEGACY,
            registered(role=ROLE),
            ["no Timestream metadata is registered but the spec's mode is 'timestream'"],
        ),
        (
            LEGACY,
            registered(timestream={"databaseName": "other", "tableName": "tab"}, role=OTHER_ROLE),
            [
                "Timestream database is 'other', the spec says 'fleet'",
                "Timestream table is 'tab', the spec says 'signals'",
                f"IAM role is '{OTHER_ROLE}', the spec says '{ROLE}'",
            ],
        ),
        (
            LEGACY,
            {"registered": True, "accountStatus": "REGISTRATION_SUCCESS", "timestream": None},
            [
                "no Timestream metadata is registered but the spec's mode is 'timestream'",
                f"IAM role is None, the spec says '{ROLE}'",
            ],
        ),
    ],
    ids=[
        "modern-in-sync",
        "modern-any-role",
        "modern-empty-timestream",
        "modern-table-left",
        "modern-database-left",
        "legacy-in-sync",
        "legacy-no-timestream",
        "legacy-everything-else",
        "legacy-nothing-reported",
    ],
)
def test_differences(raw: dict[str, Any], observation: dict[str, Any], expected: list[str]) -> None:
    # GIVEN a registered account WHEN compared with the spec THEN exactly these differences
    assert differences(spec(raw), observation) == expected


def test_a_legacy_spec_without_timestream_is_a_caller_bug() -> None:
    # GIVEN a spec that skipped validation (mode 'timestream' with no resources)
    unvalidated = Spec(target=TARGET, mode="timestream", timestream=None)
    # WHEN compared THEN it is refused loudly, never reported as a difference
    with pytest.raises(
        ValueError, match=r"^a 'timestream' spec without Timestream resources was not validated$"
    ):
        differences(unvalidated, registered())


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (Decimal("1E-7"), '"0.0000001"'),
        (1e-07, '"0.0000001"'),
        (Decimal("1.50"), '"1.5"'),
        (Decimal("1E+2"), '"100"'),
        (Decimal("Infinity"), '"Infinity"'),
        (float("nan"), '"NaN"'),
    ],
)
def test_a_number_is_one_plain_decimal_text(number: object, text: str) -> None:
    canonical = b'{"n":' + text.encode() + b',"target":"123456789012:us-east-1"}'
    assert spec_hash({"target": TARGET, "n": number}) == hashlib.sha256(canonical).hexdigest()[:16]


def test_a_set_of_numbers_and_text_puts_the_numbers_first() -> None:
    # (DynamoDB's sets hold one type; a mixed one still has one order)
    canonical = b'{"s":["2","10","a","b"],"target":"123456789012:us-east-1"}'
    assert (
        spec_hash({"target": TARGET, "s": {"b", 10, "a", 2}})
        == (hashlib.sha256(canonical).hexdigest()[:16])
    )


def test_a_whole_number_is_written_as_an_integer() -> None:
    # (a Decimal read from DynamoDB's N: 3 is written 3, not 3.0, in results and statuses)
    assert json.dumps(json_ready({"i": Decimal("3"), "n": Decimal("1.25")})) == (
        '{"i": 3, "n": 1.25}'
    )

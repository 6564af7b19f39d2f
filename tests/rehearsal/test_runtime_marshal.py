"""The rehearsal's Lambda returns a handler's result as Lambda's Python runtime serialises it:
what JSON cannot hold fails the invocation with ``Runtime.MarshalError``."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from fleetwise_rehearsal.aws.lambda_runtime import MARSHAL_ERROR, marshal


def test_a_plain_result_is_its_json() -> None:
    assert marshal({"a": [1, "x", None, True]}, "req-1") == ('{"a": [1, "x", null, true]}', None)


def test_a_decimal_is_written_as_the_number_it_holds() -> None:
    # The runtime's encoder writes a Decimal as a number (awslambdaric's marshaller)
    payload, error = marshal({"n": Decimal("2.5"), "i": Decimal("3")}, "req-1")
    assert (json.loads(payload), error) == ({"n": 2.5, "i": 3}, None)


@pytest.mark.parametrize(
    ("result", "kind"),
    [({"s": {"a"}}, "set"), ({"b": b"\x00"}, "bytes"), ({"o": object()}, "object")],
)
def test_what_json_cannot_hold_fails_with_runtime_marshal_error(result: object, kind: str) -> None:
    payload, error = marshal(result, "req-1")
    assert error == MARSHAL_ERROR == "Runtime.MarshalError"
    assert json.loads(payload) == {
        "errorMessage": (
            f"Unable to marshal response: Object of type {kind} is not JSON serializable"
        ),
        "errorType": "Runtime.MarshalError",
        "requestId": "req-1",
        "stackTrace": [],
    }

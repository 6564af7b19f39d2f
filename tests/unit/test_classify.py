"""Error classification: architecture.md section 5, row by row."""

from __future__ import annotations

import botocore.session
import pytest

from fleetwise_reconciler.logic.classify import ErrorClass, classify, is_retryable


@pytest.mark.parametrize(
    ("code", "expected", "retryable"),
    [
        ("ThrottlingException", ErrorClass.TRANSIENT, True),
        ("InternalServerException", ErrorClass.TRANSIENT, True),
        ("EndpointUnreachable", ErrorClass.TRANSIENT, True),
        ("ServiceUnavailable", ErrorClass.TRANSIENT, True),
        ("ConflictException", ErrorClass.CONFLICT, True),
        ("ResourceNotFoundException", ErrorClass.NOT_FOUND, False),
        ("ValidationException", ErrorClass.TERMINAL, False),
        ("AccessDeniedException", ErrorClass.TERMINAL, False),
        ("LimitExceededException", ErrorClass.TERMINAL, False),
        ("SomethingNewException", ErrorClass.TERMINAL, False),
        ("", ErrorClass.TERMINAL, False),
    ],
)
def test_classify(code: str, expected: ErrorClass, retryable: bool) -> None:
    assert classify(code) is expected
    assert is_retryable(code) is retryable


def test_every_error_the_registration_calls_can_raise_is_classified_on_purpose() -> None:
    # If a botocore update adds an error to these operations, this test names it so someone
    # decides its class instead of it silently falling to "terminal".
    model = botocore.session.get_session().get_service_model("iotfleetwise")
    codes = {
        shape.name
        for operation in ("RegisterAccount", "GetRegisterAccountStatus")
        for shape in model.operation_model(operation).error_shapes
    }
    assert {code: classify(code) for code in codes} == {
        "ResourceNotFoundException": ErrorClass.NOT_FOUND,
        "InternalServerException": ErrorClass.TRANSIENT,
        "ConflictException": ErrorClass.CONFLICT,
        "ThrottlingException": ErrorClass.TRANSIENT,
        "ValidationException": ErrorClass.TERMINAL,
        "AccessDeniedException": ErrorClass.TERMINAL,
    }

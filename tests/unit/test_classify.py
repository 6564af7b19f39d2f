"""Error classification: architecture.md section 5, row by row."""

from __future__ import annotations

import botocore.session
import pytest

from fleetwise_reconciler.logic import classify as classify_module
from fleetwise_reconciler.logic.classify import (
    ErrorClass,
    classify,
    is_retryable,
    refused_without_acting,
)

T, C, N, X = ErrorClass.TRANSIENT, ErrorClass.CONFLICT, ErrorClass.NOT_FOUND, ErrorClass.TERMINAL
# Every code the reconciler knows: (class, retryable, refused without acting). Written out here,
# not read from the module, so a code moved to another class is noticed.
KNOWN_CODES = {
    "ThrottlingException": (T, True, True),
    "InternalServerException": (T, True, False),
    "EndpointUnreachable": (T, True, False),
    "InternalFailure": (T, True, False),
    "ServiceUnavailable": (T, True, False),
    "ServiceUnavailableException": (T, True, False),
    "RequestTimeout": (T, True, False),
    "RequestTimeoutException": (T, True, False),
    # STS's throttling of AssumeRole (a member account's role): transient, and whether the
    # FleetWise call would have acted is not in question (none was made).
    "Throttling": (T, True, False),
    # A member role's session that ended: the next attempt assumes the role again. Counted
    # as a call that may have acted (the bound's conservative side).
    "ExpiredTokenException": (T, True, False),
    "ConflictException": (C, True, True),
    "ResourceNotFoundException": (N, False, False),
    "ValidationException": (X, False, True),
    "AccessDeniedException": (X, False, True),
}


@pytest.mark.parametrize("code", list(KNOWN_CODES))
def test_every_known_code(code: str) -> None:
    # GIVEN an error code WHEN classified THEN its class, whether asking again can succeed,
    # and whether the answer proves the request was not acted on (so it is no attempt)
    assert (classify(code), is_retryable(code), refused_without_acting(code)) == KNOWN_CODES[code]


def test_the_known_codes_are_exactly_the_classified_ones() -> None:
    # A code added to the module's table gets a row above, with its class decided on purpose.
    assert set(classify_module._BY_CODE) == set(KNOWN_CODES)
    assert {
        code for code, (_class, _retryable, refused) in KNOWN_CODES.items() if refused
    } == classify_module._REFUSED_WITHOUT_ACTING


def test_an_unknown_code_is_terminal_and_not_proof_of_refusal() -> None:
    for code in ("SomethingNewException", "LimitExceededException", ""):
        assert (classify(code), is_retryable(code), refused_without_acting(code)) == (
            X,
            False,
            False,
        )


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

"""Classify IoT FleetWise error codes (architecture.md, section 5).

Pure: takes an error code, returns what the reconciler does about it. The FleetWise adapter
turns the class into a domain error; the planner and the Record step use it to say whether a
failure will be retried.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    TRANSIENT = "Transient"
    """Retry the step, bounded and jittered (honouring ``retryAfterSeconds``)."""
    TERMINAL = "Terminal"
    """Record Failed; not retried until the spec or its ``reconcileToken`` changes (nothing
    notices a fixed permission)."""
    CONFLICT = "Conflict"
    """Another operation is in flight: re-observe and wait."""
    NOT_FOUND = "NotFound"
    """On GetRegisterAccountStatus: the account was never registered."""


# The code the adapter gives a request that never got an answer (connect or read timeout,
# connection refused or reset): the service may be fine, the network path is not.
ENDPOINT_UNREACHABLE = "EndpointUnreachable"

_BY_CODE: dict[str, ErrorClass] = {
    "ThrottlingException": ErrorClass.TRANSIENT,
    "InternalServerException": ErrorClass.TRANSIENT,
    ENDPOINT_UNREACHABLE: ErrorClass.TRANSIENT,
    # Errors every AWS API may return outside its model (the "common errors"); the SDK's own
    # standard retry mode treats them as transient too.
    "InternalFailure": ErrorClass.TRANSIENT,
    "ServiceUnavailable": ErrorClass.TRANSIENT,
    "ServiceUnavailableException": ErrorClass.TRANSIENT,
    "RequestTimeout": ErrorClass.TRANSIENT,
    "RequestTimeoutException": ErrorClass.TRANSIENT,
    # STS (AssumeRole of a member account's role) names its throttling so; a member role
    # that is missing or does not trust the caller answers AccessDenied (terminal).
    "Throttling": ErrorClass.TRANSIENT,
    # A request signed with a member role's session that has ended (every API's common
    # error, HTTP 403): the next attempt assumes the role again (member.py refreshes the
    # credentials before they lapse, so only a step slower than its margin meets it).
    "ExpiredTokenException": ErrorClass.TRANSIENT,
    "ConflictException": ErrorClass.CONFLICT,
    "ResourceNotFoundException": ErrorClass.NOT_FOUND,
    "ValidationException": ErrorClass.TERMINAL,
    "AccessDeniedException": ErrorClass.TERMINAL,
}


def classify(code: str) -> ErrorClass:
    """The class of a FleetWise error code; an unknown code is terminal.

    Treating the unknown as terminal is deliberate: retrying an error nobody understands
    multiplies calls and hides it, while a Failed status with the code in it gets a human's
    attention through the failure alarm.
    """
    return _BY_CODE.get(code, ErrorClass.TERMINAL)


def is_retryable(code: str) -> bool:
    """Whether asking again later can succeed without anyone changing anything."""
    return classify(code) in (ErrorClass.TRANSIENT, ErrorClass.CONFLICT)


# Answers that say the service did not act on the request: throttled or refused before any
# work (the request was invalid, the caller not allowed, another operation in flight). An
# internal error or no answer at all leaves it unknown whether the request was acted on.
_REFUSED_WITHOUT_ACTING = frozenset(
    {"ThrottlingException", "ValidationException", "AccessDeniedException", "ConflictException"}
)


def refused_without_acting(code: str) -> bool:
    """Whether an error answer proves the request was not acted on (so it is no attempt)."""
    return code in _REFUSED_WITHOUT_ACTING

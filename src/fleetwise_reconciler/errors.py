"""Errors that cross the Lambda/Step Functions boundary.

Step Functions matches Retry and Catch on the exception's class name, so these names are part
of the workflow's contract (statemachine/reconcile.asl.json, docs/workflow.md). The message is
a JSON object so the Record step can recover code, message and retryability from a Catch's
``Cause``.
"""

from __future__ import annotations

import json
from typing import Any


class ReconcileError(Exception):
    """Base class: carries a FleetWise or reconciler error code and a human message."""

    retryable: bool = False

    def __init__(
        self,
        code: str,
        message: str,
        *,
        operation: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.operation = operation
        self.retry_after_seconds = retry_after_seconds
        super().__init__(json.dumps(self.as_dict(), sort_keys=True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "operation": self.operation,
            "retryAfterSeconds": self.retry_after_seconds,
        }


class FleetWiseTransientError(ReconcileError):
    """Throttling or an internal error: Step Functions retries the step with backoff."""

    retryable = True


class FleetWiseThrottled(FleetWiseTransientError):
    """A transient error that says when to come back (``retryAfterSeconds``).

    A class of its own because Step Functions matches on the exact class name: the workflow
    waits for the service's own delay (a Wait with ``SecondsPath``) instead of its backoff.
    """

    # The longest wait honoured: a longer hint is clamped so one run cannot sleep for hours.
    MAX_WAIT_SECONDS = 300


class FleetWiseTerminalError(ReconcileError):
    """Validation or access denied: not retried until the spec or its token changes (a fixed
    permission alone is not noticed)."""

    retryable = False


class RegistrationPending(ReconcileError):
    """The service still reports REGISTRATION_PENDING within the budget: poll again later."""

    retryable = True


class LeaseLost(Exception):
    """The run no longer holds the target's lease: another run owns the target now.

    Raised by every step that acts (Observe, Register, Poll) when its lease check fails, and
    by the data layer's status writes. Step Functions catches it by this name and the run
    stops there, so a run that lost its lease never acts again or overwrites a newer status.
    """

    def __init__(self, target: str, holder: str, action: str) -> None:
        self.target = target
        self.holder = holder
        super().__init__(f"{holder} no longer holds the lease of {target} ({action})")


def parse_cause(cause: str | None) -> dict[str, Any]:
    """Recover the error dict from a Step Functions Catch ``Cause`` (a Lambda error payload)."""
    if not cause:
        return {}
    try:
        payload = json.loads(cause)
    except ValueError:
        return {"code": "Unknown", "message": cause, "retryable": False}
    if isinstance(payload, dict) and "errorMessage" in payload:
        try:
            inner = json.loads(payload["errorMessage"])
        except (TypeError, ValueError):
            return {
                "code": payload.get("errorType", "Unknown"),
                "message": str(payload["errorMessage"]),
                "retryable": False,
            }
        if isinstance(inner, dict):
            return inner
    return payload if isinstance(payload, dict) else {"code": "Unknown", "message": cause}

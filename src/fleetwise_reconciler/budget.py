"""The time budget: every client's timeouts and retries, and what they add up to per function.

Invariant 18: every client's timeouts and retries fit inside its function's timeout, so a
call that hangs is cut by its client (the handler fails cleanly, as a transient error the
workflow retries) before Lambda kills the function halfway through. This module is the one
place that says how long each client may take; ``fleetwise.client_config``,
``member.sts_config``, the data layer's models and ``wiring``'s clients all read it, and
tests/unit/test_budget.py adds up each function's worst case from ``CALLS`` and fails when
it reaches the function's Timeout in template.yaml.

A client's worst request (``ClientBudget.worst_seconds``): every attempt waits its connect
timeout and its read timeout, and botocore's standard retry mode sleeps before each retry at
most ``min(2 ** (i - 1), 20)`` seconds (the throttling base of 1 s; 25 ms for DynamoDB's other
errors), plus up to 5 seconds when the answer carries ``x-amz-retry-after``
(botocore/retries/standard.py, ``ExponentialBackoff``). ASSUMPTION: a read timeout bounds
each wait for the answer's bytes (the socket's timeout); an answer that trickles in a byte at a
time could take longer, which nothing but the function's timeout bounds.

Where a function loops over what it is given (the stream trigger over a batch's records, the
drift check over its targets, Observe over an account's campaigns), the loop asks a
``Deadline`` before each call whether the call's worst case still fits in the time left, and
leaves the rest to its retry (a record reported failed, a target unobserved, a transient error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

# botocore's standard retry mode: the largest sleep before a retry, and what an
# x-amz-retry-after header may add to it.
_MAX_BACKOFF_SECONDS = 20
_RETRY_AFTER_EXTRA_SECONDS = 5


@dataclass(frozen=True)
class ClientBudget:
    """How long one client's request may take: its timeouts and its attempts."""

    name: str
    connect_timeout: float
    read_timeout: float
    attempts: int

    @property
    def worst_seconds(self) -> float:
        """The longest one request can take, every attempt and backoff included."""
        backoff: float = sum(
            min(2 ** (retry - 1), _MAX_BACKOFF_SECONDS) + _RETRY_AFTER_EXTRA_SECONDS
            for retry in range(1, self.attempts)
        )
        return self.attempts * (self.connect_timeout + self.read_timeout) + backoff

    def config(self, **more: Any) -> Config:
        """A botocore Config with these timeouts and attempts (standard retry mode)."""
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
            **more,
        )


# IoT FleetWise, from the steps Step Functions retries: one attempt (the workflow's Retry owns
# retries, invariant 9). RegisterAccount creates the service-linked role, hence the read.
FLEETWISE = ClientBudget("IoT FleetWise", connect_timeout=2, read_timeout=10, attempts=1)
# STS AssumeRole of a member account's role: one attempt, for the same reason.
STS = ClientBudget("STS", connect_timeout=2, read_timeout=5, attempts=1)
# DynamoDB through PynamoDB: the workflow does not retry a data-layer error, so the SDK
# retries once (one layer), with timeouts far above DynamoDB's milliseconds.
DYNAMODB = ClientBudget("DynamoDB", connect_timeout=1, read_timeout=2, attempts=2)
# Step Functions and Lambda (StartExecution, DescribeExecution, an asynchronous Invoke):
# callers nothing retries step by step, so the SDK's standard three attempts.
CONTROL = ClientBudget("Step Functions and Lambda", connect_timeout=2, read_timeout=5, attempts=3)
# The custom resource's answer to CloudFormation (an HTTPS PUT to its pre-signed URL):
# urllib's timeout bounds the connection and each read.
CLOUDFORMATION_RESPONSE = ClientBudget(
    "CloudFormation response URL", connect_timeout=10, read_timeout=10, attempts=1
)

# Transactions a conflict (TransactionConflict: another transaction on the same item at that
# instant) cancels are tried this many times (dal/repository.py).
TRANSACTION_ATTEMPTS = 2

# The requests each function makes, at most, one after another, outside the loops a
# Deadline guards: (client, how many). Counted from the handlers' code (see each comment);
# tests/unit/test_budget.py checks the sum against the template's Timeout.
CALLS: Mapping[str, tuple[tuple[ClientBudget, int], ...]] = {
    # acquire_lease: up to 3 rounds of PutItem then UpdateItem.
    "AcquireFunction": ((DYNAMODB, 6),),
    # spec GetItem, lease UpdateItem, status GetItem; AssumeRole; GetRegisterAccountStatus.
    # (The campaign reads after it loop under a Deadline.)
    "ObserveFunction": ((DYNAMODB, 3), (STS, 1), (FLEETWISE, 1)),
    # AssumeRole; the count (one transaction, then the first-of-a-version one, each tried
    # TRANSACTION_ATTEMPTS times, then a GetItem); RegisterAccount; a refusal's transaction.
    "RegisterFunction": (
        (STS, 1),
        (DYNAMODB, 2 * TRANSACTION_ATTEMPTS + 1),
        (FLEETWISE, 1),
        (DYNAMODB, TRANSACTION_ATTEMPTS),
    ),
    # lease UpdateItem; AssumeRole; GetRegisterAccountStatus.
    "PollFunction": ((DYNAMODB, 1), (STS, 1), (FLEETWISE, 1)),
    # spec GetItem (a caught Observe error), status GetItem, the status transaction, spec
    # GetItem, the release (DeleteItem, then UpdateItem) or the loop's lease UpdateItem.
    "RecordFunction": ((DYNAMODB, 2 + TRANSACTION_ATTEMPTS + 1 + 2),),
    # DescribeExecution (an input EventBridge left out); status GetItem, lease GetItem, spec
    # GetItem; two unleased transactions; the lease DeleteItem.
    "ExecutionFailedFunction": ((CONTROL, 1), (DYNAMODB, 3 + 2 * TRANSACTION_ATTEMPTS + 1)),
    # the spec PutItem; the answer to CloudFormation.
    "DeploySpecFunction": ((DYNAMODB, 1), (CLOUDFORMATION_RESPONSE, 1)),
    # (one StartExecution per record, each under a Deadline)
    "StreamTriggerFunction": (),
    # the spec table's Scan (a page per MB of items: one up to a few thousand targets), the
    # status table's Scan for the sweep. Each batch handed out (an asynchronous Invoke), each
    # target, and each status of the sweep under a Deadline.
    "DriftCheckFunction": ((DYNAMODB, 2),),
}

# The most one iteration of a guarded loop can take: what the Deadline keeps in hand.
LOOPS: Mapping[str, tuple[tuple[ClientBudget, int], ...]] = {
    "ObserveFunction": ((FLEETWISE, 1),),  # one ListCampaigns page or one GetCampaign
    "StreamTriggerFunction": ((CONTROL, 1),),  # one record's StartExecution
    # one target: its status GetItem, its lease GetItem, its StartExecution; and an
    # observation (AssumeRole, GetRegisterAccountStatus), made in parallel with the others
    "DriftCheckFunction": ((DYNAMODB, 2), (CONTROL, 1), (STS, 1), (FLEETWISE, 1)),
}


def seconds(calls: tuple[tuple[ClientBudget, int], ...]) -> float:
    """The worst case of requests made one after another."""
    return sum(client.worst_seconds * count for client, count in calls)


def worst_case(function: str) -> float:
    """A function's worst case: its fixed requests and, for a guarded loop, one iteration
    (the last one the Deadline lets start)."""
    return seconds(CALLS[function]) + seconds(LOOPS.get(function, ()))


TIME_BUDGET_SPENT = "TimeBudgetSpent"


class TimeBudgetSpent(Exception):
    """A guarded call was not started: its worst case no longer fits in the time left."""


class Deadline:
    """How much time the invocation has left (Lambda's context), asked before each guarded
    call: a call whose worst case no longer fits is not started."""

    def __init__(self, remaining_millis: Callable[[], int] | None = None) -> None:
        self._remaining = remaining_millis

    @classmethod
    def of(cls, context: Any) -> Deadline:
        """The invocation's deadline (none for a context without a clock: tests)."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining if callable(remaining) else None)

    def allows(self, calls: tuple[tuple[ClientBudget, int], ...], *, after: float = 0) -> bool:
        """Whether ``calls``, then ``after`` seconds more, still fit in the time left."""
        if self._remaining is None:
            return True
        return self._remaining() / 1000 >= seconds(calls) + after

"""A fresh rehearsal per test: the real template, workflow and handlers on moto, the FleetWise
simulator and a virtual clock with FULL jitter pinned to half the interval (exact delays)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleetwise_rehearsal.rehearsal import Rehearsal

TARGET = "123456789012:us-east-1"
JITTER = 0.5

# The template's defaults, with FULL jitter pinned to JITTER: InitialWaitSeconds, then
# min(PollIntervalSeconds * PollBackoffRate^n, PollMaxDelaySeconds) * JITTER.
INITIAL_WAIT = 210.0


def poll_delays(count: int) -> list[float]:
    return [min(5 * 2**n, 30) * JITTER for n in range(count)]


def transient_delays(count: int) -> list[float]:
    """TransientRetryIntervalSeconds 2, rate 2, cap 60, with the pinned jitter."""
    return [min(2 * 2**n, 60) * JITTER for n in range(count)]


# With a 300 s registration: polls at 210, 212.5, 217.5, 227.5, 242.5, ... 287.5 are pending,
# the one at 302.5 sees SUCCESS.
PENDING_300_DELAYS = poll_delays(8)
PENDING_300_POLLS = 9


@pytest.fixture
def rehearse() -> Iterator[Callable[..., Rehearsal]]:
    """Start a rehearsal (template parameters as keyword ``parameters``); closed after the test.

    Tests that write the spec item themselves pass ManageDefaultTarget=false, as an operator
    who manages the table would deploy."""
    with contextlib.ExitStack() as stack:

        def start(**kwargs: Any) -> Rehearsal:
            kwargs.setdefault("jitter_fraction", JITTER)
            running = stack.enter_context(Rehearsal(**kwargs))
            assert running.sim is not None
            return running

        yield start


def operator_managed() -> dict[str, str]:
    return {"ManageDefaultTarget": "false"}

"""The ``operator`` fixture: a rehearsed stack and the CLI pointed at it (cli_support.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from cli_support import JITTER, Operator

from fleetwise_rehearsal.aws.stack_endpoint import StackEndpoint
from fleetwise_rehearsal.rehearsal import Rehearsal


def quiesce(r: Rehearsal) -> None:
    if r.clock.auto_advance:
        r.settle()
    else:
        r.run_until(None)


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Operator]]:
    """Start a rehearsal (template parameters as keywords) and point the CLI at it."""
    with contextlib.ExitStack() as stack:

        def start(**parameters: str) -> Operator:
            parameters.setdefault("ManageDefaultTarget", "false")
            r = stack.enter_context(Rehearsal(parameters, jitter_fraction=JITTER))
            endpoint = stack.enter_context(StackEndpoint(r.stack))
            # Set after the rehearsal started: before, it would take the variable for an
            # external FleetWise endpoint of its own.
            assert r.sim is not None
            monkeypatch.setenv("AWS_ENDPOINT_URL_IOTFLEETWISE", r.sim.endpoint_url)
            monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", endpoint.endpoint_url)
            # Closed last-in first-out: every run ends before the rehearsal stops, so no
            # handler still running restores its environment (these variables included)
            # after this test's environment was put back.
            stack.callback(quiesce, r)
            return Operator(r, endpoint)

        yield start

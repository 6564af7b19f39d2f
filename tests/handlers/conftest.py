"""Handler fixtures: a settable clock, FleetWise behind botocore's Stubber, fresh wiring."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from handler_fakes import T0, Clock

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.fleetwise import FleetWise


@pytest.fixture(autouse=True)
def fresh_wiring() -> Iterator[None]:
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def now() -> Iterator[Clock]:
    fake = Clock(T0)
    clock.set_source(fake)
    yield fake
    clock.set_source(None)


@pytest.fixture
def stubbed() -> Iterator[tuple[FleetWise, Stubber]]:
    """A real iotfleetwise client whose requests Stubber checks against the service model."""
    client = boto3.client(
        "iotfleetwise",
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    with Stubber(client) as stubber:
        yield FleetWise(client), stubber
        stubber.assert_no_pending_responses()

"""Handler fixtures: a settable clock, FleetWise behind botocore's Stubber, fresh wiring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture
def state_machine(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A do-nothing state machine in moto; STATE_MACHINE_ARN points the handlers at it."""
    client = boto3.client("stepfunctions", region_name="us-east-1")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn = client.create_state_machine(
        name="Reconcile", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    return client, arn

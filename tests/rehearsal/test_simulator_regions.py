"""The simulator keeps its state per account and Region, as IoT FleetWise does: a call made in
the wrong Region or with another account's credentials sees (and changes) another state."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from fleetwise_rehearsal.fleetwise import Campaign, FleetWiseSimulator, Outcome

START = 1_767_225_600.0
HOME = "123456789012"
OTHER = "210987654321"
KEYS = {"AKIDHOME": HOME, "AKIDOTHER": OTHER}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[FleetWiseSimulator]:
    tags = iter(["first", "second", "third", "fourth", "fifth", "sixth"])
    with FleetWiseSimulator(
        clock=clock,
        account_id=HOME,
        region="us-east-1",
        account_for_access_key=KEYS.__getitem__,
        tagger=lambda: next(tags),
    ) as simulator:
        yield simulator
        assert simulator.model_violations == []


def client(sim: FleetWiseSimulator, region: str, key: str = "AKIDHOME") -> BaseClient:
    return boto3.client(
        "iotfleetwise",
        endpoint_url=sim.endpoint_url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def not_registered(api: BaseClient) -> bool:
    try:
        api.get_register_account_status()
    except ClientError as error:
        return error.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def test_a_registration_in_one_region_is_not_seen_in_another(
    sim: FleetWiseSimulator, clock: Clock
) -> None:
    east, central = client(sim, "us-east-1"), client(sim, "eu-central-1")
    sim.script_registrations([Outcome(pending_seconds=0)], region="eu-central-1")
    central.register_account()
    clock.now += 1
    status = central.get_register_account_status()
    assert (status["customerAccountId"], status["accountStatus"]) == (
        HOME,
        "REGISTRATION_SUCCESS",
    )
    assert not_registered(east)
    # the calls name the Region they were signed for, the account and the tag
    assert [(c.operation, c.region, c.account, c.tag) for c in sim.calls()] == [
        ("RegisterAccount", "eu-central-1", HOME, "first"),
        ("GetRegisterAccountStatus", "eu-central-1", HOME, "second"),
        ("GetRegisterAccountStatus", "us-east-1", HOME, "third"),
    ]
    assert sim.count("GetRegisterAccountStatus", region="us-east-1") == 1
    assert sim.count("RegisterAccount", region="us-east-1") == 0
    assert sim.count("RegisterAccount", region="eu-central-1", account=HOME) == 1


def test_scripting_defaults_to_the_home_account_and_region(sim: FleetWiseSimulator) -> None:
    sim.set_account_status("REGISTRATION_SUCCESS")
    sim.set_account_status("REGISTRATION_FAILURE", region="eu-central-1")
    east = client(sim, "us-east-1").get_register_account_status()
    central = client(sim, "eu-central-1").get_register_account_status()
    assert (east["accountStatus"], central["accountStatus"]) == (
        "REGISTRATION_SUCCESS",
        "REGISTRATION_FAILURE",
    )
    assert not_registered(client(sim, "us-east-1", key="AKIDOTHER"))


def test_another_account_has_its_own_state_ids_and_arns(sim: FleetWiseSimulator) -> None:
    sim.attach_timestream("fleet", "signals", f"arn:aws:iam::{OTHER}:role/R", account=OTHER)
    sim.set_campaigns([Campaign(name="c1")], account=OTHER, region="eu-central-1")
    other_east = client(sim, "us-east-1", key="AKIDOTHER").get_register_account_status()
    assert other_east["customerAccountId"] == OTHER
    assert other_east["timestreamRegistrationResponse"]["timestreamDatabaseArn"] == (
        f"arn:aws:timestream:us-east-1:{OTHER}:database/fleet"
    )
    listed = client(sim, "eu-central-1", key="AKIDOTHER").list_campaigns()
    assert [c["arn"] for c in listed["campaignSummaries"]] == [
        f"arn:aws:iotfleetwise:eu-central-1:{OTHER}:campaign/c1"
    ]
    assert client(sim, "eu-central-1").list_campaigns()["campaignSummaries"] == []
    assert not_registered(client(sim, "us-east-1"))


def test_faults_and_role_deletion_apply_to_their_region_only(sim: FleetWiseSimulator) -> None:
    sim.set_account_status("REGISTRATION_SUCCESS")
    sim.set_account_status("REGISTRATION_SUCCESS", region="eu-central-1")
    sim.fail_next(None, "ThrottlingException", retry_after=3, region="eu-central-1")
    sim.delete_service_linked_role(region="eu-central-1")
    east = client(sim, "us-east-1").get_register_account_status()
    assert east["accountStatus"] == "REGISTRATION_SUCCESS"
    central = client(sim, "eu-central-1")
    with pytest.raises(ClientError) as throttled:
        central.get_register_account_status()
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert central.get_register_account_status()["accountStatus"] == "REGISTRATION_FAILURE"
    sim.forget_registration(region="eu-central-1")
    assert not_registered(central)
    assert client(sim, "us-east-1").get_register_account_status()["accountStatus"] == (
        "REGISTRATION_SUCCESS"
    )


def test_forget_returns_to_a_fresh_simulator(sim: FleetWiseSimulator) -> None:
    sim.set_account_status("REGISTRATION_SUCCESS")
    sim.script_registrations([Outcome(pending_seconds=1)])
    client(sim, "us-east-1").get_register_account_status()
    sim.forget()
    assert sim.calls() == []
    assert not_registered(client(sim, "us-east-1"))

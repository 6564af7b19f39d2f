"""The wiring's own decisions: the partition of a Region, what a spec is validated against,
the Region of a target's port."""

from __future__ import annotations

from typing import Any

import pytest

from fleetwise_reconciler import wiring
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.logic.validate import ValidationContext
from fleetwise_reconciler.settings import Settings


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-east-1", "aws"),
        ("eu-central-1", "aws"),
        # only the prefix names the partition
        ("ap-south-1", "aws"),
    ],
)
def test_the_partition_of_a_region(region: str, partition: str) -> None:
    assert wiring.partition(region) == partition


def test_a_spec_is_validated_against_what_the_given_settings_allow() -> None:
    # GIVEN a stack's settings in the China partition, with its member accounts listed
    settings = Settings(
        account_id="123456789012",
        region="cn-north-1",
        allowed_pass_role_arns=("arn:aws-cn:iam::123456789012:role/fleet-*",),
        served_regions=("cn-north-1",),
        member_account_ids=("210987654321",),
        member_accounts_path="/fleetwise-reconciler/hub/member-accounts",
        member_organization_id="o-abc123defg",
    )
    # WHEN the CLI asks what a spec is validated against THEN every field comes from them
    assert wiring.validation_context(settings) == ValidationContext(
        account_id="123456789012",
        partition="aws-cn",
        served_regions=("cn-north-1",),
        allowed_role_patterns=("arn:aws-cn:iam::123456789012:role/fleet-*",),
        member_account_ids=("210987654321",),
        member_accounts_path="/fleetwise-reconciler/hub/member-accounts",
        member_organization_id="o-abc123defg",
    )


class Regions:
    """A port factory that records the Region each port was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, region: str) -> FleetWise:
        self.asked.append(region)
        return FleetWise(client=object())


def test_a_targets_port_is_asked_for_in_the_targets_region() -> None:
    regions = Regions()

    wiring.fleetwise_for("123456789012:eu-central-1", "run-1", regions)
    wiring.fleetwise_in("ap-south-1", regions)

    assert regions.asked == ["eu-central-1", "ap-south-1"]


def test_the_process_port_of_a_region_is_made_in_that_region(monkeypatch: Any) -> None:
    made: list[str] = []
    monkeypatch.setattr(wiring, "fleetwise", lambda region: made.append(region) or region)

    assert wiring.fleetwise_in("eu-central-1") == "eu-central-1"
    assert made == ["eu-central-1"]

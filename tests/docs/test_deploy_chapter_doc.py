"""docs/deploy.md's claims about the first deploy, adding targets and upgrading, against the
template, the deploy's custom resource and the validator."""

from __future__ import annotations

import re
from typing import Any

from doc_support import TARGET, flat, read, section

from fleetwise_reconciler.handlers.deploy_spec import SPEC_PROPERTIES
from fleetwise_reconciler.logic.validate import ValidationContext, validate

DEPLOY = read("docs/deploy.md")
FIRST = flat(section(DEPLOY, "## First deploy"))
TARGETS = flat(section(DEPLOY, "## Add a target"))
UPGRADE = flat(section(DEPLOY, "## Upgrade"))
ACCOUNT = TARGET.split(":")[0]


def default(template: dict[str, Any], name: str) -> int:
    return int(template["Parameters"][name]["Default"])


def test_the_health_alarms_treat_missing_data_as_the_chapter_says(
    template: dict[str, Any],
) -> None:
    alarms = template["Resources"]
    assert alarms["DriftCheckSilentAlarm"]["Properties"]["TreatMissingData"] == "breaching"
    assert alarms["RegistrationUnhealthyAlarm"]["Properties"]["TreatMissingData"] == (
        "notBreaching"
    )
    assert "That alarm treats missing data as breaching" in FIRST
    assert "`RegistrationUnhealthy` treats missing data as not breaching" in FIRST
    first_check = default(template, "DriftCheckRateMinutes") + default(
        template, "DriftCheckWindowMinutes"
    )
    assert f"{first_check} minutes with the defaults" in FIRST


def test_the_alarm_email_needs_confirming(template: dict[str, Any]) -> None:
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Properties"]["Protocol"] == "email"
    assert "Confirm the alarm e-mail." in FIRST


def test_the_deploy_writes_the_default_target_before_the_first_check(
    template: dict[str, Any],
) -> None:
    spec = template["Resources"]["DefaultTargetSpec"]
    assert spec["Condition"] == "ManageDefaultTargetCondition"
    assert spec["DependsOn"] == "SpecStreamEventSourceMapping"
    assert "Unless `ManageDefaultTarget` is `false`, the deploy writes the spec item" in FIRST


def test_the_parameters_whose_change_rewrites_the_item_are_the_custom_resources(
    template: dict[str, Any],
) -> None:
    properties = template["Resources"]["DefaultTargetSpec"]["Properties"]
    assert set(SPEC_PROPERTIES) <= set(properties)
    named = {"TargetMode", "TargetPolicy", "TargetPaused"}
    refs = {
        key: value["Ref"]
        for key, value in properties.items()
        if isinstance(value, dict) and "Ref" in value
    }
    assert {refs["Mode"], refs["Policy"], refs["Paused"]} == named
    said = re.search(r"when one of its parameters \(([^)]*)\) changes", UPGRADE)
    assert said is not None
    assert set(re.findall(r"`(\w+)`", said.group(1))) == named
    assert "the Timestream ones" in said.group(1)


def test_another_accounts_item_is_invalid_with_the_quoted_message() -> None:
    quoted = re.search(r"Such an item is `Invalid` \(`([^`]+)`\)", TARGETS)
    assert quoted is not None
    result = validate({"target": "210987654321:us-east-1"}, ValidationContext(ACCOUNT))
    assert not result.valid
    assert quoted.group(1) in result.message


def test_the_example_target_of_another_region_is_valid() -> None:
    (item,) = re.findall(r"--item '(\{.*?\})'", DEPLOY)
    target = re.search(r'"target": \{"S": "([^"]+)"\}', item)
    assert target is not None
    assert target.group(1) == f"{ACCOUNT}:eu-central-1"
    result = validate({"target": target.group(1), "mode": "cloudwatch"}, ValidationContext(ACCOUNT))
    assert result.valid, result.message

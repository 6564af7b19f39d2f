"""What the README and docs/deploy.md say about removing the stack, against the template and
samconfig.toml: which stack each `sam delete` removes, why deletion protection fails the
deletion rather than keeping the tables, what an update keeps, the topic key's waiting period."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from doc_support import flat, read, section

README = flat(section(read("README.md"), "## Clean up"))
DEPLOY = read("docs/deploy.md")
REMOVE = flat(section(DEPLOY, "## Remove the stack"))
UPGRADE = flat(section(DEPLOY, "## Upgrade"))
SAMCONFIG = tomllib.loads(read("samconfig.toml"))
TABLES = ("SpecTable", "StatusTable")


def overrides(environment: str) -> dict[str, str]:
    text = SAMCONFIG[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    return dict(pair.split("=", 1) for pair in text.split())


@pytest.mark.parametrize("text", [README, REMOVE], ids=["README", "deploy.md"])
def test_each_sam_delete_names_the_stack_of_its_environment(text: str) -> None:
    for environment, flag in (("default", ""), ("prod", " --config-env prod")):
        stack = SAMCONFIG[environment]["global"]["parameters"]["stack_name"]
        assert re.search(rf"sam delete{flag} # the \w+ stack, {stack}\b", text), environment
    assert "Without `--config-env prod`, `sam delete` deletes the default stack only" in README
    assert "`sam delete` without `--config-env prod` deletes the default stack only" in REMOVE


def test_protected_tables_fail_the_deletion_as_documented(template: dict[str, Any]) -> None:
    # the protection follows the parameter, prod turns it on, and the deletion policy stays
    # Delete: CloudFormation's DeleteTable is refused, so the stack deletion fails
    assert overrides("prod")["TableDeletionProtection"] == "true"
    assert "TableDeletionProtection" not in overrides("default")
    assert template["Parameters"]["TableDeletionProtection"]["Default"] == "false"
    for name in TABLES:
        table = template["Resources"][name]
        assert table["DeletionPolicy"] == "Delete"
        assert table["Properties"]["DeletionProtectionEnabled"] == {
            "Fn::If": ["ProtectTables", True, False]
        }
    assert template["Conditions"]["ProtectTables"] == {
        "Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]
    }
    for text in (README, REMOVE):
        assert "deletion policy is `Delete`" in text
        assert "`DELETE_FAILED`" in text
    assert f"--retain-resources {' '.join(TABLES)}" in REMOVE
    assert "--parameter-overrides TableDeletionProtection=false" in REMOVE


def test_an_update_never_deletes_the_tables_data(template: dict[str, Any]) -> None:
    for name in TABLES:
        assert template["Resources"][name]["UpdateReplacePolicy"] == "Retain"
    assert "`UpdateReplacePolicy: Retain` keeps the old tables" in UPGRADE


def test_the_topic_keys_waiting_period_is_the_templates(template: dict[str, Any]) -> None:
    key = template["Resources"]["AlarmTopicKey"]
    days = key["Properties"]["PendingWindowInDays"]
    assert key["DeletionPolicy"] == "Delete"
    assert f"{days}-day waiting period" in REMOVE
    assert f"waits {days} days before its deletion" in README


def test_every_queue_the_chapter_warns_about_is_deleted_with_the_stack(
    template: dict[str, Any],
) -> None:
    queues = {
        name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"
    }
    assert set(queues) == {
        "OnFailureQueue",
        "ExecutionEventsDeadLetterQueue",
        "DriftCheckFailureQueue",
    }
    assert all(q["DeletionPolicy"] == "Delete" for q in queues.values())
    assert "(on-failure, dead-letter, drift check failures) are deleted with their messages" in (
        REMOVE
    )

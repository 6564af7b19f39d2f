"""The operator-facing claims of the README, docs/, SECURITY.md and the member template, each
held to the code, the templates or botocore's models that make it true."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from doc_support import ROOT, flat, read, section

from fleetwise_cli.config import resolve
from fleetwise_cli.main import EXAMPLES, HANDLERS, build_parser, subparser
from fleetwise_reconciler.logic.plan import AWAITING_ADOPTION
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.member import CACHE_LIMIT
from fleetwise_reconciler.models.spec import ON_EXISTING
from lean_botocore import SERVICES

README = read("README.md")
SECURITY = read("SECURITY.md")
CLI = read("docs/cli.md")
FLEET = read("docs/fleet.md")
RUNBOOK = read("docs/runbook.md")
HUB, MEMBER = "123456789012", "210987654321"
NUMBERS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short intrinsics (!Ref, !If, ...) as plain data."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)


def template(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(read(path), Loader=_Loader)  # noqa: S506 - SafeLoader
    return loaded


def actions(value: Any) -> set[str]:
    """Every IAM action named under an ``Action`` key."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Action":
                found |= {a for a in (inner if isinstance(inner, list) else [inner]) if ":" in a}
            else:
                found |= actions(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= actions(inner)
    return found


# -- 1. the Region variable ---------------------------------------------------------------------


def test_aws_region_is_read_and_wins_over_aws_default_region() -> None:
    # GIVEN both variables, as a shell may have them
    environ = {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "us-east-1"}
    where, session = resolve(stack=None, region=None, profile=None, config=None, environ=environ)
    # THEN AWS_REGION wins, as the docs say, and the session is built in it
    assert (where.region, where.region_source, session.region_name) == (
        "eu-central-1",
        "AWS_REGION",
        "eu-central-1",
    )
    assert resolve(stack=None, region="ap-south-1", profile=None, config=None, environ=environ)[
        0
    ].region == ("ap-south-1")


@pytest.mark.parametrize(
    ("document", "opening"),
    [
        ("README.md", "in the Region found as the AWS CLI finds it"),
        ("docs/cli.md", "**The Region**"),
    ],
)
def test_the_documented_region_order_is_the_resolvers(document: str, opening: str) -> None:
    text = flat(read(document))
    start = text.index(opening)
    order = ["`--region`", "`region`", "`AWS_REGION`", "`AWS_DEFAULT_REGION`", "profile's"]
    where = [text.find(word, start) for word in order]
    assert -1 not in where and where == sorted(where), (document, where)
    assert where[-1] - start < 400, "the order is one sentence"


# -- 2. every --help has an example ---------------------------------------------------------------


def test_every_command_has_an_example_in_its_help() -> None:
    parser = build_parser()
    for command in [*HANDLERS, "completion", "demo"]:
        helped = subparser(parser, command).format_help()
        assert f"example:\n  {EXAMPLES[command].splitlines()[0]}" in helped, command


# -- 3. AllowedPassRoleArns' default: the roles of the target's own account -----------------------


def test_allowed_pass_role_arns_default_is_the_targets_own_account() -> None:
    context = ValidationContext(account_id=HUB, member_account_ids=(MEMBER,))

    def legacy(account: str, role_account: str) -> bool:
        return validate(
            {
                "target": f"{account}:eu-central-1",
                "mode": "timestream",
                "timestream": {"databaseName": "fleet", "tableName": "signals"},
                "iamRoleArn": f"arn:aws:iam::{role_account}:role/FleetWiseTimestream",
            },
            context,
        ).valid

    assert legacy(MEMBER, MEMBER) and legacy(HUB, HUB)
    assert not legacy(MEMBER, HUB)
    row = next(line for line in README.splitlines() if line.startswith("| `AllowedPassRoleArns`"))
    assert "the target's own account" in row
    assert "the stack account" not in row
    assert "any role of the target's own account" in template("template.yaml")["Parameters"][
        "AllowedPassRoleArns"
    ]["Description"].replace("\n", " ")


# -- 4. "this stack's account": or a member's --------------------------------------------------


def test_the_target_row_names_member_accounts_as_validation_does() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `target` |"))
    assert "`MemberAccountIds`" in row
    context = ValidationContext(account_id=HUB, member_account_ids=(MEMBER,))
    assert validate({"target": f"{MEMBER}:eu-central-1"}, context).valid


# -- 5. the operator's permissions for member targets ---------------------------------------------


def test_the_readme_names_what_the_operator_needs_for_a_member_target() -> None:
    operate = flat(section(README, "## Operate"))
    paragraph = operate[operate.index("The operator needs") :]
    assert "`sts:AssumeRole`" in paragraph
    assert "`OperatorPrincipalArns`" in paragraph
    assert "RegisterAccount" in paragraph  # what that trust also allows


# -- 6. five services ----------------------------------------------------------------------------


def test_the_layer_keeps_as_many_services_as_the_readme_says() -> None:
    said = re.search(r"models of the (\w+) services the functions call", flat(README))
    assert said is not None
    assert said.group(1) == NUMBERS[len(SERVICES)]


# -- 7, 8. SECURITY.md: the accounts it acts on, and every grant ----------------------------------


def test_security_tells_the_multi_account_story() -> None:
    text = flat(SECURITY)
    assert "`MemberAccountIds`" in text
    assert "member/template.yaml" in text
    assert "no cross-account trust" not in text
    assert "this account's IoT FleetWise registration in this Region" not in text


def test_security_names_every_role_and_every_action_the_template_grants() -> None:
    resources = template("template.yaml")["Resources"]
    granted: dict[str, set[str]] = {}
    for name, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::IAM::Role":
            granted.setdefault(name, set()).update(actions(properties.get("Policies")))
        elif resource["Type"] == "AWS::IAM::RolePolicy":
            granted.setdefault(properties["RoleName"], set()).update(
                actions(properties.get("PolicyDocument"))
            )
    assert granted
    for role, names in granted.items():
        assert f"`{role}`" in SECURITY, role
        for action in names:
            assert f"`{action}`" in SECURITY, (role, action)


# -- 9, 10. the member template: who it trusts, and what they get --------------------------------


def test_operator_principal_arns_is_said_to_give_every_grant_of_the_member_role() -> None:
    member = template("member/template.yaml")
    writes = {
        a.split(":")[1]
        for a in actions(member["Resources"]["MemberRole"]["Properties"]["Policies"])
        if a.split(":")[1] in ("RegisterAccount", "PassRole")
    }
    assert writes == {"RegisterAccount", "PassRole"}
    description = flat(member["Parameters"]["OperatorPrincipalArns"]["Description"])
    fleet_row = next(
        line for line in FLEET.splitlines() if line.strip().startswith("| `OperatorPrincipalArns`")
    )
    for text in (description, fleet_row, flat(SECURITY)):
        assert all(write in text for write in writes), text


def test_the_hub_stack_name_description_says_operators_may_be_trusted_too() -> None:
    member = template("member/template.yaml")
    description = flat(member["Parameters"]["HubStackName"]["Description"])
    assert "OperatorPrincipalArns" in description
    assert "Only the hub's roles" not in description


# -- 11. no dangling reference -------------------------------------------------------------------


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


DOCUMENTS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_every_link_and_section_reference_resolves(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
        if target.startswith("http"):
            continue
        linked = (path.parent / target).resolve() if target else path
        assert linked.exists(), (path.name, target)
        if anchor:
            assert anchor in _anchors(linked), (path.name, target, anchor)
    # a part of the README named in words, (README, "Name") or README's *Name*: a heading, a
    # bold lead-in or the start of a line there
    headings = re.findall(r"^#+ (.+)$", README, re.M)
    for name in re.findall(r"README(?:'s|,|:) [\"*]([^\"*]+)[\"*]", flat(text)):
        found = (
            name in headings
            or f"**{name}" in README
            or re.search(rf"^{re.escape(name)}", README, re.M) is not None
        )
        assert found, (path.name, name)


# -- 12. AssumeRole per tick -------------------------------------------------------------------


def test_the_assume_role_count_per_tick_says_when_it_is_more() -> None:
    text = flat(section(FLEET, "## At run time"))
    assert "at least one per drift tick and member account" in text
    assert f"past {CACHE_LIMIT}" in text


# -- 13. the quick start's network -------------------------------------------------------------


def test_the_quick_start_says_it_downloads_once() -> None:
    quick = flat(section(README, "## Quick start (no AWS account needed)"))
    assert "PyPI" in quick and "needs the network once" in quick
    assert "offline" not in re.findall(r"^## Quick start.*$", README, re.M)[0]


# -- the new sections --------------------------------------------------------------------------


def test_the_adoption_section_names_the_codes_reason_values_and_commands() -> None:
    text = flat(section(RUNBOOK, "### Adopting an existing registration"))
    assert f"`{AWAITING_ADOPTION}`" in text
    assert "`onExisting: replace`" in text and set(ON_EXISTING) == {"keep", "replace"}
    adopt = subparser(build_parser(), "adopt")
    assert "--replace" in adopt.format_help()
    assert "fleetwise-reconciler adopt TARGET --replace" in text


def test_the_maintenance_section_uses_options_the_cli_has() -> None:
    text = flat(section(RUNBOOK, "### Pausing everything for maintenance"))
    pause = subparser(build_parser(), "pause").format_help()
    for option in re.findall(r"(--[a-z-]+)", text):
        assert option in pause, option


def test_the_aws_commands_and_options_named_in_prose_exist() -> None:
    # (the runnable ```sh blocks are replayed by test_raw_commands_doc.py; these are named in
    # sentences)
    session = botocore.session.get_session()
    stacksets = session.get_service_model("cloudformation")
    create = stacksets.operation_model("CreateStackSet")
    assert "DELEGATED_ADMIN" in create.input_shape.members["CallAs"].enum
    for operation in ("ActivateOrganizationsAccess", "ContinueUpdateRollback"):
        assert operation in stacksets.operation_names
    assert "StopExecution" in session.get_service_model("stepfunctions").operation_names
    text = flat(FLEET) + flat(read("docs/deploy.md")) + flat(RUNBOOK)
    for command in (
        "activate-organizations-access",
        "continue-update-rollback",
        "--call-as DELEGATED_ADMIN",
        "stop-execution",
    ):
        assert command in text, command


def test_the_endpoint_variables_named_are_the_sdks_for_the_services_the_cli_calls() -> None:
    session = botocore.session.get_session()
    ids = {
        session.get_service_model(name).service_id.upper().replace(" ", "_")
        for name in ("cloudformation", "dynamodb", "stepfunctions", "iotfleetwise", "sts")
    }
    endpoints = flat(CLI)[flat(CLI).index("**The endpoints**") :]
    listed = endpoints[endpoints.index("The CLI calls") : endpoints.index("(the service part")]
    assert set(re.findall(r"`([A-Z_]+)`", listed)) == ids
    assert "`AWS_ENDPOINT_URL_SFN`" in endpoints

"""docs/fleet.md and every other page on which template is a StackSet: only the member
template can be (StackSets refuse templates with transforms, and the hub's carries SAM's), from
the organisation's management account or a delegated administrator; the hub is deployed with
`sam deploy` in the hub account."""

from __future__ import annotations

from doc_support import ROOT, flat, read, section

from fleetwise_rehearsal.aws.template import load_template

PAGES = ["README.md", "SECURITY.md", *sorted(p.relative_to(ROOT).as_posix()
                                              for p in (ROOT / "docs").glob("*.md"))]  # fmt: skip


def test_only_the_member_template_can_be_a_stackset() -> None:
    # StackSets do not support macros, transforms included (CloudFormation quotas page)
    assert load_template(ROOT / "template.yaml")["Transform"] == "AWS::Serverless-2016-10-31"
    assert "Transform" not in load_template(ROOT / "member" / "template.yaml")


def test_the_fleet_page_says_which_template_is_deployed_how_and_from_where() -> None:
    deploying = flat(section(read("docs/fleet.md"), "## Deploying"))
    assert (
        "the hub (`template.yaml`) is a SAM template, deployed with `sam deploy` as one stack "
        "in the hub account"
    ) in deploying
    assert "the member role (`member/template.yaml`, plain CloudFormation) is the StackSet" in (
        deploying
    )
    assert "from the organization's **management account**" in deploying
    assert "**delegated administrator**" in deploying
    assert "--call-as DELEGATED_ADMIN" in deploying
    assert "--permission-model SERVICE_MANAGED" in deploying
    assert "--template-body file://member/template.yaml" in deploying


def test_no_page_makes_the_hub_template_a_stackset() -> None:
    # A line that names StackSets and the hub's template says how the hub is deployed instead
    mentions = 0
    for page in PAGES:
        for line in read(page).splitlines():
            if "StackSet" not in line:
                continue
            mentions += 1
            hub = line.replace("member/template.yaml", "")
            assert "template.yaml" not in hub or "sam deploy" in line or "transform" in line, (
                f"{page}: {line}"
            )
    assert mentions >= 5

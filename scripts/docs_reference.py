"""`make docs`: the documentation generated from the template, so it cannot drift from it.

- docs/parameters.md: every template parameter, grouped as the template's
  AWS::CloudFormation::Interface groups them, with its default, allowed values and description.
- docs/deployer-policy/*.json: the IAM policies for `sam deploy` and `sam delete` of this stack,
  in two documents because a managed policy holds at most 6,144 characters. The actions on the
  stack's resources are those the CloudFormation registry schema of each resource type in the
  translated template lists for its create, read, update and delete handlers (the schemas
  cfn-lint ships); the SAM CLI's own calls are listed below.
- docs/cost.md: the stack's fixed monthly parts, from AWS's prices as
  ``fleetwise_rehearsal.fleet.prices`` records them (with the day they were read) and the template.
- docs/limits.md: every AWS quota the stack touches with its usage at the largest supported
  configuration, as ``fleetwise_rehearsal.fleet.quotas`` computes it from the template.

Usage: python scripts/docs_reference.py [--check]

Writes the files; with --check writes nothing and exits 1 when one is stale (the tests under
tests/docs/ make the same comparison).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cfnlint  # type: ignore[import-untyped]

from fleetwise_reconciler import member
from fleetwise_rehearsal.aws.template import load_template, translate
from fleetwise_rehearsal.fleet import quotas
from fleetwise_rehearsal.fleet.prices import PRICES, READ_ON, REGION, fixed_parts

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
GENERATED = "<!-- Generated from template.yaml by `make docs`: edit the template, not this. -->"


def _cell(text: str) -> str:
    """One Markdown table cell: one line, pipes escaped (also inside code spans)."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def _default(spec: Mapping[str, Any]) -> str:
    if "Default" not in spec:
        return "(required)"
    value = spec["Default"]
    return "(empty)" if value in ("", None) else f"`{value}`"


def _allowed(spec: Mapping[str, Any]) -> str:
    if "AllowedValues" in spec:
        return ", ".join(f"`{value}`" for value in spec["AllowedValues"])
    if "MinValue" in spec or "MaxValue" in spec:
        return f"{spec.get('MinValue', '')} to {spec.get('MaxValue', '')}".strip()
    if "AllowedPattern" in spec:
        return f"`{spec['AllowedPattern']}`"
    if spec.get("Type") == "CommaDelimitedList":
        return "comma-separated list"
    return "any"


def parameters_markdown(template: Mapping[str, Any]) -> str:
    """docs/parameters.md: every parameter, in the template's groups and order."""
    parameters: Mapping[str, Mapping[str, Any]] = template["Parameters"]
    interface = (template.get("Metadata") or {}).get("AWS::CloudFormation::Interface") or {}
    groups = [
        (str(group["Label"]["default"]), list(group["Parameters"]))
        for group in interface.get("ParameterGroups") or []
    ]
    grouped = {name for _, names in groups for name in names}
    rest = [name for name in parameters if name not in grouped]
    if rest:
        groups.append(("Other", rest))
    lines = [
        "# Template parameters",
        "",
        GENERATED,
        "",
        "Every parameter of `template.yaml`, as `sam deploy --guided` asks for them. Set them with",
        "`sam deploy --parameter-overrides Name=Value ...` or in `samconfig.toml` (the `prod`",
        "environment overrides several: see its `parameter_overrides`).",
    ]
    for label, names in groups:
        lines += ["", f"## {label}", "", "| parameter | default | allowed | description |"]
        lines.append("|---|---|---|---|")
        for name in names:
            spec = parameters[name]
            lines.append(
                f"| `{name}` | {_cell(_default(spec))} | {_cell(_allowed(spec))} | "
                f"{_cell(str(spec.get('Description', '')))} |"
            )
    return "\n".join(lines) + "\n"


# -- the deployer's policy ---------------------------------------------------------------------

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
HANDLERS = ("create", "read", "update", "delete")
# The stack names of samconfig.toml ("fleetwise-reconciler", "fleetwise-reconciler-prod"):
# CloudFormation names the roles it creates "<stack name>-<logical id>-<suffix>".
STACK_PREFIX = "fleetwise-reconciler"
# The services the stack's roles are passed to (Lambda functions, the state machine, the
# drift schedule).
PASSED_TO = ("lambda.amazonaws.com", "scheduler.amazonaws.com", "states.amazonaws.com")
# What the SAM CLI itself calls (samcli/lib/deploy, lib/package/s3_uploader.py, lib/delete,
# lib/utils/managed_cloudformation_stack.py; waiters poll DescribeChangeSet and DescribeStacks).
SAM_CLI_CLOUDFORMATION = (
    "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "ListChangeSets",
    "DescribeStacks", "DescribeStackEvents", "GetTemplate", "GetTemplateSummary",
    "CreateStack", "UpdateStack", "DeleteStack", "RollbackStack",
)  # fmt: skip
# Its artifact uploads, their existence checks and `sam delete`'s clean-up, in the bucket of
# its managed stack aws-sam-cli-managed-default (resolve_s3 in samconfig.toml).
SAM_CLI_S3 = (
    "s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetObjectTagging", "s3:DeleteObject",
    "s3:AbortMultipartUpload",
)  # fmt: skip
SAM_BUCKET = "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-*"
# The resource types of that managed stack (created on the first deploy in a Region).
SAM_MANAGED_STACK_TYPES = ("AWS::S3::Bucket", "AWS::S3::BucketPolicy")


# IAM action names: a service prefix and an action (a few schemas list other strings, such as
# "s3:REST.PUT.OBJECT", which no policy can grant).
ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+")


def handler_permissions(resource_type: str) -> set[str]:
    """The IAM actions CloudFormation's handlers of ``resource_type`` may call (registry
    schema, us-east-1 provider: the resource types are the same in every Region it serves)."""
    providers = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text("utf-8"))
    if resource_type not in providers:
        raise LookupError(f"no CloudFormation registry schema for {resource_type}")
    schema = json.loads((SCHEMAS / "resources" / f"{providers[resource_type]}.json").read_text())
    handlers = schema.get("handlers") or {}
    listed = {a for h in HANDLERS for a in (handlers.get(h) or {}).get("permissions", [])}
    actions = {a for a in listed if ACTION.fullmatch(a)}
    if not actions:
        raise LookupError(f"the schema of {resource_type} lists no handler permissions")
    return actions


def stack_resource_types(template_path: Path = TEMPLATE) -> dict[str, set[str]]:
    """Every resource type of the translated template (the conditional ones included: an alarm
    e-mail set, the stack's own topic key) and the actions CloudFormation needs for it. A
    custom resource needs its service token invoked."""
    translated = translate(
        template_path, {"AlarmEmail": "alarms@example.com"}, region="us-east-1",
        account_id="123456789012",
    )  # fmt: skip
    types: dict[str, set[str]] = {}
    for resource in translated.resources.values():
        kind = str(resource["Type"])
        if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
            types[kind] = {"lambda:InvokeFunction"}
        else:
            types[kind] = handler_permissions(kind)
    return dict(sorted(types.items()))


def deployer_policies(template_path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The deployer's IAM policy documents, by file name: the SAM CLI's own needs and the
    stack's roles in one, the stack's other resources in the other."""
    stack_actions = set().union(*stack_resource_types(template_path).values())
    bucket_actions = set().union(*(handler_permissions(t) for t in SAM_MANAGED_STACK_TYPES))
    iam = {a for a in stack_actions | bucket_actions if a.startswith("iam:")}
    roles = f"arn:aws:iam::*:role/{STACK_PREFIX}*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "SamCliStacks",
            "Effect": "Allow",
            "Action": sorted(f"cloudformation:{a}" for a in SAM_CLI_CLOUDFORMATION),
            "Resource": "*",
        },
        {
            "Sid": "SamCliIdentity",
            "Effect": "Allow",
            "Action": ["sts:GetCallerIdentity"],
            "Resource": "*",
        },
        {
            "Sid": "SamCliArtifacts",
            "Effect": "Allow",
            "Action": sorted(set(SAM_CLI_S3) | (bucket_actions - iam)),
            "Resource": [SAM_BUCKET, f"{SAM_BUCKET}/*"],
        },
        {
            "Sid": "StackResources",
            "Effect": "Allow",
            "Action": sorted(stack_actions - iam),
            "Resource": "*",
        },
        {
            "Sid": "StackRoles",
            "Effect": "Allow",
            "Action": sorted(iam - {"iam:PassRole", "iam:CreateServiceLinkedRole"}),
            "Resource": roles,
        },
        {
            "Sid": "PassStackRoles",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO)}},
        },
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": "arn:aws:iam::*:role/aws-service-role/*",
        },
    ]
    resources = [st for st in statements if st["Sid"] == "StackResources"]
    rest = [st for st in statements if st["Sid"] != "StackResources"]
    return {
        "sam-cli.json": {"Version": "2012-10-17", "Statement": rest},
        "stack-resources.json": {"Version": "2012-10-17", "Statement": resources},
    }


# -- the cost page -----------------------------------------------------------------------------

DURATION_PRICE = "lambda_arm_gb_second"
FREE_ALARM_METRICS = 10  # CloudWatch's free tier (prices.PRICES["alarm_metric"])


def usd(value: float) -> str:
    """A monthly amount: cents, or four decimals under ten cents."""
    return f"${value:,.2f}" if value >= 0.1 or value == 0 else f"${value:.4f}"


def price_text(value: float) -> str:
    """A unit price as AWS writes it: at least two decimals, no trailing zeros beyond."""
    digits = f"{value:.10f}".rstrip("0")
    whole, _, decimals = digits.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def cost_markdown(template_path: Path = TEMPLATE) -> str:
    """docs/cost.md: the fixed parts of the stack's monthly cost with the template's defaults."""
    translated = translate(template_path, {}, region=REGION, account_id="123456789012").resources
    parts = fixed_parts(load_template(template_path), translated)
    fixed = sum(p.usd for p in parts if p.price != DURATION_PRICE)
    (duration,) = [p for p in parts if p.price == DURATION_PRICE]
    (alarms,) = [p for p in parts if p.price == "alarm_metric"]
    alarm_metrics = round(alarms.usd / PRICES["alarm_metric"].usd)
    alarms_free = min(FREE_ALARM_METRICS, alarm_metrics)
    rotation = price_text(PRICES["kms_rotation"].usd)
    rate = int(load_template(template_path)["Parameters"]["DriftCheckRateMinutes"]["Default"])
    ticks = 730 * 60 // rate
    trail = PRICES["cloudtrail_management_copy"]
    kms = PRICES["kms_request"]
    lines = [
        "# What the stack costs",
        "",
        "<!-- Generated by scripts/docs_reference.py (`make docs`) from template.yaml and the",
        "     prices in src/fleetwise_rehearsal/fleet/prices.py; edit those, not this file. -->",
        "",
        f"AWS's public prices for {REGION} in USD, read on {READ_ON.isoformat()} (the table at",
        "the end gives each one and where it was read); other Regions differ a little. Check them",
        "against AWS's pricing pages before a budget depends on them.",
        "",
        "## The fixed parts",
        "",
        "What the stack costs a month whatever its targets, with the template's defaults, before",
        "any free tier:",
        "",
        "| part | a month | price | USD a month |",
        "|---|---|---|---|",
    ]
    for part in parts:
        price = PRICES[part.price]
        lines.append(
            f"| {part.name} | {part.quantity} | ${price_text(price.usd)} per {price.unit} "
            f"| {usd(part.usd)} |"
        )
    lines += [
        "",
        f"**An idle stack: about {usd(fixed)} a month**, plus {usd(duration.usd)} for each second",
        "a drift check lasts on average. Nearly all of it is the alarms, the dashboard and the",
        "key. The free tiers (the table below) are the account's, shared with everything else in",
        f"it: in an account with no other alarms, {alarms_free} of the {alarm_metrics} alarm",
        "metrics are free.",
        "",
        "Not in the table, because they cost nothing or scale with the targets:",
        "",
        f"- **Key rotation** is on: each yearly rotation adds ${rotation}",
        "  a month, for the first two rotations only (so the key costs $3.00 a month from its",
        "  second anniversary). With a key of your own (`AlarmTopicKmsKeyArn`) the stack creates",
        "  none, and the alarm topic uses yours.",
        f"- **Point-in-time recovery** of both tables: ${price_text(PRICES['pitr'].usd)} per",
        "  GB-month of table data. A target's spec, status and lease are a few KB.",
        "- **The shared Lambda layer and the functions' code**: Lambda charges nothing for them",
        "  (they count against the Region's code storage quota).",
        "- **Idle queues, the alarm topic, the tables (on-demand)**: billed per request (and the",
        "  tables per GB stored); an idle stack makes no request but the drift check's. Lambda",
        "  reads the spec table's stream at no charge.",
        "- **Logs**: a drift check writes one summary line per invocation, and a line per target",
        "  only for a target in trouble (`LogLevel`), priced per GB ingested.",
        "- **Per target**: each drift check makes a `GetRegisterAccountStatus` (per account and",
        "  Region) and reads its item and its status once, in the tick's two Scans (a handed-out",
        "  target's status once more, by its batch)",
        "  ([runbook.md](runbook.md#what-one-check-costs));",
        '  a run costs the state transitions, invocations and calls the README\'s "Cost per run"',
        "  gives. A healthy target has no metric series of its own: a target's series (each",
        "  `target` dimension is a custom metric, billed for the hours it gets data) exist only",
        "  while it needs attention, and the alarms on Metrics Insights queries read only those.",
        "",
        "- **A second trail** (CloudTrail): the first copy of management events in a Region is",
        f"  free; each further trail delivering them pays ${price_text(trail.usd)} per 100,000.",
        "  The stack's management events are its IoT FleetWise calls, `AssumeRole`,",
        "  `GetParametersByPath`, `StartExecution` and the requests to a data key: a steady",
        f"  drift check every {rate} minutes is {ticks:,} `GetRegisterAccountStatus` a month per",
        f"  account and Region, {usd(ticks * trail.usd / 1e5)} a month in a second trail. Data",
        "  events (DynamoDB items, SQS messages, invocations) cost",
        f"  ${price_text(PRICES['cloudtrail_data_event'].usd)} per 100,000 only in a trail that",
        "  records them. `fleetwise_rehearsal.fleet.cost.Trails` prices both for a fleet.",
        f"- **Requests to `DataKmsKeyArn`** (when set): ${price_text(kms.usd)} per 10,000",
        f"  ({kms.free_tier} free). The tables ask for their key once per reader and {rate}-minute",
        f"  check (a key is cached 5 minutes): {2 * ticks:,} requests a month for the drift",
        f"  check's two tables, {usd(2 * ticks * kms.usd / 1e4)}; the queues one per message.",
        "",
        "## Per target, at scale",
        "",
        "`make bench` rehearses fleets of 1 to 1,000 targets over many accounts and the three",
        "Regions, counts what the stack does in a steady state of drift checks (invocations and",
        "their durations, state transitions, DynamoDB request units by DynamoDB's rules, custom",
        "metric series and the hours they get data in, log bytes, AssumeRole calls) and prices",
        "it with the table below (`fleetwise_rehearsal.fleet.cost`): the README's *Cost and",
        "scale* table gives its figures. Storage (a few KB per target) rounds to nothing.",
        "",
        "## The prices",
        "",
        "| price | USD | per | free tier | AWS page | read from |",
        "|---|---|---|---|---|---|",
    ]
    for key, price in PRICES.items():
        seen = "the AWS page" if price.seen_on == price.source else price.seen_on
        lines.append(
            f"| `{key}` | {price_text(price.usd)} | {price.unit} | {price.free_tier} "
            f"| {price.source} | {seen} |"
        )
    return "\n".join(lines) + "\n"


# -- the quota ledger --------------------------------------------------------------------------

# What each dimension of the configuration is, in the ledger's words.
DIMENSIONS = {
    "stacks": "stacks of this template side by side in one account and Region",
    "targets": "targets (account and Region pairs) in a stack's spec table",
    "member_accounts": "member accounts (Parameter Store lists or MemberOrganizationId)",
    "listed_in_template": "of them listed in the template parameter `MemberAccountIds`",
    "pass_role_arns": (
        "role ARNs in `AllowedPassRoleArns`, each of a role with a 64-character name"
    ),
    "stack_name_length": "characters in the stack's name",
    "drift_check_batch_size": "targets a drift check invocation checks (`DriftCheckBatchSize`)",
}


def limits_markdown() -> str:
    """docs/limits.md: the quota ledger at the largest supported configuration."""
    largest = quotas.LARGEST
    rows = quotas.ledger(largest)
    bounded: dict[str, list[quotas.Quota]] = {}
    for row in rows:
        if row.quota.bounds:
            bounded.setdefault(row.quota.bounds, []).append(row.quota)
    lines = [
        "# The AWS quotas the stack touches",
        "",
        "<!-- Generated by scripts/docs_reference.py (`make docs`) from template.yaml and",
        "     src/fleetwise_rehearsal/fleet/quotas.py; edit those, not this file. -->",
        "",
        "Every quota below is measured on the translated template (the SAM translator's output,",
        "every name at the longest CloudFormation could generate) and the fleet's size, for the",
        "largest configuration the project supports. `tests/template/test_quotas.py` computes",
        "the same table and fails when a usage passes its quota; it also shows that one more of",
        "each bounded dimension does.",
        "",
        "## The largest supported configuration",
        "",
        "| dimension | value | the quota one more would pass |",
        "|---|---|---|",
    ]
    for name, what in DIMENSIONS.items():
        walls = bounded.get(name, [])
        shown = "; ".join(f"{wall.service}: {wall.name}" for wall in walls) or "none"
        lines.append(f"| {what} | {getattr(largest, name):,} | {_cell(shown)} |")
    lines += [
        "",
        "Past 10,000 targets a per-target alarm's Metrics Insights query could match more",
        "than the 10,000 metrics it processes, and it processes the first it finds, in no",
        "order: a target in trouble could go unseen. Member accounts are listed",
        "in Parameter Store under the stack's `MemberAccountsPath` (each list a standard",
        "parameter, as many as needed) or allowed by organisation, so no quota bounds them; the",
        "fleet bench's 10,000-target tick rehearses 3,333 over the three Regions IoT FleetWise",
        "serves (a target is one account in one Region, so 10,000 targets span at least 3,334",
        "accounts with the hub's). Each function keeps the member roles' credentials of up to",
        f"{member.CACHE_LIMIT:,} accounts (`member.CACHE_LIMIT`, more than those 3,334)",
        f"and IoT FleetWise clients for {member.PORT_LIMIT} account and Region pairs",
        "(`member.PORT_LIMIT`, one drift check batch's), so a warm drift check assumes no role",
        "again while its credentials last. The other",
        "parameters are at their defaults (the numbers) or their longest values: a",
        "255-character `MetricsNamespace`, `MemberOrganizationId`, `DataKmsKeyArn`,",
        "`AlarmEmail` set, `LogLevel` `WARNING`.",
        "",
        "The execution history's bound is loose (every state of the workflow on every pass,",
        "every retrier spent, each throttle wait counted as a whole pass), and it passes 25,000",
        f"events from `MaxLoops` {quotas.most_loops_within_history() + 1} on (with",
        "`ThrottleMaxWaits` at its default), which the template allows.",
        "",
        "## The ledger",
        "",
        "| service | quota | AWS's number | the stack's usage | where | adjustable | AWS page |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        quota, usage = row.quota, row.usage
        lines.append(
            f"| {quota.service} | {_cell(quota.name)} | {quota.limit:,} {quota.unit} "
            f"| {usage.amount:,} | {_cell(usage.where)} | {'yes' if quota.adjustable else 'no'} "
            f"| {quota.source} |"
        )
    past = [row for row in rows if row.quota.past_it]
    lines += [
        "",
        "## Where the fleet passes a quota and AWS degrades instead of refusing",
        "",
    ]
    for row in past:
        lines.append(
            f"- **{row.quota.name}** ({row.quota.limit:,} {row.quota.unit}; "
            f"{row.usage.amount:,} at most here): past it, {row.quota.past_it}."
        )
    return "\n".join(lines) + "\n"


def generated_files() -> dict[Path, Callable[[], str]]:
    """Each generated file and how to produce its text."""
    files: dict[Path, Callable[[], str]] = {
        ROOT / "docs" / "parameters.md": lambda: parameters_markdown(load_template(TEMPLATE)),
    }
    files[ROOT / "docs" / "cost.md"] = cost_markdown
    files[ROOT / "docs" / "limits.md"] = limits_markdown
    for name, document in deployer_policies().items():
        files[ROOT / "docs" / "deployer-policy" / name] = _json_text(document)
    return files


def _json_text(document: dict[str, Any]) -> Callable[[], str]:
    return lambda: json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, produce in generated_files().items():
        text = produce()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT).as_posix()}")
    if stale:
        print(f"stale (run `make docs`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

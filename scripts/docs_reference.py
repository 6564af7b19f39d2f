"""`make docs`: the documentation generated from the template, so it cannot drift from it.

- docs/parameters.md: every template parameter, grouped as the template's
  AWS::CloudFormation::Interface groups them, with its default, allowed values and description.
- docs/deployer-policy/*.json: the IAM policies for `sam deploy` and `sam delete` of this stack,
  in two documents because a managed policy holds at most 6,144 characters. The actions on the
  stack's resources are those the CloudFormation registry schema of each resource type in the
  translated template lists for its create, read, update and delete handlers (the schemas
  cfn-lint ships); the SAM CLI's own calls are listed below.

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

from fleetwise_rehearsal.template import load_template, translate

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


def generated_files() -> dict[Path, Callable[[], str]]:
    """Each generated file and how to produce its text."""
    files: dict[Path, Callable[[], str]] = {
        ROOT / "docs" / "parameters.md": lambda: parameters_markdown(load_template(TEMPLATE)),
    }
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

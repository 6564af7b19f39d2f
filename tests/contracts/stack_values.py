"""The template as CloudFormation would deploy it, for one set of parameter values, offline.

``deployed(parameters)`` translates the SAM template, decides every condition, drops the
resources whose condition is false and resolves every intrinsic function, with physical names
and ARNs made up the way CloudFormation shapes them (names are the logical ids, so a reference
can be traced back to the resource it names). The contract checks read this: what AWS's APIs
would receive from CloudFormation, not the template's text.

``PARAMETER_SETS`` are the combinations of the conditions that change resources.
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetwise_rehearsal.aws.stack import apply_definition_substitutions
from fleetwise_rehearsal.aws.template import Resolver, translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "fleetwise-reconciler"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _prod_overrides() -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["prod"]["deploy"]["parameters"]["parameter_overrides"].split()
    return dict(pair.split("=", 1) for pair in overrides)


# Every condition of the template that adds, removes or changes resources, at least once.
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "prod": _prod_overrides(),
    "data-key": {"DataKmsKeyArn": KEY_ARN},
    "alarm-topic-key": {"AlarmTopicKmsKeyArn": KEY_ARN, "AlarmEmail": "oncall@example.com"},
    "legacy": {
        "TargetMode": "timestream",
        "TimestreamDatabaseName": "fleet",
        "TimestreamTableName": "signals",
        "TimestreamRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/FleetWiseTimestream",
        "AllowedPassRoleArns": f"arn:aws:iam::{ACCOUNT_ID}:role/FleetWise*",
    },
    "no-default-target": {"ManageDefaultTarget": "false"},
}


@dataclass(frozen=True)
class Deployed:
    """The resources CloudFormation would create, their properties resolved."""

    cfn: dict[str, Any]
    """The translated template (intrinsics unresolved)."""
    resources: dict[str, dict[str, Any]]
    """Logical id -> {"Type", "Properties"} of each resource whose condition holds."""
    definitions: dict[str, str]
    """State machine logical id -> its ASL text (before DefinitionSubstitutions)."""
    parameters: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)
    """Every physical name and ARN made up for a resource -> the logical id it belongs to."""

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def named(self, value: Any) -> str | None:
        """The logical id whose name or ARN ``value`` is, if any."""
        return self.names.get(str(value))


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def _physical(logical_id: str, kind: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """What Ref and Fn::GetAtt return for a resource, shaped like CloudFormation's values."""
    name = logical_id
    if kind == "AWS::Lambda::Function":
        return name, {"Arn": _arn("lambda", f"function:{name}")}
    if kind == "AWS::StepFunctions::StateMachine":
        arn = _arn("states", f"stateMachine:{name}")
        return arn, {"Arn": arn, "Name": name}
    if kind == "AWS::SQS::Queue":
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
        return url, {"Arn": _arn("sqs", name), "QueueName": name, "QueueUrl": url}
    if kind == "AWS::DynamoDB::Table":
        table = _arn("dynamodb", f"table/{name}")
        stream = f"{table}/stream/2026-11-26T12:00:00.000"
        return name, {"Arn": table, "StreamArn": stream}
    if kind == "AWS::IAM::Role":
        return name, {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "RoleId": f"AROA{name}"}
    if kind == "AWS::SNS::Topic":
        arn = _arn("sns", name)
        return arn, {"TopicArn": arn, "TopicName": name}
    if kind == "AWS::KMS::Key":
        return name, {"Arn": _arn("kms", f"key/{name}"), "KeyId": name}
    if kind == "AWS::CloudWatch::Alarm":
        return name, {"Arn": _arn("cloudwatch", f"alarm:{name}")}
    if kind == "AWS::Events::Rule":
        return name, {"Arn": _arn("events", f"rule/{name}")}
    if kind == "AWS::Scheduler::Schedule":
        return name, {"Arn": _arn("scheduler", f"schedule/default/{name}")}
    if kind == "AWS::Lambda::LayerVersion":
        arn = _arn("lambda", f"layer:{name}:1")
        return arn, {"LayerVersionArn": arn}
    if kind == "AWS::Logs::LogGroup":
        group = str(props.get("LogGroupName") or name)
        return group, {"Arn": _arn("logs", f"log-group:{group}:*")}
    return name, {}


@functools.cache
def deployed(set_name: str) -> Deployed:
    """The stack for one of ``PARAMETER_SETS`` (cached: the sets are fixed)."""
    return deploy_with(PARAMETER_SETS[set_name])


def deploy_with(parameters: dict[str, str]) -> Deployed:
    translated = translate(TEMPLATE_PATH, parameters, region=REGION, account_id=ACCOUNT_ID)
    cfn = translated.template
    values: dict[str, Any] = {}
    for name, spec in cfn.get("Parameters", {}).items():
        value = translated.parameters.get(name, spec.get("Default"))
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [part for part in value.split(",")] if value else [""]
        values[name] = value
    resolver = Resolver(
        parameters=values,
        conditions=cfn.get("Conditions") or {},
        mappings=cfn.get("Mappings") or {},
        account_id=ACCOUNT_ID,
        region=REGION,
        stack_name=STACK_NAME,
    )
    names: dict[str, str] = {}
    present = {
        logical_id: spec
        for logical_id, spec in cfn["Resources"].items()
        if spec.get("Condition") is None or resolver.condition(spec["Condition"])
    }
    # Log group names are resolved first: the other names do not depend on anything.
    for logical_id, spec in present.items():
        props = spec.get("Properties") or {}
        if spec["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in props:
            props = {"LogGroupName": resolver.resolve(props["LogGroupName"])}
        ref, attributes = _physical(logical_id, spec["Type"], props)
        resolver.refs[logical_id] = ref
        names[str(ref)] = logical_id
        for attribute, value in attributes.items():
            resolver.attributes[(logical_id, attribute)] = value
            names[value] = logical_id
    resources = {
        logical_id: {
            "Type": spec["Type"],
            "Properties": resolver.resolve(spec.get("Properties") or {}),
        }
        for logical_id, spec in present.items()
    }
    return Deployed(
        cfn=cfn,
        resources=resources,
        definitions=dict(translated.definitions),
        parameters=values,
        names=names,
    )


def dashboard_body(stack: Deployed) -> dict[str, Any]:
    """The one dashboard's body, parsed (PutDashboard receives it as a JSON string)."""
    [dashboard] = stack.of_type("AWS::CloudWatch::Dashboard").values()
    body: dict[str, Any] = json.loads(dashboard["Properties"]["DashboardBody"])
    return body


def definition(stack: Deployed, machine: str = "ReconcileStateMachine") -> str:
    """The ASL text Step Functions receives: the file with its DefinitionSubstitutions."""
    substitutions = stack.resources[machine]["Properties"]["DefinitionSubstitutions"]
    return apply_definition_substitutions(stack.definitions[machine], substitutions)

"""Least-privilege checks over a translated (CloudFormation) template.

Each check returns findings (readable strings); an empty list means the template passes.
They are plain functions so the tests can run them on the real template and on deliberately
broken copies of it, and show that each rule bites.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

FLEETWISE_SERVICE = "iotfleetwise.amazonaws.com"

# Actions that accept no resource ARN (the service authorises them only on "*"): the only
# actions allowed on Resource "*", each with the reason.
UNSCOPABLE_ACTIONS: dict[str, str] = {
    "iotfleetwise:GetRegisterAccountStatus": "account-level: the action has no resource type",
    "iotfleetwise:RegisterAccount": "account-level: the action has no resource type",
    "iotfleetwise:ListCampaigns": "a List action: it has no resource type",
    "dynamodb:ListStreams": "DynamoDB Streams' ListStreams has no resource type",
    "xray:PutTraceSegments": "X-Ray segments have no resource type",
    "xray:PutTelemetryRecords": "X-Ray telemetry has no resource type",
    "xray:GetSamplingRules": "sampling rules are read account-wide",
    "xray:GetSamplingTargets": "sampling targets are read account-wide",
    "logs:CreateLogDelivery": "Step Functions log delivery is configured account-wide",
    "logs:GetLogDelivery": "Step Functions log delivery is configured account-wide",
    "logs:UpdateLogDelivery": "Step Functions log delivery is configured account-wide",
    "logs:DeleteLogDelivery": "Step Functions log delivery is configured account-wide",
    "logs:ListLogDeliveries": "Step Functions log delivery is configured account-wide",
    "logs:PutResourcePolicy": "log delivery writes the account's logs resource policy",
    "logs:DescribeResourcePolicies": "log delivery reads the account's logs resource policy",
    "logs:DescribeLogGroups": "log delivery lists log groups; the action takes no ARN",
}

# Granted to a function's role but used by AWS on the function's behalf, never by its code,
# so no test can observe the code calling them.
PLATFORM_ACTIONS: dict[str, str] = {
    "logs:CreateLogStream": "the Lambda service writes the function's logs with its role",
    "logs:PutLogEvents": "the Lambda service writes the function's logs with its role",
    "xray:PutTraceSegments": "active tracing: the Lambda service sends the segments",
    "xray:PutTelemetryRecords": "active tracing: the Lambda service sends the telemetry",
    "kms:Decrypt": "DynamoDB and SQS use DataKmsKeyArn on the caller's behalf (kms:ViaService)",
    "kms:Encrypt": "DynamoDB uses DataKmsKeyArn on the caller's behalf (kms:ViaService)",
    "kms:GenerateDataKey": "DynamoDB and SQS use DataKmsKeyArn on the caller's behalf",
    "kms:DescribeKey": "DynamoDB checks DataKmsKeyArn on the caller's behalf (kms:ViaService)",
}

# Per function: grants its code needs although no test sees the call, with the reason.
NOT_CALLED_BUT_NEEDED: dict[str, dict[str, str]] = {
    "RegisterFunction": {
        "iam:PassRole": "authorisation only: FleetWise checks it when a legacy spec names a "
        "Timestream role",
        "iam:CreateServiceLinkedRole": "authorisation only: RegisterAccount creates FleetWise's "
        "service-linked role with the caller's permissions",
    },
    "ExecutionFailedFunction": {
        "states:DescribeExecution": "aborted runs only (their event carries no input); the "
        "handler tests stand in a fake Step Functions client there",
    },
    "DriftCheckFunction": {
        "sqs:SendMessage": "Lambda sends a failed check's record to its on-failure destination "
        "with this role",
    },
    "StreamTriggerFunction": {
        "dynamodb:DescribeStream": "the event source mapping reads the stream with this role",
        "dynamodb:GetRecords": "the event source mapping reads the stream with this role",
        "dynamodb:GetShardIterator": "the event source mapping reads the stream with this role",
        "dynamodb:ListStreams": "the event source mapping reads the stream with this role",
        "sqs:SendMessage": "the mapping's on-failure destination sends with this role",
    },
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _unwrap(statement: Any) -> Iterator[dict[str, Any]]:
    # A conditional statement ({"Fn::If": [cond, a, b]}) may be granted on either branch.
    if isinstance(statement, dict) and "Fn::If" in statement:
        for branch in statement["Fn::If"][1:]:
            if branch != {"Ref": "AWS::NoValue"}:
                yield from _unwrap(branch)
    else:
        yield statement


def role_statements(cfn: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every Allow/Deny statement that applies to each role: its inline policies and any
    AWS::IAM::Policy / ManagedPolicy / RolePolicy resource of the stack attached to it."""
    resources = cfn["Resources"]
    found: dict[str, list[dict[str, Any]]] = {
        name: [] for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"
    }
    for name, statements in found.items():
        for policy in resources[name]["Properties"].get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                statements.extend(_unwrap(statement))
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource["Properties"]
            for role in as_list(props.get("Roles", [])):
                role_name = role.get("Ref") if isinstance(role, dict) else role
                for statement in as_list(props["PolicyDocument"]["Statement"]):
                    found.setdefault(role_name, []).extend(_unwrap(statement))
        if resource["Type"] == "AWS::IAM::RolePolicy":
            props = resource["Properties"]
            role = props["RoleName"]
            role_name = role.get("Ref") if isinstance(role, dict) else role
            for statement in as_list(props["PolicyDocument"]["Statement"]):
                found.setdefault(role_name, []).extend(_unwrap(statement))
    return found


def policy_findings(cfn: dict[str, Any], allowed_pass_roles: Any) -> list[str]:
    """Generic least-privilege findings over every role of the stack."""
    resources = cfn["Resources"]
    findings: list[str] = []
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for arn in props.get("ManagedPolicyArns", []):
                findings.append(f"{name}: managed policy {arn!r} hides its grants")
            if "PermissionsBoundary" in props:
                findings.append(f"{name}: permissions boundary from outside the template")
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            findings.append(f"{name}: managed policy resource (attach grants inline)")
    for role, statements in role_statements(cfn).items():
        for statement in statements:
            findings += _statement_findings(role, statement, allowed_pass_roles)
    return findings


def _statement_findings(role: str, statement: dict[str, Any], allowed_pass_roles: Any) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    findings = []
    sid = statement.get("Sid", "?")
    for key in ("NotAction", "NotResource", "NotPrincipal"):
        if key in statement:
            findings.append(f"{role}/{sid}: {key} grants everything but a list")
    actions = [str(a) for a in as_list(statement.get("Action", []))]
    resources = as_list(statement.get("Resource", []))
    condition = statement.get("Condition", {})
    for action in actions:
        if "*" in action or "?" in action:
            findings.append(f"{role}/{sid}: wildcard action {action}")
    if "*" in resources:
        findings += [
            f"{role}/{sid}: {action} on Resource '*' although it can be scoped"
            for action in actions
            if action not in UNSCOPABLE_ACTIONS
        ]
    else:
        # IAM authorises an action without a resource type only on "*": granted on an ARN it
        # matches no request, and the call it was meant for is denied.
        findings += [
            f"{role}/{sid}: {action} has no resource type; granted on a resource ARN it "
            "matches nothing"
            for action in actions
            if action in UNSCOPABLE_ACTIONS
        ]
    if "iam:PassRole" in actions:
        if condition != {"StringEquals": {"iam:PassedToService": FLEETWISE_SERVICE}}:
            findings.append(f"{role}/{sid}: iam:PassRole not limited to {FLEETWISE_SERVICE}")
        if statement.get("Resource") != allowed_pass_roles:
            findings.append(f"{role}/{sid}: iam:PassRole beyond the AllowedPassRoleArns roles")
    if "iam:CreateServiceLinkedRole" in actions:
        service = condition.get("StringLike", condition.get("StringEquals", {})).get(
            "iam:AWSServiceName"
        )
        if (
            service != FLEETWISE_SERVICE
            or len(resources) != 1
            or FLEETWISE_SERVICE not in str(resources[0])
        ):
            findings.append(f"{role}/{sid}: iam:CreateServiceLinkedRole beyond FleetWise's role")
    return findings


def function_roles(cfn: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Function logical id -> (role logical id, handler module)."""
    found = {}
    for name, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        role_ref = props["Role"]
        role = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) else role_ref
        found[name] = (role, props["Handler"].rsplit(".", 1)[0])
    return found


def granted_actions(cfn: dict[str, Any], role: str) -> set[str]:
    return {
        str(action)
        for statement in role_statements(cfn).get(role, [])
        if statement.get("Effect") == "Allow"
        for action in as_list(statement.get("Action", []))
    }


def coverage_findings(cfn: dict[str, Any], ledger: dict[str, list[str]]) -> list[str]:
    """Each function's grants against the calls its handler was observed making, both ways."""
    findings = []
    for function, (role, module) in sorted(function_roles(cfn).items()):
        observed = set(ledger.get(module, []))
        if not observed:
            findings.append(f"{function}: no test observed {module} calling AWS")
        granted = granted_actions(cfn, role)
        excused = set(PLATFORM_ACTIONS) | set(NOT_CALLED_BUT_NEEDED.get(function, {}))
        findings += [
            f"{function}: {module} calls {action} but its role is not granted it"
            for action in sorted(observed - granted)
        ]
        findings += [
            f"{function}: {action} is granted but no test observes {module} calling it"
            for action in sorted(granted - observed - excused)
        ]
    return findings

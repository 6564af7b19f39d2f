"""template.yaml: lint, offline translation, least privilege, the stream trigger and the events.

Most checks read the translated CloudFormation (what AWS actually receives), so anything SAM
would add behind our back (managed policies, implicit roles) is caught too.
"""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.api import lint  # type: ignore[import-untyped]
from template_support import TEMPLATE_PATH, parameter_defaults

STEP_FUNCTIONS = (
    "AcquireFunction",
    "ObserveFunction",
    "RegisterFunction",
    "PollFunction",
    "RecordFunction",
)
ALL_FUNCTIONS = (
    *STEP_FUNCTIONS,
    "StreamTriggerFunction",
    "DeploySpecFunction",
    "ExecutionFailedFunction",
    "DriftCheckFunction",
)
HANDLER_MODULES = {
    "AcquireFunction": "acquire",
    "ObserveFunction": "observe",
    "RegisterFunction": "register",
    "PollFunction": "poll",
    "RecordFunction": "record",
    "StreamTriggerFunction": "stream_trigger",
    "DeploySpecFunction": "deploy_spec",
    "ExecutionFailedFunction": "execution_failed",
    "DriftCheckFunction": "drift_check",
}

# Actions that take no resource ARN (or, for log delivery, only "*"): the only ones allowed
# on Resource "*".
UNSCOPABLE_ACTIONS = frozenset(
    {
        "iotfleetwise:GetRegisterAccountStatus",
        "iotfleetwise:RegisterAccount",
        "iotfleetwise:ListCampaigns",
        "dynamodb:ListStreams",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)

NO_VALUE = {"Ref": "AWS::NoValue"}

FLEETWISE_SLR = {
    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
    "iotfleetwise.amazonaws.com/AWSServiceRoleForIoTFleetWise"
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resources(cfn: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == type_}


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement, a conditional one ({"Fn::If": [cond, statement, NoValue]}) included:
    it is granted whenever its condition holds."""
    statements = []
    for policy in role["Properties"].get("Policies", []):
        for entry in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in entry:
                # Either branch may be granted: each one that is a statement counts.
                _condition, *branches = entry["Fn::If"]
                statements.extend(b for b in branches if b != {"Ref": "AWS::NoValue"})
            else:
                statements.append(entry)
    return statements


def _role_of(cfn: dict[str, Any], function: str) -> dict[str, Any]:
    role_ref = cfn["Resources"][function]["Properties"]["Role"]
    assert role_ref == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    role: dict[str, Any] = cfn["Resources"][f"{function}Role"]
    return role


def _grants(cfn: dict[str, Any], function: str) -> dict[str, list[Any]]:
    """Action -> resources granted to the function's role."""
    grants: dict[str, list[Any]] = {}
    for statement in _statements(_role_of(cfn, function)):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            known = grants.setdefault(action, [])
            # (Both branches of a conditional statement may grant the same resource.)
            known.extend(r for r in _as_list(statement["Resource"]) if r not in known)
    return grants


# --- lint and translation -------------------------------------------------------------------


def test_cfn_lint_reports_nothing() -> None:
    matches = lint(TEMPLATE_PATH.read_text(), regions=["us-east-1", "eu-central-1", "ap-south-1"])
    assert [str(m) for m in matches] == []


def test_translation_produces_the_expected_resources(cfn_template: dict[str, Any]) -> None:
    types = {name: r["Type"] for name, r in cfn_template["Resources"].items()}
    assert {name for name, t in types.items() if t == "AWS::Lambda::Function"} == set(ALL_FUNCTIONS)
    assert types["ReconcileStateMachine"] == "AWS::StepFunctions::StateMachine"
    assert types["SpecStreamEventSourceMapping"] == "AWS::Lambda::EventSourceMapping"
    assert types["DefaultTargetSpec"] == "Custom::FleetWiseTargetSpec"
    # SAM made no role of its own: every role is one the template wrote out.
    assert set(_resources(cfn_template, "AWS::IAM::Role")) == {
        *(f"{fn}Role" for fn in ALL_FUNCTIONS),
        "ReconcileStateMachineRole",
        "DriftCheckScheduleRole",
    }


def test_no_resource_has_a_hard_coded_name(sam_template: dict[str, Any]) -> None:
    name_properties = {
        "TableName",
        "QueueName",
        "FunctionName",
        "RoleName",
        "StateMachineName",
        "Name",
    }
    for name, resource in sam_template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            continue  # its FunctionName is a reference, not a name
        if resource["Type"] in ("AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig"):
            continue  # FunctionName names the function it configures
        if resource["Type"] == "AWS::IAM::RolePolicy":
            continue  # RoleName names the role it attaches to
        if resource["Type"] == "AWS::SSM::Parameter":
            # Named under the stack's own path, which the functions read.
            assert resource["Properties"]["Name"]["Fn::Sub"].startswith(
                "/fleetwise-reconciler/${AWS::StackName}/"
            ), name
            continue
        assert not name_properties & set(resource.get("Properties", {})), name
    for name, group in _resources(sam_template, "AWS::Logs::LogGroup").items():
        assert "${AWS::StackName}" in group["Properties"]["LogGroupName"]["Fn::Sub"], name


# --- functions ----------------------------------------------------------------------------


def test_every_function_runs_its_handler_on_arm64_python313(cfn_template: dict[str, Any]) -> None:
    for function, module in HANDLER_MODULES.items():
        resource = cfn_template["Resources"][function]
        props = resource["Properties"]
        assert props["Handler"] == f"fleetwise_reconciler.handlers.{module}.lambda_handler"
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] == 256
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert resource["Metadata"]["BuildMethod"] == "makefile"


def test_every_function_takes_its_dependencies_from_the_one_shared_layer(
    sam_template: dict[str, Any], cfn_template: dict[str, Any]
) -> None:
    [(name, layer)] = _resources(cfn_template, "AWS::Lambda::LayerVersion").items()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    source = sam_template["Resources"]["DependenciesLayer"]
    assert source["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    for function in ALL_FUNCTIONS:
        assert cfn_template["Resources"][function]["Properties"]["Layers"] == [{"Ref": name}]


def test_every_function_logs_to_its_own_group_with_retention(cfn_template: dict[str, Any]) -> None:
    for function in ALL_FUNCTIONS:
        props = cfn_template["Resources"][function]["Properties"]
        group_id = f"{function}LogGroup"
        assert props["LoggingConfig"] == {"LogGroup": {"Ref": group_id}}
        group = cfn_template["Resources"][group_id]
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert _grants(cfn_template, function)["logs:PutLogEvents"] == [
            {"Fn::GetAtt": [group_id, "Arn"]}
        ]


def test_every_function_gets_the_settings_environment(sam_template: dict[str, Any]) -> None:
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    # the service dimension of every metric is the stack's name: two stacks never share one
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["SPEC_TABLE_NAME"] == {"Ref": "SpecTable"}
    assert variables["STATUS_TABLE_NAME"] == {"Ref": "StatusTable"}
    assert variables["ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    assert variables["EXECUTION_TIMEOUT_SECONDS"] == {"Ref": "ExecutionTimeoutSeconds"}
    assert variables["REGISTRATION_BUDGET_SECONDS"] == {"Ref": "RegistrationBudgetSeconds"}
    assert variables["MAX_REGISTRATION_ATTEMPTS"] == {"Ref": "MaxRegistrationAttempts"}
    assert variables["MAX_LOOPS"] == {"Ref": "MaxLoops"}
    assert variables["ALLOWED_PASS_ROLE_ARNS"] == {
        "Fn::If": [
            "HasAllowedPassRoleArns",
            {"Fn::Join": [",", {"Ref": "AllowedPassRoleArns"}]},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"},
        ]
    }
    assert "SERVED_REGIONS" in variables


def test_settings_parse_the_environment_the_template_sets(
    sam_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the global environment resolved with the parameters' defaults
    from fleetwise_reconciler.settings import get_settings

    defaults = parameter_defaults(sam_template)
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    for key, value in variables.items():
        if isinstance(value, str):
            resolved = value
        elif "Ref" in value:
            resolved = defaults.get(value["Ref"], f"resolved-{value['Ref']}")
        else:  # ALLOWED_PASS_ROLE_ARNS with the default (empty) parameter
            resolved = "arn:aws:iam::123456789012:role/*"
        monkeypatch.setenv(key, resolved)
    get_settings.cache_clear()
    try:
        # WHEN the functions read their settings
        settings = get_settings()
    finally:
        get_settings.cache_clear()
    # THEN every tunable is the template's default
    assert settings.execution_timeout_seconds == 3600
    # a lease outlives the longest run: the execution timeout plus 5 minutes
    assert settings.lease_seconds == 3900
    assert settings.registration_budget_seconds == 900
    assert settings.max_registration_attempts == 5
    assert settings.max_loops == 5
    assert settings.allowed_pass_role_arns == ("arn:aws:iam::123456789012:role/*",)
    assert settings.served_regions == ("us-east-1", "eu-central-1", "ap-south-1")
    assert settings.account_id == "resolved-AWS::AccountId"


def test_only_the_starters_know_the_state_machine(cfn_template: dict[str, Any]) -> None:
    # The step functions cannot: the state machine depends on them (a cycle otherwise).
    for function in ALL_FUNCTIONS:
        env = cfn_template["Resources"][function]["Properties"]["Environment"]["Variables"]
        if function in ("StreamTriggerFunction", "DriftCheckFunction"):
            assert env["STATE_MACHINE_ARN"] == {"Ref": "ReconcileStateMachine"}
        else:
            assert "STATE_MACHINE_ARN" not in env


# --- IAM ----------------------------------------------------------------------------------


def test_no_managed_policies_anywhere(cfn_template: dict[str, Any]) -> None:
    for name, role in _resources(cfn_template, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        assert "PermissionsBoundary" not in role["Properties"], name
    assert _resources(cfn_template, "AWS::IAM::ManagedPolicy") == {}
    assert _resources(cfn_template, "AWS::IAM::Policy") == {}


def test_role_policies_are_inline_policies_of_the_stacks_own_roles(
    cfn_template: dict[str, Any],
) -> None:
    # An AWS::IAM::RolePolicy is there only to grant what a role's own inline policies cannot
    # name (the function created with the role): the drift check invoking itself.
    roles = _resources(cfn_template, "AWS::IAM::Role")
    policies = _resources(cfn_template, "AWS::IAM::RolePolicy")
    assert sorted(policies) == ["DriftCheckHandOutPolicy"]
    props = policies["DriftCheckHandOutPolicy"]["Properties"]
    assert props["RoleName"] == {"Ref": "DriftCheckFunctionRole"}
    assert "DriftCheckFunctionRole" in roles
    assert props["PolicyDocument"]["Statement"] == [
        {
            "Sid": "HandOutBatches",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": ["DriftCheckFunction", "Arn"]},
        }
    ]


def test_no_wildcard_actions_and_star_resources_only_for_unscopable_actions(
    cfn_template: dict[str, Any],
) -> None:
    for name, role in _resources(cfn_template, "AWS::IAM::Role").items():
        for statement in _statements(role):
            actions = _as_list(statement["Action"])
            assert all("*" not in action for action in actions), (name, actions)
            assert "NotAction" not in statement and "NotResource" not in statement
            if "*" in _as_list(statement["Resource"]):
                assert set(actions) <= UNSCOPABLE_ACTIONS, (name, actions)


# Every role that calls IoT FleetWise may assume the member role (by its name, in any account:
# no policy could list a large fleet's accounts, and the member role trusts this stack's roles
# only); with MemberOrganizationId only in that organisation's accounts.
MEMBER_ROLES = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
MEMBER_ACCOUNTS_PATH = {
    "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    "/fleetwise-reconciler/${AWS::StackName}/member-accounts"
}
ASSUME = {"Sid": "AssumeMemberRole", "Effect": "Allow", "Action": "sts:AssumeRole",
          "Resource": MEMBER_ROLES}  # fmt: skip


def test_the_member_role_grant_names_the_member_role_and_the_organisation(
    cfn_template: dict[str, Any],
) -> None:
    for role in ("ObserveFunctionRole", "RegisterFunctionRole", "PollFunctionRole",
                 "DriftCheckFunctionRole"):  # fmt: skip
        statements = cfn_template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"
        ]
        wrapped = [
            s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "HasMemberOrganization"
        ]
        assert len(wrapped) == 1, role
        _condition, in_organisation, otherwise = wrapped[0]["Fn::If"]
        assert in_organisation == {
            **ASSUME,
            "Condition": {"StringEquals": {"aws:ResourceOrgID": {"Ref": "MemberOrganizationId"}}},
        }
        assert otherwise == ASSUME
        # and the member template trusts exactly the roles under this path
        path = cfn_template["Resources"][role]["Properties"]["Path"]
        assert path == {"Fn::Sub": "/fleetwise-reconciler/${AWS::StackName}/"}


def test_the_functions_that_validate_read_the_member_accounts_under_the_stacks_path_only(
    cfn_template: dict[str, Any],
) -> None:
    readers = {}
    for name, role in _resources(cfn_template, "AWS::IAM::Role").items():
        for statement in _statements(role):
            if "ssm:GetParametersByPath" in _as_list(statement.get("Action", [])):
                readers[name] = statement["Resource"]
    path = ("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
            "/fleetwise-reconciler/${AWS::StackName}/member-accounts")  # fmt: skip
    assert readers == {
        "ObserveFunctionRole": {"Fn::Sub": path},
        "DriftCheckFunctionRole": {"Fn::Sub": path},
    }
    for function in _resources(cfn_template, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["MEMBER_ACCOUNTS_PATH"] == {
            "Fn::Sub": "/fleetwise-reconciler/${AWS::StackName}/member-accounts"
        }
        assert "MEMBER_ACCOUNT_IDS" not in variables


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "AcquireFunction",
            {
                "dynamodb:PutItem": ["StatusTable"],
                "dynamodb:UpdateItem": ["StatusTable"],
            },
        ),
        (
            "ObserveFunction",
            {
                "dynamodb:GetItem": ["SpecTable", "StatusTable"],
                "dynamodb:UpdateItem": ["StatusTable"],
                "iotfleetwise:GetRegisterAccountStatus": ["*"],
                "iotfleetwise:ListCampaigns": ["*"],
                # the target's Region is any Region IoT FleetWise serves
                "iotfleetwise:GetCampaign": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iotfleetwise:*:${AWS::AccountId}:campaign/*"}
                ],
                "ssm:GetParametersByPath": [MEMBER_ACCOUNTS_PATH],
                "sts:AssumeRole": [MEMBER_ROLES],
            },
        ),
        (
            "RegisterFunction",
            {
                "dynamodb:ConditionCheckItem": ["StatusTable"],
                "dynamodb:UpdateItem": ["StatusTable"],
                # the attempt counts read back after each call is counted
                "dynamodb:GetItem": ["StatusTable"],
                "iotfleetwise:RegisterAccount": ["*"],
                "iam:CreateServiceLinkedRole": [FLEETWISE_SLR],
                "iam:PassRole": ["<allowed roles>"],
                "sts:AssumeRole": [MEMBER_ROLES],
            },
        ),
        (
            "PollFunction",
            {
                "dynamodb:UpdateItem": ["StatusTable"],
                "iotfleetwise:GetRegisterAccountStatus": ["*"],
                "sts:AssumeRole": [MEMBER_ROLES],
            },
        ),
        (
            "RecordFunction",
            {
                "dynamodb:GetItem": ["StatusTable", "SpecTable"],
                "dynamodb:PutItem": ["StatusTable"],
                "dynamodb:UpdateItem": ["StatusTable"],
                "dynamodb:DeleteItem": ["StatusTable"],
                "dynamodb:ConditionCheckItem": ["StatusTable"],
            },
        ),
        (
            "StreamTriggerFunction",
            {
                "dynamodb:DescribeStream": ["SpecTable.StreamArn"],
                "dynamodb:GetRecords": ["SpecTable.StreamArn"],
                "dynamodb:GetShardIterator": ["SpecTable.StreamArn"],
                "dynamodb:ListStreams": ["*"],
                "states:StartExecution": [{"Ref": "ReconcileStateMachine"}],
                "sqs:SendMessage": ["OnFailureQueue"],
            },
        ),
        (
            "DeploySpecFunction",
            {
                "dynamodb:PutItem": ["SpecTable"],
            },
        ),
        (
            "ExecutionFailedFunction",
            {
                "dynamodb:GetItem": ["StatusTable", "SpecTable"],
                "dynamodb:PutItem": ["StatusTable"],
                "dynamodb:DeleteItem": ["StatusTable"],
                "dynamodb:ConditionCheckItem": ["StatusTable"],
                "states:DescribeExecution": [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:"
                        "${AWS::AccountId}:execution:${ReconcileStateMachine.Name}:*"
                    }
                ],
            },
        ),
        (
            "DriftCheckFunction",
            {
                "dynamodb:Scan": ["SpecTable", "StatusTable"],
                "dynamodb:BatchGetItem": ["SpecTable"],
                "dynamodb:Query": ["StatusTable"],
                "dynamodb:GetItem": ["StatusTable"],
                # the WATCH items (only their attributes: test below)
                "dynamodb:PutItem": ["StatusTable"],
                "dynamodb:DeleteItem": ["StatusTable"],
                "iotfleetwise:GetRegisterAccountStatus": ["*"],
                "states:StartExecution": [{"Ref": "ReconcileStateMachine"}],
                "sqs:SendMessage": ["DriftCheckFailureQueue"],
                "ssm:GetParametersByPath": [MEMBER_ACCOUNTS_PATH],
                "sts:AssumeRole": [MEMBER_ROLES],
            },
        ),
    ],
)
def test_each_function_has_exactly_its_permissions(
    cfn_template: dict[str, Any], function: str, expected: dict[str, list[Any]]
) -> None:
    def short(resource: Any) -> Any:
        # GetAtt X.Arn -> "X", GetAtt X.StreamArn -> "X.StreamArn", for readable expectations.
        if isinstance(resource, dict) and "Fn::GetAtt" in resource:
            logical, attribute = resource["Fn::GetAtt"]
            return logical if attribute == "Arn" else f"{logical}.{attribute}"
        if isinstance(resource, dict) and "Fn::If" in resource:
            return "<allowed roles>"
        return resource

    grants = {
        action: [short(r) for r in resources]
        for action, resources in _grants(cfn_template, function).items()
        # kms: only with DataKmsKeyArn, checked by tests/security/test_data_protection.py.
        if not action.startswith(("logs:", "xray:", "kms:"))
    }
    assert grants == expected
    tracing = _grants(cfn_template, function)
    assert tracing["xray:PutTraceSegments"] == ["*"]
    assert tracing["xray:PutTelemetryRecords"] == ["*"]


def test_the_drift_check_writes_only_the_watch_items_attributes(
    cfn_template: dict[str, Any],
) -> None:
    [statement] = [
        s
        for s in _statements(_role_of(cfn_template, "DriftCheckFunction"))
        if s.get("Sid") == "WatchTargets"
    ]
    assert statement["Action"] == ["dynamodb:PutItem", "dynamodb:DeleteItem"]
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {
            "dynamodb:Attributes": ["target", "kind", "state", "since", "reported"]
        }
    }


def test_pass_role_is_limited_to_allowed_roles_and_to_fleetwise(
    cfn_template: dict[str, Any],
) -> None:
    [statement] = [
        s
        for s in _statements(_role_of(cfn_template, "RegisterFunction"))
        if s["Action"] == "iam:PassRole"
    ]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "iotfleetwise.amazonaws.com"}
    }
    assert statement["Resource"] == {
        "Fn::If": [
            "HasAllowedPassRoleArns",
            {"Ref": "AllowedPassRoleArns"},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"},
        ]
    }


def test_service_linked_role_creation_is_scoped_to_fleetwise(cfn_template: dict[str, Any]) -> None:
    [statement] = [
        s
        for s in _statements(_role_of(cfn_template, "RegisterFunction"))
        if s["Action"] == "iam:CreateServiceLinkedRole"
    ]
    assert statement["Resource"] == FLEETWISE_SLR
    assert statement["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "iotfleetwise.amazonaws.com"}
    }


def test_state_machine_invokes_exactly_the_five_step_functions(
    cfn_template: dict[str, Any],
) -> None:
    role = cfn_template["Resources"]["ReconcileStateMachineRole"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "states.amazonaws.com"
    }
    invoke = [s for s in _statements(role) if s["Action"] == "lambda:InvokeFunction"]
    assert len(invoke) == 1
    expected: list[Any] = []
    for function in STEP_FUNCTIONS:
        expected += [{"Fn::GetAtt": [function, "Arn"]}, {"Fn::Sub": f"${{{function}.Arn}}:*"}]
    assert invoke[0]["Resource"] == expected
    actions = {a for s in _statements(role) for a in _as_list(s["Action"])}
    assert "lambda:InvokeFunction" in actions
    assert {a.split(":")[0] for a in actions} == {"lambda", "logs", "xray"}


# --- tables -------------------------------------------------------------------------------


def test_spec_table_streams_new_and_old_images(cfn_template: dict[str, Any]) -> None:
    props = cfn_template["Resources"]["SpecTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "target", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "target", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::If": ["HasDataKmsKey", {"Ref": "DataKmsKeyArn"}, NO_VALUE]},
    }
    assert props["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTables", True, False]}


def test_status_table_has_no_stream_so_status_writes_never_trigger(
    cfn_template: dict[str, Any],
) -> None:
    props = cfn_template["Resources"]["StatusTable"]["Properties"]
    assert "StreamSpecification" not in props
    assert props["KeySchema"] == [
        {"AttributeName": "target", "KeyType": "HASH"},
        {"AttributeName": "kind", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::If": ["HasDataKmsKey", {"Ref": "DataKmsKeyArn"}, NO_VALUE]},
    }


# --- trigger ------------------------------------------------------------------------------


def test_stream_trigger_mapping(cfn_template: dict[str, Any]) -> None:
    props = cfn_template["Resources"]["SpecStreamEventSourceMapping"]["Properties"]
    assert props["FunctionName"] == {"Ref": "StreamTriggerFunction"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["SpecTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BatchSize"] == 10
    assert props["MaximumBatchingWindowInSeconds"] == 1
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == {"Ref": "StreamMaxRetryAttempts"}
    assert props["MaximumRecordAgeInSeconds"] == {"Ref": "StreamMaxRecordAgeSeconds"}
    assert props["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["OnFailureQueue", "Arn"]}}
    }
    queue = cfn_template["Resources"]["OnFailureQueue"]["Properties"]
    assert queue == {
        "SqsManagedSseEnabled": {"Fn::If": ["HasDataKmsKey", NO_VALUE, True]},
        "KmsMasterKeyId": {"Fn::If": ["HasDataKmsKey", {"Ref": "DataKmsKeyArn"}, NO_VALUE]},
        "MessageRetentionPeriod": 14 * 24 * 3600,
    }


def test_every_spec_change_reaches_the_trigger(cfn_template: dict[str, Any]) -> None:
    # No filter: a REMOVE starts a run too, which records that the target is no longer managed.
    props = cfn_template["Resources"]["SpecStreamEventSourceMapping"]["Properties"]
    assert "FilterCriteria" not in props


def test_the_deploy_writes_the_default_target_after_the_trigger_exists(
    cfn_template: dict[str, Any],
) -> None:
    resource = cfn_template["Resources"]["DefaultTargetSpec"]
    assert resource["Condition"] == "ManageDefaultTargetCondition"
    assert _as_list(resource["DependsOn"]) == ["SpecStreamEventSourceMapping"]
    assert resource["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": ["DeploySpecFunction", "Arn"]},
        "Target": {"Fn::Sub": "${AWS::AccountId}:${AWS::Region}"},
        "Mode": {"Ref": "TargetMode"},
        "Policy": {"Ref": "TargetPolicy"},
        "Paused": {"Ref": "TargetPaused"},
        "TimestreamDatabaseName": {
            "Fn::If": [
                "HasTimestreamDatabaseName",
                {"Ref": "TimestreamDatabaseName"},
                {"Ref": "AWS::NoValue"},
            ]
        },
        "TimestreamTableName": {
            "Fn::If": [
                "HasTimestreamTableName",
                {"Ref": "TimestreamTableName"},
                {"Ref": "AWS::NoValue"},
            ]
        },
        "IamRoleArn": {
            "Fn::If": [
                "HasTimestreamRoleArn",
                {"Ref": "TimestreamRoleArn"},
                {"Ref": "AWS::NoValue"},
            ]
        },
    }


# --- events -------------------------------------------------------------------------------


def test_failed_runs_reach_the_execution_failed_function(cfn_template: dict[str, Any]) -> None:
    rule = cfn_template["Resources"]["ExecutionFailedRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": ["FAILED", "TIMED_OUT", "ABORTED"],
            "stateMachineArn": [{"Ref": "ReconcileStateMachine"}],
        },
    }
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ExecutionFailedFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["ExecutionEventsDeadLetterQueue", "Arn"]}
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    permission = cfn_template["Resources"]["ExecutionFailedInvokePermission"]["Properties"]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "ExecutionFailedFunction"},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": ["ExecutionFailedRule", "Arn"]},
    }
    queue_policy = cfn_template["Resources"]["ExecutionEventsDeadLetterQueuePolicy"]["Properties"]
    [statement] = queue_policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ExecutionFailedRule", "Arn"]}}
    }


# --- workflow resource --------------------------------------------------------------------


def test_state_machine_is_standard_traced_and_logged(cfn_template: dict[str, Any]) -> None:
    props = cfn_template["Resources"]["ReconcileStateMachine"]["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["RoleArn"] == {"Fn::GetAtt": ["ReconcileStateMachineRole", "Arn"]}
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"] == {
        "Level": "ERROR",
        "IncludeExecutionData": False,
        "Destinations": [
            {
                "CloudWatchLogsLogGroup": {
                    "LogGroupArn": {"Fn::GetAtt": ["ReconcileStateMachineLogGroup", "Arn"]}
                }
            }
        ],
    }


def test_outputs(cfn_template: dict[str, Any]) -> None:
    outputs = {name: o["Value"] for name, o in cfn_template["Outputs"].items()}
    assert outputs["SpecTableName"] == {"Ref": "SpecTable"}
    assert outputs["StatusTableName"] == {"Ref": "StatusTable"}
    assert outputs["ReconcileStateMachineArn"] == {"Ref": "ReconcileStateMachine"}
    assert outputs["OnFailureQueueUrl"] == {"Ref": "OnFailureQueue"}


def test_every_parameter_is_described_and_bounded(sam_template: dict[str, Any]) -> None:
    for name, spec in sam_template["Parameters"].items():
        assert spec.get("Description"), name
        if spec["Type"] == "Number":
            assert "AllowedValues" in spec or {"MinValue", "MaxValue"} <= set(spec), name
        elif spec["Type"] == "String":
            assert "AllowedValues" in spec or "AllowedPattern" in spec, name


def test_the_drift_schedule_is_created_after_the_hand_out_grant(
    cfn_template: dict[str, Any],
) -> None:
    # The first tick of a large fleet hands batches out: a schedule that could fire before
    # the grant exists would have that tick refused. CloudFormation orders by references and
    # DependsOn only, and the schedule references nothing of the policy.
    schedule = cfn_template["Resources"]["DriftCheckSchedule"]
    depends = schedule.get("DependsOn")
    assert (depends if isinstance(depends, list) else [depends]) == ["DriftCheckHandOutPolicy"]
    # and the grant names the unqualified ARN, which the handler invokes (its own test)
    policy = cfn_template["Resources"]["DriftCheckHandOutPolicy"]["Properties"]
    assert policy["PolicyDocument"]["Statement"][0]["Resource"] == {
        "Fn::GetAtt": ["DriftCheckFunction", "Arn"]
    }


def test_the_layer_is_named_after_the_stack(cfn_template: dict[str, Any]) -> None:
    # Without a name SAM names the layer after its logical id: two stacks in one account and
    # Region would publish versions of one layer. No other resource has a literal name.
    [layer] = _resources(cfn_template, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-deps"}
    literal = {
        (logical_id, key)
        for logical_id, resource in cfn_template["Resources"].items()
        for key, value in (resource.get("Properties") or {}).items()
        if key.endswith("Name") and isinstance(value, str)
        and key not in ("MetricName", "PolicyName", "DisplayName", "AttributeName")
    }  # fmt: skip
    assert literal == set()

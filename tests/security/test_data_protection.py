"""Data protection: encryption at rest (a customer managed key optional by parameter), point-in-
time recovery, log retention, deletion protection, and no full events or execution data in
the logs."""

from __future__ import annotations

from typing import Any

import pytest
from iam_checks import role_statements

KEY = {"Ref": "DataKmsKeyArn"}
NO_VALUE = {"Ref": "AWS::NoValue"}
KEY_OR_DEFAULT = {"Fn::If": ["HasDataKmsKey", KEY, NO_VALUE]}


def _of_type(cfn: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in cfn["Resources"].items() if r["Type"] == type_}


def resolve(value: Any, conditions: dict[str, bool]) -> Any:
    """``value`` with Fn::If decided by ``conditions`` and AWS::NoValue entries dropped."""
    if isinstance(value, dict):
        if "Fn::If" in value:
            name, when_true, when_false = value["Fn::If"]
            return resolve(when_true if conditions[name] else when_false, conditions)
        resolved = {k: resolve(v, conditions) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v != NO_VALUE}
    if isinstance(value, list):
        return [resolve(v, conditions) for v in value if resolve(v, conditions) != NO_VALUE]
    return value


def test_the_key_parameter_is_optional_and_must_be_a_key_arn(sam_template: dict[str, Any]) -> None:
    parameter = sam_template["Parameters"]["DataKmsKeyArn"]
    assert parameter["Default"] == ""
    assert sam_template["Conditions"]["HasDataKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DataKmsKeyArn"}, ""]}]
    }
    assert parameter["AllowedPattern"].startswith("^$|^arn:aws")


@pytest.mark.parametrize("with_key", [False, True])
def test_tables_are_encrypted_recoverable_and_protectable(
    cfn_template: dict[str, Any], with_key: bool
) -> None:
    tables = _of_type(cfn_template, "AWS::DynamoDB::Table")
    assert set(tables) == {"SpecTable", "StatusTable"}
    for props in tables.values():
        resolved = resolve(props, {"HasDataKmsKey": with_key, "ProtectTables": True})
        expected_sse = {"SSEEnabled": True, "SSEType": "KMS"}
        if with_key:
            expected_sse["KMSMasterKeyId"] = KEY
        assert resolved["SSESpecification"] == expected_sse
        assert resolved["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert resolved["DeletionProtectionEnabled"] is True
        assert (
            resolve(props, {"HasDataKmsKey": with_key, "ProtectTables": False})[
                "DeletionProtectionEnabled"
            ]
            is False
        )


@pytest.mark.parametrize("with_key", [False, True])
def test_queues_are_encrypted(cfn_template: dict[str, Any], with_key: bool) -> None:
    queues = _of_type(cfn_template, "AWS::SQS::Queue")
    assert queues
    for name, props in queues.items():
        resolved = resolve(props, {"HasDataKmsKey": with_key})
        if with_key:
            assert resolved.get("KmsMasterKeyId") == KEY, name
            assert "SqsManagedSseEnabled" not in resolved, name
        else:
            assert resolved.get("SqsManagedSseEnabled") is True, name
            assert "KmsMasterKeyId" not in resolved, name


def test_every_log_group_has_retention_and_takes_the_key(cfn_template: dict[str, Any]) -> None:
    groups = _of_type(cfn_template, "AWS::Logs::LogGroup")
    assert "ReconcileStateMachineLogGroup" in groups
    for name, props in groups.items():
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert props["KmsKeyId"] == KEY_OR_DEFAULT, name


def test_key_grants_are_scoped_to_the_key_and_to_the_services(
    cfn_template: dict[str, Any],
) -> None:
    # GIVEN every role's statements as granted when DataKmsKeyArn is set
    for role, statements in role_statements(cfn_template).items():
        for statement in statements:
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            if not any(str(a).startswith("kms:") for a in actions):
                continue
            # THEN a kms grant names only that key, for this account, through DynamoDB or SQS
            assert statement["Resource"] == KEY, role
            condition = statement["Condition"]["StringEquals"]
            assert condition["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}, role
            services = [s["Fn::Sub"] for s in condition["kms:ViaService"]]
            assert set(services) <= {
                "dynamodb.${AWS::Region}.amazonaws.com",
                "sqs.${AWS::Region}.amazonaws.com",
            }, role
            assert set(actions) <= {
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
            }, role


def test_without_the_key_no_role_holds_any_kms_grant(cfn_template: dict[str, Any]) -> None:
    for name, role in _of_type(cfn_template, "AWS::IAM::Role").items():
        for members in (False, True):
            resolved = resolve(
                role,
                {
                    "HasDataKmsKey": False,
                    "HasAllowedPassRoleArns": False,
                    "HasMemberAccounts": members,
                    "HasMemberOrganization": members,
                },
            )
            text = repr(resolved.get("Policies", []))
            assert "kms:" not in text, name


def test_the_workflow_logs_no_execution_data(cfn_template: dict[str, Any]) -> None:
    [machine] = _of_type(cfn_template, "AWS::StepFunctions::StateMachine").values()
    logging = machine["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] in ("ERROR", "FATAL", "OFF")


def test_functions_never_log_their_events(sam_template: dict[str, Any]) -> None:
    # Powertools logs the whole event when POWERTOOLS_LOGGER_LOG_EVENT is true: stream
    # records carry the spec item, custom resource events carry the ResponseURL.
    global_env = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    assert "POWERTOOLS_LOGGER_LOG_EVENT" not in global_env
    for name, resource in sam_template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            env = resource["Properties"].get("Environment", {}).get("Variables", {})
            assert "POWERTOOLS_LOGGER_LOG_EVENT" not in env, name


def test_prod_logs_at_info(sam_template: dict[str, Any]) -> None:
    import tomllib

    from template_support import ROOT

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert "LogLevel=INFO" in overrides.split()
    assert "TableDeletionProtection=true" in overrides.split()
    assert sam_template["Parameters"]["LogLevel"]["Default"] == "INFO"


def test_no_handler_asks_powertools_to_log_the_event() -> None:
    from template_support import ROOT

    for path in sorted((ROOT / "src" / "fleetwise_reconciler").rglob("*.py")):
        assert "log_event=True" not in path.read_text().replace(" ", ""), path

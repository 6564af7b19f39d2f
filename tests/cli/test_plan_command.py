# ruff: noqa: E501 - expected lines are compared whole
"""plan: what a reconcile would do, from the workflow's own code, writing nothing; against a
rehearsed stack, and with --spec against an external IoT FleetWise endpoint and no stack."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cli_support import OTHER, TARGET, Operator
from moto import mock_aws

from fleetwise_cli import main as cli
from fleetwise_cli.context import Context
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_rehearsal.aws.vclock import VirtualClock
from fleetwise_rehearsal.fleetwise import SUCCESS, FleetWiseSimulator
from fleetwise_rehearsal.rehearsal import START

pytestmark = pytest.mark.e2e

GET = "GetRegisterAccountStatus"


# -- against the stack ----------------------------------------------------------------------


def test_plan_says_what_the_next_run_then_does(operator: Callable[..., Operator]) -> None:
    # GIVEN a target whose item is written but whose stream record is not delivered yet
    op = operator()
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": TARGET}}
    )
    # WHEN the operator plans
    result = op.run("plan", TARGET)
    # THEN it would register (exit 2), having asked IoT FleetWise once and written nothing
    assert result.code == 2
    assert result.lines == [
        "123456789012:us-east-1: Register (NotRegistered): registering: the account is not registered with IoT FleetWise"
    ]
    assert op.r.fleetwise_calls() == {GET: 1}
    assert op.r.status(TARGET) is None
    assert op.r.executions() == []
    # AND the run then decides exactly that (the workflow's Observe step, same code)
    op.r.pump()
    op.r.settle()
    [run] = op.r.executions()
    assert "Register" in run.path
    assert json.loads(op.run("plan", TARGET, "-o", "json").out) == {
        "stack": "fleetwise-reconciler",
        "region": "us-east-1",
        "plans": [
            {
                "target": TARGET,
                "action": "NoChange",
                "phase": "Registered",
                "reason": "UpToDate",
                "message": "the account is registered as the spec declares",
                "drift": [],
                "specHash": spec_hash({"target": TARGET}),
            }
        ],
        "errors": [],
    }
    assert op.run("plan", TARGET).code == 0


def test_plan_every_target_and_the_exit_code_of_the_whole(
    operator: Callable[..., Operator],
) -> None:
    op = operator()
    op.r.write_spec({"target": TARGET})
    op.r.write_spec({"target": OTHER, "paused": True})
    op.r.settle()
    op.sim.forget_registration()
    result = op.run("plan", "--json")
    assert result.code == 2
    assert [(p["target"], p["action"]) for p in json.loads(result.out)["plans"]] == [
        (OTHER, "Paused"),
        (TARGET, "Register"),
    ]


def test_plan_of_an_invalid_item_calls_nothing(operator: Callable[..., Operator]) -> None:
    op = operator()
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"),
        Item={"target": {"S": TARGET}, "mode": {"S": "timestream"}, "colour": {"S": "red"}},
    )
    result = op.run("plan", TARGET)
    assert result.code == 1
    assert result.errors == [
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: colour: unknown field holding a String (S); allowed: target, mode, policy, paused, reconcileToken, timestream, iamRoleArn, onExisting",
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: timestream: is required when mode is 'timestream'",
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: iamRoleArn: is required when mode is 'timestream'",
    ]
    assert result.lines == [
        "123456789012:us-east-1: Invalid (InvalidSpec): the spec is invalid, nothing was called: colour: unknown field holding a String (S); allowed: target, mode, policy, paused, reconcileToken, timestream, iamRoleArn, onExisting; timestream: is required when mode is 'timestream'; iamRoleArn: is required when mode is 'timestream'"
    ]
    assert op.r.fleetwise_calls() == {}


def test_plan_of_an_unknown_target_and_of_a_denied_call(operator: Callable[..., Operator]) -> None:
    op = operator()
    op.r.write_spec({"target": TARGET})
    op.r.settle()
    assert op.run("plan", OTHER).errors == [
        "fleetwise-reconciler: no target 123456789012:eu-central-1 in stack 'fleetwise-reconciler': did you mean 123456789012:us-east-1?"
    ]
    op.sim.fail_next(GET, "AccessDeniedException", "not authorized to GetRegisterAccountStatus")
    result = op.run("plan", TARGET)
    assert (result.code, result.out) == (1, "")
    assert result.errors == [
        "fleetwise-reconciler: permission denied: planning 123456789012:us-east-1 needs iotfleetwise:GetRegisterAccountStatus: not authorized to GetRegisterAccountStatus"
    ]


def test_plan_uses_the_stacks_own_limits(operator: Callable[..., Operator]) -> None:
    # GIVEN a stack that may pass only one role to IoT FleetWise
    allowed = "arn:aws:iam::123456789012:role/FleetWiseTimestream"
    op = operator(AllowedPassRoleArns=allowed)
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"),
        Item={
            "target": {"S": TARGET},
            "mode": {"S": "timestream"},
            "timestream": {"M": {"databaseName": {"S": "fleet"}, "tableName": {"S": "signals"}}},
            "iamRoleArn": {"S": "arn:aws:iam::123456789012:role/Other"},
        },
    )
    result = op.run("plan", TARGET, "--json")
    assert result.code == 1
    assert json.loads(result.out)["plans"][0]["action"] == "Invalid"
    assert result.errors == [
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: iamRoleArn: arn:aws:iam::123456789012:role/Other is not a role this stack may pass to IoT FleetWise; redeploy the stack with parameter AllowedPassRoleArns including it"
    ]


# -- --spec, no stack, an external endpoint --------------------------------------------------


@pytest.fixture
def external(monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetWiseSimulator]:
    """An IoT FleetWise endpoint on loopback that no rehearsal started, and STS from moto
    (which answers the caller's account, 123456789012). No stack exists anywhere."""
    clock = VirtualClock(START)
    with mock_aws(), FleetWiseSimulator(clock=clock.time, default_pending_seconds=0) as sim:
        monkeypatch.setenv("AWS_ENDPOINT_URL_IOTFLEETWISE", sim.endpoint_url)
        yield sim


def plan_spec(tmp_path: Path, spec: Any, *extra: str) -> tuple[int, str, str, list[str]]:
    """Run ``plan --spec FILE --json``; also return every AWS call the CLI made. (With -o
    json the Region used is in the JSON, not on stderr.)"""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    session = boto3.Session(region_name="us-east-1")
    calls: list[str] = []
    session.events.register("before-call", lambda model, **_: calls.append(model.name))
    out, err = io_pair()
    ctx = Context(session=session, out=out, err=err, colour=False)
    code = cli.main(["plan", "--spec", str(path), "--json", *extra], ctx=ctx)
    return code, out.getvalue(), err.getvalue(), calls


def io_pair() -> tuple[io.StringIO, io.StringIO]:
    return io.StringIO(), io.StringIO()


def test_plan_spec_never_registered_would_register(
    external: FleetWiseSimulator, tmp_path: Path
) -> None:
    code, out, err, calls = plan_spec(tmp_path, {"mode": "cloudwatch"})
    assert (code, err) == (2, "")
    assert json.loads(out) == {
        "stack": None,  # --spec: no stack
        "region": "us-east-1",
        "plans": [
            {
                "target": TARGET,  # the caller's account, the session's Region
                "action": "Register",
                "phase": "Registering",
                "reason": "NotRegistered",
                "message": "registering: the account is not registered with IoT FleetWise",
                "drift": ["the account is not registered with IoT FleetWise"],
                "specHash": spec_hash({"mode": "cloudwatch", "target": TARGET}),
            }
        ],
        "errors": [],
    }
    assert calls == ["GetCallerIdentity", GET]
    assert [c.operation for c in external.calls()] == [GET]


def test_plan_spec_registered_and_matching_is_no_change(
    external: FleetWiseSimulator, tmp_path: Path
) -> None:
    external.set_account_status(SUCCESS)
    code, out, err, _ = plan_spec(tmp_path, {"target": TARGET, "policy": "enforce"})
    assert (code, err) == (0, "")
    assert json.loads(out)["plans"][0]["action"] == "NoChange"
    assert external.count("RegisterAccount") == 0


def test_plan_spec_invalid_makes_no_call_at_all(
    external: FleetWiseSimulator, tmp_path: Path
) -> None:
    code, out, err, calls = plan_spec(tmp_path, {"target": TARGET, "policy": "sometimes"})
    assert code == 1
    assert json.loads(out)["plans"][0]["action"] == "Invalid"
    assert err.splitlines() == [
        f"fleetwise-reconciler: {tmp_path / 'spec.json'}: invalid spec: policy: must be one of 'enforce' or 'observe-only', got 'sometimes'"
    ]
    assert calls == []
    assert external.calls() == []


def test_plan_spec_takes_limits_from_params(external: FleetWiseSimulator, tmp_path: Path) -> None:
    spec = {
        "mode": "timestream",
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iamRoleArn": "arn:aws:iam::123456789012:role/Other",
    }
    # The template's default: any role of the caller's account
    assert plan_spec(tmp_path, spec)[0] == 2
    # A stack deployed with one allowed role refuses another, with no call at all
    code, _, err, calls = plan_spec(
        tmp_path, spec, "--param", "AllowedPassRoleArns=arn:aws:iam::123456789012:role/Mine"
    )
    assert code == 1
    assert (
        "iamRoleArn: arn:aws:iam::123456789012:role/Other is not a role this stack may pass" in err
    )
    assert calls == []
    code, _, err, _ = plan_spec(tmp_path, spec, "--param", "MaxRegistrationAttempts=0")
    assert (code, err) == (
        1,
        "fleetwise-reconciler: --param: MaxRegistrationAttempts: 0 is below its MinValue 1\n",
    )
    code, _, err, _ = plan_spec(tmp_path, spec, "--param", "Nope=1")
    assert err == "fleetwise-reconciler: --param: 'Nope' is not a parameter of template.yaml\n"


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (
            "{not json",
            "spec.json",
            "spec.json: not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            "[1]",
            "spec.json",
            "spec.json: item 1: a spec item is an object of attributes (target, mode, policy, ...), got int",
        ),
        (
            "target: [",
            "spec.yaml",
            "spec.yaml: not valid YAML: line 1: expected the node content, but found '<stream end>'",
        ),
        (
            "reconcileToken: 2026-11-26\n",
            "spec.yaml",
            "spec.yaml: reconcileToken: holds a date (2026-11-26), which a DynamoDB item cannot hold; quote it",
        ),
        ("[{}, {}]", "spec.json", "<tmp>/spec.json: plan --spec takes one spec item, got 2"),
    ],
)
def test_plan_spec_refuses_a_malformed_file(
    external: FleetWiseSimulator, tmp_path: Path, content: str, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    out, err = io_pair()
    code = cli.main(["plan", "--spec", str(path)], ctx=Context(out=out, err=err))
    assert (code, out.getvalue()) == (1, "")
    assert err.getvalue() == (
        "fleetwise-reconciler: no stack (--spec), Region us-east-1 (AWS_REGION)\n"
        f"fleetwise-reconciler: {message.replace('<tmp>', str(tmp_path))}\n"
    )
    assert external.calls() == []


MEMBER = "210987654321"
MEMBER_TARGET = f"{MEMBER}:eu-central-1"


def test_plan_of_a_member_accounts_target_goes_through_its_member_role(
    operator: Callable[..., Operator],
) -> None:
    # GIVEN a member account whose role trusts the operator too (the rehearsal's driver)
    op = operator(MemberAccountIds=MEMBER)
    op.r.deploy_member(MEMBER, {"OperatorPrincipalArns": "arn:aws:iam::123456789012:user/moto"})
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": MEMBER_TARGET}}
    )
    # WHEN the operator plans that target
    result = op.run("plan", MEMBER_TARGET)
    # THEN IoT FleetWise was asked once, in the member account and the target's Region
    assert result.lines == [
        "210987654321:eu-central-1: Register (NotRegistered): registering: the account is not registered with IoT FleetWise"
    ]
    assert result.code == 2
    assert len(op.sim.calls(GET, account=MEMBER, region="eu-central-1")) == 1
    assert op.sim.calls(GET, account="123456789012") == []


def test_plan_of_a_target_in_an_account_listed_under_the_stacks_path(
    operator: Callable[..., Operator],
) -> None:
    # GIVEN a stack deployed without MemberAccountIds, its member account listed in Parameter
    # Store under the stack's path (as the functions read it), the target in the table
    op = operator()
    op.r.deploy_member(MEMBER, {"OperatorPrincipalArns": "arn:aws:iam::123456789012:user/moto"})
    path = op.r.stack.function_env("ObserveFunction")["MEMBER_ACCOUNTS_PATH"]
    op.r.client("ssm").put_parameter(Name=f"{path}/ours", Type="StringList", Value=MEMBER)
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": MEMBER_TARGET}}
    )
    # WHEN the operator plans it, THEN the CLI finds the account allowed as the functions do
    result = op.run("plan", MEMBER_TARGET)
    assert result.lines == [
        "210987654321:eu-central-1: Register (NotRegistered): registering: the account is not registered with IoT FleetWise"
    ]
    # AND without the list the same target is Invalid, naming where to list it
    op.r.client("ssm").delete_parameter(Name=f"{path}/ours")
    refused = op.run("plan", MEMBER_TARGET)
    assert refused.code == 1
    assert f"list it in a StringList parameter under {path}" in refused.out


def test_plan_through_a_member_role_that_does_not_trust_the_operator(
    operator: Callable[..., Operator],
) -> None:
    # GIVEN a member role trusting the hub's reconciler roles only
    op = operator(MemberAccountIds=MEMBER)
    op.r.deploy_member(MEMBER)
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": MEMBER_TARGET}}
    )
    # WHEN the operator plans that target
    result = op.run("plan", MEMBER_TARGET)
    # THEN it says which role of which account refused, and IoT FleetWise was not called
    assert (result.code, result.out) == (1, "")
    assert result.errors == [
        "fleetwise-reconciler: planning 210987654321:eu-central-1: could not assume the member role arn:aws:iam::210987654321:role/FleetWiseReconcilerMember of account 210987654321: User: arn:aws:iam::123456789012:user/moto is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/FleetWiseReconcilerMember. The member role trusts the hub's reconciler roles and, of the operators, only the principals in the member stack's OperatorPrincipalArns parameter (member/template.yaml): add your role's ARN there (update the StackSet's instances), or run the command as a principal it lists"
    ]
    assert op.sim.calls(GET) == []


def test_plan_of_every_target_goes_on_past_a_member_it_cannot_assume_into(
    operator: Callable[..., Operator],
) -> None:
    # GIVEN the stack's own target and a member target whose role does not trust the operator
    op = operator(MemberAccountIds=MEMBER)
    op.r.deploy_member(MEMBER)
    for target in (TARGET, MEMBER_TARGET):
        op.r.client("dynamodb").put_item(
            TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": target}}
        )
    # WHEN the operator plans every target, for a script
    result = op.run("plan", "-o", "json")
    # THEN the member target's failure is its own entry, the other target is still planned,
    # and the exit code says some failed (6)
    data = json.loads(result.out)
    assert result.code == 6
    assert [(p["target"], p["action"]) for p in data["plans"]] == [(TARGET, "Register")]
    [error] = data["errors"]
    assert error["target"] == MEMBER_TARGET
    assert "OperatorPrincipalArns" in error["error"]
    assert result.errors == [f"fleetwise-reconciler: {MEMBER_TARGET}: {error['error']}"]
    # AND for people: the plan on stdout, the failure on stderr, the same exit code
    table = op.run("plan")
    assert table.code == 6
    assert table.lines == [
        "123456789012:us-east-1: Register (NotRegistered): registering: the account is not registered with IoT FleetWise"
    ]


def test_plan_selects_targets_by_account_and_region(operator: Callable[..., Operator]) -> None:
    op = operator()
    for target in (TARGET, OTHER):
        op.r.client("dynamodb").put_item(
            TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": target}}
        )
    chosen = json.loads(op.run("plan", "-o", "json", "--target-region", "eu-central-1").out)
    assert [p["target"] for p in chosen["plans"]] == [OTHER]
    assert json.loads(op.run("plan", "-o", "json", "--account", "999999999999").out)["plans"] == []
    refused = op.run("plan", TARGET, "--account", "123456789012")
    assert (refused.code, refused.errors) == (
        1,
        [
            "fleetwise-reconciler: --phase, --account and --target-region choose among all targets: give them without TARGET"
        ],
    )

# ruff: noqa: E501 - expected lines are compared whole
"""The installed ``fleetwise-reconciler`` as an operator's shell runs it: a separate process,
its Region and endpoints from the environment, against AWS served on loopback.

The stack is moto's standalone server (CloudFormation, DynamoDB, Step Functions), holding a
stack whose outputs name two tables created to the template's own shapes
(``conftest.create_table``), and IoT FleetWise is the rehearsal's simulator; the process
reaches them through ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_IOTFLEETWISE``, as it would
reach a locally served stack. No reconciler runs here: what the workflow does is the
rehearsal's tests'; these show what the command line itself does, one test per defect found.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from fleetwise_rehearsal.aws.vclock import VirtualClock
from fleetwise_rehearsal.fleetwise import SUCCESS, FleetWiseSimulator
from fleetwise_rehearsal.rehearsal import START

pytestmark = pytest.mark.e2e


def _root_conftest() -> Any:
    """tests/conftest.py (this folder's conftest shadows its name): ``create_table`` makes
    tables to template.yaml's own shapes."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


create_table = _root_conftest().create_table

PROG = shutil.which("fleetwise-reconciler", path=str(Path(sys.executable).parent))
ACCOUNT = "123456789012"
MEMBER = "210987654321"
TARGET = f"{ACCOUNT}:us-east-1"
OTHER = f"{ACCOUNT}:eu-central-1"
MEMBER_TARGET = f"{MEMBER}:eu-central-1"
STACK = "fleetwise-reconciler"
SPEC_TABLE = "served-spec"
STATUS_TABLE = "served-status"
WHERE = f"fleetwise-reconciler: stack {STACK} (default name), Region us-east-1 (AWS_REGION)"


def stack_template(spec_table: str, status_table: str) -> str:
    """A stack with the reconciler's outputs and the parameters the CLI reads."""
    return json.dumps(
        {
            "Parameters": {
                "MemberAccountIds": {"Type": "String", "Default": MEMBER},
                "MemberRoleName": {"Type": "String", "Default": "FleetWiseReconcilerMember"},
                "MaxRegistrationAttempts": {"Type": "String", "Default": "5"},
            },
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {
                "SpecTableName": {"Value": spec_table},
                "StatusTableName": {"Value": status_table},
            },
        }
    )


class _DeniedSts(BaseHTTPRequestHandler):
    """STS answering every request AccessDenied, as for a member role that does not trust
    the caller (awsQuery's error document)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            "<Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
            f"arn:aws:iam::{ACCOUNT}:user/operator is not authorized to perform: "
            "sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class Served:
    """AWS on loopback: moto's server, IoT FleetWise, an STS that refuses."""

    url: str
    fleetwise: FleetWiseSimulator
    sts_url: str

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=region)

    def env(self, **changes: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_ENDPOINT_URL_IOTFLEETWISE=self.fleetwise.endpoint_url,
            AWS_ENDPOINT_URL_STS=self.sts_url,
            NO_COLOR="1",
        )
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    sts = ThreadingHTTPServer(("127.0.0.1", 0), _DeniedSts)
    threading.Thread(target=sts.serve_forever, daemon=True).start()
    host, port = moto.get_host_and_port()
    clock = VirtualClock(START)
    try:
        with FleetWiseSimulator(clock=clock.time, default_pending_seconds=0) as fleetwise:
            yield Served(f"http://{host}:{port}", fleetwise, f"http://127.0.0.1:{sts.server_port}")
    finally:
        sts.shutdown()
        moto.stop()


@pytest.fixture
def stack(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """The stack, its tables empty, IoT FleetWise with nothing registered."""
    # (the autouse environment's fake credentials reach moto's server as they are)
    ddb = served.client("dynamodb")
    cfn = served.client("cloudformation")
    if SPEC_TABLE not in ddb.list_tables()["TableNames"]:
        create_table(ddb, "SpecTable", SPEC_TABLE)
        create_table(ddb, "StatusTable", STATUS_TABLE)
        cfn.create_stack(StackName=STACK, TemplateBody=stack_template(SPEC_TABLE, STATUS_TABLE))
    for table, keys in ((SPEC_TABLE, ("target",)), (STATUS_TABLE, ("target", "kind"))):
        for item in ddb.scan(TableName=table)["Items"]:
            ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})
    served.fleetwise.forget()
    return served


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's current folder: no samconfig.toml unless a test writes one."""
    return tmp_path


def run(
    served: Served, cwd: Path, *argv: str, stdin: str | None = None, **env: str | None
) -> subprocess.CompletedProcess[str]:
    assert PROG is not None
    return subprocess.run(  # noqa: S603 - the project's own console script
        [PROG, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=served.env(**env),
        input=stdin,
        timeout=60,
        check=False,
    )


def put_spec(served: Served, item: dict[str, Any]) -> None:
    served.client("dynamodb").put_item(
        TableName=SPEC_TABLE,
        Item={k: boto3.dynamodb.types.TypeSerializer().serialize(v) for k, v in item.items()},
    )


def specs(served: Served) -> dict[str, dict[str, Any]]:
    deserialize = boto3.dynamodb.types.TypeDeserializer().deserialize
    items = served.client("dynamodb").scan(TableName=SPEC_TABLE)["Items"]
    return {i["target"]["S"]: {k: deserialize(v) for k, v in i.items()} for i in items}


def lines(text: str) -> list[str]:
    return text.splitlines()


# -- where: the Region and the stack -------------------------------------------------------------


def test_aws_region_is_honoured_and_said(stack: Served, workdir: Path) -> None:
    # GIVEN only AWS_REGION set (botocore itself reads AWS_DEFAULT_REGION)
    put_spec(stack, {"target": TARGET})
    done = run(stack, workdir, "status", AWS_DEFAULT_REGION=None)
    # THEN the stack is found in that Region, and the command says where it looked
    assert done.returncode == 0, done.stderr
    assert lines(done.stderr) == [WHERE]
    # AND AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS CLI
    elsewhere = run(stack, workdir, "status", AWS_REGION="eu-central-1")
    assert elsewhere.returncode == 1
    assert lines(elsewhere.stderr) == [
        f"fleetwise-reconciler: stack {STACK} (default name), Region eu-central-1 (AWS_REGION)",
        f"fleetwise-reconciler: stack '{STACK}' not found in eu-central-1: deploy it with 'sam deploy', or name another with --stack (and --region)",
    ]
    # AND with -o json the Region is a field, and stderr says nothing
    data = json.loads(run(stack, workdir, "status", "-o", "json").stdout)
    assert (data["stack"], data["region"]) == (STACK, "us-east-1")


def test_config_env_without_its_samconfig_stops(stack: Served, workdir: Path) -> None:
    # GIVEN a target, and a folder without samconfig.toml
    put_spec(stack, {"target": TARGET})
    # WHEN the operator deletes with --config-env prod
    done = run(stack, workdir, "delete", TARGET, "--yes", "--config-env", "prod")
    # THEN nothing is done to the default stack: the missing file is named
    assert (done.returncode, done.stdout) == (1, "")
    assert lines(done.stderr) == [
        f"fleetwise-reconciler: --config-env prod: no SAM configuration file at {workdir / 'samconfig.toml'}: run the command from the folder you deploy from, or name the file with --config-file FILE"
    ]
    assert TARGET in specs(stack)
    # AND --config-file names one elsewhere: its environment's stack and Region are used
    config = workdir / "deploy" / "samconfig.toml"
    config.parent.mkdir()
    config.write_text(
        'version = 0.1\n[prod.global.parameters]\nstack_name = "fleetwise-reconciler"\n'
        '[prod.deploy.parameters]\nregion = "us-east-1"\n'
    )
    found = run(
        stack, workdir, "status", "--config-file", str(config), "--config-env", "prod",
        AWS_REGION="eu-central-1",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert lines(found.stderr) == [
        f"fleetwise-reconciler: stack {STACK} (samconfig.toml [prod]), Region us-east-1 (samconfig.toml [prod])"
    ]


# -- apply: validate all, write all, wait for all -------------------------------------------------


def test_apply_writes_every_item_then_waits_for_all_under_one_timeout(
    stack: Served, workdir: Path
) -> None:
    # GIVEN a file of two targets (no reconciler runs here: no outcome will come)
    path = workdir / "targets.yaml"
    path.write_text(f"- target: '{TARGET}'\n- target: '{OTHER}'\n  policy: observe-only\n")
    # WHEN applied with --wait and a 2-second timeout
    done = run(
        stack,
        workdir,
        "apply",
        "-f",
        str(path),
        "--yes",
        "--wait",
        "--timeout",
        "2",
        "--interval",
        "1",
    )
    # THEN both are written first, then followed together: one summary line (a pipe: plain
    # lines), one timeout for both, exit 5
    assert done.returncode == 5
    assert specs(stack) == {
        TARGET: {"target": TARGET},
        OTHER: {"target": OTHER, "policy": "observe-only"},
    }
    written = [line for line in lines(done.stdout) if "written" in line]
    assert [line.split(":")[0:2] for line in written] == [
        [ACCOUNT, "us-east-1"],
        [ACCOUNT, "eu-central-1"],
    ]
    errors = lines(done.stderr)
    assert errors[0] == WHERE
    assert errors[1] == "2 targets: 2 waiting for a run"
    assert [e.split(": no outcome")[0] for e in errors[2:]] == [
        f"fleetwise-reconciler: {TARGET}",
        f"fleetwise-reconciler: {OTHER}",
    ]
    assert all("(--timeout 2)" in e for e in errors[2:])


def test_apply_of_several_items_asks_and_refuses_without_a_terminal(
    stack: Served, workdir: Path
) -> None:
    path = workdir / "targets.yaml"
    path.write_text(f"- target: '{TARGET}'\n- target: '{OTHER}'\n")
    done = run(stack, workdir, "apply", "-f", str(path))
    assert done.returncode == 1
    assert "with no terminal to ask on, pass --yes" in done.stderr
    assert specs(stack) == {}


# -- plan: every target, past a member it cannot assume into -------------------------------------


def test_plan_goes_on_past_a_member_target_and_names_operator_principal_arns(
    stack: Served, workdir: Path
) -> None:
    put_spec(stack, {"target": TARGET})
    put_spec(stack, {"target": MEMBER_TARGET})
    done = run(stack, workdir, "plan", "-o", "json")
    assert done.returncode == 6
    data = json.loads(done.stdout)
    assert [(p["target"], p["action"]) for p in data["plans"]] == [(TARGET, "Register")]
    [error] = data["errors"]
    assert error["target"] == MEMBER_TARGET
    assert error["error"] == (
        "planning 210987654321:eu-central-1: could not assume the member role "
        "arn:aws:iam::210987654321:role/FleetWiseReconcilerMember of account 210987654321: "
        f"User: arn:aws:iam::{ACCOUNT}:user/operator is not authorized to perform: "
        "sts:AssumeRole. The member role trusts the hub's reconciler roles and, of the "
        "operators, only the principals in the member stack's OperatorPrincipalArns parameter "
        "(member/template.yaml): add your role's ARN there (update the StackSet's instances), "
        "or run the command as a principal it lists"
    )
    assert lines(done.stderr) == [f"fleetwise-reconciler: {MEMBER_TARGET}: {error['error']}"]


def test_plan_json_is_one_shape_for_one_target_and_for_all(stack: Served, workdir: Path) -> None:
    put_spec(stack, {"target": TARGET})
    one = json.loads(run(stack, workdir, "plan", TARGET, "--json").stdout)
    every = json.loads(run(stack, workdir, "plan", "--json").stdout)
    assert one == every
    assert list(one) == ["stack", "region", "plans", "errors"]


def test_plan_spec_of_an_invalid_item_names_the_file_not_a_stand_in_account(
    stack: Served, workdir: Path
) -> None:
    path = workdir / "spec.json"
    path.write_text(json.dumps({"policy": "sometimes"}))
    done = run(stack, workdir, "plan", "--spec", str(path))
    assert done.returncode == 1
    assert "000000000000" not in done.stdout + done.stderr
    assert done.stdout.startswith(f"{path}: Invalid (InvalidSpec): ")
    data = json.loads(run(stack, workdir, "plan", "--spec", str(path), "-o", "json").stdout)
    assert (data["stack"], data["plans"][0]["target"]) == (None, None)


# -- the smaller defects ------------------------------------------------------------------------


def test_set_says_each_problem_once(stack: Served, workdir: Path) -> None:
    put_spec(stack, {"target": TARGET})
    done = run(
        stack, workdir, "set", TARGET, "--mode", "timestream", "--timestream-database", "fleet"
    )
    assert done.returncode == 1
    assert lines(done.stderr)[1:] == [
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: iamRoleArn: is required when mode is 'timestream'",
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: timestream.tableName: is required",
    ]


def test_delete_dry_run_is_documented_and_writes_nothing(stack: Served, workdir: Path) -> None:
    put_spec(stack, {"target": TARGET})
    assert "--dry-run" in run(stack, workdir, "delete", "--help").stdout
    done = run(stack, workdir, "delete", TARGET, "--dry-run")
    assert done.returncode == 0
    assert lines(done.stdout) == [f"{TARGET}: dry run: nothing written"]
    assert TARGET in specs(stack)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", TARGET, "--limit", "0"], "argument --limit: must be 1 or more, got 0"),
        (
            ["reconcile", TARGET, "--wait", "--timeout", "-5"],
            "argument --timeout: must be at least 1e-09 seconds, got -5",
        ),
        (
            ["reconcile", TARGET, "--wait", "--interval", "0"],
            "argument --interval: must be at least 1 seconds, got 0",
        ),
        (
            ["status", "--watch", "--interval", "0.2"],
            "argument --interval: must be at least 1 seconds, got 0.2",
        ),
    ],
)
def test_numbers_are_checked_before_anything_is_written(
    stack: Served, workdir: Path, argv: list[str], message: str
) -> None:
    put_spec(stack, {"target": TARGET})
    done = run(stack, workdir, *argv)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith(f"error: {message}\n")
    assert specs(stack) == {TARGET: {"target": TARGET}}


def test_a_typod_target_suggests_the_close_ones(stack: Served, workdir: Path) -> None:
    for n in range(12):
        put_spec(stack, {"target": f"1234567890{n:02d}:us-east-1"})
    done = run(stack, workdir, "status", "123456789021:us-east-1")
    assert done.returncode == 1
    assert lines(done.stderr)[1] == (
        f"fleetwise-reconciler: no target 123456789021:us-east-1 in stack '{STACK}': did you "
        "mean 123456789011:us-east-1 or 123456789010:us-east-1 or 123456789002:us-east-1?"
    )


def test_a_missing_table_is_named(stack: Served, workdir: Path) -> None:
    stack.client("cloudformation").create_stack(
        StackName="broken", TemplateBody=stack_template("gone-spec", "gone-status")
    )
    done = run(stack, workdir, "status", "--stack", "broken")
    assert done.returncode == 1
    assert lines(done.stderr)[1] == (
        "fleetwise-reconciler: reading the spec table: table gone-spec (output SpecTableName "
        "of stack 'broken') does not exist in us-east-1: was it deleted outside CloudFormation, "
        "or is the stack being removed? Check the stack's status and resources in CloudFormation"
    )


def _as_a_shell_starts_it() -> None:
    """A foreground command gets Ctrl-C: SIGINT neither ignored nor blocked, whatever the
    test runner's process happens to hold when it starts the command."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_while_waiting_says_the_run_goes_on(stack: Served, workdir: Path) -> None:
    put_spec(stack, {"target": TARGET})
    assert PROG is not None
    waiting = subprocess.Popen(  # noqa: S603 - the project's own console script
        [PROG, "reconcile", TARGET, "--wait", "--interval", "1", "--timeout", "60"],
        cwd=workdir,
        env=stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_a_shell_starts_it,  # noqa: PLW1509 - only signal calls, before exec
    )
    assert waiting.stderr is not None
    seen = []
    for line in waiting.stderr:  # until it follows the run
        seen.append(line.rstrip("\n"))
        if "waiting for a run to start" in line:
            break
    waiting.send_signal(signal.SIGINT)
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 130
    assert lines(out)[-1].endswith("a reconcile starts now")
    assert lines(err) == [
        "fleetwise-reconciler: interrupted: stopped following; what was written stays written and the runs go on in AWS: follow them with 'fleetwise-reconciler status 123456789012:us-east-1 --watch'"
    ]
    assert "reconcileToken" in specs(stack)[TARGET]  # the write stands


def test_rehearse_checks_param_names_without_a_scenario(workdir: Path, stack: Served) -> None:
    done = run(stack, workdir, "rehearse", "--json", "--param", "MaxRegistrationAttemps=3")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "fleetwise-reconciler: --param: 'MaxRegistrationAttemps' is not a parameter of template.yaml\n"
    )


def test_demo_help_says_what_it_does_with_an_example(workdir: Path, stack: Served) -> None:
    done = run(stack, workdir, "demo", "--help")
    assert done.returncode == 0
    assert "The offline rehearsal, narrated" in done.stdout
    assert "example:\n  fleetwise-reconciler demo" in done.stdout


def test_version_and_completion(workdir: Path, stack: Served) -> None:
    version = run(stack, workdir, "--version")
    assert version.stdout == "fleetwise-reconciler 0.1.0\n"
    bash = run(stack, workdir, "completion", "bash")
    assert bash.returncode == 0
    assert "complete " in bash.stdout and "fleetwise-reconciler" in bash.stdout
    # AND the shell's request is answered from the parser (argcomplete's protocol)
    line = "fleetwise-reconciler sta"
    asked = run(
        stack, workdir, _ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)),
        _ARGCOMPLETE_STDOUT_FILENAME=str(workdir / "completions"),
    )  # fmt: skip
    assert asked.returncode == 0
    assert (workdir / "completions").read_text().split() == ["status"]


def test_debug_logs_every_call(stack: Served, workdir: Path) -> None:
    put_spec(stack, {"target": TARGET})
    done = run(stack, workdir, "status", "--debug")
    calls = [line for line in lines(done.stderr) if line.startswith("debug: ")]
    assert calls == [
        "debug: cloudformation.DescribeStacks in us-east-1",
        "debug: dynamodb.Scan in us-east-1",
        "debug: dynamodb.Scan in us-east-1",
    ]


# -- pause --all, unlock, diff, adopt -------------------------------------------------------------


def test_pause_all_for_maintenance_then_resume(stack: Served, workdir: Path) -> None:
    for target in (TARGET, OTHER):
        put_spec(stack, {"target": target})
    refused = run(stack, workdir, "pause", "--all")
    assert refused.returncode == 1
    assert specs(stack)[TARGET] == {"target": TARGET}
    done = run(stack, workdir, "pause", "--all", "--yes", "-o", "yaml")
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert [(r["target"], r["written"]) for r in data["results"]] == [(OTHER, True), (TARGET, True)]
    assert {t: s.get("paused") for t, s in specs(stack).items()} == {TARGET: True, OTHER: True}
    # AND resume only one account's Region
    run(stack, workdir, "resume", "--all", "--target-region", "eu-central-1", "--yes")
    assert {t: s.get("paused") for t, s in specs(stack).items()} == {TARGET: True, OTHER: False}


def test_unlock_refuses_while_the_run_is_live(stack: Served, workdir: Path) -> None:
    # GIVEN a lease held by an execution that is RUNNING
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"m{os.getpid()}",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="held")["executionArn"]
    put_spec(stack, {"target": TARGET})
    stack.client("dynamodb").put_item(
        TableName=STATUS_TABLE,
        Item={
            "target": {"S": TARGET},
            "kind": {"S": "LEASE"},
            "holder": {"S": arn},
            "expiresAt": {"N": "4102444800"},
        },
    )
    # (moto's server leaves an execution RUNNING until it is stopped)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    refused = run(stack, workdir, "unlock", TARGET)
    assert refused.returncode == 1
    assert lines(refused.stderr)[1] == (
        f"fleetwise-reconciler: {TARGET}: the lease is held by run held, which is RUNNING: "
        "nothing unlocked. Let it finish, or stop it first (aws stepfunctions stop-execution "
        f"--execution-arn {arn}); the execution-status rule then records it and releases the lease"
    )
    assert len(stack.client("dynamodb").scan(TableName=STATUS_TABLE)["Items"]) == 1
    sfn.stop_execution(executionArn=arn)
    # WHEN the run is no longer running THEN the lease is released
    done = run(stack, workdir, "unlock", TARGET, "-o", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["released"], data["execution"]["name"]) == (True, "held")
    items = stack.client("dynamodb").scan(TableName=STATUS_TABLE)["Items"]
    assert [i for i in items if i["kind"]["S"] == "LEASE"] == []


def test_diff_of_a_file_field_by_field(stack: Served, workdir: Path) -> None:
    put_spec(stack, {"target": TARGET, "policy": "observe-only"})
    path = workdir / "targets.yaml"
    path.write_text(f"target: '{TARGET}'\npaused: true\n")
    done = run(stack, workdir, "diff", "-f", str(path))
    assert done.returncode == 2
    assert lines(done.stdout) == [
        f"TARGET                  FIELD   STORED        {str(path).upper()}",
        f"{TARGET}  paused  (absent)      true",
        f"{TARGET}  policy  observe-only  (absent)",
    ]
    same = workdir / "same.yaml"
    same.write_text(f"target: '{TARGET}'\npolicy: observe-only\n")
    assert run(stack, workdir, "diff", "-f", str(same)).returncode == 0


def test_adopt_writes_the_spec_as_registered(stack: Served, workdir: Path) -> None:
    # GIVEN an account registered by hand in Timestream mode, and a modern spec
    role = f"arn:aws:iam::{ACCOUNT}:role/FleetWiseTimestream"
    stack.fleetwise.set_account_status(SUCCESS)
    stack.fleetwise.attach_timestream("fleet", "signals", role)
    put_spec(stack, {"target": TARGET, "reconcileToken": "t1"})
    diff = run(stack, workdir, "diff", TARGET, "-o", "json")
    assert diff.returncode == 2
    assert json.loads(diff.stdout)["diffs"][0]["changes"] == [
        {"field": "mode", "from": "timestream", "to": "cloudwatch"},
        {"field": "timestream.databaseName", "from": "fleet", "to": None},
        {"field": "timestream.tableName", "from": "signals", "to": None},
    ]
    # WHEN adopted as it is
    done = run(stack, workdir, "adopt", TARGET)
    assert done.returncode == 0, done.stderr
    # THEN the spec says what is registered (the token kept), and a plan changes nothing
    assert specs(stack)[TARGET] == {
        "target": TARGET,
        "reconcileToken": "t1",
        "mode": "timestream",
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iamRoleArn": role,
    }
    assert run(stack, workdir, "plan", TARGET).returncode == 0
    # AND --replace keeps a spec and lets the stack register it over the existing one
    put_spec(stack, {"target": TARGET})
    assert run(stack, workdir, "adopt", TARGET, "--replace").returncode == 0
    assert specs(stack)[TARGET] == {"target": TARGET, "onExisting": "replace"}

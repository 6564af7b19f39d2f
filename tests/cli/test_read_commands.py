# ruff: noqa: E501 - expected lines are compared whole
"""status, history and plan against a rehearsed stack: what an operator reads, exactly."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import yaml
from cli_support import OTHER, STACK, TARGET, Operator

from fleetwise_cli.context import Context, colour_wanted
from fleetwise_rehearsal.fleetwise import FAILURE

pytestmark = pytest.mark.e2e


def registered(operator: Callable[..., Operator]) -> Operator:
    """GIVEN the stack's own target written by an operator and registered (pending 300 s)."""
    op = operator()
    op.r.write_spec({"target": TARGET})
    op.r.settle()
    return op


# -- stack discovery ------------------------------------------------------------------------


def test_a_missing_stack_is_named_with_what_to_do(operator: Callable[..., Operator]) -> None:
    op = operator()
    result = op.run("status", "--stack", "nope")
    assert (result.code, result.out) == (1, "")
    assert result.errors == [
        "fleetwise-reconciler: stack 'nope' not found in us-east-1: deploy it with 'sam deploy', or name another with --stack (and --region)"
    ]


def test_the_stack_is_looked_for_in_the_given_region(operator: Callable[..., Operator]) -> None:
    op = operator()
    result = op.run("status", "--region", "eu-central-1")
    assert result.code == 1
    assert "stack 'fleetwise-reconciler' not found in eu-central-1" in result.err


def test_a_missing_permission_names_the_action(operator: Callable[..., Operator]) -> None:
    op = operator()
    op.stack_endpoint.deny = True
    result = op.run("status")
    assert result.code == 1
    assert result.errors == [
        "fleetwise-reconciler: permission denied: reading stack 'fleetwise-reconciler' needs "
        "cloudformation:DescribeStacks: User: arn:aws:iam::123456789012:user/operator is not "
        "authorized to perform: cloudformation:DescribeStacks on resource: "
        f"{op.stack_endpoint.stack_id} because no identity-based policy allows the "
        "cloudformation:DescribeStacks action"
    ]


def test_the_default_stack_name_comes_from_samconfig(
    operator: Callable[..., Operator], tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = registered(operator)
    monkeypatch.chdir(str(tmp_path))
    (tmp_path / "samconfig.toml").write_text(  # type: ignore[operator]
        'version = 0.1\n[prod.global.parameters]\nstack_name = "fleetwise-reconciler-prod"\n'
        f'[default.global.parameters]\nstack_name = "{STACK}"\n'
    )
    assert op.run("status").code == 0
    result = op.run("status", "--config-env", "prod")
    assert "stack 'fleetwise-reconciler-prod' not found in us-east-1" in result.err
    assert op.run("status", "--config-env", "test").errors == [
        "fleetwise-reconciler: samconfig.toml has no environment 'test' (--config-env); its environments: default, prod"
    ]


# -- status ---------------------------------------------------------------------------------


def test_status_of_every_target_as_a_table(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    # AND a second target written in observe-only mode, its stream record not delivered yet
    op.r.client("dynamodb").put_item(
        TableName=op.r.stack.physical_id("SpecTable"),
        Item={"target": {"S": OTHER}, "policy": {"S": "observe-only"}},
    )
    result = op.run("status")
    assert result.code == 0
    assert result.lines == [
        "TARGET                     PHASE       REASON      FLEETWISE             CURRENT  RUNNING  AGE",
        "123456789012:eu-central-1  -           -           -                     none     -        -",
        "123456789012:us-east-1     Registered  Registered  REGISTRATION_SUCCESS  yes      -        0s",
    ]
    op.r.settle()
    op.r.advance(120)
    # AND an edit whose stream record is not delivered yet
    op.r.client("dynamodb").update_item(
        TableName=op.r.stack.physical_id("SpecTable"),
        Key={"target": {"S": TARGET}},
        UpdateExpression="SET paused = :p",
        ExpressionAttributeValues={":p": {"BOOL": True}},
    )
    lines = op.run("status").lines
    # (eu-central-1 is observed in its own Region, where the account is not registered)
    assert lines[1:] == [
        "123456789012:eu-central-1  Drifted     NotRegistered  not registered        yes      -        2m",
        "123456789012:us-east-1     Registered  Registered     REGISTRATION_SUCCESS  no       -        2m",
    ]


def test_status_json_for_scripts(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    status = op.r.status(TARGET)
    assert status is not None
    data = json.loads(op.run("status", "-o", "json").out)
    summary = {
        "target": TARGET,
        "phase": "Registered",
        "reason": "Registered",
        "message": "registered as declared",
        "fleetwise": "REGISTRATION_SUCCESS",
        "current": "yes",
        "specHash": status["specHash"],
        "statusSpecHash": status["specHash"],
        "running": None,
        "updatedAt": "2026-11-26T12:05:02.500Z",
    }
    assert data == {
        "stack": STACK,
        "region": "us-east-1",
        "targets": [
            {
                **summary,
                "spec": {"target": TARGET},
                "status": {k: v for k, v in status.items() if k not in ("target", "kind")},
                "lease": None,
                "lastExecution": None,
            }
        ],
    }
    # AND one target: the same shape, with its last execution described
    [one] = json.loads(op.run("status", TARGET, "--json").out)["targets"]
    assert {**one, "lastExecution": None} == data["targets"][0]
    assert one["lastExecution"]["status"] == "SUCCEEDED"
    # AND as YAML, the same data
    assert yaml.safe_load(op.run("status", "-o", "yaml").out) == data


def test_status_of_one_target_in_full(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    status = op.r.status(TARGET)
    assert status is not None
    arn = status["lastExecutionArn"]
    name = arn.rsplit(":", 1)[-1]
    result = op.run("status", TARGET)
    assert result.code == 0
    assert result.lines == [
        "target:     123456789012:us-east-1",
        "phase:      Registered (Registered)",
        "message:    registered as declared",
        "spec:       defaults (mode cloudwatch, policy enforce, not paused)",
        "current:    yes: the status is about the item as it is now",
        "updated:    2026-11-26T12:05:02.500Z (0s ago)",
        "running:    no run holds the target",
        "",
        "conditions:",
        "  TYPE     STATUS  REASON      SINCE  MESSAGE",
        "  Ready    True    Registered  0s     registered as declared",
        "  Synced   True    Registered  0s     registered as declared",
        "  Drifted  False   InSync      0s     registered as declared",
        "",
        "IoT FleetWise: REGISTRATION_SUCCESS (observed 2026-11-26T12:05:02.500Z)",
        "  iam:        REGISTRATION_SUCCESS role arn:aws:iam::123456789012:role/aws-service-role/iotfleetwise.amazonaws.com/AWSServiceRoleForIoTFleetWise",
        "",
        "history (newest first, 1 of 1):",
        "  AT                        PHASE       REASON      SPEC              EXECUTION",
        f"  2026-11-26T12:05:02.500Z  Registered  Registered  {status['specHash']}  {name}",
        "",
        f"last execution: {name} SUCCEEDED",
        "  started 2026-11-26T12:00:00.000Z, stopped 2026-11-26T12:05:02.500Z",
        f"  console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}",
    ]


def test_status_says_what_to_do_about_the_last_error(operator: Callable[..., Operator]) -> None:
    op = operator()
    op.sim.fail_next("RegisterAccount", "AccessDeniedException", "no iam:CreateServiceLinkedRole")
    op.r.write_spec({"target": TARGET})
    op.r.settle()
    lines = op.run("status", TARGET).lines
    error = lines.index(
        "last error: AccessDeniedException in RegisterAccount (not retryable, 2026-11-26T12:00:00.000Z)"
    )
    assert lines[error + 1 : error + 3] == [
        "  no iam:CreateServiceLinkedRole",
        "  what to do: the reconciler's role lacks a permission IoT FleetWise needs (the message names it): grant it (redeploy the stack if its template lacks it), then run: fleetwise-reconciler reconcile 123456789012:us-east-1",
    ]
    assert lines[1] == "phase:      Failed (AccessDeniedException)"


def test_status_of_an_unknown_target(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    result = op.run("status", OTHER)
    assert (result.code, result.out) == (1, "")
    assert result.errors == [
        "fleetwise-reconciler: no target 123456789012:eu-central-1 in stack 'fleetwise-reconciler': did you mean 123456789012:us-east-1?"
    ]


def test_status_while_a_run_holds_the_target(operator: Callable[..., Operator]) -> None:
    op = operator()
    op.r.clock.auto_advance = False
    op.r.write_spec({"target": TARGET})
    op.r.run_until(op.r.clock.now().replace(minute=1))  # asleep in AwaitRegistration
    [execution] = op.r.running_executions(TARGET)
    lines = op.run("status").lines
    assert lines[1] == (
        f"123456789012:us-east-1  -      -       -          none     {execution['name']}  -"
    )
    detail = op.run("status", TARGET).lines
    assert detail[1:5] == [
        "phase:      nothing recorded yet (no run has finished for this target)",
        "spec:       defaults (mode cloudwatch, policy enforce, not paused)",
        "current:    none: nothing recorded yet",
        f"running:    {execution['name']}",
    ]
    op.r.run_until(None)


def test_status_watch_redraws_on_change(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    moments: list[int] = []

    def sleep(seconds: float) -> None:
        # GIVEN an operator who pauses the target while another watches
        moments.append(int(seconds))
        if len(moments) == 2:
            op.r.update_spec(TARGET, paused=True)
        if len(moments) == 4:
            raise KeyboardInterrupt
        op.pass_time(seconds)

    result = op.run("status", "--watch", "--interval", "30", sleep=sleep)
    assert result.code == 0
    assert moments == [30, 30, 30, 30]
    # THEN the table was printed twice: once, then once more when the pause was recorded
    assert result.lines[2] == "---"
    assert result.lines[1].split()[1:3] == ["Registered", "Registered"]
    assert result.lines[4].split()[1:3] == ["Paused", "Paused"]
    assert len(result.lines) == 5


def test_status_watch_on_a_terminal_clears_the_screen(operator: Callable[..., Operator]) -> None:
    op = registered(operator)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    result = op.run("status", TARGET, "--watch", terminal=True, sleep=interrupt)
    assert result.code == 0
    assert result.out.startswith("\033[H\033[2Jtarget:     123456789012:us-east-1\n")


def test_colours_only_on_a_terminal_and_never_with_no_color(
    operator: Callable[..., Operator], monkeypatch: pytest.MonkeyPatch
) -> None:
    op = registered(operator)
    coloured = op.run("status", colour=True).lines
    assert "\033[32mRegistered\033[0m" in coloured[1]
    assert "\033[" not in op.run("status").out

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_wanted(Terminal()) is True  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert colour_wanted(Terminal()) is False  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "")
    assert colour_wanted(Terminal()) is True  # type: ignore[arg-type]
    assert Context(out=Terminal()).colour is True  # type: ignore[arg-type]


# -- history --------------------------------------------------------------------------------


def test_history_newest_first(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    op.r.advance(60)
    op.sim.set_account_status(FAILURE)
    op.r.tick()
    op.r.settle()
    status = op.r.status(TARGET)
    assert status is not None
    entries = status["history"]
    result = op.run("history", TARGET)
    assert result.code == 0
    # THEN the failure's repair and the first registration, newest first
    assert [line.split()[:3] for line in result.lines] == [
        ["AT", "PHASE", "REASON"],
        *([e["at"], e["phase"], e["reason"]] for e in entries),
    ]
    assert [e["phase"] for e in entries] == ["Registered", "Registered"]
    assert result.lines[1].split()[-1] == "drift-123456789012-us-east-1-20261126T1206Z"
    data = json.loads(op.run("history", TARGET, "--json", "--limit", "1").out)
    assert data == {
        "stack": STACK,
        "region": "us-east-1",
        "target": TARGET,
        "history": entries[:1],
    }


def test_history_of_a_target_without_one(operator: Callable[..., Operator]) -> None:
    op = operator()
    op.r.client("dynamodb").put_item(  # written, its stream record not delivered yet
        TableName=op.r.stack.physical_id("SpecTable"), Item={"target": {"S": TARGET}}
    )
    assert op.run("history", TARGET).lines == ["123456789012:us-east-1: no history recorded yet"]
    assert op.run("history", OTHER).code == 1

# ruff: noqa: E501 - expected lines are compared whole
"""apply, set, reconcile, pause, resume and delete against a rehearsed stack: validated with the
workflow's code, written conditionally on the item as read, followed with --wait."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from cli_support import OTHER, TARGET, Operator

from fleetwise_cli.write_commands import reconcile_token
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_rehearsal.rehearsal import START

pytestmark = pytest.mark.e2e

ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"
LEGACY = {
    "target": TARGET,
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": ROLE,
}


def spec_file(tmp_path: Path, text: str, name: str = "targets.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def specs(op: Operator) -> dict[str, dict[str, Any]]:
    return {s["target"]: s for s in op.r.specs()}


def registered(operator: Callable[..., Operator], **item: Any) -> Operator:
    op = operator()
    op.r.write_spec({"target": TARGET, **item})
    op.r.settle()
    return op


def other_writer(op: Operator, event: str, **attributes: Any) -> boto3.Session:
    """A session whose ``event`` call is preceded by another operator's UpdateItem of the
    same item: the read happened before it, the write comes after it."""
    session = boto3.Session(region_name="us-east-1")

    def edit(**_: Any) -> None:
        op.r.client("dynamodb").update_item(
            TableName=op.r.stack.physical_id("SpecTable"),
            Key={"target": {"S": TARGET}},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in attributes),
            ExpressionAttributeNames={f"#{k}": k for k in attributes},
            ExpressionAttributeValues={f":{k}": {"S": v} for k, v in attributes.items()},
        )

    session.events.register(f"before-call.dynamodb.{event}", edit)
    return session


# -- apply ----------------------------------------------------------------------------------


def test_apply_a_list_then_the_runs_register(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    op = operator()
    path = spec_file(
        tmp_path, f"- target: '{TARGET}'\n- target: '{OTHER}'\n  policy: observe-only\n"
    )
    # (two items: without a terminal to ask on, --yes says go)
    refused = op.run("apply", "-f", path)
    assert (refused.code, refused.errors) == (
        1,
        [
            "fleetwise-reconciler: apply would write 2 spec items (123456789012:us-east-1, 123456789012:eu-central-1); with no terminal to ask on, pass --yes"
        ],
    )
    assert specs(op) == {}
    result = op.run("apply", "-f", path, "--yes")
    assert (result.code, result.errors) == (0, [])
    written = specs(op)
    assert written == {
        TARGET: {"target": TARGET},
        OTHER: {"target": OTHER, "policy": "observe-only"},
    }
    assert [re.sub(r"version \w+", "version V", line) for line in result.lines] == [
        "123456789012:us-east-1: plan: Register (NotRegistered): registering: the account is not registered with IoT FleetWise",
        "123456789012:us-east-1: written (spec version V); a reconcile starts now",
        "123456789012:eu-central-1: plan: ObserveOnly (NotRegistered): observe-only: not acting; the account is not registered with IoT FleetWise",
        "123456789012:eu-central-1: written (spec version V); a reconcile starts now",
    ]
    op.r.settle()
    status = op.r.status(TARGET)
    assert status is not None and status["phase"] == "Registered"
    assert op.r.fleetwise_calls()["RegisterAccount"] == 1
    # AND applying the same file again writes nothing and starts nothing
    runs = len(op.r.executions())
    again = op.run("apply", "-f", path, "--yes")
    assert again.code == 0
    assert [re.sub(r"version \w+", "version V", line) for line in again.lines] == [
        "123456789012:us-east-1: unchanged (spec version V): nothing written",
        "123456789012:eu-central-1: unchanged (spec version V): nothing written",
    ]
    op.r.settle()
    assert len(op.r.executions()) == runs


def test_apply_wait_follows_the_run_and_exits_by_outcome(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    op = operator()
    path = spec_file(tmp_path, json.dumps({"target": TARGET}), "spec.json")
    result = op.run("apply", "-f", path, "--wait", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert (data["stack"], data["region"], data["errors"]) == (
        "fleetwise-reconciler",
        "us-east-1",
        [],
    )
    [outcome] = data["results"]
    status = op.r.status(TARGET)
    assert status is not None
    assert outcome == {
        "target": TARGET,
        "written": True,
        "specHash": status["specHash"],
        "plan": {
            "target": TARGET,
            "action": "Register",
            "phase": "Registering",
            "reason": "NotRegistered",
            "message": "registering: the account is not registered with IoT FleetWise",
            "drift": ["the account is not registered with IoT FleetWise"],
            "specHash": status["specHash"],
        },
        "outcome": {
            "phase": "Registered",
            "reason": "Registered",
            "message": "registered as declared",
            "specHash": status["specHash"],
        },
    }
    # With --json the words for people go to stderr, and so does the progress line (one per
    # change, with no terminal)
    assert [re.sub(r"version \w+", "version V", line) for line in result.errors] == [
        "123456789012:us-east-1: plan: Register (NotRegistered): registering: the account is not registered with IoT FleetWise",
        "123456789012:us-east-1: written (spec version V); a reconcile starts now",
        "123456789012:us-east-1: waiting for a run to start",
    ]


def test_apply_dry_run_writes_nothing(operator: Callable[..., Operator], tmp_path: Path) -> None:
    op = operator()
    result = op.run("apply", "-f", spec_file(tmp_path, f"target: '{TARGET}'\n"), "--dry-run")
    assert result.code == 2
    assert result.lines[-1] == "123456789012:us-east-1: dry run: nothing written"
    assert op.r.specs() == []


def test_apply_with_one_invalid_item_writes_none(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    op = operator()
    path = spec_file(tmp_path, f"- target: '{TARGET}'\n- target: '{OTHER}'\n  mode: timestream\n")
    result = op.run("apply", "-f", path)
    assert (result.code, result.out) == (1, "")
    assert result.errors == [
        f"fleetwise-reconciler: {path}: 123456789012:eu-central-1: invalid spec: timestream: is required when mode is 'timestream'",
        f"fleetwise-reconciler: {path}: 123456789012:eu-central-1: invalid spec: iamRoleArn: is required when mode is 'timestream'",
        f"fleetwise-reconciler: {path}: nothing was written (1 invalid item(s))",
    ]
    assert op.r.specs() == []
    assert op.r.fleetwise_calls() == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "<path>: no such file"),
        (
            "- [",
            "targets.yaml: not valid YAML: line 1: expected the node content, but found '<stream end>'",
        ),
        (
            "- 42\n",
            "targets.yaml: item 1: a spec item is an object of attributes (target, mode, policy, ...), got int",
        ),
        ("[]", "targets.yaml: holds no spec item"),
        (
            f"- target: '{TARGET}'\n- target: '{TARGET}'\n",
            "<path>: more than one item for 123456789012:us-east-1",
        ),
    ],
)
def test_apply_refuses_a_malformed_file(
    operator: Callable[..., Operator], tmp_path: Path, text: str | None, message: str
) -> None:
    op = operator()
    path = str(tmp_path / "targets.yaml") if text is None else spec_file(tmp_path, text)
    result = op.run("apply", "-f", path)
    assert (result.code, result.out) == (1, "")
    assert result.errors == [f"fleetwise-reconciler: {message.replace('<path>', path)}"]
    assert op.r.specs() == []


def test_apply_a_new_item_someone_created_meanwhile_is_a_conflict(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    op = operator()
    session = boto3.Session(region_name="us-east-1")

    def create(**_: Any) -> None:  # a before-call handler that returns a value answers the call
        op.r.client("dynamodb").put_item(
            TableName=op.r.stack.physical_id("SpecTable"),
            Item={"target": {"S": TARGET}, "policy": {"S": "observe-only"}},
        )

    session.events.register("before-call.dynamodb.PutItem", create)
    result = op.run("apply", "-f", spec_file(tmp_path, f"target: '{TARGET}'\n"), session=session)
    assert result.code == 3
    assert result.errors == [
        "fleetwise-reconciler: conflict: the spec item of 123456789012:us-east-1 changed after it was read (another writer?); nothing was written: see it with 'fleetwise-reconciler status 123456789012:us-east-1', then run the command again"
    ]
    assert specs(op) == {TARGET: {"target": TARGET, "policy": "observe-only"}}


# -- set ------------------------------------------------------------------------------------


def test_set_policy(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    result = op.run("set", TARGET, "--policy", "observe-only", "--wait")
    assert result.code == 0
    assert (
        result.lines[0]
        == "123456789012:us-east-1: plan: NoChange (UpToDate): the account is registered as the spec declares"
    )
    assert (
        result.lines[-1]
        == "123456789012:us-east-1: Registered (UpToDate): the account is registered as the spec declares"
    )
    assert specs(op)[TARGET] == {"target": TARGET, "policy": "observe-only"}
    again = op.run("set", TARGET, "--policy", "observe-only")
    assert (again.code, again.lines) == (
        0,
        ["123456789012:us-east-1: already as asked: nothing written"],
    )


def test_set_mode_cloudwatch_removes_the_legacy_fields(operator: Callable[..., Operator]) -> None:
    op = registered(operator, **{k: v for k, v in LEGACY.items() if k != "target"})
    result = op.run("set", TARGET, "--mode", "cloudwatch", "--dry-run")
    assert result.code == 2
    assert (
        result.lines[0]
        == "123456789012:us-east-1: mode cloudwatch: removing timestream, iamRoleArn"
    )
    assert result.lines[1].startswith(
        "123456789012:us-east-1: plan: Register (DriftDetected): registering: Timestream metadata is still registered"
    )
    assert specs(op)[TARGET] == LEGACY
    assert op.run("set", TARGET, "--mode", "cloudwatch").code == 0
    assert specs(op)[TARGET] == {"target": TARGET, "mode": "cloudwatch"}


def test_set_refuses_what_would_be_invalid_and_what_is_not_there(
    operator: Callable[..., Operator],
) -> None:
    op = registered(operator)
    result = op.run("set", TARGET, "--mode", "timestream", "--timestream-database", "fleet")
    assert result.code == 1
    # THEN each problem is said once
    assert result.errors == [
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: iamRoleArn: is required when mode is 'timestream'",
        "fleetwise-reconciler: 123456789012:us-east-1: invalid spec: timestream.tableName: is required",
    ]
    assert specs(op)[TARGET] == {"target": TARGET}
    assert op.run("set", TARGET).errors == [
        "fleetwise-reconciler: set: nothing to change: give --mode, --policy, --timestream-database and --timestream-table, or --iam-role-arn"
    ]
    assert op.run("set", OTHER, "--policy", "enforce").errors == [
        "fleetwise-reconciler: no target 123456789012:eu-central-1 in stack 'fleetwise-reconciler': did you mean 123456789012:us-east-1?"
    ]


def test_set_after_another_operators_edit_is_a_conflict(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    session = other_writer(op, "UpdateItem", reconcileToken="theirs")
    result = op.run("set", TARGET, "--policy", "observe-only", session=session)
    assert (result.code, result.lines[-1:]) == (
        3,
        [
            "123456789012:us-east-1: plan: NoChange (UpToDate): the account is registered as the spec declares"
        ],
    )
    assert (
        "conflict: the spec item of 123456789012:us-east-1 changed after it was read" in result.err
    )
    # THEN the other operator's edit stands, and ours was not written over it
    assert specs(op)[TARGET] == {"target": TARGET, "reconcileToken": "theirs"}


# -- reconcile, pause, resume ------------------------------------------------------------------


def test_reconcile_writes_a_new_token_every_time(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    runs = len(op.r.executions())
    first = op.run("reconcile", TARGET, "--wait")
    assert first.code == 0
    assert (
        first.lines[-1]
        == "123456789012:us-east-1: Registered (UpToDate): the account is registered as the spec declares"
    )
    token = specs(op)[TARGET]["reconcileToken"]
    # AND again at the same virtual moment: a different token, so a new stream record
    assert op.run("reconcile", TARGET).code == 0
    second = specs(op)[TARGET]["reconcileToken"]
    assert token != second
    # (the first --wait slept one 5 s interval of virtual time)
    assert re.fullmatch(r"2026-11-26T12:05:07\.500Z-[0-9a-f]{6}", second)
    op.r.settle()
    assert len(op.r.executions()) == runs + 2
    assert op.r.fleetwise_calls()["RegisterAccount"] == 1
    assert reconcile_token(START).startswith("2026-11-26T12:00:00.000Z-")


def test_reconcile_after_another_edit_is_a_conflict(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    result = op.run(
        "reconcile", TARGET, session=other_writer(op, "UpdateItem", policy="observe-only")
    )
    assert result.code == 3
    assert specs(op)[TARGET] == {"target": TARGET, "policy": "observe-only"}


def test_pause_and_resume(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    paused = op.run("pause", TARGET, "--wait")
    assert paused.code == 0
    assert (
        paused.lines[-1]
        == "123456789012:us-east-1: Paused (Paused): reconciliation is paused (paused = true); IoT FleetWise reports REGISTRATION_SUCCESS"
    )
    assert op.run("pause", TARGET).lines == [
        "123456789012:us-east-1: already paused: nothing written"
    ]
    resumed = op.run("resume", TARGET, "--wait")
    assert resumed.code == 0
    assert (
        resumed.lines[-1]
        == "123456789012:us-east-1: Registered (UpToDate): the account is registered as the spec declares"
    )
    assert specs(op)[TARGET] == {"target": TARGET, "paused": False}
    assert op.run("resume", TARGET).lines == ["123456789012:us-east-1: not paused: nothing written"]


def test_wait_exits_4_when_the_run_ends_failed(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    op.sim.forget_registration()
    op.sim.fail_next("RegisterAccount", "AccessDeniedException", "no iam:CreateServiceLinkedRole")
    result = op.run("reconcile", TARGET, "--wait")
    assert result.code == 4
    assert result.lines[-1] == (
        "123456789012:us-east-1: Failed (AccessDeniedException): RegisterAccount failed with "
        "AccessDeniedException: no iam:CreateServiceLinkedRole (not retried on its own: fix "
        "the cause, then change the spec or its reconcileToken)"
    )


def test_wait_gives_up_at_the_timeout_showing_progress(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    op.sim.forget_registration()
    op.r.clock.auto_advance = False  # time moves only when the CLI sleeps

    def sleep(seconds: float) -> None:
        op.r.run_until(op.r.clock.now() + timedelta(seconds=seconds))

    result = op.run(
        "reconcile", TARGET, "--wait", "--timeout", "120", "--interval", "30", sleep=sleep
    )
    assert result.code == 5
    [run] = op.r.running_executions(TARGET)
    name = run["name"]
    assert result.errors == [
        "123456789012:us-east-1: waiting for a run to start",
        f"123456789012:us-east-1: run {name} in AwaitRegistration",
        f"fleetwise-reconciler: 123456789012:us-east-1: no outcome recorded for version {specs_hash(op)} after 120s (--timeout 120); it may still come: fleetwise-reconciler status 123456789012:us-east-1",
    ]
    op.r.run_until(None)


def specs_hash(op: Operator) -> str:
    return spec_hash(specs(op)[TARGET])


def test_wait_on_a_terminal_redraws_one_line(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    result = op.run("pause", TARGET, "--wait", err_terminal=True)
    assert result.code == 0
    [where, progress] = result.err.split("\n", 1)
    assert result.where == [where]
    assert progress == "\r\033[K123456789012:us-east-1: waiting for a run to start (0s)\r\033[K"


# -- delete ---------------------------------------------------------------------------------


def test_delete_asks_first(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    refused = op.run("delete", TARGET)
    assert (refused.code, refused.errors) == (1, [
        "fleetwise-reconciler: delete asks before deleting the spec item of 123456789012:us-east-1; with no terminal to ask on, pass --yes"
    ])  # fmt: skip
    declined = op.run("delete", TARGET, stdin="n\n")
    assert declined.code == 1
    assert "\n".join(declined.errors) + "\n" == (
        "Delete the spec item of 123456789012:us-east-1? IoT FleetWise has no deregistration: "
        "the account stays registered as it is, and the reconciler stops managing the target "
        "(no more runs or drift repairs for it). [y/N] "
        "fleetwise-reconciler: 123456789012:us-east-1: not deleted\n"
    )
    assert TARGET in specs(op)
    accepted = op.run("delete", TARGET, "--wait", stdin="yes\n")
    assert accepted.code == 0
    assert accepted.lines == [
        "123456789012:us-east-1: spec item deleted. IoT FleetWise has no deregistration: the account stays registered as it is, and the reconciler stops managing the target (no more runs or drift repairs for it)",
        "123456789012:us-east-1: Unmanaged (SpecDeleted): the spec item was deleted: the target is no longer managed (IoT FleetWise has no deregistration, so the registration is left as it is)",
    ]
    assert specs(op) == {}
    assert op.r.fleetwise_calls()["RegisterAccount"] == 1
    assert op.run("delete", TARGET, "--yes").lines == [
        "123456789012:us-east-1: no spec item: the target is not managed already"
    ]


def test_delete_after_another_edit_is_a_conflict(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    result = op.run(
        "delete", TARGET, "--yes", session=other_writer(op, "DeleteItem", policy="observe-only")
    )
    assert result.code == 3
    assert specs(op)[TARGET] == {"target": TARGET, "policy": "observe-only"}


def test_pause_after_another_reconcile_is_a_conflict(operator: Callable[..., Operator]) -> None:
    # GIVEN an item whose token another operator changes between our read and our write
    op = registered(operator, reconcileToken="ours")
    session = other_writer(op, "UpdateItem", reconcileToken="theirs")
    result = op.run("pause", TARGET, session=session)
    assert result.code == 3
    assert specs(op)[TARGET] == {"target": TARGET, "reconcileToken": "theirs"}


# -- several targets at once -------------------------------------------------------------------


def test_apply_says_exactly_what_was_written_when_a_write_fails(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    # GIVEN three new targets, the second created by another writer between our read and write
    op = operator()
    third = "123456789012:ap-south-1"
    session = boto3.Session(region_name="us-east-1")

    def create(params: dict[str, Any], **_: Any) -> None:
        if params["Item"]["target"] == {"S": OTHER}:
            op.r.client("dynamodb").put_item(
                TableName=op.r.stack.physical_id("SpecTable"),
                Item={"target": {"S": OTHER}, "policy": {"S": "observe-only"}},
            )

    session.events.register("before-parameter-build.dynamodb.PutItem", create)
    path = spec_file(tmp_path, f"- target: '{TARGET}'\n- target: '{OTHER}'\n- target: '{third}'\n")
    # WHEN applied
    result = op.run("apply", "-f", path, "--yes", "-o", "json", session=session)
    # THEN the others are still written, the failure is named, and the summary says exactly
    # what was written; the exit code says some failed
    assert result.code == 6
    assert specs(op) == {
        TARGET: {"target": TARGET},
        OTHER: {"target": OTHER, "policy": "observe-only"},
        third: {"target": third},
    }
    data = json.loads(result.out)
    assert [(r["target"], r["written"]) for r in data["results"]] == [
        (TARGET, True),
        (OTHER, False),
        (third, True),
    ]
    assert data["errors"] == [{"target": OTHER, "error": "conflict"}]
    assert result.errors[-1] == (
        "fleetwise-reconciler: written: 123456789012:us-east-1, 123456789012:ap-south-1; "
        "not written: 123456789012:eu-central-1"
    )


def test_apply_waits_for_every_target_with_one_live_summary(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    # GIVEN two targets applied with --wait on a terminal
    op = operator()
    op.r.clock.auto_advance = False  # time moves only when the CLI sleeps

    def sleep(seconds: float) -> None:
        op.r.run_until(op.r.clock.now() + timedelta(seconds=seconds))

    path = spec_file(tmp_path, f"- target: '{TARGET}'\n- target: '{OTHER}'\n  paused: true\n")
    result = op.run(
        "apply", "-f", path, "--yes", "--wait", "--interval", "30", err_terminal=True, sleep=sleep
    )
    # THEN both are followed at once: one line redrawn with the counts by phase, then each
    # outcome as it comes
    assert result.code == 0
    progress = result.err.split("\n", 1)[1]
    assert progress.startswith("\r\033[K2 targets: 2 waiting for a run (0s)")
    assert "2 targets: 1 Paused, 1 running (" in progress
    assert [line.split(":")[-2].split()[-2] for line in result.lines[-2:]] == [
        "Paused",
        "Registered",
    ]


def test_pause_all_asks_on_a_terminal(operator: Callable[..., Operator]) -> None:
    op = registered(operator)
    op.r.write_spec({"target": OTHER})
    op.r.settle()
    declined = op.run("pause", "--all", stdin="n\n")
    assert declined.code == 1
    assert declined.errors[-1] == (
        "pause: write 2 spec items (123456789012:eu-central-1, 123456789012:us-east-1)? [y/N] "
        "fleetwise-reconciler: pause: nothing written"
    )
    assert "paused" not in specs(op)[TARGET]
    accepted = op.run("pause", "--all", "--phase", "Registered", stdin="y\n")
    assert accepted.code == 0
    assert {t: s.get("paused") for t, s in specs(op).items()} == {TARGET: True, OTHER: True}
    assert op.run("pause", TARGET, "--all").code == 1

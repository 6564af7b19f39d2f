"""docs/cli.md's JSON shapes and permission table, held to what the commands do.

Every command runs with ``-o json`` against a rehearsed stack; each document must match its
command's shape in docs/cli.md key for key (the same keys, in the same order, each value of the
documented type), and every key the page documents must have been seen with a value at least
once across the runs, so the page can neither go stale nor promise a key nothing fills. Every
AWS call the commands made is recorded and must be in the page's permission table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from cli_support import OTHER, TARGET, Operator

from fleetwise_cli.main import HANDLERS

pytestmark = pytest.mark.e2e

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
MEMBER = "210987654321"
MEMBER_TARGET = f"{MEMBER}:eu-central-1"
IAM_PREFIX = {"stepfunctions": "states"}


def documented_shapes() -> dict[str, Any]:
    """``{command: shape}`` from the page's ``### `command` `` sections."""
    shapes: dict[str, Any] = {}
    for heading, block in re.findall(r"^### (.+?)\n.*?```json shape\n(.*?)\n```", DOC, re.S | re.M):
        shape = json.loads(block)  # one object for the commands documented together
        for command in re.findall(r"`([a-z]+)`", heading):
            shapes[command] = shape
    return shapes


SHAPES = documented_shapes()


def _is(value: Any, kind: str) -> bool:
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "null": value is None,
        "any": True,
    }[kind]


def check(value: Any, shape: Any, path: str, seen: set[str]) -> None:
    """Assert ``value`` has ``shape``; note each documented path that held a value."""
    if value is not None:
        seen.add(path)
    if isinstance(shape, str):
        assert any(_is(value, kind) for kind in shape.split("|")), (
            f"{path}: {value!r} is not {shape}"
        )
    elif isinstance(shape, list):
        assert isinstance(value, list), f"{path}: {value!r} is not a list"
        for item in value:
            check(item, shape[0], f"{path}[]", seen)
    else:
        assert isinstance(value, dict), f"{path}: {value!r} is not an object"
        keys = {key.rstrip("?"): key for key in shape}
        assert list(value) == list(keys), f"{path}: keys {list(value)}, documented {list(keys)}"
        for name, key in keys.items():
            if key.endswith("?") and value[name] is None:
                continue
            check(value[name], shape[key], f"{path}.{name}", seen)


def paths(shape: Any, path: str) -> set[str]:
    """Every path the shape documents that must be seen holding a value: all but the
    scalars documented as possibly null (``"string|null"``)."""
    if isinstance(shape, str) and "null" in shape.split("|"):
        return set()
    found = {path}
    if isinstance(shape, list):
        found |= paths(shape[0], f"{path}[]")
    elif isinstance(shape, dict):
        for key, inner in shape.items():
            found |= paths(inner, f"{path}.{key.rstrip('?')}")
    return found


def permitted_actions() -> set[str]:
    table = DOC[DOC.index("## What the operator needs") :]
    return set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", table))


def test_every_command_has_a_documented_shape() -> None:
    assert set(SHAPES) == set(HANDLERS)


def test_every_command_prints_its_documented_shape_and_every_call_is_permitted(
    operator: Callable[..., Operator], tmp_path: Path
) -> None:
    # GIVEN a stack with its own target registered, a second one, and a member target whose
    # member role trusts the operator (the rehearsal's caller)
    op = operator(MemberAccountIds=MEMBER)
    op.r.deploy_member(MEMBER, {"OperatorPrincipalArns": "arn:aws:iam::123456789012:user/moto"})
    op.r.write_spec({"target": TARGET})
    op.r.write_spec({"target": MEMBER_TARGET})
    op.r.settle()
    calls: set[str] = set()
    session = boto3.Session(region_name="us-east-1")

    def record(model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        calls.add(f"{IAM_PREFIX.get(service, service)}:{model.name}")

    session.events.register("before-call", record)
    items = tmp_path / "targets.yaml"
    items.write_text(
        f"- target: '{TARGET}'\n  policy: observe-only\n- target: '{OTHER}'\n  paused: true\n"
    )
    runs: list[tuple[str, list[str]]] = [
        ("status", [TARGET]),
        ("diff", ["-f", str(items)]),
        ("apply", ["-f", str(items), "--yes", "--wait"]),
        ("plan", []),
        ("plan", [TARGET]),
        ("diff", []),
        ("history", [TARGET]),
        ("set", [TARGET, "--policy", "enforce", "--wait"]),
        ("reconcile", [TARGET]),
        ("pause", ["--all", "--yes"]),
        ("resume", [TARGET]),
        ("adopt", [OTHER, "--replace"]),
        ("delete", [OTHER, "--yes"]),
        ("status", []),  # (with the lease below: a run holds the target)
        ("unlock", [TARGET]),
    ]
    # Commands documented together share one shape, and what one fills counts for all.
    seen: dict[int, set[str]] = {id(shape): set() for shape in SHAPES.values()}
    for index, (command, argv) in enumerate(runs):
        if index == len(runs) - 2:
            # a lease left by a run that ended without releasing it
            op.r.settle()
            ended = op.r.status(TARGET)
            assert ended is not None
            op.r.client("dynamodb").put_item(
                TableName=op.r.stack.physical_id("StatusTable"),
                Item={
                    "target": {"S": TARGET},
                    "kind": {"S": "LEASE"},
                    "holder": {"S": ended["lastExecutionArn"]},
                    "expiresAt": {"N": "4102444800"},
                },
            )
        result = op.run(command, *argv, "-o", "json", session=session)
        assert result.code in (0, 2), (command, result.err)
        check(json.loads(result.out), SHAPES[command], "$", seen[id(SHAPES[command])])
    # THEN every documented key was seen holding a value (errors: in test_plan_command)
    unseen = {
        command: sorted(paths(shape, "$") - seen[id(shape)] - ERROR_PATHS)
        for command, shape in SHAPES.items()
    }
    assert {command: missing for command, missing in unseen.items() if missing} == {}
    # AND every AWS call the commands made is in the permission table
    assert calls - permitted_actions() == set()
    assert "sts:AssumeRole" in calls  # the member target was reached through its role


# The ``errors`` entries: what fills them is shown by the tests of per-target failures
# (test_plan_command, test_process, test_write_commands), not by a healthy stack.
ERROR_PATHS = {"$.errors[]", "$.errors[].target", "$.errors[].error"}

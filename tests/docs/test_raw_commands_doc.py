"""Every ``aws`` command of the documents, run as written (bash, a stub ``aws``) and replayed on
a rehearsed stack with boto3 (aws_cli_replay.py): each names a real operation and real options,
its JSON parses into what botocore's model expects, and it does on the stack what the text
says. The re-drive command changes the item every time it runs, twice in one second included:
DynamoDB writes no stream record for an update that changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cli_replay import Call, boto3_request, each_block, replay, run_block
from doc_support import ROOT, TARGET

from fleetwise_rehearsal.aws.stack_endpoint import StackEndpoint
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What the rehearsal serves (the rest is only checked against botocore's model: the stack
# deletion of docs/deploy.md, for instance, would end the rehearsal's stack).
SERVED = {"dynamodb": None, "cloudformation": {"describe-stacks"}, "iam": {"create-policy"}}


@pytest.fixture
def stack(
    rehearse: Callable[..., Rehearsal],
) -> Iterator[tuple[Rehearsal, Callable[[str], Any], dict[str, Any]]]:
    """A registered target, a client per service (CloudFormation: the rehearsal's endpoint)
    and the stack's DescribeStacks answer."""
    r = rehearse()
    r.write_spec({"target": TARGET})
    r.settle()
    with StackEndpoint(r.stack) as endpoint:
        cfn = boto3.client(
            "cloudformation", region_name=r.region, endpoint_url=endpoint.endpoint_url
        )

        def client_for(service: str) -> Any:
            return cfn if service == "cloudformation" else r.client(service)

        described = cfn.describe_stacks(StackName=r.stack.name)
        described.pop("ResponseMetadata", None)
        yield r, client_for, described


def substitutions(r: Rehearsal) -> dict[str, str]:
    """The documents' placeholders, as an operator fills them in."""
    return {
        "<SpecTableName>": r.stack.physical_id("SpecTable"),
        "<StatusTableName>": r.stack.physical_id("StatusTable"),
        "<account>:<region>": TARGET,
    }


def test_the_documents_have_aws_commands() -> None:
    found = {name for name, _ in each_block(DOCUMENTS)}
    assert {"README.md", "runbook.md", "deploy.md"} <= found


def test_every_aws_command_of_the_documents_runs_on_the_rehearsed_stack(
    stack: tuple[Rehearsal, Callable[[str], Any], dict[str, Any]], tmp_path: Path
) -> None:
    r, client_for, described = stack
    tables = {r.stack.physical_id("SpecTable"), r.stack.physical_id("StatusTable")}
    for name, block in each_block(DOCUMENTS):
        calls = run_block(
            block, tmp_path, substitutions=substitutions(r), describe_stacks=described, cwd=ROOT
        )
        assert calls, f"{name}: a block that calls aws made no call:\n{block}"
        for call in calls:
            commands = SERVED.get(call.service, set())
            if commands is not None and call.command not in commands:
                boto3_request(call, ROOT)  # a real operation, options and values
                continue
            answer = replay(call, client_for, ROOT)
            if call.command == "describe-stacks":
                # it finds one of the stack's tables by its output
                assert answer and set(answer) <= tables, (name, call.argv, answer)
            if call.command == "get-item":
                assert answer.get("Item"), (name, call.argv)
        r.settle()
    # docs/deploy.md's target in another Region was registered there
    other = "123456789012:eu-central-1"
    assert (r.status(other) or {}).get("phase") == "Registered"
    assert r.sim is not None
    assert {c.region for c in r.sim.calls() if c.operation == "RegisterAccount"} == {
        "us-east-1",
        "eu-central-1",
    }
    # and the deployer's policies are documents IAM takes
    policies = client_for("iam").list_policies(Scope="Local")["Policies"]
    assert sorted(p["PolicyName"] for p in policies) == [
        "fleetwise-reconciler-deployer-sam-cli",
        "fleetwise-reconciler-deployer-stack",
    ]


@pytest.mark.parametrize("document", ["README.md", "runbook.md"])
def test_the_redrive_command_twice_in_a_row_starts_two_runs(
    stack: tuple[Rehearsal, Callable[[str], Any], dict[str, Any]],
    tmp_path: Path,
    document: str,
) -> None:
    r, client_for, described = stack
    path = next(p for p in DOCUMENTS if p.name == document)
    block = next(b for n, b in each_block([path]) if "update-item" in b and "reconcileToken" in b)
    before = len(r.executions())

    # WHEN the operator runs the documented command twice, straight after each other
    tokens = []
    for _ in range(2):
        calls = run_block(
            block, tmp_path, substitutions=substitutions(r), describe_stacks=described, cwd=ROOT
        )
        (update,) = [c for c in calls if c.command == "update-item"]
        tokens.append(token_of(update))
        replay(update, client_for)
    r.settle()

    # THEN the item changed each time, so each write reached the workflow
    assert tokens[0] != tokens[1]
    item = r.specs()[0]
    assert item["reconcileToken"] == tokens[1]
    assert len(r.executions()) == before + 2
    assert all(e.status == "SUCCEEDED" for e in r.executions())


def token_of(update: Call) -> str:
    values = json.loads(update.options()["--expression-attribute-values"][0])
    return str(values[":t"]["S"])

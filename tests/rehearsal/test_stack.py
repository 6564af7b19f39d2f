"""The stack deployed into moto: the real template.yaml, and the whole moto path proven on
a tiny inline template and handler module, independently of the product's handlers."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from fleetwise_rehearsal.aws.lambda_runtime import LambdaInvoker
from fleetwise_rehearsal.aws.moto_patches import patched
from fleetwise_rehearsal.aws.stack import (
    MOTO_CONFIG,
    Stack,
    apply_definition_substitutions,
    aws_environment,
    deploy,
)
from fleetwise_rehearsal.aws.streams import StreamDelivery
from fleetwise_rehearsal.aws.vclock import VirtualClock

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Rehearsal:
    clock: VirtualClock
    invoker: LambdaInvoker


@pytest.fixture
def rehearsal() -> Iterator[Rehearsal]:
    clock = VirtualClock(T0, jitter_fraction=0.5)
    invoker = LambdaInvoker()
    with aws_environment(REGION), moto.mock_aws(config=MOTO_CONFIG), patched(clock, invoker):
        yield Rehearsal(clock, invoker)


# -- the real template --------------------------------------------------------------------

FUNCTIONS = {
    "AcquireFunction": "fleetwise_reconciler.handlers.acquire.lambda_handler",
    "ObserveFunction": "fleetwise_reconciler.handlers.observe.lambda_handler",
    "RegisterFunction": "fleetwise_reconciler.handlers.register.lambda_handler",
    "PollFunction": "fleetwise_reconciler.handlers.poll.lambda_handler",
    "RecordFunction": "fleetwise_reconciler.handlers.record.lambda_handler",
    "StreamTriggerFunction": "fleetwise_reconciler.handlers.stream_trigger.lambda_handler",
    "DeploySpecFunction": "fleetwise_reconciler.handlers.deploy_spec.lambda_handler",
    "ExecutionFailedFunction": "fleetwise_reconciler.handlers.execution_failed.lambda_handler",
}


@pytest.fixture
def product_stack(rehearsal: Rehearsal) -> Stack:
    return deploy(REPO / "template.yaml", {"InitialWaitSeconds": "120"})


def test_real_template_tables(product_stack: Stack) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    spec = ddb.describe_table(TableName=product_stack.physical_id("SpecTable"))["Table"]
    assert spec["KeySchema"] == [{"AttributeName": "target", "KeyType": "HASH"}]
    assert spec["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert product_stack.attribute("SpecTable", "StreamArn") == spec["LatestStreamArn"]

    status_name = product_stack.physical_id("StatusTable")
    status = ddb.describe_table(TableName=status_name)["Table"]
    assert status["KeySchema"] == [
        {"AttributeName": "target", "KeyType": "HASH"},
        {"AttributeName": "kind", "KeyType": "RANGE"},
    ]
    assert "StreamSpecification" not in status  # invariant 1: a status write starts nothing
    ttl = ddb.describe_time_to_live(TableName=status_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_real_template_functions(product_stack: Stack) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    for logical_id, handler in FUNCTIONS.items():
        config = lam.get_function_configuration(
            FunctionName=product_stack.function_name(logical_id)
        )
        assert config["Handler"] == handler, logical_id
        env = config["Environment"]["Variables"]
        assert env == product_stack.function_env(logical_id)
        assert env["SPEC_TABLE_NAME"] == product_stack.physical_id("SpecTable")
        assert env["STATUS_TABLE_NAME"] == product_stack.physical_id("StatusTable")
        assert env["ACCOUNT_ID"] == ACCOUNT
    state_machine = product_stack.physical_id("ReconcileStateMachine")
    assert product_stack.function_env("StreamTriggerFunction")["STATE_MACHINE_ARN"] == state_machine
    assert "STATE_MACHINE_ARN" not in product_stack.function_env("DeploySpecFunction")


def test_real_template_state_machine_has_its_substitutions(product_stack: Stack) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = product_stack.physical_id("ReconcileStateMachine")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    states = definition["States"]
    for state in ("Acquire", "Observe", "Register", "Poll", "Record"):
        assert states[state]["Parameters"]["FunctionName"] == product_stack.arn(f"{state}Function")
    assert states["AwaitRegistration"]["Seconds"] == 120  # the parameter given to deploy
    assert "${" not in json.dumps(states)
    poll_retry = next(
        r for r in states["Poll"]["Retry"] if r["ErrorEquals"] == ["RegistrationPending"]
    )
    assert (
        poll_retry["IntervalSeconds"],
        poll_retry["BackoffRate"],
        poll_retry["MaxDelaySeconds"],
    ) == (5, 2.0, 30)
    assert poll_retry["JitterStrategy"] == "FULL"


def test_real_template_trigger_and_data_kept_for_the_rehearsal(product_stack: Stack) -> None:
    esm = product_stack.event_source_mapping
    assert esm.function_name == product_stack.function_name("StreamTriggerFunction")
    assert esm.event_source_arn == product_stack.attribute("SpecTable", "StreamArn")
    assert esm.filter_patterns == ()  # every change, REMOVE included, starts a run
    assert esm.report_batch_item_failures is True
    assert esm.bisect_batch_on_function_error is True
    assert esm.on_failure_destination == product_stack.arn("OnFailureQueue")
    listed = boto3.client("lambda", region_name=REGION).list_event_source_mappings()
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [esm.uuid]

    custom = product_stack.custom_resources["DefaultTargetSpec"]
    assert custom["ServiceToken"] == product_stack.arn("DeploySpecFunction")
    assert custom["Target"] == f"{ACCOUNT}:{REGION}"
    assert "TimestreamDatabaseName" not in custom  # AWS::NoValue dropped

    rule = product_stack.rules["ExecutionFailedRule"]
    assert rule["EventPattern"]["detail"]["stateMachineArn"] == [
        product_stack.physical_id("ReconcileStateMachine")
    ]
    assert rule["Targets"][0]["Arn"] == product_stack.arn("ExecutionFailedFunction")
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    names = {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert names == {product_stack.physical_id(logical) for logical in product_stack.alarms}
    assert len(names) == len(product_stack.alarms) > 0


def test_definition_substitutions_leave_unknown_placeholders() -> None:
    text = '{"Comment": "${...} ${Other}", "Seconds": ${Wait}, "Arn": "${Fn}"}'
    assert apply_definition_substitutions(text, {"Wait": 7, "Fn": "arn:x"}) == (
        '{"Comment": "${...} ${Other}", "Seconds": 7, "Arn": "arn:x"}'
    )


# -- the whole moto path on a toy stack ------------------------------------------------------

TOY_HANDLERS = '''
import importlib
import json
import os

calls = {}


class NotYet(Exception):
    """Raised until the execution named in the event has failed often enough."""


def flaky(event, context):
    name = event["name"]
    calls[name] = calls.get(name, 0) + 1
    emf = {"_aws": {"CloudWatchMetrics": []}, "Calls": calls[name], "who": context.function_name}
    print(json.dumps(emf))
    if calls[name] <= event["failures"]:
        raise NotYet(f"{name}: attempt {calls[name]}")
    return {"attempts": calls[name], "greeting": os.environ["GREETING"]}


def stream(event, context):
    bad = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]
           if r["dynamodb"]["NewImage"]["id"]["S"].startswith("bad")]
    keys = [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]
    calls.setdefault("stream", []).append(keys)
    return {"batchItemFailures": [{"itemIdentifier": s} for s in bad]}
'''

TOY_ASL = {
    "StartAt": "Flaky",
    "States": {
        "Flaky": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${FlakyFunctionArn}", "Payload.$": "$"},
            "ResultSelector": {
                "attempts.$": "$.Payload.attempts",
                "greeting.$": "$.Payload.greeting",
            },
            "ResultPath": "$.flaky",
            "Retry": [
                {
                    "ErrorEquals": ["NotYet"],
                    "IntervalSeconds": "__INTERVAL__",
                    "BackoffRate": 2,
                    "MaxDelaySeconds": 7,
                    "MaxAttempts": 3,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": [{"ErrorEquals": ["NotYet"], "ResultPath": "$.error", "Next": "GaveUp"}],
            "Next": "Pause",
        },
        "Pause": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Done"},
        "GaveUp": {"Type": "Fail", "Error": "GaveUp", "Cause": "too many NotYet"},
        "Done": {"Type": "Succeed"},
    },
}

TOY_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
  RetryInterval: {Type: Number, Default: 2}
Resources:
  ToyTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  FailureQueue:
    Type: AWS::SQS::Queue
  FlakyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: toy/
      Handler: MODULE.flaky
      Runtime: python3.13
      Environment:
        Variables:
          GREETING: !Sub "${Greeting} from ${AWS::Region}"
          TABLE: !Ref ToyTable
  StreamFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: toy/
      Handler: MODULE.stream
      Runtime: python3.13
  StreamMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref StreamFunction
      EventSourceArn: !GetAtt ToyTable.StreamArn
      StartingPosition: TRIM_HORIZON
      BatchSize: 10
      FunctionResponseTypes: [ReportBatchItemFailures]
      MaximumRetryAttempts: 1
      DestinationConfig: {OnFailure: {Destination: !GetAtt FailureQueue.Arn}}
      FilterCriteria:
        Filters:
          - Pattern: >-
              {"eventName": ["INSERT", "MODIFY"],
               "dynamodb": {"NewImage": {"skip": {"BOOL": [false]}}}}
  ToyStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: toy.asl.json
      DefinitionSubstitutions:
        FlakyFunctionArn: !GetAtt FlakyFunction.Arn
        RetryInterval: !Ref RetryInterval
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref FlakyFunction}
"""


@pytest.fixture
def toy_stack(
    rehearsal: Rehearsal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Stack, Any]]:
    module = f"toy_handlers_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(TOY_HANDLERS))
    (tmp_path / "toy").mkdir()
    asl = json.dumps(TOY_ASL, indent=2).replace('"__INTERVAL__"', "${RetryInterval}")
    (tmp_path / "toy.asl.json").write_text(asl)
    (tmp_path / "template.yaml").write_text(TOY_TEMPLATE.replace("MODULE", module))
    monkeypatch.syspath_prepend(str(tmp_path))
    stack = deploy(tmp_path / "template.yaml", {"Greeting": "hi"})
    yield stack, lambda: importlib.import_module(module)
    sys.modules.pop(module, None)


def _start(stack: Stack, name: str, failures: int, wait: int) -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.start_execution(
        stateMachineArn=stack.physical_id("ToyStateMachine"),
        name=name,
        input=json.dumps({"name": name, "failures": failures, "wait": wait}),
    )["executionArn"]


def _describe(arn: str) -> dict[str, Any]:
    return boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=arn)


def _history(arn: str) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.get_execution_history(executionArn=arn)["events"]


def test_toy_workflow_retry_then_wait_on_the_virtual_clock(
    rehearsal: Rehearsal, toy_stack: tuple[Stack, Any]
) -> None:
    stack, _module = toy_stack
    # GIVEN a task that fails twice with NotYet, then a 10-second Wait; jitter pinned at 0.5
    arn = _start(stack, "run-1", failures=2, wait=10)
    # WHEN the execution runs to its end
    rehearsal.clock.settle(timeout_wall=20)
    # THEN the retry delays are interval x 2^n, halved by the jitter, and the wait is exact
    assert [(d.label, d.seconds) for d in rehearsal.clock.delays] == [
        ("retry:Flaky:NotYet", 1.0),
        ("retry:Flaky:NotYet", 2.0),
        ("wait:Pause", 10.0),
    ]
    described = _describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["flaky"] == {
        "attempts": 3,
        "greeting": "hi from us-east-1",
    }
    assert described["startDate"] == T0
    assert described["stopDate"] == T0 + timedelta(seconds=13)
    events = _history(arn)
    failed = [e for e in events if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["NotYet", "NotYet"]
    assert [e["timestamp"] for e in failed] == [T0, T0 + timedelta(seconds=1)]
    wait_exit = next(e for e in events if e["type"] == "WaitStateExited")
    assert wait_exit["timestamp"] == T0 + timedelta(seconds=13)
    # AND each invocation ran the handler in-process with its function's environment
    calls = rehearsal.invoker.calls(stack.function_name("FlakyFunction"))
    assert [c.error_type for c in calls] == ["NotYet", "NotYet", None]
    assert [c.started_at for c in calls] == [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=3),
    ]
    assert [m["Calls"] for m in rehearsal.invoker.metrics()] == [1, 2, 3]
    assert {m["who"] for m in rehearsal.invoker.metrics()} == {stack.function_name("FlakyFunction")}


def test_toy_workflow_retries_exhausted_are_caught(
    rehearsal: Rehearsal, toy_stack: tuple[Stack, Any]
) -> None:
    stack, _module = toy_stack
    arn = _start(stack, "run-gives-up", failures=10, wait=0)
    rehearsal.clock.settle(timeout_wall=20)
    # MaxAttempts 3 → three retries: 2, 4, 8 capped at 7, each x0.5
    assert rehearsal.clock.delays_for("retry:") == [1.0, 2.0, 3.5]
    described = _describe(arn)
    assert (described["status"], described["error"]) == ("FAILED", "GaveUp")
    assert described["stopDate"] == T0 + timedelta(seconds=6.5)


def test_concurrent_executions_interleave_exactly(
    rehearsal: Rehearsal, toy_stack: tuple[Stack, Any]
) -> None:
    stack, _module = toy_stack
    # GIVEN three executions started at the same virtual moment, waiting 10, 3 and 5 seconds
    with rehearsal.clock.hold():
        arns = {
            name: _start(stack, name, failures=0, wait=wait)
            for name, wait in (("a", 10), ("b", 3), ("c", 5))
        }
    rehearsal.clock.settle(timeout_wall=20)
    stops = {name: _describe(arn)["stopDate"] for name, arn in arns.items()}
    # THEN each ends at its own wake-up, in that order
    assert stops == {
        "a": T0 + timedelta(seconds=10),
        "b": T0 + timedelta(seconds=3),
        "c": T0 + timedelta(seconds=5),
    }
    assert sorted(rehearsal.clock.delays_for("wait:Pause")) == [3.0, 5.0, 10.0]
    assert rehearsal.clock.actors == 0


def test_stream_delivery_filters_reports_failures_and_sends_on_failure(
    rehearsal: Rehearsal, toy_stack: tuple[Stack, Any]
) -> None:
    stack, module = toy_stack
    delivery = StreamDelivery(
        stack.event_source_mapping, region=REGION, account_id=ACCOUNT, clock=rehearsal.clock
    )
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = stack.physical_id("ToyTable")
    # GIVEN four writes: one filtered out (skip=true), one that the function reports failed
    for key, skip in (("ok-1", False), ("skipped", True), ("bad-1", False), ("ok-2", False)):
        ddb.put_item(TableName=table, Item={"id": {"S": key}, "skip": {"BOOL": skip}})
    # (the write itself delivered nothing: moto's synchronous delivery is detached)
    assert "stream" not in module().calls
    # WHEN the stream is pumped
    made = delivery.pump()
    # THEN the batch skips the filtered record, retries from the failed one once, then gives up
    assert module().calls["stream"] == [["ok-1", "bad-1", "ok-2"], ["bad-1", "ok-2"]]
    assert [(len(d.sequence_numbers), d.attempt, len(d.batch_item_failures)) for d in made] == [
        (3, 1, 1),
        (2, 2, 1),
    ]
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in delivery.filtered_out] == ["skipped"]
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(
        QueueUrl=stack.physical_id("FailureQueue"), MaxNumberOfMessages=10
    )["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 2
    assert body["DDBStreamBatchInfo"]["batchSize"] == 2
    assert body["DDBStreamBatchInfo"]["startSequenceNumber"] == made[1].sequence_numbers[0]
    assert body["DDBStreamBatchInfo"]["streamArn"] == stack.attribute("ToyTable", "StreamArn")
    # AND a second pump has nothing new to deliver
    assert delivery.pump() == []

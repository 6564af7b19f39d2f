"""Payload quotas, enforced in the rehearsal as AWS enforces them (aws/strict.py).

Step Functions: 256 KiB (262,144 bytes of UTF-8) for an execution's input, a state's output,
a task's input after Parameters and a task's result; past it, States.DataLimitExceeded (or, for
StartExecution, a ValidationException). Lambda: 6 MB for a synchronous request and response,
1 MB for an asynchronous request (Invoke API reference).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from strict_fixtures import T0, Machines, running_machines

from fleetwise_rehearsal.aws import strict
from fleetwise_rehearsal.aws.streams import EventSourceMappingSpec, StreamDelivery
from fleetwise_rehearsal.aws.vclock import VirtualClock

LIMIT = strict.PAYLOAD_LIMIT_BYTES
# {"s":"<n x>"}: the compact JSON of a one-field object holding n characters.
OVERHEAD = len('{"s":""}')


@pytest.fixture
def machines() -> Iterator[Machines]:
    with running_machines() as running:
        yield running


def pass_through() -> dict[str, Any]:
    return {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


def test_a_state_output_of_exactly_the_quota_passes_and_one_byte_more_fails(
    machines: Machines,
) -> None:
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Parameters": {"s.$": "$.s", "t": "y"}, "End": True}},
    }
    # The output adds ,"t":"y" to the input: the input stays within the quota.
    size = LIMIT - len('{"s":"","t":"y"}')
    at_limit = machines.run(definition, {"s": "x" * size})
    assert at_limit["status"] == "SUCCEEDED"
    assert strict.payload_size(json.loads(at_limit["output"])) == LIMIT
    over = machines.run(definition, {"s": "x" * (size + 1)})
    assert (over["status"], over["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert over["cause"] == (
        "The state/task 'A' returned a result with a size exceeding the maximum number of "
        "bytes service limit."
    )


def test_an_execution_input_past_the_quota_is_refused(machines: Machines) -> None:
    arn = machines.create(pass_through())
    at_limit = json.dumps({"s": "x" * (LIMIT - len('{"s": ""}'))})
    assert len(at_limit) == LIMIT
    machines.sfn.start_execution(stateMachineArn=arn, name="at-limit", input=at_limit)
    with pytest.raises(ClientError) as refused:
        machines.sfn.start_execution(stateMachineArn=arn, name="over", input=at_limit + " ")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "262144" in refused.value.response["Error"]["Message"]
    machines.clock.settle(timeout_wall=30)
    names = [e["name"] for e in machines.sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert names == ["at-limit"]


@pytest.mark.parametrize(
    "name",
    ["with space", "a:b", "a/b", "brace{", "tab\tname", "ctl\x85", "pct%", "back\\slash"],
)
def test_a_name_start_execution_refuses_is_refused(machines: Machines, name: str) -> None:
    # StartExecution's name rule (API reference): moto's parser backend started any name
    arn = machines.create(pass_through())
    with pytest.raises(ClientError) as refused:
        machines.sfn.start_execution(stateMachineArn=arn, name=name, input="{}")
    assert refused.value.response["Error"]["Code"] == "InvalidName"
    assert machines.sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_names_at_the_edges_of_the_rule(machines: Machines) -> None:
    arn = machines.create(pass_through())
    # 80 characters of anything allowed (unicode letters included) is a name
    for name in ("x" * 80, "é-ö_日本", "a.b+c=d@e!"):
        machines.sfn.start_execution(stateMachineArn=arn, name=name, input="{}")
    # 81 is not: the API's model bounds it (botocore refuses it before sending)
    assert strict.name_problem("x" * 81) == "Member must have length between 1 and 80"
    assert strict.name_problem("") == "Member must have length between 1 and 80"
    machines.clock.settle(timeout_wall=30)


def test_a_task_input_past_the_quota_fails_before_the_function_runs(machines: Machines) -> None:
    # GIVEN Parameters that send the input's 150 KB string twice (300 KB)
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": machines.echo_arn,
                    "Payload": {"a.$": "$.s", "b.$": "$.s"},
                },
                "End": True,
            }
        },
    }
    failed = machines.run(definition, {"s": "x" * 150_000})
    assert (failed["status"], failed["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert failed["cause"] == (
        "The state/task 'A' has an input with a size exceeding the maximum number of bytes "
        "service limit."
    )
    assert machines.invoker.invocations == []
    # AND half of it goes through
    done = machines.run(definition, {"s": "x" * 100_000})
    assert done["status"] == "SUCCEEDED"
    assert len(machines.invoker.invocations) == 1


def test_a_task_result_past_the_quota_fails(machines: Machines) -> None:
    sized = machines.function("sized", "strict_fixtures.sized")
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": sized, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    failed = machines.run(definition, {"n": LIMIT})
    assert (failed["status"], failed["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert machines.run(definition, {"n": 1000})["status"] == "SUCCEEDED"


def test_a_lambda_request_past_six_mb_is_refused(machines: Machines) -> None:
    machines.function("sized", "strict_fixtures.sized")
    limit = strict.LAMBDA_PAYLOAD_LIMIT_BYTES
    at_limit = json.dumps({"n": 1, "pad": "x" * (limit - len('{"n": 1, "pad": ""}'))}).encode()
    assert len(at_limit) == limit
    answer = machines.lam.invoke(FunctionName="sized", Payload=at_limit)
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"s": "x"}
    with pytest.raises(ClientError) as refused:
        machines.lam.invoke(FunctionName="sized", Payload=at_limit + b" ")
    error = refused.value.response
    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert len(machines.invoker.invocations) == 1


def test_an_asynchronous_lambda_request_past_one_mb_is_refused(machines: Machines) -> None:
    machines.function("sized", "strict_fixtures.sized")
    limit = strict.LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES
    at_limit = json.dumps({"n": 1, "pad": "x" * (limit - len('{"n": 1, "pad": ""}'))}).encode()
    assert len(at_limit) == limit
    # Accepted: 202, no payload, and the function ran once with the event
    answer = machines.lam.invoke(FunctionName="sized", InvocationType="Event", Payload=at_limit)
    assert answer["StatusCode"] == 202
    assert answer["Payload"].read() == b""
    [ran] = machines.invoker.invocations
    assert (ran.event["n"], ran.error_type) == (1, None)
    with pytest.raises(ClientError) as refused:
        machines.lam.invoke(FunctionName="sized", InvocationType="Event", Payload=at_limit + b" ")
    error = refused.value.response
    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert len(machines.invoker.invocations) == 1


def test_a_lambda_response_past_six_mb_is_a_function_error(machines: Machines) -> None:
    machines.function("sized", "strict_fixtures.sized")
    limit = strict.LAMBDA_PAYLOAD_LIMIT_BYTES
    fits = machines.lam.invoke(FunctionName="sized", Payload=json.dumps({"n": 5_000_000}))
    assert "FunctionError" not in fits
    assert len(json.loads(fits["Payload"].read())["s"]) == 5_000_000
    answer = machines.lam.invoke(FunctionName="sized", Payload=json.dumps({"n": limit}))
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read()) == strict.RESPONSE_TOO_LARGE
    assert machines.invoker.invocations[-1].error_type == "Function.ResponseSizeTooLarge"


def test_stream_batches_are_cut_to_fit_a_synchronous_invocation() -> None:
    # GIVEN stream records of about 1 MB each and a BatchSize of 100
    spec = EventSourceMappingSpec(function_name="f", event_source_arn="arn", batch_size=100)
    clock = VirtualClock(T0)
    delivery = StreamDelivery(spec, region="us-east-1", account_id="123456789012", clock=clock)
    records = [{"dynamodb": {"SequenceNumber": str(i), "pad": "x" * 1_000_000}} for i in range(13)]
    # WHEN they are batched
    batches = list(delivery._batches(records))
    # THEN each batch's event stays within 6 MB, in order, none lost
    assert [len(b) for b in batches] == [6, 6, 1]
    assert [r for b in batches for r in b] == records
    for batch in batches:
        assert len(json.dumps({"Records": batch}).encode()) <= strict.LAMBDA_PAYLOAD_LIMIT_BYTES

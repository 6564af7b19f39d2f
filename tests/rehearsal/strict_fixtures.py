"""Small state machines run in the patched moto, for the strictness tests (not the product's).

``running_machines()`` (each test module's ``machines`` fixture) gives ``Machines``;
``Machines.run(definition, input)`` creates the state machine (once per definition), runs one
execution to its end on the virtual clock and returns DescribeExecution's answer. Task states
reach ``Machines.echo_arn``: a Lambda function whose handler returns its event.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import zipfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import moto

from fleetwise_rehearsal.aws.lambda_runtime import LambdaInvoker
from fleetwise_rehearsal.aws.moto_patches import patched
from fleetwise_rehearsal.aws.stack import MOTO_CONFIG, aws_environment
from fleetwise_rehearsal.aws.vclock import VirtualClock

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REGION = "us-east-1"


def echo(event: Any, context: Any) -> Any:
    """The Lambda handler of the echo function (also used by the payload-limit tests)."""
    return event


def sized(event: Any, context: Any) -> Any:
    """A handler whose result is ``{"s": "x" * event["n"]}``."""
    return {"s": "x" * int(event["n"])}


# The invoker of the running machines (``waiting`` reaches it from inside a handler).
INVOKER: list[LambdaInvoker] = []


def waiting(event: Any, context: Any) -> Any:
    """A handler that waits ``event["seconds"]`` of virtual time for a slow answer, then
    returns ``event`` with the time it had left when it returned."""
    INVOKER[0].wait(float(event["seconds"]))
    return {**event, "left": context.get_remaining_time_in_millis()}


class NotYet(Exception):
    """What ``failing`` raises: a Lambda error named NotYet."""


def failing(event: Any, context: Any) -> Any:
    raise NotYet("not yet")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


class Machines:
    def __init__(self, clock: VirtualClock, invoker: LambdaInvoker) -> None:
        self.clock = clock
        self.invoker = invoker
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        self.role = iam.create_role(RoleName="machines", AssumeRolePolicyDocument="{}")["Role"][
            "Arn"
        ]
        self.echo_arn = self.function("echo", f"{__name__}.echo")
        self._arns: dict[str, str] = {}
        self._names = itertools.count()

    def function(self, name: str, handler: str, timeout: int = 3) -> str:
        created = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=self.role,
            Handler=handler,
            Code={"ZipFile": _zip()},
            Timeout=timeout,
        )
        return str(created["FunctionArn"])

    def create(self, definition: Mapping[str, Any]) -> str:
        text = json.dumps(definition, sort_keys=True)
        if text not in self._arns:
            name = f"machine-{len(self._arns)}"
            self._arns[text] = self.sfn.create_state_machine(
                name=name, definition=text, roleArn=self.role
            )["stateMachineArn"]
        return self._arns[text]

    def start(self, definition: Mapping[str, Any], execution_input: Any) -> str:
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.create(definition),
                name=f"run-{next(self._names)}",
                input=json.dumps(execution_input, separators=(",", ":")),
            )["executionArn"]
        )

    def run(self, definition: Mapping[str, Any], execution_input: Any) -> dict[str, Any]:
        arn = self.start(definition, execution_input)
        self.clock.settle(timeout_wall=30)
        return dict(self.sfn.describe_execution(executionArn=arn))

    def history(self, arn: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=arn)["events"])


@contextlib.contextmanager
def running_machines() -> Iterator[Machines]:
    """moto with every rehearsal patch applied, a virtual clock (jitter pinned at 0.5)."""
    clock = VirtualClock(T0, jitter_fraction=0.5)
    invoker = LambdaInvoker()
    with aws_environment(REGION), moto.mock_aws(config=MOTO_CONFIG), patched(clock, invoker):
        INVOKER[:] = [invoker]
        try:
            yield Machines(clock, invoker)
        finally:
            INVOKER.clear()

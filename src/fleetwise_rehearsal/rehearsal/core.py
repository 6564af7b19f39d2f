"""The rehearsal's core: what is deployed and how it is reached.

``RehearsalCore`` starts moto, the virtual clock and the IoT FleetWise simulator (or a recording
proxy to an external endpoint), applies the patches and deploys the template; the driving
(``drive``) and inspecting (``observe``) methods build on it. Also the small values every part
shares: ``Execution``, ``Event``, ``plain`` and the time helpers.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import moto
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from fleetwise_reconciler import wiring
from fleetwise_rehearsal.aws import clients, members
from fleetwise_rehearsal.aws.alarm_monitor import AlarmMonitor
from fleetwise_rehearsal.aws.alarms import MetricStore
from fleetwise_rehearsal.aws.lambda_runtime import LambdaInvoker
from fleetwise_rehearsal.aws.moto_patches import patched
from fleetwise_rehearsal.aws.stack import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    MOTO_CONFIG,
    Stack,
    aws_environment,
    deploy,
    deploy_member,
)
from fleetwise_rehearsal.aws.stepfunctions import forget_executions
from fleetwise_rehearsal.aws.streams import StreamDelivery
from fleetwise_rehearsal.aws.vclock import VirtualClock
from fleetwise_rehearsal.fleetwise import FleetWiseSimulator
from fleetwise_rehearsal.rehearsal.loopback import RecordingProxy, ResponseCatcher

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_IOTFLEETWISE"
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
FINISHED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")
STATUS_CHANGE = "Step Functions Execution Status Change"
# run_until(None) gives up when executions still run after this much virtual time.
RUN_LIMIT_SECONDS = 7 * 24 * 3600.0

_ROUTER: Any = None
serializer = TypeSerializer()
deserializer = TypeDeserializer()


def template_path() -> Path:
    """template.yaml of the project this package runs from (a source checkout)."""
    if not DEFAULT_TEMPLATE.exists():
        raise FileNotFoundError(
            "template.yaml was not found beside the package: run the rehearsal from a "
            "checkout of the project (pip install -e .)"
        )
    return DEFAULT_TEMPLATE


def plain(value: Any) -> Any:
    """DynamoDB's Decimals, sets and binary values as JSON-friendly Python values: a set as a
    sorted list (the order the product's spec version reads a set in), binary as base64 text
    (as the product's spec version and its status read it)."""
    if isinstance(value, Binary):
        value = value.value
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


@dataclass(frozen=True)
class Execution:
    """One workflow execution as the rehearsal saw it."""

    name: str
    arn: str
    status: str
    input: dict[str, Any]
    path: tuple[str, ...]
    started_at: datetime
    stopped_at: datetime | None
    error: str | None = None
    cause: str | None = None


@dataclass
class Signals:
    """What CloudWatch holds for the account and Region (every stack's datapoints), and how far
    the rehearsal has brought it up to date (``Observing.metric_store``)."""

    store: MetricStore = field(default_factory=MetricStore)
    invocations: int = 0
    executions: set[str] = field(default_factory=set)
    queues_until: float | None = None

    def clear(self) -> None:
        self.store = MetricStore()
        self.invocations = 0
        self.executions = set()
        self.queues_until = None


@dataclass
class Event:
    """One line of the narrated timeline."""

    at: datetime
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class RehearsalCore:
    """The running parts of a rehearsal (see ``Rehearsal`` for the parameters)."""

    def __init__(
        self,
        parameters: Mapping[str, str] | None = None,
        *,
        template: Path | str | None = None,
        start: datetime = START,
        seed: int = 0,
        jitter_fraction: float | None = None,
        account_id: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        endpoint_url: str | None = None,
        settle_timeout_wall: float = 60.0,
        member_accounts: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.parameters = dict(parameters or {})
        self.member_accounts = {k: dict(v) for k, v in (member_accounts or {}).items()}
        self.member_stacks: dict[str, Stack] = {}
        self.template = Path(template) if template is not None else template_path()
        self.account_id = account_id
        self.region = region
        self.clock = VirtualClock(start, seed=seed, jitter_fraction=jitter_fraction)
        self.settle_timeout_wall = settle_timeout_wall
        self._endpoint_override = endpoint_url
        self.sim: FleetWiseSimulator | None = None
        self.external_endpoint: str | None = None
        self.invoker = LambdaInvoker()
        # Powertools' Logger keeps the stdout it first saw (the first invoker's router), so
        # every rehearsal of the process shares one router: logs of a later rehearsal stay
        # captured instead of leaking to the driver's stdout.
        global _ROUTER  # noqa: PLW0603 - one per process, by design
        if _ROUTER is None:
            _ROUTER = self.invoker._router
        self.invoker._router = _ROUTER
        self.custom_resource_answers: list[dict[str, Any]] = []
        self._stack: Stack | None = None
        self._delivery: StreamDelivery | None = None
        self._exits = contextlib.ExitStack()
        self._rule_handled: set[str] = set()
        # How the execution-status rule delivers its next events: "twice", or late by seconds;
        # and how many of the next ticks are delivered twice.
        self._rule_deliveries: collections.deque[str | float] = collections.deque()
        self._schedule_twice = 0
        self._events: list[Event] = []
        self._catcher: ResponseCatcher | None = None
        self._proxy: RecordingProxy | None = None
        self._clients: dict[str, Any] = {}
        # Shared by the stacks side by side (``add_stack``): CloudWatch's datapoints and the
        # stacks themselves; each stack has its own alarm monitor.
        self._signals = Signals()
        self._peers: list[RehearsalCore] = [self]
        self._monitor: AlarmMonitor | None = None
        self.deployed_at = self.clock.time()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._exits.close()
            raise
        return self

    def _start(self) -> None:
        external = self._endpoint_override or os.environ.get(ENDPOINT_VARIABLE)
        exits = self._exits
        exits.enter_context(aws_environment(self.region))
        if external:
            self.external_endpoint = external
            self._proxy = RecordingProxy(external)
            exits.callback(self._proxy.close)
            endpoint = self._proxy.url
        else:
            self.sim = exits.enter_context(
                FleetWiseSimulator(
                    clock=self.clock.time,
                    account_id=self.account_id,
                    region=self.region,
                    tagger=self._running_invocation,
                    account_for_access_key=members.account_for_access_key(self.account_id),
                    wait=self.invoker.wait,
                    expired=members.expired_keys(self.clock),
                )
            )
            endpoint = self.sim.endpoint_url
        # The product reaches FleetWise only through this variable, set in each function's
        # environment (never in the driver's process environment).
        self.invoker.extra_env[ENDPOINT_VARIABLE] = endpoint
        self.invoker.extra_env["NO_PROXY"] = "127.0.0.1,localhost"
        exits.enter_context(moto.mock_aws(config=MOTO_CONFIG))  # type: ignore[call-overload]
        # Ports cached by an earlier rehearsal in this process point at its endpoint.
        wiring.reset()
        exits.callback(wiring.reset)
        exits.enter_context(patched(self.clock, self.invoker))
        self._catcher = ResponseCatcher()
        exits.callback(self._catcher.close)
        self._stack = deploy(
            self.template, self.parameters, account_id=self.account_id, region=self.region
        )
        self._delivery = StreamDelivery(
            self.stack.event_source_mapping,
            region=self.region,
            account_id=self.account_id,
            clock=self.clock,
        )
        self._delivery.start()
        for config in self.stack.of_type("AWS::Lambda::EventInvokeConfig").values():
            function = str(config.properties["FunctionName"]).rsplit(":", 1)[-1]
            retries = config.properties.get("MaximumRetryAttempts")
            if retries is not None:
                self.invoker.async_retries[function] = int(retries)
        self.deployed_at = self.clock.time()
        self._note("deploy", f"stack {self.stack.name} deployed from template.yaml")
        for account, member_parameters in self.member_accounts.items():
            self.deploy_member(account, member_parameters)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exits.close()

    # -- what is deployed ----------------------------------------------------------------------

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            raise RuntimeError("the rehearsal is not running (use it as a context manager)")
        return self._stack

    @property
    def delivery(self) -> StreamDelivery:
        if self._delivery is None:
            raise RuntimeError("the rehearsal is not running")
        return self._delivery

    @property
    def default_target(self) -> str:
        return f"{self.account_id}:{self.region}"

    @property
    def state_machine_arn(self) -> str:
        return self.stack.physical_id("ReconcileStateMachine")

    def client(self, service: str) -> Any:
        """A boto3 client of the rehearsal's moto (one per service: building one costs ~9 ms)."""
        if service not in self._clients:
            self._clients[service] = clients.client(service, self.region)
        return self._clients[service]

    def reset(self) -> None:
        """Back to a freshly deployed stack, keeping the deployment and the virtual clock.

        Empties both tables and the stack's queues, forgets the simulator's state and calls,
        the executions, invocations, delays and narration, and skips the stream past
        everything written so far (the deletions included). Nothing may be running. Cheaper
        than a new ``Rehearsal`` for tests that run many examples on one stack."""
        if self.clock.actors:
            raise RuntimeError("reset() needs a quiet rehearsal: settle() first")
        ddb = self.client("dynamodb")
        for logical_id in ("SpecTable", "StatusTable"):
            table = self.stack.physical_id(logical_id)
            keys = [
                schema["AttributeName"]
                for schema in ddb.describe_table(TableName=table)["Table"]["KeySchema"]
            ]
            for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page["Items"]:
                    ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})
        sqs = self.client("sqs")
        for queue in self.stack.of_type("AWS::SQS::Queue").values():
            sqs.purge_queue(QueueUrl=queue.physical_id)
        self.delivery.skip_to_end()
        forget_executions(self.account_id, self.region, self.state_machine_arn)
        if self.sim is not None:
            self.sim.forget()
        if self._proxy is not None:
            self._proxy.operations.clear()
        self.invoker.invocations.clear()
        self.invoker.later.clear()
        self.invoker.duplicate_async = 0
        self._rule_deliveries.clear()
        self._schedule_twice = 0
        self.clock.forget_delays()
        self._rule_handled.clear()
        self._events.clear()
        self.custom_resource_answers.clear()
        self._signals.clear()
        self._monitor = None
        # CloudWatch starts over too: the alarms are as new (their warm-up counts from now).
        self.deployed_at = self.clock.time()
        self._note("deploy", "rehearsal reset: empty tables, same stack")

    def stacks(self) -> list[Self]:
        """Every stack of the rehearsal, this one first: the stack the rehearsal deployed, then
        those ``add_stack`` put beside it."""
        return [self, *(p for p in self._peers if p is not self)]  # type: ignore[list-item]

    def add_stack(self, name: str, parameters: Mapping[str, str] | None = None) -> Self:
        """Another hub stack, deployed from the same template beside this one, in the same
        account and Region, as a second ``sam deploy --stack-name NAME`` would: its own
        tables, functions, workflow, schedule, alarms and dashboard; the same CloudWatch, IoT
        FleetWise, clock and Lambda runtime. Returns a rehearsal of that stack (write its
        items, tick its schedule, read its statuses and alarms through it); it is not a
        context manager, and this one's exit takes it down. ``settle`` and ``run_until`` of
        either drive both."""
        if any(p.stack.name == name for p in self._peers):
            raise ValueError(f"a stack named {name!r} is already deployed")
        other = copy.copy(self)
        other.parameters = dict(parameters or {})
        other.member_stacks = {}
        other._stack = deploy(
            self.template,
            other.parameters,
            account_id=self.account_id,
            region=self.region,
            stack_name=name,
        )
        other._delivery = StreamDelivery(
            other.stack.event_source_mapping,
            region=self.region,
            account_id=self.account_id,
            clock=self.clock,
        )
        other._delivery.start()
        other._rule_handled = set()
        other._monitor = None
        other.deployed_at = self.clock.time()
        self._peers.append(other)
        self._note("deploy", f"stack {name} deployed beside {self.stack.name}")
        return other

    def deploy_member(self, account: str, parameters: Mapping[str, str] | None = None) -> Stack:
        """``member/template.yaml`` deployed into ``account`` as StackSets would roll it out:
        trusting this stack, unless ``parameters`` (the member template's) say otherwise."""
        stack = deploy_member(
            account,
            hub_account_id=self.account_id,
            hub_stack_name=self.stack.name,
            region=self.region,
            parameters=parameters,
        )
        self.member_stacks[account] = stack
        self._note("deploy", f"member role deployed into {account}: {dict(parameters or {})}")
        return stack

    # -- internals -----------------------------------------------------------------------------

    def _running_invocation(self) -> str | None:
        """The Lambda invocation running now ("<function> <execution ARN>"), for the
        simulator's call log: the invoking thread waits while the simulator serves it."""
        current = self.invoker.current
        return None if current is None else current.tag

    def _note(self, kind: str, text: str, **data: Any) -> None:
        self._events.append(Event(self.clock.now(), kind, text, data))

    def _invoke(self, function: str, event: Any, *, asynchronous: bool = False) -> Any:
        """Invoke a function through moto's Lambda API (and so in-process); ``asynchronous``:
        as an ``Event`` (Lambda queues it, retries its errors, answers nothing)."""
        answer = self.client("lambda").invoke(
            FunctionName=function,
            InvocationType="Event" if asynchronous else "RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        body = answer["Payload"].read()
        return json.loads(body) if body else None

    def _list_executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """ListExecutions of this stack's state machine (of ``status`` only, when given)."""
        sfn = self.client("stepfunctions")
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn}
        if status is not None:
            kwargs["statusFilter"] = status
        while True:
            page = sfn.list_executions(**kwargs)
            out.extend(page["executions"])
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return sorted(out, key=lambda e: (e["startDate"], e["name"]))

    def _history(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events
            kwargs["nextToken"] = token


def dynamo_value(value: Any) -> Any:
    """Python values as boto3's serialiser wants them (floats as Decimal)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dynamo_value(v) for v in value]
    return value


def item_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: deserializer.deserialize(v) for k, v in raw.items()}


def stamp(moment: datetime | None, epoch: float = 0.0) -> str:
    value = moment if moment is not None else datetime.fromtimestamp(epoch, UTC)
    return value.isoformat().replace("+00:00", "Z")


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

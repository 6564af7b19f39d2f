"""The offline rehearsal: the real template, workflow and handlers, on embedded AWS.

``Rehearsal`` starts moto, a virtual clock, the FleetWise simulator (or uses the endpoint in
``AWS_ENDPOINT_URL_IOTFLEETWISE``), patches moto and deploys ``template.yaml`` into it::

    with Rehearsal() as r:
        r.deploy_spec()          # the custom resource, as `sam deploy` runs it
        r.settle()               # every execution to its end, virtual time jumping ahead
        r.status("123456789012:us-east-1")["phase"]   # "Registered"

What moto leaves inert the rehearsal applies from the template's own definitions: the stream's
event source mapping (``StreamDelivery``: filter, batching, partial failures, bisection,
on-failure queue), the custom resource (its ``ResponseURL`` is served on loopback and the
answer kept), the execution-status EventBridge rule (its pattern evaluated against the
status-change event of every execution that ended FAILED, TIMED_OUT or ABORTED, its target
invoked), the drift schedule (``tick``) and the alarms (``alarms_in_alarm``).

Scenarios drive the clock in its manual mode instead: ``run_until`` lets time run to a moment
with executions running, ``stop_execution`` and ``update_parameters`` act as an operator and a
stack update would (``scenario.ScenarioRunner`` builds on them).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import moto
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from fleetwise_reconciler import wiring
from fleetwise_rehearsal.aws import alarms as alarm_eval
from fleetwise_rehearsal.aws import clients, members
from fleetwise_rehearsal.aws.moto_patches import (
    LambdaInvoker,
    StreamDelivery,
    filter_matches,
    forget_executions,
    patched,
)
from fleetwise_rehearsal.aws.stack import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    MOTO_CONFIG,
    Stack,
    StackUpdate,
    aws_environment,
    deploy,
)
from fleetwise_rehearsal.aws.stack import update as stack_update
from fleetwise_rehearsal.aws.vclock import ClockStalled, VirtualClock
from fleetwise_rehearsal.fleetwise.simulator import FleetWiseSimulator

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_IOTFLEETWISE"
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
FINISHED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")
STATUS_CHANGE = "Step Functions Execution Status Change"
# run_until(None) gives up when executions still run after this much virtual time.
RUN_LIMIT_SECONDS = 7 * 24 * 3600.0

_ROUTER: Any = None
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def template_path() -> Path:
    """template.yaml of the project this package runs from (a source checkout)."""
    if not DEFAULT_TEMPLATE.exists():
        raise FileNotFoundError(
            "template.yaml was not found beside the package: run the rehearsal from a "
            "checkout of the project (pip install -e .)"
        )
    return DEFAULT_TEMPLATE


def plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON-friendly Python values."""
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
class Event:
    """One line of the narrated timeline."""

    at: datetime
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _serve(
    handler: type[BaseHTTPRequestHandler], name: str
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A loopback HTTP server on an ephemeral port, served from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return server, thread


def _stop(server: ThreadingHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


class _ResponseCatcher:
    """CloudFormation's side of a custom resource: a loopback URL that keeps PUT answers."""

    def __init__(self) -> None:
        answers: list[dict[str, Any]] = []
        self.answers = answers

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    answers.append(json.loads(body))
                except ValueError:
                    answers.append({"unparsable": body.decode(errors="replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server, self._thread = _serve(Handler, "custom-resource-responses")

    def url(self, request_id: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{request_id}"

    def close(self) -> None:
        _stop(self._server, self._thread)


class _RecordingProxy:
    """A loopback pass-through to an external FleetWise endpoint that counts each request.

    With an external endpoint there is no simulator log to read, so the functions are pointed
    at this proxy and every attempt (answered with an error or not) is counted by its
    ``X-Amz-Target`` operation."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.operations: list[str] = []
        operations = self.operations
        base = self.upstream

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target", "")
                operations.append(target.rsplit(".", 1)[-1])
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                request = urllib.request.Request(  # noqa: S310 - a loopback/operator endpoint
                    base + self.path, data=body, method="POST", headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                        status, payload, reply_headers = (
                            answer.status,
                            answer.read(),
                            answer.headers,
                        )
                except urllib.error.HTTPError as error:
                    status, payload, reply_headers = error.code, error.read(), error.headers
                self.send_response(status)
                for key, value in reply_headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server, self._thread = _serve(Handler, "fleetwise-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        _stop(self._server, self._thread)


class Rehearsal:
    """The deployed stack, rehearsed offline on a virtual clock (see the module docstring).

    ``parameters`` are template parameters (strings, as CloudFormation takes them).
    ``jitter_fraction`` pins Step Functions' FULL jitter (``None``: seeded random).
    ``endpoint_url`` (or ``AWS_ENDPOINT_URL_IOTFLEETWISE`` when set) replaces the simulator.
    ``member_accounts`` maps each member account to the parameters of ``member/template.yaml``
    deployed there after the stack (``{}``: trusting this stack, as StackSets would roll it
    out); see ``deploy_member``.
    """

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
        self._events: list[Event] = []
        self._catcher: _ResponseCatcher | None = None
        self._proxy: _RecordingProxy | None = None
        self._clients: dict[str, Any] = {}

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
            self._proxy = _RecordingProxy(external)
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
        self._catcher = _ResponseCatcher()
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
        self.clock.forget_delays()
        self._rule_handled.clear()
        self._events.clear()
        self.custom_resource_answers.clear()
        self._note("deploy", "rehearsal reset: empty tables, same stack")

    def deploy_member(self, account: str, parameters: Mapping[str, str] | None = None) -> Stack:
        """``member/template.yaml`` deployed into ``account`` as StackSets would roll it out:
        trusting this stack, unless ``parameters`` (the member template's) say otherwise."""
        stack = members.deploy_member(
            account,
            hub_account_id=self.account_id,
            hub_stack_name=self.stack.name,
            region=self.region,
            parameters=parameters,
        )
        self.member_stacks[account] = stack
        self._note("deploy", f"member role deployed into {account}: {dict(parameters or {})}")
        return stack

    # -- driving -------------------------------------------------------------------------------

    def deploy_spec(self, logical_id: str | None = None) -> dict[str, Any]:
        """Run the template's custom resource with a CloudFormation Create event; pump.

        Returns the answer the function PUT to the ``ResponseURL``."""
        customs = self.stack.custom_resources
        if logical_id is None:
            if len(customs) != 1:
                raise LookupError(f"expected one custom resource, found {sorted(customs)}")
            logical_id = next(iter(customs))
        return self._custom_resource_request("Create", logical_id, dict(customs[logical_id]))

    def _custom_resource_request(
        self,
        request_type: str,
        logical_id: str,
        properties: dict[str, Any],
        old_properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a custom resource the request CloudFormation would; pump; return its answer."""
        request_id = str(uuid.uuid4())
        stack_id = (
            f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
            f"{self.stack.name}/{uuid.UUID(int=0)}"
        )
        if self._catcher is None:
            raise RuntimeError("the rehearsal is not running")
        event = {
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": self._catcher.url(request_id),
            "StackId": stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": self.stack.resources[logical_id].type,
            "ResourceProperties": properties,
        }
        if request_type != "Create":
            # CloudFormation sends the id the resource's last answer gave.
            given = [
                a.get("PhysicalResourceId")
                for a in self.custom_resource_answers
                if a.get("LogicalResourceId") == logical_id
            ]
            event["PhysicalResourceId"] = next(
                (str(g) for g in reversed(given) if g), self.stack.physical_id(logical_id)
            )
        if old_properties is not None:
            event["OldResourceProperties"] = old_properties
        before = len(self._catcher.answers)
        self._invoke(str(properties["ServiceToken"]), event)
        answers = self._catcher.answers[before:]
        answer = answers[-1] if answers else {"Status": "NO ANSWER"}
        self.custom_resource_answers.append(answer)
        self._note(
            "deploy",
            f"custom resource {logical_id} ({request_type}): {answer.get('Status')} "
            f"({answer.get('Reason', '')})",
            answer=answer,
        )
        self.pump()
        return answer

    def write_spec(self, item: Mapping[str, Any]) -> None:
        """PutItem the spec item as an operator would, then pump the stream."""
        body = dict(item)
        body.setdefault("target", self.default_target)
        self.client("dynamodb").put_item(
            TableName=self.stack.physical_id("SpecTable"),
            Item={k: _serializer.serialize(_dynamo_value(v)) for k, v in body.items()},
        )
        self._note("edit", f"spec written for {body['target']}", item=plain(body))
        self.pump()

    def update_spec(self, target: str | None = None, **attributes: Any) -> None:
        """UpdateItem the spec item (``None`` removes an attribute), then pump the stream."""
        target = target or self.default_target
        sets = {k: v for k, v in attributes.items() if v is not None}
        removes = [k for k, v in attributes.items() if v is None]
        names = {f"#a{i}": k for i, k in enumerate(attributes)}
        by_name = {k: n for n, k in names.items()}
        parts = []
        if sets:
            parts.append("SET " + ", ".join(f"{by_name[k]} = :v{by_name[k][2:]}" for k in sets))
        if removes:
            parts.append("REMOVE " + ", ".join(by_name[k] for k in removes))
        kwargs: dict[str, Any] = {
            "TableName": self.stack.physical_id("SpecTable"),
            "Key": {"target": {"S": target}},
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": names,
        }
        if sets:
            kwargs["ExpressionAttributeValues"] = {
                f":v{by_name[k][2:]}": _serializer.serialize(_dynamo_value(v))
                for k, v in sets.items()
            }
        self.client("dynamodb").update_item(**kwargs)
        self._note("edit", f"spec of {target} edited: {plain(attributes)}", edit=plain(attributes))
        self.pump()

    def delete_spec(self, target: str | None = None) -> None:
        target = target or self.default_target
        self.client("dynamodb").delete_item(
            TableName=self.stack.physical_id("SpecTable"), Key={"target": {"S": target}}
        )
        self._note("edit", f"spec of {target} deleted")
        self.pump()

    def pump(self) -> int:
        """Deliver new stream records to the trigger; returns the number of invocations.

        Held on the clock: executions the trigger starts in one batch begin at one moment."""
        with self.clock.hold():
            made = self.delivery.pump()
        return len(made)

    def settle(self) -> None:
        """Run until every execution finished, applying the stream and the status rule."""
        while True:
            delivered = self.pump()
            self.clock.settle(self.settle_timeout_wall)
            fired = self._apply_execution_rules()
            if not delivered and not fired:
                return

    def tick(self) -> list[str]:
        """What the drift schedule would do now; returns the executions it started.

        A template ``AWS::Scheduler::Schedule`` whose target is a Lambda function has that
        function invoked with the schedule's input. Without one, a drift run is started per
        spec item, named ``drift-<account>-<region>-<YYYYMMDDTHHMMZ>``."""
        before = {e["executionArn"] for e in self._list_executions()}
        schedules = self.stack.of_type("AWS::Scheduler::Schedule")
        lambda_targets = [
            r.properties["Target"]
            for r in schedules.values()
            if ":lambda:" in str((r.properties.get("Target") or {}).get("Arn", ""))
        ]
        with self.clock.hold():
            if lambda_targets:
                for target in lambda_targets:
                    raw = target.get("Input")
                    event = json.loads(raw) if isinstance(raw, str) else (raw or {})
                    self._note("tick", "drift schedule fires its function")
                    self._invoke(str(target["Arn"]), event)
            else:
                stamp = self.clock.now().strftime("%Y%m%dT%H%MZ")
                sfn = self.client("stepfunctions")
                for item in self.specs():
                    target_key = str(item["target"])
                    account, _, region = target_key.partition(":")
                    name = f"drift-{account}-{region}-{stamp}"
                    self._note("tick", f"drift check {name}")
                    with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
                        sfn.start_execution(
                            stateMachineArn=self.state_machine_arn,
                            name=name,
                            input=json.dumps(
                                {"target": target_key, "trigger": "schedule", "eventId": name}
                            ),
                        )
        after = self._list_executions()
        return [e["name"] for e in after if e["executionArn"] not in before]

    def advance_to(self, moment: datetime) -> None:
        """Let virtual time pass until ``moment`` (nothing may be running)."""
        self.advance(max(0.0, (moment - self.clock.now()).total_seconds()))

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass with nothing running (between scenes)."""
        self.clock.advance(seconds, timeout_wall=self.settle_timeout_wall)

    # -- driving moment by moment (the clock in manual mode) -------------------------------------

    def run_until(
        self,
        moment: datetime | None,
        *,
        observe: Callable[[], None] | None = None,
        limit_seconds: float = RUN_LIMIT_SECONDS,
    ) -> None:
        """Let virtual time run, executions running: to ``moment``, or (``None``) until no
        execution runs.

        The clock must be in manual mode (``clock.auto_advance = False``). Time moves from one
        wake-up to the next; at each, once every execution sleeps again, new stream records are
        delivered and the execution-status rule is applied, so a run that fails, times out or
        is aborted is recorded at that moment, and a trigger's run starts when its write lands.
        ``observe`` is called at each of these moments. Raises ValueError for a moment in the
        past, ClockStalled when executions run but none waits for a virtual time, or when they
        still run after ``limit_seconds`` of virtual time."""
        if self.clock.auto_advance:
            raise RuntimeError("run_until drives the clock: set clock.auto_advance = False first")
        now = self.clock.time()
        stop_at = None if moment is None else moment.timestamp()
        if stop_at is not None and stop_at < now:
            raise ValueError(
                f"{_stamp(moment)} is earlier than the virtual now {_stamp(None, now)}"
            )
        give_up = now + limit_seconds
        while True:
            # In manual mode settle() returns once every execution sleeps: this moment is done.
            self.settle()
            if observe is not None:
                observe()
            now = self.clock.time()
            if stop_at is not None and now >= stop_at:
                return
            wake = self._next_wake_up()
            if stop_at is None:
                if self.clock.actors == 0:
                    return
                if wake is None or wake > give_up:
                    why = (
                        "with nothing to wait for"
                        if wake is None
                        else f"after {limit_seconds:g} s of virtual time"
                    )
                    raise ClockStalled(
                        f"{self.clock.actors} execution(s) still running at "
                        f"{_stamp(None, now)} {why}"
                    )
                goal = wake
            else:
                goal = stop_at if wake is None else min(wake, stop_at)
            self.clock.advance(max(0.0, goal - now), timeout_wall=self.settle_timeout_wall)

    def _next_wake_up(self) -> float | None:
        """The earliest wake-up still pending on the clock (virtual epoch seconds), if any.

        Read from the clock's heap under its lock: VirtualClock offers no public accessor yet,
        and its record of delays is stamped to the microsecond only, too coarse to land on a
        wake-up exactly."""
        clock = self.clock
        with clock._cv:
            pending = [s.wake_at for s in clock._heap if not s.cancelled and not s.woken]
        return min(pending, default=None)

    def running_executions(self, target: str | None = None) -> list[dict[str, Any]]:
        """ListExecutions summaries of the RUNNING executions (of ``target``'s runs when given)."""
        sfn = self.client("stepfunctions")
        running = [e for e in self._list_executions() if e["status"] == "RUNNING"]
        if target is None:
            return running

        def target_of(summary: Mapping[str, Any]) -> Any:
            described = sfn.describe_execution(executionArn=summary["executionArn"])
            return json.loads(described.get("input") or "{}").get("target")

        return [e for e in running if target_of(e) == target]

    def stop_execution(
        self, execution: str, *, error: str | None = None, cause: str | None = None
    ) -> str:
        """StopExecution of one execution (name or ARN), as an operator would; returns its ARN.

        A run asleep in a Wait state ends ABORTED at once, as in AWS. The rehearsal's Retry
        backoff sleeps cannot be interrupted: a run stopped during one ends ABORTED when that
        backoff ends. The status rule is applied by the next ``settle`` or ``run_until``."""
        arn = execution
        if not execution.startswith("arn:"):
            found = [e["executionArn"] for e in self._list_executions() if e["name"] == execution]
            if not found:
                raise LookupError(f"no execution named {execution!r}")
            arn = found[0]
        history = self._history(arn)
        in_wait = bool(history) and history[-1]["type"] == "WaitStateEntered"
        sfn = self.client("stepfunctions")
        request: dict[str, Any] = {"executionArn": arn}
        if error is not None:
            request["error"] = error
        if cause is not None:
            request["cause"] = cause
        sfn.stop_execution(**request)
        details = "".join(f" {k}={v!r}" for k, v in request.items() if k != "executionArn")
        self._note("note", f"StopExecution {arn.rsplit(':', 1)[-1]}{details}")
        if in_wait:
            # The Wait notices the stop within a few wall milliseconds; wait for it to end.
            deadline = time.monotonic() + self.settle_timeout_wall
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise ClockStalled(f"{arn} did not end after StopExecution")
                time.sleep(0.005)
        return arn

    def update_parameters(self, changes: Mapping[str, str]) -> StackUpdate:
        """A stack update that changes template parameters (see ``stack.update``); each custom
        resource whose properties changed gets CloudFormation's Update request."""
        parameters = {**self.parameters, **changes}
        update = stack_update(self.stack, self.template, parameters)
        self.parameters = parameters
        self._note(
            "deploy",
            f"stack updated ({', '.join(f'{k}={v}' for k, v in changes.items())}): "
            f"{', '.join(update.changed) or 'no resource changed'}",
        )
        for logical_id, (old, new) in update.custom_resources.items():
            self._custom_resource_request("Update", logical_id, dict(new), dict(old))
        return update

    # -- inspecting ----------------------------------------------------------------------------

    def specs(self) -> list[dict[str, Any]]:
        table = self.stack.physical_id("SpecTable")
        items = self.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        return [plain(_item(i)) for i in items]

    def status(self, target: str | None = None) -> dict[str, Any] | None:
        """The target's STATUS item as plain JSON values (None if never recorded)."""
        return self._status_item(target or self.default_target, "STATUS")

    def lease(self, target: str | None = None) -> dict[str, Any] | None:
        return self._status_item(target or self.default_target, "LEASE")

    def _status_item(self, target: str, kind: str) -> dict[str, Any] | None:
        answer = self.client("dynamodb").get_item(
            TableName=self.stack.physical_id("StatusTable"),
            Key={"target": {"S": target}, "kind": {"S": kind}},
            ConsistentRead=True,
        )
        raw = answer.get("Item")
        return plain(_item(raw)) if raw else None

    def targets(self) -> list[str]:
        """Every target with a spec item or a status."""
        found = {str(s["target"]) for s in self.specs()}
        items = self.client("dynamodb").scan(TableName=self.stack.physical_id("StatusTable"))
        found |= {i["target"]["S"] for i in items["Items"] if i["kind"]["S"] == "STATUS"}
        return sorted(found)

    def execution_summaries(self) -> list[dict[str, Any]]:
        """ListExecutions summaries of every execution (cheaper than ``executions``: no
        describe, no history), oldest first."""
        return self._list_executions()

    def _list_executions(self) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn}
        while True:
            page = sfn.list_executions(**kwargs)
            out.extend(page["executions"])
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return sorted(out, key=lambda e: (e["startDate"], e["name"]))

    def executions(self) -> list[Execution]:
        """Every execution, oldest first, with its path of states."""
        sfn = self.client("stepfunctions")
        out: list[Execution] = []
        for summary in self._list_executions():
            arn = summary["executionArn"]
            described = sfn.describe_execution(executionArn=arn)
            history = self._history(arn)
            path = tuple(
                e["stateEnteredEventDetails"]["name"]
                for e in history
                if e["type"].endswith("StateEntered")
            )
            out.append(
                Execution(
                    name=summary["name"],
                    arn=arn,
                    status=described["status"],
                    input=json.loads(described.get("input") or "{}"),
                    path=path,
                    started_at=_aware(described["startDate"]),
                    stopped_at=_aware(described["stopDate"]) if described.get("stopDate") else None,
                    error=described.get("error"),
                    cause=described.get("cause"),
                )
            )
        return out

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

    def history(self, execution_name: str) -> list[dict[str, Any]]:
        """The execution history events of one execution (by name)."""
        arn = next(
            e["executionArn"] for e in self._list_executions() if e["name"] == execution_name
        )
        return self._history(arn)

    def fleetwise_operations(self) -> list[str]:
        """Every FleetWise request received, in order (every attempt)."""
        if self.sim is not None:
            return [c.operation for c in self.sim.calls()]
        if self._proxy is None:
            raise RuntimeError("the rehearsal is not running")
        return list(self._proxy.operations)

    def fleetwise_calls(self) -> dict[str, int]:
        """Requests per FleetWise operation, every attempt counted."""
        return dict(sorted(Counter(self.fleetwise_operations()).items()))

    def metrics(self) -> list[dict[str, Any]]:
        """Every EMF document the handlers printed, in order."""
        return self.invoker.metrics()

    def datapoints(self) -> list[alarm_eval.Datapoint]:
        """The reconciler's EMF datapoints plus the AWS-namespace datapoints synthesised from
        what the rehearsal saw. Synthesised, one datapoint of value 1 each, stamped with the
        virtual time of the event:

        - ``AWS/States`` ``ExecutionsFailed`` / ``ExecutionsTimedOut`` / ``ExecutionsAborted``
          (dimension ``StateMachineArn``) for each finished execution with that status;
        - ``AWS/Lambda`` ``Errors`` (dimension ``FunctionName``) for each in-process invocation
          whose handler raised (Lambda's "Unhandled" error), plus ``Invocations`` for each one;
        - ``AWS/SQS`` ``ApproximateNumberOfMessagesVisible`` (dimension ``QueueName``), the
          queue's current count at the moment of evaluation, for every queue of the stack.

        Nothing else of the AWS namespaces is synthesised: an alarm on another AWS metric sees
        no data (and so follows its TreatMissingData)."""
        points = alarm_eval.datapoints_from_emf(self.metrics())
        metric_by_status = {
            "FAILED": "ExecutionsFailed",
            "TIMED_OUT": "ExecutionsTimedOut",
            "ABORTED": "ExecutionsAborted",
        }
        for summary in self._list_executions():
            name = metric_by_status.get(summary["status"])
            if name and summary.get("stopDate"):
                points.append(
                    alarm_eval.Datapoint(
                        "AWS/States",
                        name,
                        frozenset({("StateMachineArn", summary["stateMachineArn"])}),
                        _aware(summary["stopDate"]).timestamp(),
                        1.0,
                    )
                )
        for invocation in self.invoker.invocations:
            dims = frozenset({("FunctionName", invocation.function_name)})
            stamp = invocation.started_at.timestamp()
            points.append(alarm_eval.Datapoint("AWS/Lambda", "Invocations", dims, stamp, 1.0))
            if invocation.error_type is not None:
                points.append(alarm_eval.Datapoint("AWS/Lambda", "Errors", dims, stamp, 1.0))
        sqs = self.client("sqs")
        now = self.clock.time()
        for resource in self.stack.of_type("AWS::SQS::Queue").values():
            attributes = sqs.get_queue_attributes(
                QueueUrl=resource.physical_id,
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
            points.append(
                alarm_eval.Datapoint(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    frozenset({("QueueName", str(resource.attributes["QueueName"]))}),
                    now,
                    float(attributes.get("ApproximateNumberOfMessages", 0)),
                )
            )
        return points

    def alarm_states(self) -> dict[str, alarm_eval.Evaluation]:
        """Every template alarm evaluated at the current virtual time (by logical id)."""
        points = self.datapoints()
        now = self.clock.time()
        return {
            logical_id: alarm_eval.evaluate(
                str(props.get("AlarmName") or self.stack.physical_id(logical_id)),
                props,
                points,
                now,
            )
            for logical_id, props in sorted(self.stack.alarms.items())
        }

    def alarms_in_alarm(self) -> list[str]:
        """Logical ids of the template alarms that would be in ALARM now."""
        return [k for k, v in self.alarm_states().items() if v.state == alarm_eval.ALARM]

    def alarm_targets(self) -> dict[str, list[str]]:
        """For each alarm in ALARM that groups by target, the targets it names in ALARM."""
        return {
            k: v.in_alarm("target")
            for k, v in self.alarm_states().items()
            if v.state == alarm_eval.ALARM and v.contributors
        }

    def timeline(self) -> list[Event]:
        """The rehearsal's events with virtual timestamps, in time order: driver actions,
        workflow states, FleetWise calls, backoff delays and metrics."""
        events = list(self._events)
        for execution in self.executions():
            for entry in self._history(execution.arn):
                kind = entry["type"]
                at = _aware(entry["timestamp"])
                if kind == "ExecutionStarted":
                    events.append(Event(at, "execution", f"{execution.name} started", {"end": 0}))
                elif kind.endswith("StateEntered"):
                    state = entry["stateEnteredEventDetails"]["name"]
                    events.append(Event(at, "state", f"{execution.name} {state}"))
                elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
                              "ExecutionAborted"):  # fmt: skip
                    events.append(
                        Event(at, "execution", f"{execution.name} {execution.status}", {"end": 1})
                    )
        if self.sim is not None:
            for call in self.sim.calls():
                text = call.operation + (f" -> {call.error_type}" if call.error_type else "")
                if call.operation == "GetRegisterAccountStatus" and not call.error_type:
                    text += f" -> {call.output.get('accountStatus')}"
                if call.operation == "RegisterAccount":
                    text += f" request {json.dumps(call.input, sort_keys=True)}"
                events.append(
                    Event(datetime.fromtimestamp(call.at, UTC), "fleetwise", text, {"call": call})
                )
        for delay in self.clock.delays:
            events.append(Event(delay.requested_at, "delay", f"{delay.label} {delay.seconds:g}s"))
        fleet: dict[datetime, list[str]] = {}
        for doc in self.metrics():
            meta = doc["_aws"]
            names = [
                m["Name"] for d in meta.get("CloudWatchMetrics", []) for m in d.get("Metrics", [])
            ]
            at = datetime.fromtimestamp(float(meta.get("Timestamp", 0)) / 1000, UTC)
            if doc.get("state"):
                # The fleet's count of one state: a tick's counts read as one line.
                if at not in fleet:
                    fleet[at] = []
                    events.append(Event(at, "metric", "", {"target": None}))
                for name in names:
                    fleet[at].append(f"{doc['state']} {float(doc[name][0]):g}")
                continue
            text = ", ".join(f"{n}={doc.get(n)}" for n in names)
            events.append(Event(at, "metric", text, {"target": doc.get("target")}))
        events = [
            replace(e, text="Targets: " + ", ".join(fleet[e.at]))
            if e.kind == "metric" and not e.text and e.at in fleet
            else e
            for e in events
        ]
        # Within one virtual instant, causes before effects: the driver's action, a run
        # starting, its states, its FleetWise calls, the delay it then asks for, its metrics,
        # and last the run ending.
        order = {"deploy": 0, "edit": 0, "tick": 0, "note": 0, "execution": 1, "state": 2,
                 "fleetwise": 3, "delay": 4, "metric": 5}  # fmt: skip

        def key(event: Event) -> tuple[datetime, int]:
            rank = 9 if event.data.get("end") == 1 else order.get(event.kind, 8)
            return (event.at, rank)

        return sorted(events, key=key)

    def note(self, text: str) -> None:
        """Add a narrator's line to the timeline at the current virtual time."""
        self._note("note", text)

    # -- internals -----------------------------------------------------------------------------

    def _running_invocation(self) -> str | None:
        """The Lambda invocation running now ("<function> <execution ARN>"), for the
        simulator's call log: the invoking thread waits while the simulator serves it."""
        current = self.invoker.current
        return None if current is None else current.tag

    def _note(self, kind: str, text: str, **data: Any) -> None:
        self._events.append(Event(self.clock.now(), kind, text, data))

    def _invoke(self, function: str, event: Any) -> Any:
        """Invoke a function through moto's Lambda API (and so in-process)."""
        answer = self.client("lambda").invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        body = answer["Payload"].read()
        return json.loads(body) if body else None

    def _apply_execution_rules(self) -> int:
        """Apply every EventBridge rule to executions that ended badly; returns events sent."""
        rules = self.stack.rules
        if not rules:
            return 0
        fired = 0
        sfn = self.client("stepfunctions")
        for summary in self._list_executions():
            arn = summary["executionArn"]
            if summary["status"] not in FINISHED_BADLY or arn in self._rule_handled:
                continue
            self._rule_handled.add(arn)
            described = sfn.describe_execution(executionArn=arn)
            event = self._status_change_event(described)
            for logical_id, rule in sorted(rules.items()):
                if str(rule.get("State", "ENABLED")) != "ENABLED":
                    continue
                pattern = rule.get("EventPattern")
                if not isinstance(pattern, dict) or not filter_matches(pattern, event):
                    continue
                for target in rule.get("Targets") or []:
                    target_arn = str(target["Arn"])
                    if ":lambda:" not in target_arn:
                        continue
                    self._note(
                        "execution",
                        f"rule {logical_id}: {summary['name']} {summary['status']} "
                        f"-> {target_arn.rsplit(':', 1)[-1]}",
                    )
                    self._invoke(target_arn, event)
                    fired += 1
        return fired

    def _status_change_event(self, described: Mapping[str, Any]) -> dict[str, Any]:
        """The event Step Functions sends to EventBridge when an execution changes status."""

        def millis(value: Any) -> int | None:
            return int(_aware(value).timestamp() * 1000) if value else None

        detail: dict[str, Any] = {
            "executionArn": described["executionArn"],
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": millis(described.get("startDate")),
            "stopDate": millis(described.get("stopDate")),
            "input": described.get("input"),
            "output": described.get("output"),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True},
            "error": described.get("error"),
            "cause": described.get("cause"),
        }
        stop = described.get("stopDate") or self.clock.now()
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": STATUS_CHANGE,
            "source": "aws.states",
            "account": self.account_id,
            "time": _aware(stop).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [described["executionArn"]],
            "detail": detail,
        }


def _dynamo_value(value: Any) -> Any:
    """Python values as boto3's serialiser wants them (floats as Decimal)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo_value(v) for v in value]
    return value


def _item(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in raw.items()}


def _stamp(moment: datetime | None, epoch: float = 0.0) -> str:
    value = moment if moment is not None else datetime.fromtimestamp(epoch, UTC)
    return value.isoformat().replace("+00:00", "Z")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextlib.contextmanager
def rehearsal(**kwargs: Any) -> Iterator[Rehearsal]:
    """``with rehearsal(...) as r:`` — the same as ``with Rehearsal(...) as r:``."""
    with Rehearsal(**kwargs) as running:
        yield running

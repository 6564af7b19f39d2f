"""The few places where the rehearsal reaches into moto 5.2.5, applied together by ``patched``.

- Lambda: ``LambdaFunction.invoke`` runs the function's ``Handler`` in-process (see
  ``LambdaInvoker``) instead of in Docker, and the no-Docker backend's echoing ``invoke`` is
  routed to it.
- Step Functions: the Retry delay, the Wait state, FULL jitter, history timestamps and
  execution start/stop dates follow the ``VirtualClock``; every execution is an actor of it.
- The handlers' clock (``fleetwise_reconciler.clock``) reads the virtual clock too.

The DynamoDB-stream event source mapping is not delivered by moto here (moto delivers inside
the write, ignores FilterCriteria and partial-batch responses, and empties the stream):
``StreamDelivery`` reads the stream through the dynamodbstreams API and delivers it the way
Lambda does. moto is pinned exactly; ``PATCH_POINTS`` lists every attribute touched, and a
test fails loudly, naming it, when one moves.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as datetime_module
import importlib
import inspect
import io
import json
import os
import sys
import threading
import time
import traceback
import types
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from fleetwise_reconciler import clock as product_clock
from fleetwise_rehearsal.aws import clients, fast_transactions, members, strict, timeouts, warm
from fleetwise_rehearsal.aws.patching import MotoInternalsChanged, Patcher, resolve_patch_point
from fleetwise_rehearsal.aws.vclock import VirtualClock

# (module, attribute path, kind) of every moto internal this module replaces or reads.
PATCH_POINTS: tuple[tuple[str, str, str], ...] = (
    ("moto.awslambda.models", "LambdaFunction.invoke", "method"),
    ("moto.awslambda.models", "LambdaBackend.invoke", "method"),
    ("moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", "method"),
    ("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time", "module"),
    (
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl",
        "RetrierDecl._eval_body",
        "method",
    ),
    (
        "moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl",
        "random",
        "module",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        "WaitFunction._wait_interval",
        "method",
    ),
    (
        "moto.stepfunctions.parser.asl.eval.event.event_manager",
        "EventManager._get_current_timestamp",
        "staticmethod",
    ),
    ("moto.stepfunctions.parser.models", "datetime", "module"),
    ("moto.stepfunctions.parser.backend.execution", "datetime", "module"),
    ("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker.start", "method"),
    (
        "moto.stepfunctions.parser.backend.execution_worker",
        "ExecutionWorker._execution_logic",
        "method",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "execute_lambda_function_integration",
        "function",
    ),
    ("moto.dynamodb.models.table", "StreamShard.add", "method"),
    # Read by forget_executions (Rehearsal.reset): moto has no API to delete an execution.
    ("moto.stepfunctions.parser.models", "stepfunctions_parser_backends", "value"),
    *strict.PATCH_POINTS,
    *warm.PATCH_POINTS,
    *timeouts.PATCH_POINTS,
    *members.PATCH_POINTS,
    *fast_transactions.PATCH_POINTS,
)

# The signatures the replacements are written against (parameter names, in order).
EXPECTED_SIGNATURES: dict[str, tuple[str, ...]] = {
    "LambdaFunction.invoke": ("self", "body", "request_headers", "response_headers"),
    "LambdaBackend.invoke": (
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ),
    "LambdaSimpleBackend.invoke": (
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ),
    "RetrierDecl._eval_body": ("self", "env"),
    "WaitFunction._wait_interval": ("self", "env", "wait_seconds"),
    "EventManager._get_current_timestamp": (),
    "ExecutionWorker.start": ("self",),
    "ExecutionWorker._execution_logic": ("self",),
    "execute_lambda_function_integration": ("env", "parameters", "region", "state_credentials"),
    "StreamShard.add": ("self", "old", "new"),
    **strict.EXPECTED_SIGNATURES,
    **warm.EXPECTED_SIGNATURES,
    **timeouts.EXPECTED_SIGNATURES,
    **members.EXPECTED_SIGNATURES,
    **fast_transactions.EXPECTED_SIGNATURES,
}


def check_patch_points() -> None:
    """Raise MotoInternalsChanged naming the first patch point that moved."""
    for module_name, path, kind in PATCH_POINTS:
        _owner, _name, value = resolve_patch_point(module_name, path)
        if kind == "module" and not isinstance(value, types.ModuleType):
            raise MotoInternalsChanged(f"{module_name}.{path} is no longer a module reference")
        if kind == "value":
            continue
        if kind == "class" and not isinstance(value, type):
            raise MotoInternalsChanged(f"{module_name}.{path} is no longer a class")
        if kind == "staticmethod" and not isinstance(value, staticmethod):
            raise MotoInternalsChanged(f"{module_name}.{path} is no longer a staticmethod")
        if kind in ("method", "staticmethod", "function"):
            expected = EXPECTED_SIGNATURES[path]
            func = value.__func__ if isinstance(value, staticmethod) else value
            actual = tuple(inspect.signature(func).parameters)
            if actual != expected:
                raise MotoInternalsChanged(
                    f"{module_name}.{path} changed signature: {actual} != {expected}"
                )


# -- Lambda in-process ------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The part of Lambda's context object the handlers (and Powertools) read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    timeout_seconds: float = 3.0
    log_group_name: str = ""
    log_stream_name: str = "rehearsal"

    def get_remaining_time_in_millis(self) -> int:
        # Handlers run to completion in-process: the whole timeout is always left.
        return int(self.timeout_seconds * 1000)


@dataclass
class Invocation:
    """One in-process run of a function's handler."""

    function_name: str
    request_id: str
    event: Any
    started_at: datetime
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    stdout: list[str] = field(default_factory=list)
    # The Step Functions execution whose Task made this invocation (None: another caller).
    execution_arn: str | None = None
    # The function's execution role: the principal of the calls its handler makes.
    role_arn: str | None = None
    # Wall seconds the handler ran in-process (the lock already held): what the bench prices
    # Lambda duration from. Not AWS's duration: no network latency, moto's own time included.
    duration_seconds: float = 0.0

    @property
    def tag(self) -> str:
        """``"<function name> <execution ARN>"``, or the function name alone."""
        if self.execution_arn is None:
            return self.function_name
        return f"{self.function_name} {self.execution_arn}"

    def json_lines(self) -> list[dict[str, Any]]:
        """The stdout lines that are JSON objects (Powertools logs and EMF metrics)."""
        out: list[dict[str, Any]] = []
        for line in self.stdout:
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    out.append(value)
        return out

    def metrics(self) -> list[dict[str, Any]]:
        """The EMF documents this invocation emitted."""
        return [doc for doc in self.json_lines() if "_aws" in doc]


class _StdoutRouter(io.TextIOBase):
    """sys.stdout during an invocation: writes go to the running invocation's buffer.

    Powertools' Logger binds ``sys.stdout`` when it is created (when a handler module is first
    imported, inside an invocation), so it keeps this router; between invocations the router
    passes writes on to the stdout it last replaced."""

    def __init__(self, fallback: TextIO) -> None:
        self.fallback = fallback
        self.buffer_for: io.StringIO | None = None

    def write(self, text: str) -> int:
        target = self.buffer_for
        if target is not None:
            return target.write(text)
        return self.fallback.write(text)

    def flush(self) -> None:
        if self.buffer_for is None:
            self.fallback.flush()

    def writable(self) -> bool:
        return True


def _reset_product_caches() -> None:
    """Settings are cached per process; each function has its own environment."""
    settings = sys.modules.get("fleetwise_reconciler.settings")
    if settings is not None:
        settings.get_settings.cache_clear()


class LambdaInvoker:
    """Runs functions' handlers in-process, one at a time.

    One global lock serialises invocations, so concurrent executions never mix environment
    variables or Powertools' process-wide metric state. Every invocation is recorded with its
    stdout (logs and EMF metrics)."""

    def __init__(
        self,
        *,
        extra_env: Mapping[str, str] | None = None,
        before_invoke: Sequence[Callable[[], None]] = (_reset_product_caches,),
    ) -> None:
        self.lock = threading.RLock()
        self.invocations: list[Invocation] = []
        # The invocation whose handler runs now (invocations are serialised by ``lock``), so
        # a service the handler calls can tell whose request it is serving.
        self.current: Invocation | None = None
        # X-Ray is not rehearsed; without this, a Tracer that sees a Lambda environment
        # would try to reach a daemon.
        self.extra_env: dict[str, str] = {"POWERTOOLS_TRACE_DISABLED": "true"}
        self.extra_env.update(extra_env or {})
        self.before_invoke = tuple(before_invoke)
        # Asynchronous invocations asked for and not run yet (``drain`` runs them).
        self.queued: collections.deque[Callable[[], Any]] = collections.deque()
        # One router for the invoker's lifetime: a logger created during an invocation keeps
        # writing to it, and so to whichever invocation runs next.
        self._router = _StdoutRouter(sys.stdout)

    def metrics(self, function_name: str | None = None) -> list[dict[str, Any]]:
        """Every EMF document emitted so far (optionally by one function), in order."""
        return [
            doc
            for inv in self.invocations
            if function_name is None or inv.function_name == function_name
            for doc in inv.metrics()
        ]

    def drain(self) -> None:
        """Run the queued asynchronous invocations, and those they queue, in order: called
        when an outermost invocation has returned (a handler takes no virtual time, so they
        run at the instant Lambda's queue would hand them out at the earliest). Lambda's
        retries of an asynchronous invocation that failed are not rehearsed."""
        while self.queued:
            self.queued.popleft()()

    def calls(self, function_name: str) -> list[Invocation]:
        return [inv for inv in self.invocations if inv.function_name == function_name]

    def run(
        self,
        *,
        function_name: str,
        function_arn: str,
        handler: str,
        environment: Mapping[str, str],
        region: str,
        timeout_seconds: float,
        memory_mb: int,
        event: Any,
        started_at: datetime,
        execution_arn: str | None = None,
        role_arn: str | None = None,
    ) -> Invocation:
        """Call ``handler`` with ``event``; exceptions become the recorded error."""
        request_id = str(uuid.uuid4())
        invocation = Invocation(
            function_name=function_name,
            request_id=request_id,
            event=event,
            started_at=started_at,
            execution_arn=execution_arn,
            role_arn=role_arn,
        )
        context = LambdaContext(
            function_name=function_name,
            invoked_function_arn=function_arn,
            aws_request_id=request_id,
            memory_limit_in_mb=memory_mb,
            timeout_seconds=timeout_seconds,
            log_group_name=f"/aws/lambda/{function_name}",
        )
        env = {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "_HANDLER": handler,
            **self.extra_env,
            **environment,
        }
        buffer = io.StringIO()
        with self.lock, _environment(env):
            for hook in self.before_invoke:
                hook()
            router = self._router
            previous = sys.stdout
            if previous is not router:
                router.fallback = previous
            outer = router.buffer_for
            router.buffer_for = buffer
            sys.stdout = router
            caller, self.current = self.current, invocation
            began = time.perf_counter()
            try:
                invocation.result = _load_handler(handler)(event, context)
            except Exception as exc:  # noqa: BLE001 - every handler error becomes Lambda's error shape
                invocation.error_type = type(exc).__name__
                invocation.error_message = str(exc)
                invocation.result = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            finally:
                invocation.duration_seconds = time.perf_counter() - began
                self.current = caller
                router.buffer_for = outer
                sys.stdout = previous
        invocation.stdout = buffer.getvalue().splitlines()
        self.invocations.append(invocation)
        return invocation


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"Handler {handler!r} is not 'module.function'")
    module = importlib.import_module(module_name)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise TypeError(f"Handler {handler!r}: {module_name} has no callable {attribute}")
    return function  # type: ignore[no-any-return]


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Apply a function's variables for one invocation (callers hold the invoker's lock).

    Values set before the call are put back afterwards, but a variable the call added is left
    in place rather than removed: Step Functions worker threads run outside the lock, and one
    that iterates ``os.environ`` (botocore does) while a key is deleted fails with KeyError.
    Every invocation sets all of its own function's variables, so a handler never reads
    another function's value for a variable it defines.
    """
    saved = {name: os.environ[name] for name in values if name in os.environ}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        os.environ.update(saved)


# -- the patches ------------------------------------------------------------------------------


class _VirtualDatetime(datetime):
    clock: VirtualClock | None = None

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        clock = cls.clock
        if clock is None:
            return datetime.now(tz)
        moment = clock.now()
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


def _datetime_module(clock: VirtualClock) -> types.ModuleType:
    """A stand-in for the ``datetime`` module whose ``datetime.now`` reads the clock."""
    real = datetime_module
    shim = types.ModuleType("datetime")
    shim.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    cls = type("datetime", (_VirtualDatetime,), {"clock": clock})
    shim.datetime = cls  # type: ignore[attr-defined]
    return shim


_retry_label = threading.local()
_invoking_execution = threading.local()
_LAMBDA_EVAL = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"

_RETRIER = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
_JITTER = "moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl"
_WAIT = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
_EVENTS = "moto.stepfunctions.parser.asl.eval.event.event_manager"
_WORKER = "moto.stepfunctions.parser.backend.execution_worker"


def _state_name(env: Any) -> str:
    try:
        return str(env.states.context_object.context_object_data["State"]["Name"])
    except (AttributeError, KeyError, TypeError):
        return "?"


@contextlib.contextmanager
def patched(clock: VirtualClock, invoker: LambdaInvoker) -> Iterator[None]:
    """Apply every patch for the duration of the block; undo them all on exit."""
    check_patch_points()
    patcher = Patcher()
    before = dict(os.environ)
    try:
        _patch_lambda(patcher, clock, invoker)
        _patch_stepfunctions(patcher, clock)
        _patch_dynamodb_streams(patcher)
        warm.apply(patcher)
        fast_transactions.apply(patcher)
        strict.apply(patcher)
        members.apply(patcher, clock, _caller(invoker))
        with _product_clock(clock):
            yield
    finally:
        patcher.undo()
        # The executions are over: the variables invocations left in place can go now.
        for name in set(os.environ) - set(before):
            os.environ.pop(name, None)
        os.environ.update(before)


def _caller(invoker: LambdaInvoker) -> members.Caller:
    """The principal of the running invocation: its function's role, and the session name
    Lambda gives it (the function's name)."""

    def calling() -> tuple[str, str] | None:
        current = invoker.current
        if current is None or current.role_arn is None:
            return None
        return current.role_arn, current.function_name

    return calling


@contextlib.contextmanager
def _product_clock(clock: VirtualClock) -> Iterator[None]:
    product_clock.set_source(clock.now)
    try:
        yield
    finally:
        product_clock.set_source(None)


def _patch_lambda(patcher: Patcher, clock: VirtualClock, invoker: LambdaInvoker) -> None:
    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        inv_type = request_headers.get("x-amz-invocation-type") or request_headers.get(
            "X-Amz-Invocation-Type", "RequestResponse"
        )
        if inv_type == "Event":
            # Lambda queues the event and answers 202 at once; the function runs later, here
            # as soon as the invocation that asked has returned (``LambdaInvoker.drain``), or
            # at once when no invocation asked (a driver or a test).
            if len((body or "").encode()) > strict.LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES:
                raise strict.LambdaRequestTooLarge(strict.LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES)
            sync = {"x-amz-invocation-type": "RequestResponse"}
            invoker.queued.append(lambda: invoke(self, body, sync, {}))
            if invoker.current is None:
                invoker.drain()
            return ""
        if len((body or "").encode()) > strict.LAMBDA_PAYLOAD_LIMIT_BYTES:
            raise strict.LambdaRequestTooLarge()
        event = json.loads(body) if body else {}
        invocation = invoker.run(
            function_name=self.function_name,
            function_arn=self.function_arn,
            handler=self.handler,
            environment=dict(self.environment_vars or {}),
            region=self.region,
            timeout_seconds=float(self.timeout or 3),
            memory_mb=int(self.memory_size or 128),
            event=event,
            started_at=clock.now(),
            execution_arn=getattr(_invoking_execution, "arn", None),
            role_arn=str(self.role) if getattr(self, "role", None) else None,
        )
        payload = json.dumps(invocation.result)
        if len(payload.encode()) > strict.LAMBDA_PAYLOAD_LIMIT_BYTES:
            invocation.error_type = strict.RESPONSE_TOO_LARGE["errorType"]
            invocation.error_message = strict.RESPONSE_TOO_LARGE["errorMessage"]
            invocation.result = dict(strict.RESPONSE_TOO_LARGE)
            payload = json.dumps(invocation.result)
        if invocation.error_type is not None:
            # What the Python runtime answers for an uncaught exception.
            response_headers["x-amz-function-error"] = "Unhandled"
        if invoker.current is None:
            invoker.drain()
        if inv_type == "RequestResponse":
            tail = "\n".join(invocation.stdout[-50:])
            response_headers["x-amz-log-result"] = base64.b64encode(tail.encode()).decode()
            return payload.encode("utf-8")
        return payload

    patcher.replace("moto.awslambda.models", "LambdaFunction.invoke", invoke)

    original_integration = patcher.original(_LAMBDA_EVAL, "execute_lambda_function_integration")

    def lambda_integration(env: Any, parameters: Any, region: Any, state_credentials: Any) -> None:
        # The Invoke call below happens in this thread: tell the in-process invoke whose
        # Task it serves.
        outer = getattr(_invoking_execution, "arn", None)
        _invoking_execution.arn = timeouts.execution_id(env)
        try:
            original_integration(env, parameters, region, state_credentials)
        finally:
            _invoking_execution.arn = outer

    patcher.replace(_LAMBDA_EVAL, "execute_lambda_function_integration", lambda_integration)

    # With {"lambda": {"use_docker": False}} the Invoke API is served by the "simple" backend,
    # which echoes the payload without calling the function: route it to the real backend's
    # invoke (and so to the patched LambdaFunction.invoke).
    real_backend_invoke = resolve_patch_point("moto.awslambda.models", "LambdaBackend.invoke")[2]
    patcher.replace(
        "moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", real_backend_invoke
    )


def _patch_stepfunctions(patcher: Patcher, clock: VirtualClock) -> None:
    original_retrier_body = resolve_patch_point(_RETRIER, "RetrierDecl._eval_body")[2]
    deadlines = timeouts.apply(patcher, clock)

    def retrier_body(self: Any, env: Any) -> None:
        # The error name is on top of the stack when a retrier is evaluated; the sleep
        # further down only sees a number, so the label (and the execution) travel by
        # thread-local.
        top = env.stack[-1] if env.stack else None
        error = getattr(top, "error_name", str(top))
        _retry_label.value = (f"retry:{_state_name(env)}:{error}", env)
        try:
            original_retrier_body(self, env)
        finally:
            _retry_label.value = None

    def retry_sleep(seconds: float) -> None:
        label, env = getattr(_retry_label, "value", None) or ("retry:?:?", None)
        if env is None:
            clock.sleep(seconds, label=label)
        else:
            deadlines.sleep(env, seconds, label=label)

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        deadlines.sleep(
            env,
            wait_seconds,
            label=f"wait:{_state_name(env)}",
            interrupted=lambda: not env.is_running(),
        )

    patcher.replace(_RETRIER, "RetrierDecl._eval_body", retrier_body)
    patcher.replace(_RETRIER, "time", types.SimpleNamespace(sleep=retry_sleep))
    patcher.replace(_JITTER, "random", types.SimpleNamespace(uniform=clock.uniform))
    patcher.replace(_WAIT, "WaitFunction._wait_interval", wait_interval)
    patcher.replace(_EVENTS, "EventManager._get_current_timestamp", staticmethod(clock.now))
    shim = _datetime_module(clock)
    patcher.replace("moto.stepfunctions.parser.models", "datetime", shim)
    patcher.replace("moto.stepfunctions.parser.backend.execution", "datetime", shim)

    original_start = resolve_patch_point(_WORKER, "ExecutionWorker.start")[2]
    original_logic = resolve_patch_point(_WORKER, "ExecutionWorker._execution_logic")[2]

    def start(self: Any) -> None:
        # Registered here, in the caller's thread, so time cannot move before the new
        # execution's thread gets to run.
        clock.register_actor()
        self._rehearsal_actor = True
        try:
            original_start(self)
        except BaseException:
            self._rehearsal_actor = False
            clock.unregister_actor()
            raise

    def execution_logic(self: Any) -> None:
        synchronous = not getattr(self, "_rehearsal_actor", False)
        if synchronous:
            clock.register_actor()  # a synchronous (Express) worker skips start()
            self._rehearsal_actor = True
        try:
            if not synchronous:
                # (a synchronous one runs in the driver's thread, which may hold the clock)
                clock.wait_unheld()
            original_logic(self)
        finally:
            self._rehearsal_actor = False
            clock.unregister_actor()

    patcher.replace(_WORKER, "ExecutionWorker.start", start)
    patcher.replace(_WORKER, "ExecutionWorker._execution_logic", execution_logic)


def forget_executions(account_id: str, region: str, state_machine_arn: str) -> None:
    """Drop every (finished) execution of a state machine from moto's memory."""
    backends = resolve_patch_point(
        "moto.stepfunctions.parser.models", "stepfunctions_parser_backends"
    )[2]
    backends[account_id][region].describe_state_machine(state_machine_arn).executions.clear()


def _patch_dynamodb_streams(patcher: Patcher) -> None:
    """DynamoDB Streams: "If you perform a PutItem or UpdateItem operation that does not
    change any data in an item, DynamoDB Streams does not write a stream record for that
    operation." moto writes one; the rehearsal does not."""
    original_add = patcher.original("moto.dynamodb.models.table", "StreamShard.add")

    def add(self: Any, old: Any, new: Any) -> None:
        if old is not None and new is not None and old == new:
            return
        original_add(self, old, new)

    patcher.replace("moto.dynamodb.models.table", "StreamShard.add", add)


# -- DynamoDB stream delivery (Lambda's event source mapping, done faithfully) ---------------


class UnsupportedFilterPattern(ValueError):
    """A FilterCriteria pattern uses a rule the rehearsal does not implement."""


def _same(a: Any, b: Any) -> bool:
    # Type-strict: in JSON, false is not 0 and true is not 1.
    return type(a) is type(b) and a == b


def _match_rule(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        if set(rule) == {"exists"}:
            return bool(rule["exists"]) == present
        if not present:
            return False
        if set(rule) == {"prefix"}:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if set(rule) == {"anything-but"}:
            excluded = rule["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return not any(_same(value, e) for e in excluded)
        raise UnsupportedFilterPattern(f"filter rule {rule!r} is not supported")
    return present and _same(rule, value)


def _match_values(rules: list[Any], present: bool, value: Any) -> bool:
    if present and isinstance(value, list):
        return any(_match_rule(rule, True, v) for rule in rules for v in value)
    return any(_match_rule(rule, present, value) for rule in rules)


def filter_matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Lambda's event-filtering match of one record against one pattern.

    Supported: nested objects, lists of exact values (type-strict), ``exists``, ``prefix``
    and ``anything-but``. Anything else raises UnsupportedFilterPattern."""
    for key, rule in pattern.items():
        present = isinstance(record, Mapping) and key in record
        value = record.get(key) if present else None
        if isinstance(rule, dict):
            if not present or not isinstance(value, Mapping):
                # A nested pattern under a missing key still matches {"exists": false} leaves.
                if not _only_absence(rule):
                    return False
                continue
            if not filter_matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_values(rule, present, value):
                return False
        else:
            raise UnsupportedFilterPattern(f"pattern value for {key!r} must be a list or object")
    return True


def _only_absence(rule: Mapping[str, Any]) -> bool:
    for value in rule.values():
        if isinstance(value, dict):
            if not _only_absence(value):
                return False
        elif not (isinstance(value, list) and any(r == {"exists": False} for r in value)):
            return False
    return True


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """The stream event source mapping as the template declares it."""

    function_name: str
    event_source_arn: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    filter_patterns: tuple[Mapping[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    bisect_batch_on_function_error: bool = False
    on_failure_destination: str | None = None
    uuid: str | None = None


@dataclass
class Delivery:
    """One invocation made by the stream delivery."""

    sequence_numbers: list[str]
    attempt: int
    function_error: str | None
    batch_item_failures: list[str]


# Lambda gives up on a record after 24 hours with MaximumRetryAttempts -1; the rehearsal
# has no such clock for stream retries, so an endless poison loop is cut here, loudly.
INFINITE_RETRY_CAP = 100


class PoisonLoop(RuntimeError):
    """A batch kept failing with MaximumRetryAttempts -1."""


class StreamDelivery:
    """Delivers a DynamoDB stream to its function the way Lambda's event source mapping does.

    ``pump()`` reads every new record through the dynamodbstreams API, drops the records no
    filter matches, invokes the function in batches of at most BatchSize, and handles
    failures: with ReportBatchItemFailures it retries from the lowest failed sequence number;
    on a function error it bisects the batch (when BisectBatchOnFunctionError is set, which
    does not count as a retry) or retries it whole; after MaximumRetryAttempts it sends
    Lambda's on-failure record to the on-failure SQS queue and moves on.
    """

    def __init__(
        self,
        spec: EventSourceMappingSpec,
        *,
        region: str,
        account_id: str,
        clock: VirtualClock,
    ) -> None:
        self.spec = spec
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.deliveries: list[Delivery] = []
        self.filtered_out: list[dict[str, Any]] = []
        self.on_failure_records: list[dict[str, Any]] = []
        self._checkpoint: dict[str, str] = {}
        self._started = False
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = clients.client(service, self.region)
        return self._clients[service]

    def start(self) -> None:
        """Begin at StartingPosition (LATEST: records written before this call are skipped)."""
        if self.spec.starting_position == "LATEST":
            streams = self._client("dynamodbstreams")
            for shard_id in self._shards(streams):
                records = self._read(streams, shard_id)
                if records:
                    self._checkpoint[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._started = True

    def _shards(self, streams: Any) -> list[str]:
        desc = streams.describe_stream(StreamArn=self.spec.event_source_arn)
        return [s["ShardId"] for s in desc["StreamDescription"]["Shards"]]

    def _read(self, streams: Any, shard_id: str) -> list[dict[str, Any]]:
        after = self._checkpoint.get(shard_id)
        kwargs: dict[str, Any] = {"StreamArn": self.spec.event_source_arn, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kwargs["SequenceNumber"] = after
        iterator = streams.get_shard_iterator(**kwargs)["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
        return records

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(record, default=_encode_datetime))
        out["awsRegion"] = self.region
        out["eventSourceARN"] = self.spec.event_source_arn
        return out

    def pump(self) -> list[Delivery]:
        """Deliver everything new; return the invocations made."""
        if not self._started:
            self.start()
        streams = self._client("dynamodbstreams")
        made: list[Delivery] = []
        for shard_id in self._shards(streams):
            raw = self._read(streams, shard_id)
            if not raw:
                continue
            records = [self._lambda_record(r) for r in raw]
            selected = [r for r in records if self._selected(r)]
            self.filtered_out.extend(r for r in records if r not in selected)
            for batch in self._batches(selected):
                made.extend(self._deliver(shard_id, batch))
            self._checkpoint[shard_id] = raw[-1]["dynamodb"]["SequenceNumber"]
        self.deliveries.extend(made)
        return made

    def skip_to_end(self) -> None:
        """Deliver nothing written so far and forget what was delivered (Rehearsal.reset)."""
        streams = self._client("dynamodbstreams")
        for shard_id in self._shards(streams):
            records = self._read(streams, shard_id)
            if records:
                self._checkpoint[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._started = True
        self.deliveries.clear()
        self.filtered_out.clear()
        self.on_failure_records.clear()

    def _batches(self, records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """At most BatchSize records, and never more than a synchronous invocation's 6 MB
        payload: Lambda's event source mapping cuts a batch short rather than exceed it."""
        batch: list[dict[str, Any]] = []
        size = len(b'{"Records": []}')
        for record in records:
            record_size = len(json.dumps(record).encode()) + len(b", ")
            if batch and (
                len(batch) == self.spec.batch_size
                or size + record_size > strict.LAMBDA_PAYLOAD_LIMIT_BYTES
            ):
                yield batch
                batch, size = [], len(b'{"Records": []}')
            batch.append(record)
            size += record_size
        if batch:
            yield batch

    def _selected(self, record: Mapping[str, Any]) -> bool:
        if not self.spec.filter_patterns:
            return True
        return any(filter_matches(p, record) for p in self.spec.filter_patterns)

    def _deliver(self, shard_id: str, batch: list[dict[str, Any]]) -> list[Delivery]:
        made: list[Delivery] = []
        limit = self.spec.maximum_retry_attempts
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, retries = pending.popleft()
            error, failures = self._invoke(records)
            seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
            made.append(Delivery(seqs, retries + 1, error, failures))
            if error is None and not failures:
                continue
            if error is None:
                first = min(seqs.index(f) for f in failures)
                remaining = records[first:]
            else:
                remaining = records
                if self.spec.bisect_batch_on_function_error and len(records) > 1:
                    half = len(records) // 2
                    pending.appendleft((records[half:], retries))
                    pending.appendleft((records[:half], retries))
                    continue
            exhausted = retries >= limit if limit >= 0 else False
            if limit < 0 and retries >= INFINITE_RETRY_CAP:
                raise PoisonLoop(
                    f"records {seqs[0]}..{seqs[-1]} failed {retries + 1} times "
                    "with MaximumRetryAttempts -1"
                )
            if exhausted:
                self._send_on_failure(shard_id, remaining, error, retries + 1)
            else:
                pending.appendleft((remaining, retries + 1))
        return made

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
        client = self._client("lambda")
        response = client.invoke(
            FunctionName=self.spec.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"Records": records}).encode(),
        )
        body = response["Payload"].read()
        error = response.get("FunctionError")
        if error:
            return error, []
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        if not self.spec.report_batch_item_failures:
            return None, []
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        failures_raw = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures_raw:
            return None, []
        failures: list[str] = []
        for item in failures_raw:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in seqs:
                # Lambda treats a malformed identifier as the whole batch failing.
                return None, list(seqs)
            failures.append(ident)
        return None, failures

    def _send_on_failure(
        self,
        shard_id: str,
        records: list[dict[str, Any]],
        function_error: str | None,
        invoke_count: int,
    ) -> None:
        def arrival(record: Mapping[str, Any]) -> str:
            moment = datetime.fromtimestamp(
                float(record["dynamodb"]["ApproximateCreationDateTime"]), UTC
            )
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        function_arn = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.spec.function_name}"
        )
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = function_error
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": self.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(records[0]),
                "approximateArrivalOfLastRecord": arrival(records[-1]),
                "batchSize": len(records),
                "streamArn": self.spec.event_source_arn,
            },
        }
        self.on_failure_records.append(message)
        destination = self.spec.on_failure_destination
        if destination:
            sqs = self._client("sqs")
            name = destination.rsplit(":", 1)[-1]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=self.account_id)
            sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody=json.dumps(message))


def _encode_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        # Lambda's stream events carry ApproximateCreationDateTime as epoch seconds.
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

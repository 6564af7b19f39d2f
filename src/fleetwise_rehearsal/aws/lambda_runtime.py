"""Lambda, in-process: what the rehearsal runs instead of Lambda's containers.

``LambdaFunction.invoke`` runs the function's ``Handler`` in this process (``LambdaInvoker``:
the function's environment, a context object, its stdout captured as CloudWatch Logs would
keep it) instead of in Docker; the no-Docker backend's echoing ``invoke`` is routed to it, and
an ``Event`` invocation is queued and answered 202 as Lambda does, and retried or delivered
twice as Lambda may; a handler that waits past its function's timeout times out; a result
JSON cannot hold fails as the Python runtime fails it. Applied by ``moto_patches.patched``.

Why one module: the invoker, the invocation it records and the patched ``invoke`` are one
request's path through Lambda (its payload limits, its runtime's serialisation, its timeout,
its asynchronous queue); apart, each would reach into the others' state.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import decimal
import heapq
import importlib
import io
import itertools
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TextIO

from fleetwise_rehearsal.aws import strict, timeouts
from fleetwise_rehearsal.aws.patching import Patcher, resolve_patch_point
from fleetwise_rehearsal.aws.vclock import VirtualClock

_LAMBDA_EVAL = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
# The execution whose Task is invoking a function in this thread (set around moto's
# Lambda integration, read by the in-process invoke).
_invoking_execution = threading.local()

# (module, attribute path, kind) of every moto internal this module replaces or reads.
PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("moto.awslambda.models", "LambdaFunction.invoke", "method"),
    ("moto.awslambda.models", "LambdaBackend.invoke", "method"),
    ("moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", "method"),
    (_LAMBDA_EVAL, "execute_lambda_function_integration", "function"),
)

# The signatures the replacements are written against (parameter names, in order).
EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
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
    "execute_lambda_function_integration": ("env", "parameters", "region", "state_credentials"),
}

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
    # The virtual seconds the invocation has spent so far (slow answers it waited for).
    spent: Callable[[], float] = lambda: 0.0

    def get_remaining_time_in_millis(self) -> int:
        # A handler's own code takes no virtual time; what it waited for does.
        return max(0, int((self.timeout_seconds - self.spent()) * 1000))


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
    # Virtual seconds it spent waiting for slow answers (``LambdaInvoker.wait``): past the
    # function's timeout, the invocation timed out after doing its work.
    virtual_seconds: float = 0.0
    timed_out: bool = False

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


# The stack (its spec table) whose function ran last in this process.
_last_stack: list[str | None] = [None]


def _reset_product_caches() -> None:
    """Settings are cached per process; each function has its own environment. The ports
    (repositories bound to a stack's tables, its member roles) are cached per process too: a
    function of another stack than the last one's (two stacks side by side) gets them afresh,
    as its own Lambda environment would."""
    settings = sys.modules.get("fleetwise_reconciler.settings")
    if settings is not None:
        settings.get_settings.cache_clear()
    stack = os.environ.get("SPEC_TABLE_NAME")
    if stack != _last_stack[0]:
        wiring = sys.modules.get("fleetwise_reconciler.wiring")
        if wiring is not None and _last_stack[0] is not None:
            wiring.reset()
        _last_stack[0] = stack


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
        # Deliveries due later in virtual time (an asynchronous invocation's retry, an event
        # delivered late): (due, order, delivery); the driver runs them when time reaches
        # them (``due``).
        self.later: list[tuple[float, int, Callable[[], Any]]] = []
        self._order = itertools.count()
        # MaximumRetryAttempts of each function's asynchronous invocations (its
        # EventInvokeConfig; Lambda's default, 2, for the others).
        self.async_retries: dict[str, int] = {}
        # The next this many asynchronous invocations are delivered twice.
        self.duplicate_async = 0
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

    def schedule(self, at: float, delivery: Callable[[], Any]) -> None:
        """Run ``delivery`` once virtual time reaches ``at`` (epoch seconds)."""
        heapq.heappush(self.later, (at, next(self._order), delivery))

    def next_due(self) -> float | None:
        """When the earliest delivery due later is due (None: none)."""
        return self.later[0][0] if self.later else None

    def due(self, now: float) -> list[Callable[[], Any]]:
        """The deliveries due by ``now``, taken off the list, earliest first."""
        taken = []
        while self.later and self.later[0][0] <= now:
            taken.append(heapq.heappop(self.later)[2])
        return taken

    def calls(self, function_name: str) -> list[Invocation]:
        return [inv for inv in self.invocations if inv.function_name == function_name]

    def wait(self, seconds: float) -> None:
        """The running invocation waits ``seconds`` of virtual time for an answer (a slow
        service): it spends them after its handler returns, and times out past its function's
        timeout."""
        current = self.current
        if current is not None:
            current.virtual_seconds += seconds

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
            spent=lambda: invocation.virtual_seconds,
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
        if invocation.virtual_seconds >= timeout_seconds:
            _timed_out(invocation, timeout_seconds)
        self.invocations.append(invocation)
        return invocation


# What the Python runtime answers for a result it cannot turn into JSON (awslambdaric,
# lambda_runtime_marshaller.py and lambda_runtime_exception.py: FaultException.MARSHAL_ERROR,
# "Unable to marshal response: ..."). The function's work is done; the invocation fails.
MARSHAL_ERROR = "Runtime.MarshalError"


def _runtime_default(value: Any) -> Any:
    # The runtime's encoder writes a Decimal as the number it holds (RawJSON of its text);
    # stdlib json cannot write raw text, so an integral one becomes an int, others a float.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(result: Any, request_id: str) -> tuple[str, str | None]:
    """The response payload as Lambda's Python runtime serialises a handler's result, and the
    error type when it cannot (``Runtime.MarshalError``: a set, bytes inside the result, any
    object JSON has no form for)."""
    try:
        return json.dumps(result, default=_runtime_default), None
    except (TypeError, ValueError) as error:
        failure = {
            "errorMessage": f"Unable to marshal response: {error}",
            "errorType": MARSHAL_ERROR,
            "requestId": request_id,
            "stackTrace": [],
        }
        return json.dumps(failure), MARSHAL_ERROR


def _timed_out(invocation: Invocation, timeout_seconds: float) -> None:
    """The invocation ran past its function's timeout: its work is done (the calls it made
    were answered), its answer is Lambda's timeout. The Invoke answer carries only an
    ``errorMessage`` (``Task timed out after N seconds``), which Step Functions reports as
    ``Lambda.Unknown`` (strict.py)."""
    invocation.timed_out = True
    invocation.error_type = strict.LAMBDA_UNKNOWN
    invocation.error_message = (
        f"{invocation.started_at.isoformat(timespec='milliseconds')} "
        f"{invocation.request_id} Task timed out after {timeout_seconds:.2f} seconds"
    )
    invocation.result = {"errorMessage": invocation.error_message}


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


def apply(patcher: Patcher, clock: VirtualClock, invoker: LambdaInvoker) -> None:
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
            invoker.queued.append(_asynchronous(self, body, 0))
            if invoker.duplicate_async:
                # "Even if your function doesn't return an error, it's possible for it to
                # receive the same event from Lambda multiple times because the queue itself
                # is eventually consistent." (Lambda, "How Lambda handles errors and retries
                # with asynchronous invocation")
                invoker.duplicate_async -= 1
                invoker.queued.append(_asynchronous(self, body, 0))
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
        env = getattr(_invoking_execution, "env", None)
        if invocation.virtual_seconds and env is not None:
            # The execution's Task waits as long as the function ran (its timeout at most),
            # on the virtual clock: the execution thread is one of its actors. StopExecution
            # ends the execution at once, the function still running.
            timeout = float(self.timeout or 3)
            clock.sleep(
                min(invocation.virtual_seconds, timeout),
                label=f"lambda:{self.function_name}",
                interrupted=lambda: not env.is_running(),
            )
        payload, marshal_error = marshal(invocation.result, invocation.request_id)
        if marshal_error is not None:
            invocation.error_type = marshal_error
            invocation.result = json.loads(payload)
            invocation.error_message = str(invocation.result["errorMessage"])
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

    def _asynchronous(function: Any, body: str, attempt: int) -> Callable[[], None]:
        """One delivery of an asynchronous invocation. "If the function returns an error, by
        default Lambda attempts to run it two more times, with a one-minute wait between the
        first two attempts, and two minutes between the second and third attempts. Function
        errors include ... timeouts." (same page); MaximumRetryAttempts bounds them."""

        def deliver() -> None:
            invoke(function, body, {"x-amz-invocation-type": "RequestResponse"}, {})
            ran = invoker.invocations[-1]
            retries = invoker.async_retries.get(function.function_name, 2)
            if ran.error_type is not None and attempt < retries:
                wait = 60 if attempt == 0 else 120
                invoker.schedule(clock.time() + wait, _asynchronous(function, body, attempt + 1))

        return deliver

    patcher.replace("moto.awslambda.models", "LambdaFunction.invoke", invoke)

    original_integration = patcher.original(_LAMBDA_EVAL, "execute_lambda_function_integration")

    def lambda_integration(env: Any, parameters: Any, region: Any, state_credentials: Any) -> None:
        # The Invoke call below happens in this thread: tell the in-process invoke whose
        # Task it serves.
        outer = getattr(_invoking_execution, "arn", None), getattr(_invoking_execution, "env", None)
        _invoking_execution.arn, _invoking_execution.env = timeouts.execution_id(env), env
        try:
            original_integration(env, parameters, region, state_credentials)
        finally:
            _invoking_execution.arn, _invoking_execution.env = outer

    patcher.replace(_LAMBDA_EVAL, "execute_lambda_function_integration", lambda_integration)

    # With {"lambda": {"use_docker": False}} the Invoke API is served by the "simple" backend,
    # which echoes the payload without calling the function: route it to the real backend's
    # invoke (and so to the patched LambdaFunction.invoke).
    real_backend_invoke = resolve_patch_point("moto.awslambda.models", "LambdaBackend.invoke")[2]
    patcher.replace(
        "moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", real_backend_invoke
    )

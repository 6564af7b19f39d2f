"""Step Functions on the virtual clock.

The Retry delay, the Wait state, FULL jitter, history timestamps and execution start and stop
dates follow the ``VirtualClock``; every execution is an actor of it, so the clock knows when
all of them sleep. Applied by ``moto_patches.patched``.
"""

from __future__ import annotations

import datetime as datetime_module
import threading
import types
from datetime import datetime
from typing import Any, Final

from fleetwise_rehearsal.aws import timeouts
from fleetwise_rehearsal.aws.patching import Patcher, resolve_patch_point
from fleetwise_rehearsal.aws.vclock import VirtualClock

_RETRIER = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
_JITTER = "moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl"
_WAIT = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
_EVENTS = "moto.stepfunctions.parser.asl.eval.event.event_manager"
_WORKER = "moto.stepfunctions.parser.backend.execution_worker"

# (module, attribute path, kind) of every moto internal this module replaces or reads.
PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_RETRIER, "time", "module"),
    (_RETRIER, "RetrierDecl._eval_body", "method"),
    (_JITTER, "random", "module"),
    (_WAIT, "WaitFunction._wait_interval", "method"),
    (_EVENTS, "EventManager._get_current_timestamp", "staticmethod"),
    ("moto.stepfunctions.parser.models", "datetime", "module"),
    ("moto.stepfunctions.parser.backend.execution", "datetime", "module"),
    (_WORKER, "ExecutionWorker.start", "method"),
    (_WORKER, "ExecutionWorker._execution_logic", "method"),
    # Read by forget_executions (Rehearsal.reset): moto has no API to delete an execution.
    ("moto.stepfunctions.parser.models", "stepfunctions_parser_backends", "value"),
)

# The signatures the replacements are written against (parameter names, in order).
EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "RetrierDecl._eval_body": ("self", "env"),
    "WaitFunction._wait_interval": ("self", "env", "wait_seconds"),
    "EventManager._get_current_timestamp": (),
    "ExecutionWorker.start": ("self",),
    "ExecutionWorker._execution_logic": ("self",),
}

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


def _state_name(env: Any) -> str:
    try:
        return str(env.states.context_object.context_object_data["State"]["Name"])
    except (AttributeError, KeyError, TypeError):
        return "?"


def apply(patcher: Patcher, clock: VirtualClock) -> None:
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
            # StopExecution ends the execution when it is called, a Retry's backoff included
            # (AWS: "StopExecution stops an execution"); the interpreter's loop then sees the
            # execution no longer running and calls nothing again.
            deadlines.sleep(env, seconds, label=label, interrupted=lambda: not env.is_running())

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

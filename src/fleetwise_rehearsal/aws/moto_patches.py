"""Every place where the rehearsal reaches into moto 5.2.5, applied together by ``patched``.

Each concern keeps its patches in its own module and lists the moto internals it touches in
its ``PATCH_POINTS`` (with the signatures it is written against):

- ``lambda_runtime``: functions run in-process instead of in Docker;
- ``stepfunctions``: Retry delays, Waits, jitter and timestamps on the virtual clock;
- ``streams``: no stream record for a write that changes nothing (and the event source
  mapping's delivery, which the rehearsal drives itself);
- ``strict``, ``timeouts``, ``members``, ``warm``, ``fast_transactions``, ``fast_queries``:
  AWS's limits and names, execution and task timeouts, AssumeRole and accounts, warm-process
  caches, DynamoDB transactions and queries.

The handlers' clock (``fleetwise_reconciler.clock``) reads the virtual clock too. moto is pinned
exactly; ``check_patch_points`` fails loudly, naming the attribute, when one of them moves.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import types
from collections.abc import Iterator

from fleetwise_reconciler import clock as product_clock
from fleetwise_rehearsal.aws import (
    fast_queries,
    fast_transactions,
    lambda_runtime,
    members,
    stepfunctions,
    streams,
    strict,
    timeouts,
    warm,
)
from fleetwise_rehearsal.aws.lambda_runtime import LambdaInvoker
from fleetwise_rehearsal.aws.patching import MotoInternalsChanged, Patcher, resolve_patch_point
from fleetwise_rehearsal.aws.vclock import VirtualClock

_INTERPRETER_LOG = "moto.stepfunctions.parser.asl.component.eval_component"

# (module, attribute path, kind) of every moto internal the rehearsal replaces or reads.
PATCH_POINTS: tuple[tuple[str, str, str], ...] = (
    *lambda_runtime.PATCH_POINTS,
    *stepfunctions.PATCH_POINTS,
    *streams.PATCH_POINTS,
    *strict.PATCH_POINTS,
    *warm.PATCH_POINTS,
    *timeouts.PATCH_POINTS,
    *members.PATCH_POINTS,
    *fast_transactions.PATCH_POINTS,
    *fast_queries.PATCH_POINTS,
)

# The signatures the replacements are written against (parameter names, in order).
EXPECTED_SIGNATURES: dict[str, tuple[str, ...]] = {
    **lambda_runtime.EXPECTED_SIGNATURES,
    **stepfunctions.EXPECTED_SIGNATURES,
    **streams.EXPECTED_SIGNATURES,
    **strict.EXPECTED_SIGNATURES,
    **warm.EXPECTED_SIGNATURES,
    **timeouts.EXPECTED_SIGNATURES,
    **members.EXPECTED_SIGNATURES,
    **fast_transactions.EXPECTED_SIGNATURES,
    **fast_queries.EXPECTED_SIGNATURES,
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


@contextlib.contextmanager
def patched(clock: VirtualClock, invoker: LambdaInvoker) -> Iterator[None]:
    """Apply every patch for the duration of the block; undo them all on exit."""
    check_patch_points()
    patcher = Patcher()
    before = dict(os.environ)
    # moto's interpreter logs every failed state at ERROR, with the whole state's repr: the
    # rehearsal reports failures itself (history, narration), so those lines are only noise.
    interpreter_log = logging.getLogger(_INTERPRETER_LOG)
    level = interpreter_log.level
    interpreter_log.setLevel(logging.CRITICAL)
    try:
        lambda_runtime.apply(patcher, clock, invoker)
        stepfunctions.apply(patcher, clock)
        streams.apply(patcher)
        warm.apply(patcher)
        fast_transactions.apply(patcher)
        fast_queries.apply(patcher)
        strict.apply(patcher)
        members.apply(patcher, clock, _caller(invoker))
        with _product_clock(clock):
            yield
    finally:
        interpreter_log.setLevel(level)
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

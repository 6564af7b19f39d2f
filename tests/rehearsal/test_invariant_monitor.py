"""The invariant monitor sees each kind of violation (on logs built by hand, so each check is
shown to fail), and stays quiet on the same logs without it. The monitor on a real rehearsal
is exercised by every regression scenario (scenarios/invariants/) and the stateful tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_rehearsal.invariants import InvariantMonitor, Violation

T = "123456789012:us-east-1"
RUN_A = "arn:aws:states:us-east-1:123456789012:execution:reconcile:a"
RUN_B = "arn:aws:states:us-east-1:123456789012:execution:reconcile:b"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()


@dataclass
class Call:
    operation: str
    tag: str | None
    at: float
    status: int = 200
    error_type: str | None = None
    account: str = "123456789012"
    region: str = "us-east-1"


@dataclass
class Invocation:
    function_name: str
    execution_arn: str | None
    event: dict[str, Any]
    started_at: datetime
    result: Any = None


@dataclass
class Execution:
    arn: str
    name: str
    input: dict[str, Any]
    status: str = "SUCCEEDED"


class Sim:
    def __init__(self, calls: list[Call]) -> None:
        self._calls = calls

    def calls(self, operation: str | None = None) -> list[Call]:
        return [c for c in self._calls if operation is None or c.operation == operation]


class Stack:
    @staticmethod
    def function_name(logical_id: str) -> str:
        return f"stack-{logical_id}"


@dataclass
class Clock:
    now: float = T0

    def time(self) -> float:
        return self.now


@dataclass
class Invoker:
    invocations: list[Invocation] = field(default_factory=list)


class FakeRehearsal:
    """The parts of ``Rehearsal`` the running checks read."""

    def __init__(self, calls: list[Call], invocations: list[Invocation] | None = None) -> None:
        self.parameters = {"MaxRegistrationAttempts": "2"}
        self.sim = Sim(calls)
        self.invoker = Invoker(invocations or [])
        self.stack = Stack()
        self.clock = Clock()
        self.items: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}

    def executions(self) -> list[Execution]:
        return [Execution(RUN_A, "a", {"target": T}), Execution(RUN_B, "b", {"target": T})]

    def execution_summaries(self) -> list[dict[str, Any]]:
        return [{"executionArn": e.arn} for e in self.executions()]

    def client(self, service: str) -> Any:
        assert service == "stepfunctions"
        inputs = {e.arn: e.input for e in self.executions()}

        class StepFunctions:
            @staticmethod
            def describe_execution(executionArn: str) -> dict[str, Any]:
                return {"input": json.dumps(inputs[executionArn])}

        return StepFunctions()

    def specs(self) -> list[dict[str, Any]]:
        return list(self.items.values())

    def status(self, target: str) -> dict[str, Any] | None:
        return self.statuses.get(target)


def tag(logical_id: str, execution: str) -> str:
    return f"stack-{logical_id} {execution}"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def test_two_runs_whose_calls_interleave_are_two_acting_runs() -> None:
    calls = [
        Call("GetRegisterAccountStatus", tag("ObserveFunction", RUN_A), T0),
        Call("GetRegisterAccountStatus", tag("ObserveFunction", RUN_B), T0 + 5),
        Call("GetRegisterAccountStatus", tag("PollFunction", RUN_A), T0 + 10),
    ]
    monitor = InvariantMonitor(FakeRehearsal(calls))  # type: ignore[arg-type]
    assert monitor.check() == [
        Violation(
            "OneActingRun",
            T,
            "a called GetRegisterAccountStatus after b had started acting on the target",
        )
    ]


def test_one_run_after_another_and_the_drift_checks_observations_are_fine() -> None:
    calls = [
        Call("GetRegisterAccountStatus", tag("ObserveFunction", RUN_A), T0),
        Call("GetRegisterAccountStatus", "stack-DriftCheckFunction", T0 + 1),
        Call("GetRegisterAccountStatus", tag("PollFunction", RUN_A), T0 + 10),
        Call("GetRegisterAccountStatus", tag("ObserveFunction", RUN_B), T0 + 20),
    ]
    assert InvariantMonitor(FakeRehearsal(calls)).check() == []  # type: ignore[arg-type]


def _registrations(
    count: int, registered_after: int | None = None, answers: tuple[str | None, ...] = ()
) -> FakeRehearsal:
    """``count`` RegisterAccount calls by run A for one spec version, each from its own
    Register invocation, answered 200 or with ``answers[n]`` (an error code); optionally a
    Record of Registered after the first few."""
    calls: list[Call] = []
    invocations: list[Invocation] = []
    for n in range(count):
        invocations.append(
            Invocation("stack-RegisterFunction", RUN_A, {"target": T, "specHash": "h1"}, at(n * 10))
        )
        answer = answers[n] if n < len(answers) else None
        calls.append(
            Call(
                "RegisterAccount",
                tag("RegisterFunction", RUN_A),
                T0 + n * 10 + 1,
                status=200 if answer is None else 400,
                error_type=answer,
            )
        )
        if registered_after is not None and n + 1 == registered_after:
            invocations.append(
                Invocation(
                    "stack-RecordFunction",
                    RUN_A,
                    {"target": T, "plan": {"specHash": "h1"}},
                    at(n * 10 + 5),
                    result={"phase": "Registered"},
                )
            )
    return FakeRehearsal(calls, invocations)


def test_more_registrations_than_the_budget_for_one_version_are_seen() -> None:
    rehearsal = _registrations(3)  # MaxRegistrationAttempts is 2
    assert InvariantMonitor(rehearsal).check() == [  # type: ignore[arg-type]
        Violation(
            "BoundedRegistrations",
            T,
            "3 RegisterAccount calls that may have acted for spec version h1 "
            "(MaxRegistrationAttempts 2)",
        )
    ]


def test_every_call_counts_whatever_it_answered() -> None:
    # GIVEN three calls of one version answered with an internal error (it may have acted)
    rehearsal = _registrations(3, answers=("InternalServerException",) * 3)
    assert InvariantMonitor(rehearsal).check() == [  # type: ignore[arg-type]
        Violation(
            "BoundedRegistrations",
            T,
            "3 RegisterAccount calls that may have acted for spec version h1 "
            "(MaxRegistrationAttempts 2)",
        )
    ]


def test_refused_calls_have_a_bound_of_their_own() -> None:
    # GIVEN two accepted calls and two refused ones: within both bounds of 2
    within = ("ThrottlingException", None, "ConflictException", None)
    assert InvariantMonitor(_registrations(4, answers=within)).check() == []  # type: ignore[arg-type]
    # WHEN a third refusal comes THEN the refused bound is broken
    past = (*within, "AccessDeniedException")
    assert InvariantMonitor(_registrations(5, answers=past)).check() == [  # type: ignore[arg-type]
        Violation(
            "BoundedRegistrations",
            T,
            "3 RegisterAccount calls refused without acting for spec version h1 "
            "(MaxRegistrationAttempts 2)",
        )
    ]


def test_a_call_no_register_step_made_still_counts() -> None:
    # GIVEN calls the service received without a Register invocation of a run behind them
    calls = [Call("RegisterAccount", None, T0 + n) for n in range(3)]
    assert InvariantMonitor(FakeRehearsal(calls)).check() == [  # type: ignore[arg-type]
        Violation(
            "BoundedRegistrations",
            T,
            "3 RegisterAccount calls that may have acted for spec version None "
            "(MaxRegistrationAttempts 2)",
        )
    ]


def test_a_registered_outcome_starts_a_new_budget() -> None:
    assert InvariantMonitor(_registrations(3, registered_after=2)).check() == []  # type: ignore[arg-type]


def _written(rehearsal: FakeRehearsal, writes: list[tuple[float, dict[str, Any]]]) -> Any:
    """A monitor told of each write at its moment (seconds after T0), with the invocations
    that had started by then."""
    monitor = InvariantMonitor(rehearsal)  # type: ignore[arg-type]
    everything = rehearsal.invoker.invocations
    for seconds, item in writes:
        rehearsal.clock.now = T0 + seconds
        rehearsal.invoker.invocations = [i for i in everything if i.started_at < at(seconds)]
        rehearsal.items[T] = item
        monitor.wrote(T)
    rehearsal.invoker.invocations = everything
    return monitor


def test_a_change_of_the_item_starts_a_new_budget_and_a_revert_is_a_change() -> None:
    first, second = {"target": T}, {"target": T, "paused": True}
    three = "3 RegisterAccount calls that may have acted for spec version h1"
    past = [Violation("BoundedRegistrations", T, f"{three} (MaxRegistrationAttempts 2)")]
    # GIVEN four calls at 1, 11, 21 and 31 s (the bound is 2), the item written before them
    # WHEN it is reverted between the second call and the third (A -> B -> A)
    reverted = _written(_registrations(4), [(-1, first), (15, second), (16, first)])
    # THEN the last two calls are a new count
    assert reverted.check() == []
    # WHEN the same version is written again instead, nothing changed: the count goes on
    rewritten = _written(_registrations(4), [(-1, first), (15, first)])
    assert rewritten.check() == past
    # WHEN the revert comes after the third call, it is too late for that call
    late = _written(_registrations(3), [(-1, first), (25, second), (26, first)])
    assert late.check() == past


def test_a_status_that_goes_back_to_an_older_version_is_seen() -> None:
    rehearsal = FakeRehearsal([])
    monitor = InvariantMonitor(rehearsal)  # type: ignore[arg-type]
    first, second = {"target": T}, {"target": T, "reconcileToken": "2"}
    rehearsal.items[T] = first
    monitor.wrote(T)
    rehearsal.clock.now = T0 + 10
    rehearsal.items[T] = second
    monitor.wrote(T)
    # GIVEN the status claims the second write, read at 10 s
    rehearsal.statuses[T] = {
        "specHash": spec_hash(second),
        "lastReconcileStartedAt": "2026-11-26T12:00:10.000Z",
    }
    assert monitor.check() == []
    # WHEN a later status claims the first write (read at 0 s)
    rehearsal.statuses[T] = {
        "specHash": spec_hash(first),
        "lastReconcileStartedAt": "2026-11-26T12:00:00.000Z",
    }
    assert monitor.check() == [
        Violation(
            "NoStatusGoesBack",
            T,
            f"the status claims write #1 ({spec_hash(first)}) after claiming write #2",
        )
    ]


def test_writes_at_one_instant_are_read_as_the_earliest_that_does_not_go_back() -> None:
    # GIVEN a pause, an edit, the same edit again and the pause again, all at one virtual
    # instant (a revert writes one version twice; time cannot tell the writes apart)
    rehearsal = FakeRehearsal([])
    monitor = InvariantMonitor(rehearsal)  # type: ignore[arg-type]
    paused, edited = {"target": T, "paused": True}, {"target": T}
    read_at = "2026-11-26T12:00:00.000Z"
    rehearsal.items[T] = paused
    monitor.wrote(T)
    rehearsal.statuses[T] = {"specHash": spec_hash(paused), "lastReconcileStartedAt": read_at}
    assert monitor.check() == []
    for item in (edited, edited, paused):
        rehearsal.items[T] = item
        monitor.wrote(T)
        assert monitor.check() == []
    # WHEN the status moves from the pause to the edit (the pause it showed was write #1)
    rehearsal.statuses[T] = {"specHash": spec_hash(edited), "lastReconcileStartedAt": read_at}
    # THEN nothing went back
    assert monitor.check() == []
    # AND going back to a version only ever written before the one claimed still counts
    rehearsal.statuses[T] = {"specHash": spec_hash(paused), "lastReconcileStartedAt": read_at}
    assert monitor.check() == []  # write #4 is the pause as well
    only_first = {"target": T, "reconcileToken": "first"}
    monitor2 = InvariantMonitor(rehearsal)  # type: ignore[arg-type]
    rehearsal.items[T] = only_first
    monitor2.wrote(T)
    rehearsal.items[T] = edited
    monitor2.wrote(T)
    rehearsal.statuses[T] = {"specHash": spec_hash(edited), "lastReconcileStartedAt": read_at}
    assert monitor2.check() == []
    rehearsal.statuses[T] = {"specHash": spec_hash(only_first), "lastReconcileStartedAt": read_at}
    assert monitor2.check() == [
        Violation(
            "NoStatusGoesBack",
            T,
            f"the status claims write #1 ({spec_hash(only_first)}) after claiming write #2",
        )
    ]

"""``InvariantMonitor.settle_and_check`` on a real rehearsal: how many drift ticks it waits for
before it calls the system quiet, and that a deletion only the sweep can find is found first.

A fleet of one batch sweeps the whole status table at every tick, so one tick that starts
nothing is a quiet system. A fleet handed out in batches sweeps one segment in
``drift_check.SWEEP_TICKS`` a tick (moto puts an item in segment ``md5(key)[0] % total``, as
AWS keeps a key in one segment), so a leftover status is found within that many ticks: the
monitor waits for that many quiet ticks in a row."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleetwise_reconciler.handlers import drift_check
from fleetwise_rehearsal.invariants import InvariantMonitor
from fleetwise_rehearsal.rehearsal import Rehearsal
from fleetwise_rehearsal.scenarios.runner import ScenarioRunner

pytestmark = pytest.mark.e2e

T = "123456789012:us-east-1"
EU = "123456789012:eu-central-1"
# Not a target's form: its item gets an Invalid status, which the sweep must still find.
LAB = "123456789012:eu-central-1 lab"


def segment_of(target: str) -> int:
    """The parallel-Scan segment of the status table moto puts a target's items in."""
    digest = hashlib.md5(target.encode(), usedforsecurity=False).digest()
    return digest[0] % drift_check.SWEEP_TICKS


@pytest.fixture
def start() -> Iterator[Callable[..., tuple[ScenarioRunner, InvariantMonitor]]]:
    """A rehearsal (parameters as keyword arguments), a runner and a monitor on it."""
    with contextlib.ExitStack() as stack:

        def begin(**parameters: str) -> tuple[ScenarioRunner, InvariantMonitor]:
            rehearsal = stack.enter_context(
                Rehearsal({"ManageDefaultTarget": "false", **parameters}, jitter_fraction=0.5)
            )
            return ScenarioRunner(rehearsal), InvariantMonitor(rehearsal)

        yield begin


def registered(runner: ScenarioRunner, monitor: InvariantMonitor, *targets: str) -> None:
    for target in targets:
        runner.apply({"write": {"target": target, "mode": "cloudwatch"}})
        monitor.wrote(target)
    runner.apply("settle")
    for target in targets:
        assert (runner.rehearsal.status(target) or {}).get("phase") == "Registered"


def scheduled_ticks(runner: ScenarioRunner) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The drift check's scheduled invocations, each as its event and its result (a batch's
    result says ``batch``)."""
    checker = runner.rehearsal.stack.function_name("DriftCheckFunction")
    return [
        (call.event, call.result)
        for call in runner.rehearsal.invoker.calls(checker)
        if isinstance(call.result, dict) and "batches" in call.result
    ]


def test_a_fleet_of_one_batch_is_quiet_after_one_tick_that_starts_nothing(start: Any) -> None:
    runner, monitor = start()
    registered(runner, monitor, T, EU)

    assert monitor.settle_and_check(runner.apply) == []

    # the quiet tick, then the one that checks it stays quiet; each swept the whole table
    assert [(tick["batches"], tick["started"]) for _, tick in scheduled_ticks(runner)] == [
        (0, []),
        (0, []),
    ]


def test_a_fanned_out_fleet_is_quiet_after_a_whole_sweep_of_quiet_ticks(start: Any) -> None:
    runner, monitor = start(DriftCheckBatchSize="1")
    registered(runner, monitor, T, EU)

    assert monitor.settle_and_check(runner.apply) == []

    ticks = scheduled_ticks(runner)
    assert len(ticks) == drift_check.SWEEP_TICKS + 1
    assert {(tick["batches"], len(tick["started"])) for _, tick in ticks} == {(1, 0)}
    # consecutive segments: every one swept once
    segments = [drift_check.sweep_segment(event) for event, _ in ticks[:-1]]
    assert sorted(s for s in segments if s is not None) == list(range(drift_check.SWEEP_TICKS))


def test_a_deletion_whose_record_was_lost_is_found_by_its_segment_before_quiet(
    start: Any,
) -> None:
    runner, monitor = start(DriftCheckBatchSize="1")
    # two targets left after the deletion: handed out in two batches
    registered(runner, monitor, T, EU)
    runner.apply({"writeItem": {"target": {"S": LAB}, "mode": {"S": "cloudwatch"}}})
    monitor.wrote(LAB)
    runner.apply("settle")
    assert (runner.rehearsal.status(LAB) or {}).get("phase") == "Invalid"
    runs = len(runner.rehearsal.executions())
    runner.apply({"delete": LAB, "stream": "lost"})
    monitor.wrote(LAB)
    runner.apply("settle")
    assert len(runner.rehearsal.executions()) == runs  # no run from the stream

    assert monitor.settle_and_check(runner.apply) == []

    assert (runner.rehearsal.status(LAB) or {}).get("phase") == "Unmanaged"
    ticks = scheduled_ticks(runner)
    first = drift_check.sweep_segment(ticks[0][0])
    assert first is not None
    # LAB's segment comes up at this tick, not the first: a monitor that called the first
    # tick that starts nothing quiet checked before the sweep found the status
    turn = (segment_of(LAB) - first) % drift_check.SWEEP_TICKS
    assert turn >= 1
    assert [n for n, (_, tick) in enumerate(ticks) if tick["started"]] == [turn]
    [run] = ticks[turn][1]["started"]
    assert run.startswith("drift-123456789012-eu-central-1-lab-")
    # then a whole sweep of quiet ticks, and the one after
    assert len(ticks) == turn + 1 + drift_check.SWEEP_TICKS + 1

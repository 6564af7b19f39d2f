"""The virtual clock on its own: threads stand in for executions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from fleetwise_rehearsal.aws import vclock as vclock_module
from fleetwise_rehearsal.aws.vclock import ClockStalled, VirtualClock

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _actor(
    clock: VirtualClock, waits: list[float], name: str, log: list[tuple[str, datetime]]
) -> threading.Thread:
    """An 'execution': registered before its thread starts, sleeps ``waits`` in turn."""

    def body() -> None:
        try:
            for seconds in waits:
                clock.sleep(seconds, label=f"wait:{name}")
            log.append((name, clock.now()))
        finally:
            clock.unregister_actor()

    clock.register_actor()
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_now_and_time_start_at_the_given_moment() -> None:
    clock = VirtualClock(T0)
    assert clock.now() == T0
    assert clock.time() == T0.timestamp()


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 1, 1))


def test_concurrent_sleepers_interleave_in_virtual_time() -> None:
    # GIVEN three executions waiting 10, 3 and 5 seconds, and one waiting 2 then 2 more
    clock = VirtualClock(T0)
    log: list[tuple[str, datetime]] = []
    with clock.hold():  # all four start at T0
        threads = [
            _actor(clock, [10], "a", log),
            _actor(clock, [3], "b", log),
            _actor(clock, [5], "c", log),
            _actor(clock, [2, 2], "d", log),
        ]
    # WHEN they all run to the end
    clock.settle(timeout_wall=5)
    for thread in threads:
        thread.join(1)
    # THEN they finish in wake-up order, each at its exact virtual time
    assert log == [
        ("b", T0 + timedelta(seconds=3)),
        ("d", T0 + timedelta(seconds=4)),
        ("c", T0 + timedelta(seconds=5)),
        ("a", T0 + timedelta(seconds=10)),
    ]
    assert clock.now() == T0 + timedelta(seconds=10)
    assert clock.actors == 0
    assert sorted(d.seconds for d in clock.delays) == [2, 2, 3, 5, 10]


def test_without_hold_a_first_sleeper_may_run_ahead_of_a_later_start() -> None:
    # Why hold() exists: alone, the first execution's sleep is the only thing left to do.
    clock = VirtualClock(T0)
    log: list[tuple[str, datetime]] = []
    _actor(clock, [10], "a", log)
    clock.settle(timeout_wall=5)
    _actor(clock, [3], "b", log)
    clock.settle(timeout_wall=5)
    assert log == [("a", T0 + timedelta(seconds=10)), ("b", T0 + timedelta(seconds=13))]


def test_time_does_not_move_while_an_actor_is_runnable() -> None:
    # GIVEN one execution asleep and another registered but busy (holding a gate)
    clock = VirtualClock(T0)
    log: list[tuple[str, datetime]] = []
    gate = threading.Event()
    clock.register_actor()

    def busy() -> None:
        gate.wait(5)
        log.append(("busy", clock.now()))
        clock.unregister_actor()

    busy_thread = threading.Thread(target=busy, daemon=True)
    busy_thread.start()
    _actor(clock, [30], "sleeper", log)
    # WHEN the busy one is still working, THEN the sleeper has not been woken
    with pytest.raises(ClockStalled, match="still runnable"):
        clock.settle(timeout_wall=0.2)
    assert clock.now() == T0
    # WHEN the busy one finishes, THEN time jumps to the sleeper's wake-up
    gate.set()
    clock.settle(timeout_wall=5)
    assert log == [("busy", T0), ("sleeper", T0 + timedelta(seconds=30))]


def test_manual_mode_moves_only_when_the_driver_advances() -> None:
    clock = VirtualClock(T0, auto_advance=False)
    log: list[tuple[str, datetime]] = []
    _actor(clock, [10], "a", log)
    _actor(clock, [3, 3], "b", log)
    clock.settle(timeout_wall=5)
    assert clock.now() == T0
    assert log == []
    # advancing 5 s wakes b at 3, lets it sleep again until 6, and stops at 5
    clock.advance(5)
    assert clock.now() == T0 + timedelta(seconds=5)
    assert log == []
    clock.advance(1)
    assert log == [("b", T0 + timedelta(seconds=6))]
    clock.run_until_idle()
    assert log[-1] == ("a", T0 + timedelta(seconds=10))
    assert clock.actors == 0


def test_run_until_idle_respects_a_limit() -> None:
    clock = VirtualClock(T0, auto_advance=False)
    log: list[tuple[str, datetime]] = []
    _actor(clock, [100], "late", log)
    clock.run_until_idle(limit_seconds=60)
    assert clock.now() == T0 + timedelta(seconds=60)
    assert log == []
    clock.run_until_idle()
    assert log == [("late", T0 + timedelta(seconds=100))]


@pytest.mark.parametrize("poked", [True, False], ids=["poked", "noticed-by-its-own-check"])
def test_interrupted_sleep_returns_false_and_frees_the_clock(
    poked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an actor asleep for an hour, interruptible; the sleeper's own check comes every
    # 0.05 s of wall time here (10 s in a rehearsal: a safety net, since whatever interrupts
    # a sleeper pokes the clock)
    monkeypatch.setattr(vclock_module, "_INTERRUPT_POLL_WALL", 0.05 if not poked else 3600.0)
    clock = VirtualClock(T0, auto_advance=False)
    stop = threading.Event()
    outcome: list[bool] = []
    clock.register_actor()

    def body() -> None:
        outcome.append(clock.sleep(3600, label="wait:Long", interrupted=stop.is_set))
        clock.unregister_actor()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    clock.settle(timeout_wall=5)
    # WHEN it is interrupted (and the clock poked, as StopExecution, an error or a time-out
    # does; or not, and the sleeper's own check finds it)
    stop.set()
    if poked:
        clock.poke()
    thread.join(5)
    # THEN the sleep ends early, at the same virtual moment, and nothing is left to wake
    assert outcome == [False]
    assert clock.now() == T0
    clock.run_until_idle()  # nothing left to wake
    assert clock.now() == T0


def test_a_driver_sleep_with_no_actors_just_moves_time() -> None:
    clock = VirtualClock(T0)
    assert clock.sleep(42, label="driver", actor=False) is True
    assert clock.now() == T0 + timedelta(seconds=42)
    assert clock.delays_for("driver") == [42]


def test_jitter_is_seeded_or_pinned() -> None:
    seeded_a = [VirtualClock(T0, seed=7).uniform(0, 10) for _ in range(1)]
    seeded_b = [VirtualClock(T0, seed=7).uniform(0, 10) for _ in range(1)]
    assert seeded_a == seeded_b
    pinned = VirtualClock(T0, jitter_fraction=0.25)
    assert pinned.uniform(0, 8) == 2.0
    assert pinned.uniform(4, 8) == 5.0
    with pytest.raises(ValueError, match="jitter_fraction"):
        VirtualClock(T0, jitter_fraction=1.5)


def test_unregister_without_actor_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a registered actor"):
        VirtualClock(T0).unregister_actor()

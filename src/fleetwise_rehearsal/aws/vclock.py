"""A discrete-event virtual clock shared by concurrent Step Functions executions.

moto runs every execution on its own worker thread, and its interpreter sleeps for real in
Retry and Wait. The rehearsal redirects those sleeps here. Each sleeper waits for its own
wake-up time; virtual time jumps to the earliest pending wake-up only when no *actor* (a
registered execution) can make progress, so concurrent runs interleave exactly as they would
in real time, and a 15-minute registration rehearses in milliseconds.

Actors are counted, not identified: ``register_actor`` is called synchronously when an
execution starts (before its thread exists, so time cannot run ahead of a run that has not
begun yet) and ``unregister_actor`` when it ends. A sleep with ``actor=True`` (the default,
the interpreter's sleeps) makes one actor idle until it wakes. An actor waiting for a lock or
for a Lambda handler is *runnable*: time never advances under it.

Two modes:

- ``auto_advance=True`` (default): whenever every actor is asleep, time jumps to the next
  wake-up at once. The driver starts executions (inside ``hold()`` when it starts several
  that must begin at the same virtual moment) and calls ``settle`` to wait until they end.
- ``auto_advance=False``: time moves only when the driver calls ``advance`` or
  ``run_until_idle``, so it can act between two virtual moments (edit a spec mid-run, ...).

Every requested delay is recorded with its label (``"retry:<state>:<error>"``,
``"wait:<state>"``) so tests can assert the exact backoff schedule; jitter comes from a
seeded ``random.Random`` or is pinned to a fraction of the interval.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import threading
import time as _wall
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# How often (wall seconds) an interruptible sleeper re-checks its interrupt condition when
# nothing pokes the clock (``poke`` makes it check at once; every way an execution stops
# running pokes it: timeouts.apply), so only a safety net. Not shorter: each check wakes a
# thread that must take the GIL, and a fleet's rollout has a thousand executions asleep at
# once; at 0.5 s, 300 targets' rollout spent 226 s of CPU in the kernel's futex calls (20 s
# at 30 s) and took twice as long.
_INTERRUPT_POLL_WALL = 10.0


class ClockStalled(RuntimeError):
    """The driver waited for executions that did not settle within the wall-clock timeout."""


@dataclass(frozen=True)
class Delay:
    """One sleep requested from the clock."""

    label: str
    seconds: float
    requested_at: datetime


@dataclass(order=True)
class _Sleeper:
    wake_at: float
    seq: int
    actor: bool = field(compare=False)
    interrupted: Callable[[], bool] | None = field(default=None, compare=False)
    woken: bool = field(default=False, compare=False)
    cancelled: bool = field(default=False, compare=False)
    # Its own condition on the clock's lock: a wake-up wakes the sleepers due, not every
    # sleeping thread (with a thousand executions asleep, waking them all at each of their
    # wake-ups made a fleet's wall time grow with the square of its size).
    ready: threading.Condition | None = field(default=None, compare=False)


class VirtualClock:
    """Virtual time for the rehearsal; thread-safe."""

    def __init__(
        self,
        start: datetime,
        *,
        seed: int = 0,
        jitter_fraction: float | None = None,
        auto_advance: bool = True,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if jitter_fraction is not None and not 0.0 <= jitter_fraction <= 1.0:
            raise ValueError("jitter_fraction must be within [0, 1]")
        self._now = start.astimezone(UTC).timestamp()
        self._lock = threading.Lock()
        # The driver's and starting executions' waits; each sleeper waits on its own condition.
        self._cv = threading.Condition(self._lock)
        self._actors = 0
        self._sleeping_actors = 0
        self._holds = 0
        self._heap: list[_Sleeper] = []
        self._seq = itertools.count()
        self._delays: list[Delay] = []
        self._random = random.Random(seed)  # noqa: S311 - reproducible jitter, not secrets
        self.jitter_fraction = jitter_fraction
        self._auto_advance = auto_advance

    # -- reading the time -------------------------------------------------------------------

    def time(self) -> float:
        """Virtual seconds since the epoch."""
        with self._cv:
            return self._now

    def now(self) -> datetime:
        """Virtual now, timezone-aware UTC."""
        return datetime.fromtimestamp(self.time(), UTC)

    # -- jitter -------------------------------------------------------------------------------

    def uniform(self, low: float, high: float) -> float:
        """A FULL-jitter draw: pinned to ``jitter_fraction`` if set, else seeded random."""
        if self.jitter_fraction is not None:
            return low + (high - low) * self.jitter_fraction
        with self._cv:
            return self._random.uniform(low, high)

    # -- the record of delays -----------------------------------------------------------------

    @property
    def delays(self) -> list[Delay]:
        """Every sleep requested so far, in request order."""
        with self._cv:
            return list(self._delays)

    def forget_delays(self) -> None:
        """Start the record of delays afresh (time itself is kept)."""
        with self._cv:
            self._delays.clear()

    def delays_for(self, prefix: str) -> list[float]:
        """The seconds of the delays whose label starts with ``prefix``, in request order."""
        return [d.seconds for d in self.delays if d.label.startswith(prefix)]

    # -- actors ---------------------------------------------------------------------------------

    def register_actor(self) -> None:
        """An execution began (call before its thread starts)."""
        with self._cv:
            self._actors += 1

    def unregister_actor(self) -> None:
        """An execution ended; if the others all sleep, time may move on."""
        with self._cv:
            if self._actors == 0:
                raise RuntimeError("unregister_actor without a registered actor")
            self._actors -= 1
            self._maybe_auto_advance()
            self._cv.notify_all()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep time still while the driver does several things "at the same moment".

        The driver counts as a runnable actor inside the block: with auto-advance on, an
        execution started first cannot sleep its way past the start of the next one. An
        execution started inside the block waits for its end before its first state
        (``wait_unheld``), so the driver's actions at one moment all happen before the runs
        they start: how far a run got meanwhile no longer depends on thread scheduling.
        """
        self.register_actor()
        with self._cv:
            self._holds += 1
        try:
            yield
        finally:
            with self._cv:
                self._holds -= 1
            self.unregister_actor()

    def wait_unheld(self) -> None:
        """Block (an execution about to run its first state) while the driver holds time."""
        with self._cv:
            while self._holds:
                self._cv.wait()

    @property
    def actors(self) -> int:
        with self._cv:
            return self._actors

    @property
    def runnable(self) -> int:
        """Registered actors not asleep on this clock."""
        with self._cv:
            return self._actors - self._sleeping_actors

    @property
    def auto_advance(self) -> bool:
        return self._auto_advance

    @auto_advance.setter
    def auto_advance(self, value: bool) -> None:
        with self._cv:
            self._auto_advance = value
            self._maybe_auto_advance()
            self._cv.notify_all()

    # -- sleeping -------------------------------------------------------------------------------

    def sleep(
        self,
        seconds: float,
        *,
        label: str,
        actor: bool = True,
        interrupted: Callable[[], bool] | None = None,
        wake_at: float | None = None,
    ) -> bool:
        """Block the calling thread until virtual time reaches now + ``seconds``.

        ``actor`` says whether the caller is a registered actor (an execution thread); a
        driver thread passes False. ``interrupted`` is checked whenever the clock is poked,
        and at least every ``_INTERRUPT_POLL_WALL`` seconds of wall time, while asleep
        (StopExecution sets the execution's state); when it returns True the sleep ends
        early. ``wake_at`` (virtual epoch seconds) wakes the sleeper no later than that
        moment (an execution's deadline); the delay recorded is still ``seconds``.

        Returns True when woken by time, False when interrupted.
        """
        seconds = max(0.0, float(seconds))
        with self._cv:
            self._delays.append(
                Delay(label=label, seconds=seconds, requested_at=self._as_datetime(self._now))
            )
            wake = self._now + seconds if wake_at is None else min(self._now + seconds, wake_at)
            sleeper = _Sleeper(
                wake_at=max(wake, self._now),
                seq=next(self._seq),
                actor=actor,
                interrupted=interrupted,
                ready=threading.Condition(self._lock),
            )
            heapq.heappush(self._heap, sleeper)
            if actor:
                self._sleeping_actors += 1
            self._maybe_auto_advance()
            self._cv.notify_all()
            ready = sleeper.ready
            assert ready is not None  # noqa: S101 - set just above
            while not sleeper.woken and not sleeper.cancelled:
                if interrupted is not None:
                    ready.wait(_INTERRUPT_POLL_WALL)
                    if not sleeper.woken and not sleeper.cancelled and interrupted():
                        self._cancel(sleeper)
                else:
                    ready.wait()
            return sleeper.woken

    def poke(self) -> None:
        """Check every interruptible sleeper's condition now, in the caller's thread: one
        that is interrupted is runnable again before this returns, so time cannot move on
        past it (StopExecution ends a Wait at the moment it is called)."""
        with self._cv:
            for sleeper in self._heap:
                check = sleeper.interrupted
                if check is not None and not (sleeper.woken or sleeper.cancelled) and check():
                    self._cancel(sleeper)
            self._cv.notify_all()

    # -- driving --------------------------------------------------------------------------------

    def settle(self, timeout_wall: float = 10.0) -> None:
        """Wait (wall clock) until no actor is runnable.

        With auto-advance on, that means every execution has finished (or is interrupted); in
        manual mode, that every execution is asleep or finished. Raises ClockStalled after
        ``timeout_wall`` seconds, naming the state of the clock.
        """
        deadline = _wall.monotonic() + timeout_wall
        with self._cv:
            while not self._quiescent():
                remaining = deadline - _wall.monotonic()
                if remaining <= 0:
                    raise ClockStalled(
                        f"executions still runnable after {timeout_wall}s wall time: "
                        f"actors={self._actors} sleeping={self._sleeping_actors} "
                        f"pending wake-ups={len(self._heap)}"
                    )
                self._cv.wait(min(remaining, 0.05))

    def advance(self, seconds: float, *, timeout_wall: float = 10.0) -> None:
        """Move time forward by ``seconds``, waking sleepers in order and letting each
        woken actor run until everything is quiet again before the next wake-up."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self.time() + seconds
        while True:
            self.settle(timeout_wall)
            with self._cv:
                self._drop_cancelled()
                if not self._heap or self._heap[0].wake_at > target:
                    self._now = max(self._now, target)
                    self._cv.notify_all()
                    break
                self._wake_earliest()
        self.settle(timeout_wall)

    def run_until_idle(
        self, *, limit_seconds: float | None = None, timeout_wall: float = 30.0
    ) -> None:
        """Advance from wake-up to wake-up until no actor exists and nothing sleeps (or
        ``limit_seconds`` of virtual time passed)."""
        stop_at = None if limit_seconds is None else self.time() + limit_seconds
        while True:
            self.settle(timeout_wall)
            with self._cv:
                self._drop_cancelled()
                if not self._heap:
                    return
                if stop_at is not None and self._heap[0].wake_at > stop_at:
                    self._now = max(self._now, stop_at)
                    return
                self._wake_earliest()

    # -- internals (call with the lock held) ------------------------------------------------

    @staticmethod
    def _as_datetime(epoch: float) -> datetime:
        return datetime.fromtimestamp(0, UTC) + timedelta(seconds=epoch)

    def _quiescent(self) -> bool:
        runnable = self._actors - self._sleeping_actors
        if runnable > 0:
            return False
        # In auto mode, actors asleep with a pending wake-up are about to run: not quiet yet.
        return not (self._auto_advance and self._actors > 0 and self._live_heap())

    def _live_heap(self) -> bool:
        return any(not s.cancelled for s in self._heap)

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    def _wake_earliest(self) -> None:
        """Jump to the earliest wake-up and wake everyone due at that moment."""
        self._drop_cancelled()
        if not self._heap:
            return
        wake_at = self._heap[0].wake_at
        self._now = max(self._now, wake_at)
        while self._heap and (self._heap[0].cancelled or self._heap[0].wake_at <= self._now):
            sleeper = heapq.heappop(self._heap)
            if sleeper.cancelled:
                continue
            sleeper.woken = True
            _notify(sleeper)
            # Counted as runnable from this moment, before its thread even resumes, so the
            # clock cannot run ahead of it.
            if sleeper.actor:
                self._sleeping_actors -= 1
        self._cv.notify_all()

    def _maybe_auto_advance(self) -> None:
        if not self._auto_advance:
            return
        if self._actors - self._sleeping_actors > 0:
            return
        self._wake_earliest()

    def _cancel(self, sleeper: _Sleeper) -> None:
        sleeper.cancelled = True
        _notify(sleeper)
        if sleeper.actor:
            self._sleeping_actors -= 1
        self._cv.notify_all()


def _notify(sleeper: _Sleeper) -> None:
    """Wake the sleeper's thread (call with the clock's lock held)."""
    if sleeper.ready is not None:
        sleeper.ready.notify()

"""A rehearsed stack served to other processes: the operator's CLI, ``aws``, any SDK, offline.

``Served`` puts a running ``Rehearsal`` on loopback endpoints: moto's server for the services
moto emulates (DynamoDB, Step Functions, STS, Lambda, CloudWatch, SQS, SNS, IAM), the stack's
``DescribeStacks`` (``StackEndpoint``) for CloudFormation, and the IoT FleetWise simulator. The
server shares the rehearsal's in-memory backends, so a write from another process lands in
the same spec table, its stream record reaches the stream trigger, and the workflow runs with
the real handlers, as in the rehearsal itself. ``environment`` gives the variables a client
needs (``AWS_ENDPOINT_URL`` and the per-service ones, the Region, fake credentials).

The virtual clock is paced (``run``): it starts at the wall clock's now and runs ``speed``
times as fast, so a registration pending for 300 virtual seconds ends after 300 / speed wall
seconds; the drift schedule fires at the template's rate in virtual time. Clients read the
wall clock: with a speed above 1, times the stack records run ahead of it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from moto.server import ThreadedMotoServer

from fleetwise_rehearsal.aws.stack_endpoint import StackEndpoint
from fleetwise_rehearsal.rehearsal.stage import Rehearsal

HOST = "127.0.0.1"
# Any key works with moto (requests map to the stack's account); real-looking values keep
# SDKs that validate their shape quiet.
ACCESS_KEY_ID = "AKIAREHEARSALSERVED0"
SECRET_ACCESS_KEY = "rehearsal-served-stack-secret-key-000000"  # noqa: S105 - not a secret
# How often (wall seconds) the pacing loop moves virtual time and delivers the stream.
STEP_WALL_SECONDS = 0.05
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_seconds(rehearsal: Rehearsal) -> float | None:
    """The drift schedule's period in seconds, from the template's ``rate(...)`` expression
    (None when the stack has no schedule)."""
    for resource in rehearsal.stack.of_type("AWS::Scheduler::Schedule").values():
        match = _RATE.match(str(resource.properties.get("ScheduleExpression", "")))
        if match is None:
            raise ValueError(
                f"unsupported ScheduleExpression {resource.properties.get('ScheduleExpression')!r}"
            )
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
    return None


class Served:
    """A running rehearsal on loopback endpoints (see the module docstring)."""

    def __init__(self, rehearsal: Rehearsal, *, speed: float = 10.0, port: int = 0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.rehearsal = rehearsal
        self.speed = speed
        self.port = port
        self._exits = contextlib.ExitStack()
        self._moto: ThreadedMotoServer | None = None
        self._cloudformation: StackEndpoint | None = None

    def __enter__(self) -> Self:
        # The werkzeug development server logs every request on stderr; the served stack's
        # own log is what the operator reads.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        moto.start()
        self._moto = moto
        self._exits.callback(moto.stop)
        self._cloudformation = self._exits.enter_context(StackEndpoint(self.rehearsal.stack))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exits.close()

    @property
    def url(self) -> str:
        if self._moto is None:
            raise RuntimeError("not serving (use Served as a context manager)")
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def environment(self) -> dict[str, str]:
        """What a client process needs to reach the served stack."""
        if self._cloudformation is None:
            raise RuntimeError("not serving (use Served as a context manager)")
        r = self.rehearsal
        fleetwise = r.sim.endpoint_url if r.sim is not None else r.external_endpoint
        env = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": self._cloudformation.endpoint_url,
            "AWS_REGION": r.region,
            "AWS_DEFAULT_REGION": r.region,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            # No instance metadata lookups and no other profile's settings.
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if fleetwise:
            env["AWS_ENDPOINT_URL_IOTFLEETWISE"] = fleetwise
        return env

    def run(
        self,
        stop: threading.Event,
        *,
        on_step: Callable[[], None] | None = None,
    ) -> None:
        """Pace the virtual clock against the wall clock until ``stop`` is set: deliver the
        stream, run the executions, apply the execution-status rule and fire the drift
        schedule on time; ``on_step`` is called after each step (for a log)."""
        r = self.rehearsal
        r.clock.auto_advance = False
        period = schedule_seconds(r)
        wall_start, virtual_start = time.monotonic(), r.clock.time()
        next_tick = None if period is None else virtual_start + period
        while not stop.is_set():
            goal = virtual_start + self.speed * (time.monotonic() - wall_start)
            if next_tick is not None:
                goal = min(goal, next_tick)
            if goal > r.clock.time():
                r.run_until(datetime.fromtimestamp(goal, UTC))
            else:
                r.settle()
            if next_tick is not None and r.clock.time() >= next_tick:
                r.tick()
                next_tick += period or 0.0
            if on_step is not None:
                on_step()
            stop.wait(STEP_WALL_SECONDS)


class ExecutionLog:
    """Lines for the served stack's log: each execution as it starts and as it ends."""

    def __init__(self, rehearsal: Rehearsal, write: Callable[[str], None]) -> None:
        self.rehearsal = rehearsal
        self.write = write
        self._seen: dict[str, str] = {}
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        for summary in self.rehearsal.execution_summaries():
            name, status = str(summary["name"]), str(summary["status"])
            if self._seen.get(name) == status:
                continue
            self._seen[name] = status
            stamp = self.rehearsal.clock.now().strftime("%H:%M:%S")
            self.write(f"{stamp}  execution {name} {status}")

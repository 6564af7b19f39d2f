"""Drift check: invoked by the EventBridge Scheduler schedule; re-observes every target.

For each item of the spec table: validate it, observe the registration (one
GetRegisterAccountStatus per distinct account and Region, shared by the targets that name it),
read the status, decide (``logic.drift.check``), put the target in its one state
(``logic.health.fleet_state``), report it (``TargetInTrouble`` while it is in trouble, 0 once
it no longer is: ``logic.health.watch``, with the target's WATCH item as memory), and start a
reconcile execution only when one would change something (``logic.drift``). A healthy fleet
keeps no per-target series. Every tick counts the fleet (``Targets``, one series per state,
adding up to the fleet) and emits one ``DriftChecks`` heartbeat, whose alarm fires when no
check ran for a whole period, even when no target is left to report on.

Steady state per target: one GetRegisterAccountStatus (per account and Region), the spec
table's Scan (shared) and one status read (a Query of the target's items: its status and its
WATCH item); no lease read, no write, no execution. The observations are
made in parallel (at most ``OBSERVE_THREADS`` at once), each account and Region once; a target
in another account is observed through its member role, assumed once per account and tick.
Then one Scan of the status table (target and phase, and the WATCH items) finds statuses whose
spec item is gone: a deletion whose run stepped aside for a run that then died. Each gets a
run (unless a run holds the target), which records ``Unmanaged``; a WATCH item whose spec item
is gone has its trouble cleared and is deleted.

A large fleet fans out, one level deep: the tick's invocation checks the first
``DRIFT_CHECK_BATCH_SIZE`` targets (sorted, so an account's targets stay together) and hands
each further batch of that size to an asynchronous invocation of this same function (Lambda's
own queue, retries and on-failure destination), which reads its items, checks them and counts
them. So one invocation's work is bounded by the batch size, whatever the fleet's. Every
invocation stamps its part of the fleet's counts with the tick's minute, where CloudWatch adds
them up beside the tick's single heartbeat.

A target that cannot be observed (throttling, access denied, its member role or STS refusing)
does not stop the others: it is ``Unobserved``, reported under its own name like any trouble
(unless its status records a failure or a block, which it stays in), and the next tick
observes again. Only a batch that could not be handed out makes the invocation raise
``DriftCheckIncomplete`` at the end: none of its targets was looked at, which the function's
Errors alarm reports.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import ReconcileError
from fleetwise_reconciler.logic import drift
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.health import FleetState, Graces, Watch, fleet_state, watch
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.observability import (
    COUNT,
    DRIFT_CHECKS,
    TARGETS,
    logger,
    publish,
    publish_counts,
    publish_trouble,
)
from fleetwise_reconciler.settings import get_settings
from fleetwise_reconciler.workflow import start_reconcile

EXECUTION_STAMP = "%Y%m%dT%H%MZ"
# Observations in flight at once: enough to hide IoT FleetWise's and STS's latency, few enough
# to stay far below their request rates and the function's memory.
OBSERVE_THREADS = 16


class DriftCheckIncomplete(Exception):
    """A batch of the fleet could not be handed out this tick (the others were checked)."""


def graces() -> Graces:
    """How long the graced states may last (``Settings``: periods of the health alarms)."""
    settings = get_settings()
    period = settings.health_alarm_period_seconds
    return Graces(
        unhealthy=period * settings.unhealthy_evaluation_periods,
        drift=period * settings.drift_alarm_periods,
    )


def watch_of(item: dict[str, Any] | None) -> Watch | None:
    """The WATCH item as the ``Watch`` it stores (None: none, or one this code cannot read,
    which is then rewritten)."""
    if not item:
        return None
    try:
        return Watch(
            FleetState(str(item["state"])),
            clock.parse(str(item["since"])).timestamp(),
            bool(item.get("reported")),
        )
    except (KeyError, ValueError):
        return None


def item_of(memory: Watch) -> dict[str, Any]:
    since = datetime.fromtimestamp(memory.since, UTC)
    return {
        "state": str(memory.state),
        "since": clock.isoformat(since),
        "reported": memory.reported,
    }


def report(
    statuses: StatusRepository,
    target: str,
    state: FleetState,
    remembered: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Report ``target`` in ``state`` (``logic.health.watch``) and keep the memory of it."""
    decided = watch(state, watch_of(remembered), now.timestamp(), graces())
    publish_trouble(target, decided.values)
    # Written only when what it remembers changes: a target in one state for days costs no
    # write after the first tick, a settled one neither reads nor writes more than its status.
    wanted = None if decided.memory is None else item_of(decided.memory)
    if wanted == remembered:
        return
    if wanted is None:
        statuses.delete_watch(target)
    else:
        statuses.put_watch(target, wanted)


def start_run(client: Any, state_machine_arn: str, target: str, name: str) -> bool:
    """Start the tick's run; False when this tick's run already exists (a redelivered tick)."""
    started = start_reconcile(
        client, state_machine_arn, name=name, target=target, trigger="schedule"
    )
    if not started:
        logger.info("drift run already started for this minute", execution=name)
    return started


def observe_all(
    keys: Iterable[str], *, run: str, given: wiring.FleetWisePorts | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, ReconcileError]]:
    """GetRegisterAccountStatus of each ``<account>:<region>``, in parallel: the observations,
    and the error of each one that could not be made (the others are made all the same)."""
    wanted = sorted(set(keys))
    observed: dict[str, dict[str, Any]] = {}
    errors: dict[str, ReconcileError] = {}
    own = get_settings().account_id
    for key in wanted:
        if given is None and (not own or key.partition(":")[0] == own):
            # This account's ports and their clients are made here, in this thread: a
            # botocore session must not make clients from several threads at once.
            _ = wiring.fleetwise_for(key, run).client

    def observe(key: str) -> None:
        try:
            observed[key] = wiring.fleetwise_for(key, run, given).get_status()
        except ReconcileError as error:
            errors[key] = error

    if len(wanted) <= 1:
        for key in wanted:
            observe(key)
    else:
        with ThreadPoolExecutor(
            max_workers=min(OBSERVE_THREADS, len(wanted)), thread_name_prefix="observe"
        ) as pool:
            list(pool.map(observe, wanted))
    return observed, errors


@dataclass
class Tally:
    """What one invocation of a tick found: its checks, the runs it started, the targets it
    could not observe, and the fleet's count in each state."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    # Targets that could not be observed (each reported as Unobserved, or as what its status
    # records), and batches that could not be handed out (none of their targets looked at).
    unobserved: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    fleet: Counter[FleetState] = field(default_factory=Counter)


def check_items(
    items: list[dict[str, Any]],
    tally: Tally,
    *,
    stamp: str,
    statuses: StatusRepository,
    fleetwise: wiring.FleetWisePorts | None,
    stepfunctions: Any | None,
    context: ValidationContext,
) -> None:
    """Validate, observe and decide each item of ``items``; emit its metrics; start a run
    where one would change something. Adds what it found to ``tally``."""
    settings = get_settings()
    now = clock.now()
    validated = [(raw, validate(raw, context)) for raw in items]
    # Targets naming the same account and Region share one observation.
    observed, errors = observe_all(
        {v.spec.target for _, v in validated if v.valid and v.spec is not None},
        run=f"drift-check-{stamp}",
        given=fleetwise,
    )
    for raw, validation in validated:
        target = str(raw.get("target"))
        version = spec_hash(raw)
        status, remembered = statuses.get_status_and_watch(target)
        observation: dict[str, Any] | None = None
        if validation.valid and validation.spec is not None:
            key = validation.spec.target
            if key in errors:
                error = errors[key]
                logger.error(
                    "drift check could not observe the target",
                    target=target,
                    code=error.code,
                    operation=error.operation,
                    detail=error.message,
                )
                tally.unobserved.append(f"{target} ({error.code})")
                state = fleet_state(
                    invalid=False,
                    recorded=drift.recorded_phase(status, version),
                    unobserved=True,
                    healthy=False,
                    paused=False,
                    drift_detected=False,
                    acting=False,
                )
                report(statuses, target, state, remembered, now)
                tally.fleet[state] += 1
                continue
            observation = observed[key]
        found = drift.check(
            target,
            validation,
            observation,
            spec_hash=version,
            status=status,
            max_attempts=settings.max_registration_attempts,
        )
        if found.start:
            found = drift.unless_running(found, statuses.get_lease(target), now.timestamp())
        report(statuses, target, found.state, remembered, now)
        tally.fleet[found.state] += 1
        name = drift.execution_name(target, stamp)
        if found.start and start_run(
            stepfunctions or wiring.stepfunctions(), settings.state_machine_arn, target, name
        ):
            tally.started.append(name)
        logger.info(
            "drift checked",
            target=target,
            why=str(found.why),
            action=str(found.plan.action),
            reason=found.plan.reason,
            state=str(found.state),
            execution=name if found.start else None,
        )
        tally.checks.append(found.as_dict())


def hand_out(
    batches: list[list[str]], tally: Tally, *, stamp: str, function: str, client: Any
) -> None:
    """Invoke ``function`` asynchronously once per batch (Lambda queues each invocation and
    runs them side by side). A batch that could not be handed out counts as unobserved."""
    for number, targets in enumerate(batches, start=1):
        event = {"tick": stamp, "batch": number, "batches": len(batches), "targets": targets}
        try:
            client.invoke(
                FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode()
            )
        except (ClientError, BotoCoreError) as error:
            code = (
                error.response["Error"]["Code"]
                if isinstance(error, ClientError)
                else type(error).__name__
            )
            logger.error(
                "drift check could not hand out a batch",
                batch=number,
                targets=len(targets),
                code=code,
                detail=str(error),
            )
            tally.missed.append(f"the {len(targets)} targets of batch {number} ({code})")
            tally.fleet[FleetState.UNOBSERVED] += len(targets)


def split(items: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """The first ``size`` items (this invocation's), and the targets of the rest in batches of
    ``size`` (the other invocations'), in order."""
    rest = [str(raw.get("target")) for raw in items[size:]]
    return items[:size], [rest[i : i + size] for i in range(0, len(rest), size)]


def tick_moment(stamp: str) -> datetime:
    """The minute a tick's stamp names: every invocation of the tick stamps its fleet counts
    with it, so CloudWatch adds them into one datapoint beside the tick's heartbeat."""
    return datetime.strptime(stamp, EXECUTION_STAMP).replace(tzinfo=UTC)


def batch_of(event: dict[str, Any]) -> tuple[str, list[str]]:
    """The tick's stamp and the targets of a batch event; TypeError or ValueError names what
    is wrong (the invocation fails before any call, and Lambda's on-failure queue keeps it)."""
    stamp, targets = event.get("tick"), event.get("targets")
    if not isinstance(stamp, str):
        raise TypeError(f"a drift check batch needs its tick's stamp, got {stamp!r}")
    tick_moment(stamp)  # ValueError unless it is one
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise TypeError(f"a drift check batch needs a list of targets, got {targets!r}")
    return stamp, targets


def finish(tally: Tally, result: dict[str, Any]) -> dict[str, Any]:
    """Raise ``DriftCheckIncomplete`` if a batch was not handed out, else return ``result``."""
    if tally.missed:
        raise DriftCheckIncomplete(
            f"could not check {', '.join(tally.missed)}; the other targets were checked"
        )
    return {
        "checked": len(tally.checks),
        "started": tally.started,
        "unobserved": tally.unobserved,
        "targets": tally.checks,
        **result,
    }


def handle(
    event: dict[str, Any],
    *,
    specs: SpecRepository | None = None,
    statuses: StatusRepository | None = None,
    fleetwise: wiring.FleetWisePorts | None = None,
    stepfunctions: Any | None = None,
    context: ValidationContext | None = None,
    function: str | None = None,
    lambda_client: Any | None = None,
) -> dict[str, Any]:
    """A tick (the schedule's event) or one batch of a tick (``{"tick", "batch", "batches",
    "targets"}``, from the tick's own invocation)."""
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    validation_context = context or wiring.validation_context()
    tally = Tally()

    def check(items: list[dict[str, Any]], stamp: str) -> None:
        check_items(items, tally, stamp=stamp, statuses=statuses, fleetwise=fleetwise,
                    stepfunctions=stepfunctions, context=validation_context)  # fmt: skip

    if "batch" in event:
        # One batch of a large fleet: check it and count it. Never hands out further: the
        # fan-out is one level deep.
        stamp, targets = batch_of(event)
        items = specs.get_many(targets)
        if len(items) < len(targets):
            logger.info("targets gone since the tick began", gone=len(targets) - len(items))
        check(items, stamp)
        publish_counts(TARGETS, "state", {str(s): tally.fleet[s] for s in FleetState},
                       at=tick_moment(stamp))  # fmt: skip
        return finish(tally, {"batch": event.get("batch")})

    stamp = clock.now().strftime(EXECUTION_STAMP)
    at = tick_moment(stamp)
    # Sorted, so that an account's targets fall in the same batch and share its member role
    # and observations.
    items = sorted(specs.scan(), key=lambda raw: str(raw.get("target")))
    own, batches = split(items, settings.drift_check_batch_size)
    if batches:
        # Handed out first, so that the other invocations check while this one does its own.
        hand_out(
            batches,
            tally,
            stamp=stamp,
            function=function or os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            client=lambda_client or wiring.lambda_client(),
        )
    check(own, stamp)
    seen = {str(raw.get("target")) for raw in items}
    now = clock.now()

    # Statuses whose item is gone: no metrics (an Unmanaged target reports nothing), a run
    # when the status does not say Unmanaged yet. A WATCH item whose item is gone: its trouble
    # cleared (nobody manages the target any more), the item deleted.
    phases, watches = statuses.sweep()
    for target, phase in phases.items():
        if target in seen:
            continue
        why = drift.without_item(phase, statuses.get_lease(target), now.timestamp())
        if why is None:
            continue
        name = drift.execution_name(target, stamp)
        if why in drift.STARTING and start_run(
            stepfunctions or wiring.stepfunctions(), settings.state_machine_arn, target, name
        ):
            tally.started.append(name)
        logger.info("status without a spec item", target=target, phase=phase, why=str(why))
    for target, remembered in watches.items():
        if target not in seen:
            memory = watch_of(remembered)
            if memory is not None and memory.reported:
                publish_trouble(target, {memory.state: 0})
            statuses.delete_watch(target)

    # This invocation's part of the fleet's counts (every state, zeros included: the
    # dashboard's series stay whole; each batch adds its own at the same minute), then the
    # heartbeat: this check ran (its alarm fires when ticks stop arriving).
    publish_counts(TARGETS, "state", {str(s): tally.fleet[s] for s in FleetState}, at=at)
    publish(None, {DRIFT_CHECKS: (COUNT, 1)}, at=at)
    return finish(tally, {"batches": len(batches)})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, function=context.invoked_function_arn)

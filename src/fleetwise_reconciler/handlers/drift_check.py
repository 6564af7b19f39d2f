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

Each table is read about once per tick. Steady state per target: one
GetRegisterAccountStatus (per account and Region), its item in the spec table's Scan, and its
status and WATCH item (the drift check's memory of a target's trouble, kept only while there
is some) in one consistent read of the status table (a fleet of one batch: the tick's one
Scan, which also finds statuses and WATCH items whose spec item is gone; a fleet handed out in
batches: one Query per target by the invocation that checks it, and the tick's Scan of one
segment in ``SWEEP_TICKS`` for that sweep); no lease read, no write (a WATCH item is written
only when what it remembers changes), no execution. The observations are made in parallel
(at most ``OBSERVE_THREADS`` at once), each account and Region once; a target in another
account is observed through its member role, assumed at most once per account and tick, and
its credentials and client are kept for the next ticks of a warm environment
(``DRIFT_SESSION``, ``member.py``). A status whose spec item is gone (a deletion whose run
stepped aside for a run that then died) gets a run (unless a run holds the target), which
records ``Unmanaged``; a WATCH item whose spec item is gone has its trouble cleared and is
deleted.

Logs: one ``drift check summary`` line per invocation (the targets by state, the runs it
started, the batches it handed out); a line per target only for a target in trouble
(unhealthy, unobserved, or given a run).

A large fleet fans out, one level deep: the tick's invocation checks the first batch of at
most ``DRIFT_CHECK_BATCH_SIZE`` targets (sorted, and a batch ends where an account's targets
end, so an account's targets stay together) and hands each further batch to an asynchronous
invocation of this same function (Lambda's own queue, retries and on-failure destination),
which checks its items and counts them. The batch's event carries the items the tick's Scan
read (those that JSON holds exactly, within ``HAND_OUT_BYTES``), so a batch reads only the
others. So one invocation's work is bounded by the batch size, whatever the fleet's. Every
invocation stamps its part of the fleet's counts with the tick's minute, where CloudWatch adds
them up beside the tick's single heartbeat.

A target that cannot be observed (throttling, access denied, its member role or STS refusing;
a transient failure after ``OBSERVE_ATTEMPTS`` attempts) does not stop the others: it is
``Unobserved``, reported under its own name like any trouble (unless its status records a
failure or a block, which it stays in), and the next tick observes again. What the
reconciler itself failed to do makes the invocation raise ``DriftCheckIncomplete`` at the
end, after the other targets, the sweep and the heartbeat, so the function's Errors alarm
reports it: a batch that could not be handed out, a run that StartExecution refused, targets
left unchecked because the invocation's time ran out.

Why one module: it is one function's invocation, read top to bottom at 3 a.m.: the tick, its
hand-out of batches, a batch's check, the sweep and the one summary share one ``Tally`` and
one time budget; the decisions themselves live in ``logic.drift`` and ``logic.health``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from fleetwise_reconciler import budget, clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import FleetWiseTransientError, ReconcileError
from fleetwise_reconciler.logic import drift
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.health import FleetState, Graces, Watch, fleet_state, watch
from fleetwise_reconciler.logic.plan import Phase
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
# The member-role session of every tick. The drift check only reads (GetRegisterAccountStatus),
# so one session per account serves every tick of a warm environment until shortly before it
# expires (member.REFRESH_MARGIN), instead of an AssumeRole and a new client per account and
# tick; in the member account's CloudTrail its calls are those of the session "drift-check".
DRIFT_SESSION = "drift-check"
# A hand-out event's size with the items it carries; the rest of a batch's items are read by
# the batch. Far below Invoke's 1 MB quota for an asynchronous event (docs/fleet.md).
HAND_OUT_BYTES = 256 * 1024
# An observation that fails transiently (throttling, a connection dropped or timed out, STS
# busy: the clients make one attempt, as the workflow's, whose steps Step Functions retries)
# is made again, OBSERVE_ATTEMPTS in all, after a growing pause (0.25 s, then 0.5 s), while
# the time left allows. Nothing else retries it this tick: without this, one lost request
# among a fleet's thousands reports its targets Unobserved (TargetInTrouble under their
# names) until the next tick. A terminal failure (access denied) is not tried again.
OBSERVE_ATTEMPTS = 3
OBSERVE_BACKOFF_SECONDS = 0.25
pause = time.sleep
# A fleet handed out in batches: every invocation reads its own targets' statuses and WATCH
# items, one consistent Query per target (StatusRepository.get_status_and_watch), so a Scan
# of the whole table by the tick's invocation for its sweep (statuses and WATCH items whose
# spec item is gone) would read every status a second time (2 reads per target and tick).
# That invocation scans one parallel-Scan segment of SWEEP_TICKS instead, a different one
# each tick (sweep_segment): about 1 + 1/SWEEP_TICKS status items read per target and tick
# (one more for a target in trouble: its WATCH item), and what the sweep finds is found
# within SWEEP_TICKS ticks (4 hours at the default rate of 15 minutes) instead of one. The
# segment's items are not used for the invocation's own targets, which are read by Query all
# the same: DynamoDB does not document that a target's STATUS and WATCH items fall in the
# same segment, and a WATCH item missed would lose what the target's trouble was. 16 rather
# than 10: 1 + 1/16 leaves room under 1.1 for segments of uneven sizes (DynamoDB divides the
# table into segments of about equal size, not exactly). "Within SWEEP_TICKS ticks" takes an
# item to stay in its segment from one Scan to the next, as moto keeps it (by its key's hash);
# DynamoDB's documentation describes segments "for the duration of the Scan request" only
# (docs/rehearsal.md). A fleet that fits one batch scans the whole table every tick (one read
# each).
SWEEP_TICKS = 16
# EventBridge Scheduler's <aws.scheduler.scheduled-time>, e.g. 2022-03-22T18:59:43Z
# (EventBridge Scheduler user guide, "Adding context attributes").
SCHEDULED_TIME = "%Y-%m-%dT%H:%M:%SZ"

# What a check reads of the status table after observing: the statuses and the WATCH items,
# each by target.
Recorded = tuple[Mapping[str, dict[str, Any]], Mapping[str, dict[str, Any]]]


class DriftCheckIncomplete(Exception):
    """What the reconciler failed to do this tick: a batch not handed out, a run not started,
    targets left unchecked for want of time (the others were checked)."""


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


def _code(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "Unknown")
    return type(error).__name__


def start_for(tally: Tally, client: Any, state_machine_arn: str, target: str, name: str) -> None:
    """Start the target's run. StartExecution failing for one target fails that target only:
    it counts as not started (the invocation raises ``DriftCheckIncomplete`` at its end, after
    the other targets, the sweep and the heartbeat)."""
    try:
        if start_run(client, state_machine_arn, target, name):
            tally.started.append(name)
    except (ClientError, BotoCoreError) as error:
        logger.error(
            "drift check could not start a run",
            target=target,
            execution=name,
            code=_code(error),
            detail=str(error),
        )
        tally.missed.append(f"{target} (StartExecution: {_code(error)})")


def observe_all(
    keys: Iterable[str],
    *,
    run: str,
    given: wiring.FleetWisePorts | None = None,
    deadline: budget.Deadline | None = None,
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
        elif given is None:
            # The member roles' cache too (functools.cache may run a first call twice when
            # two threads make it at once: two caches, and each account assumed twice).
            wiring.member_roles()

    def observe(key: str) -> None:
        if not in_time(deadline):
            errors[key] = _out_of_time("GetRegisterAccountStatus")
            return
        for attempt in range(1, OBSERVE_ATTEMPTS + 1):
            try:
                observed[key] = wiring.fleetwise_for(key, run, given).get_status()
            except FleetWiseTransientError as error:
                errors[key] = error
                wait = OBSERVE_BACKOFF_SECONDS * attempt
                # Tried again only while the pause and the attempt fit in the time left;
                # otherwise the failure stands: the target's, unobserved this tick.
                if attempt == OBSERVE_ATTEMPTS or not in_time(deadline, after=wait):
                    return
                pause(wait)
            except ReconcileError as error:
                errors[key] = error
                return
            else:
                errors.pop(key, None)
                return

    if len(wanted) <= 1:
        for key in wanted:
            observe(key)
    else:
        with ThreadPoolExecutor(
            max_workers=min(OBSERVE_THREADS, len(wanted)), thread_name_prefix="observe"
        ) as pool:
            list(pool.map(observe, wanted))
    return observed, errors


# What a target's check must leave for after the targets: the sweep's Scan (budget.py).
_AFTER_TARGETS = ((budget.DYNAMODB, 1),)


def in_time(deadline: budget.Deadline | None, *, after: float = 0) -> bool:
    """Whether one more target's work (or an observation), after ``after`` seconds, still
    fits in the time left, the sweep's Scan kept in hand (budget.LOOPS)."""
    return deadline is None or deadline.allows(
        budget.LOOPS["DriftCheckFunction"], after=budget.seconds(_AFTER_TARGETS) + after
    )


def _out_of_time(operation: str) -> ReconcileError:
    return FleetWiseTransientError(
        budget.TIME_BUDGET_SPENT, "no time left in this invocation", operation=operation
    )


def missed(tally: Tally, target: str, error: ReconcileError) -> None:
    """Count ``target`` as one the reconciler missed this tick (the others are checked all the
    same): unobserved in the fleet's counts, not reported as the target's trouble."""
    logger.error(
        "drift check missed the target",
        target=target,
        code=error.code,
        operation=error.operation,
        detail=error.message,
    )
    tally.missed.append(f"{target} ({error.code})")
    tally.fleet[FleetState.UNOBSERVED] += 1


@dataclass
class Tally:
    """What one invocation of a tick found: its checks, the runs it started, the targets it
    could not observe, and the fleet's count in each state."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    # Targets that could not be observed (each reported as Unobserved, or as what its status
    # records); what the reconciler missed (batches not handed out, runs not started, targets
    # left for want of time), which fails the invocation.
    unobserved: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    fleet: Counter[FleetState] = field(default_factory=Counter)


def check_items(
    items: list[dict[str, Any]],
    tally: Tally,
    *,
    stamp: str,
    statuses: StatusRepository,
    recorded: Callable[[], Recorded],
    fleetwise: wiring.FleetWisePorts | None,
    stepfunctions: Any | None,
    context: ValidationContext,
    deadline: budget.Deadline | None = None,
) -> None:
    """Validate, observe and decide each item of ``items``; emit its metrics; start a run
    where one would change something. ``recorded`` reads the statuses and WATCH items (each
    by target) once the observations are made. Adds what it found to ``tally``. A target
    whose work no longer fits in the time left is missed (``TimeBudgetSpent``)."""
    settings = get_settings()
    now = clock.now()
    validated = [(raw, validate(raw, context)) for raw in items]
    # Targets naming the same account and Region share one observation.
    observed, errors = observe_all(
        {v.spec.target for _, v in validated if v.valid and v.spec is not None},
        run=DRIFT_SESSION,
        given=fleetwise,
        deadline=deadline,
    )
    # The statuses are read after the observations (by the tick's Scan, or a Query per
    # target: handle says which), and consistent on purpose: the decision compares the
    # status with what was just observed, and an eventually consistent read could miss what
    # a run recorded a moment ago (Registered after its Poll) and start a run that has
    # nothing to do (the lease, read again just before a start, only stops runs still in
    # flight). Reading them before observing would widen that window by the time the
    # observations take.
    status_of, watches = recorded()
    for raw, validation in validated:
        target = str(raw.get("target"))
        version = spec_hash(raw)
        status, remembered = status_of.get(target), watches.get(target)
        observation: dict[str, Any] | None = None
        if not in_time(deadline):
            missed(tally, target, _out_of_time("the drift check"))
            continue
        if validation.valid and validation.spec is not None:
            key = validation.spec.target
            if key in errors:
                error = errors[key]
                if error.code == budget.TIME_BUDGET_SPENT:
                    # The invocation's failure, not the target's: counted, not reported.
                    missed(tally, target, error)
                    continue
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
            # Read now, not with the statuses: a run that started meanwhile holds it.
            found = drift.unless_running(found, statuses.get_lease(target), now.timestamp())
        report(statuses, target, found.state, remembered, now)
        tally.fleet[found.state] += 1
        name = drift.execution_name(target, stamp)
        if found.start:
            client = stepfunctions or wiring.stepfunctions()
            start_for(tally, client, settings.state_machine_arn, target, name)
        if found.start or not found.healthy:
            # A target in trouble, or one given a run; a healthy one is only counted.
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


def _exactly_json(item: dict[str, Any]) -> bool:
    """Does JSON hold ``item`` exactly (so that the batch sees the same item, and the same
    version)? A spec holds text, booleans and maps; an item DynamoDB holds may have sets,
    binary values, numbers JSON would change: the batch reads such an item itself."""
    try:
        # (DynamoDB holds no NaN nor infinity; either would fail the comparison anyway.)
        return bool(json.loads(json.dumps(item)) == item)
    except (TypeError, ValueError):
        return False


def batch_event(stamp: str, number: int, batches: int, items: list[dict[str, Any]]) -> bytes:
    """A batch's event: its targets, and the items the tick read that JSON holds exactly,
    as long as the event stays within ``HAND_OUT_BYTES``."""
    targets = [str(raw.get("target")) for raw in items]
    event: dict[str, Any] = {"tick": stamp, "batch": number, "batches": batches,
                             "targets": targets, "items": []}  # fmt: skip
    size = len(json.dumps(event))
    for raw in items:
        if not _exactly_json(raw):
            continue
        # The item, and the ", " before it unless it is the first.
        added = len(json.dumps(raw)) + (2 if event["items"] else 0)
        if size + added > HAND_OUT_BYTES:
            break
        event["items"].append(raw)
        size += added
    return json.dumps(event).encode()


def hand_out(
    batches: list[list[dict[str, Any]]],
    tally: Tally,
    *,
    stamp: str,
    function: str,
    client: Any,
    deadline: budget.Deadline | None = None,
) -> None:
    """Invoke ``function`` asynchronously once per batch of items (Lambda queues each
    invocation and runs them side by side). A batch that could not be handed out, or no
    longer in time, is missed: its targets count unobserved, and the invocation fails."""
    for number, items in enumerate(batches, start=1):
        if not in_time(deadline):
            tally.missed.append(
                f"the {len(items)} targets of batch {number} ({budget.TIME_BUDGET_SPENT})"
            )
            tally.fleet[FleetState.UNOBSERVED] += len(items)
            continue
        try:
            client.invoke(
                FunctionName=function,
                InvocationType="Event",
                Payload=batch_event(stamp, number, len(batches), items),
            )
        except (ClientError, BotoCoreError) as error:
            code = _code(error)
            logger.error(
                "drift check could not hand out a batch",
                batch=number,
                targets=len(items),
                code=code,
                detail=str(error),
            )
            tally.missed.append(f"the {len(items)} targets of batch {number} ({code})")
            tally.fleet[FleetState.UNOBSERVED] += len(items)


def split(
    items: list[dict[str, Any]], size: int
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The first batch of at most ``size`` items (this invocation's), and the rest in batches
    of at most ``size`` (the other invocations'), in order. A batch ends where an account's
    targets end (the items are sorted by target), so that each account's member role is
    assumed, and its Regions observed, in one invocation; unless one account alone has more
    than ``size`` targets."""
    batches: list[list[dict[str, Any]]] = []
    start = 0
    # At most one batch per item: the loop is bounded even if a batch came out empty.
    for _ in items:
        if start >= len(items):
            break
        end = min(start + size, len(items))
        if end < len(items):
            # Back to the first target of the account the batch would split, unless that
            # account began the batch.
            first, account = end, _account(items[end])
            # Equivalent mutant (>=): a first below start is refused just below.
            while first > start and _account(items[first - 1]) == account:  # pragma: no mutate
                first -= 1
            end = first if first > start else end
        batches.append(items[start:end])
        start = end
    return (batches[0] if batches else []), batches[1:]


def _account(raw: dict[str, Any]) -> str:
    # Equivalent mutant (rpartition): a valid target holds one colon, and an invalid one is
    # only checked (invalid), wherever its batch ends.
    return str(raw.get("target")).partition(":")[0]  # pragma: no mutate


def tick_moment(stamp: str) -> datetime:
    """The minute a tick's stamp names: every invocation of the tick stamps its fleet counts
    with it, so CloudWatch adds them into one datapoint beside the tick's heartbeat."""
    return datetime.strptime(stamp, EXECUTION_STAMP).replace(tzinfo=UTC)


def batch_of(event: dict[str, Any]) -> tuple[str, list[str], dict[str, dict[str, Any]]]:
    """The tick's stamp, the targets of a batch event and the items it carries (by target);
    TypeError or ValueError names what is wrong (the invocation fails before any call, and
    Lambda's on-failure queue keeps it)."""
    stamp, targets, items = event.get("tick"), event.get("targets"), event.get("items", [])
    if not isinstance(stamp, str):
        raise TypeError(f"a drift check batch needs its tick's stamp, got {stamp!r}")
    tick_moment(stamp)  # ValueError unless it is one
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise TypeError(f"a drift check batch needs a list of targets, got {targets!r}")
    if not isinstance(items, list) or not all(
        isinstance(raw, dict) and raw.get("target") in targets for raw in items
    ):
        raise TypeError("a drift check batch's items must be items of its targets")
    return stamp, targets, {raw["target"]: raw for raw in items}


def finish(tally: Tally, result: dict[str, Any], **summary: Any) -> dict[str, Any]:
    """Log the invocation's one summary line (with ``summary``); raise
    ``DriftCheckIncomplete`` if the reconciler missed something (``Tally.missed``), else
    return ``result``."""
    logger.info(
        "drift check summary",
        checked=len(tally.checks),
        targets={str(state): count for state, count in sorted(tally.fleet.items()) if count},
        started=len(tally.started),
        executions=tally.started,
        unobserved=len(tally.unobserved),
        missed=len(tally.missed),
        **result,
        **summary,
    )
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
    deadline: budget.Deadline | None = None,
) -> dict[str, Any]:
    """A tick (the schedule's event) or one batch of a tick (``{"tick", "batch", "batches",
    "targets", "items"}``, from the tick's own invocation). ``deadline``: the invocation's
    time left (none: no limit)."""
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    validation_context = context or wiring.validation_context()
    tally = Tally()

    def check(
        items: list[dict[str, Any]],
        stamp: str,
        recorded: Callable[[], Recorded],
    ) -> None:
        check_items(items, tally, stamp=stamp, statuses=statuses, recorded=recorded,
                    fleetwise=fleetwise, stepfunctions=stepfunctions,
                    context=validation_context, deadline=deadline)  # fmt: skip

    if "batch" in event:
        # One batch of a large fleet: check it and count it. Never hands out further: the
        # fan-out is one level deep.
        stamp, targets, carried = batch_of(event)
        # The items the tick read and handed over are not read again. They are as the tick's
        # Scan saw them (as the tick's own batch is): an edit made since has its own run from
        # the stream, and at worst this batch starts a run that finds nothing to do. Only the
        # items the event could not carry are read (consistently).
        missing = [target for target in targets if target not in carried]
        read = {raw["target"]: raw for raw in (specs.get_many(missing) if missing else [])}
        items = [found for t in targets if (found := carried.get(t) or read.get(t)) is not None]
        mine = [str(raw.get("target")) for raw in items]
        check(items, stamp, lambda: statuses.statuses_and_watches_of(mine))
        publish_counts(TARGETS, "state", {str(s): tally.fleet[s] for s in FleetState},
                       at=tick_moment(stamp))  # fmt: skip
        return finish(tally, {"batch": event.get("batch")}, read=len(missing),
                      gone=len(targets) - len(items))  # fmt: skip

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
            deadline=deadline,
        )
    # The status table, consistently and after observing (check_items says why). A fleet of
    # one batch: one Scan of the whole table, this invocation's targets' statuses and WATCH
    # items and, for the sweep below, all the others. A fleet handed out in batches: a Query
    # per target of this invocation's own, then one segment of the table for the sweep
    # (SWEEP_TICKS says why); an invocation by hand, whose event has no scheduled time,
    # sweeps the whole table.
    segment = sweep_segment(event) if batches else None
    everything: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] = ({}, {})

    def own_and_swept() -> Recorded:
        if segment is None:
            whole = statuses.all_statuses_and_watches()
            everything[0].update(whole[0])
            everything[1].update(whole[1])
            return everything
        mine = statuses.statuses_and_watches_of(str(raw.get("target")) for raw in own)
        swept = statuses.all_statuses_and_watches(segment, SWEEP_TICKS)
        everything[0].update(swept[0])
        everything[1].update(swept[1])
        return mine

    check(own, stamp, own_and_swept)
    seen = {str(raw.get("target")) for raw in items}
    now = clock.now()

    # Statuses whose item is gone: no metrics (an Unmanaged target reports nothing), a run
    # when the status does not say Unmanaged yet (its lease is read only then). A WATCH item
    # whose item is gone: its trouble cleared (nobody manages the target any more), deleted.
    every_status, every_watch = everything
    for target, status in sorted(every_status.items()):
        phase = status.get("phase")
        if target in seen or phase == Phase.UNMANAGED:
            continue
        phase = phase if isinstance(phase, str) else None
        if not in_time(deadline):
            missed(tally, target, _out_of_time("the sweep"))
            continue
        why = drift.without_item(phase, statuses.get_lease(target), now.timestamp())
        if why is None:
            continue
        name = drift.execution_name(target, stamp)
        if why in drift.STARTING:
            client = stepfunctions or wiring.stepfunctions()
            start_for(tally, client, settings.state_machine_arn, target, name)
        logger.info("status without a spec item", target=target, phase=phase, why=str(why))
    for target, remembered in sorted(every_watch.items()):
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
    return finish(tally, {"batches": len(batches)}, swept=_swept(segment))


def _swept(segment: int | None) -> str:
    return "all" if segment is None else f"{segment + 1}/{SWEEP_TICKS}"


def sweep_segment(event: Mapping[str, Any]) -> int | None:
    """The segment of the status table a fanned-out tick sweeps: the tick's number (its
    scheduled time over the schedule's rate, both in the schedule's event) modulo
    ``SWEEP_TICKS``, so consecutive ticks sweep consecutive segments and every status is
    swept once in ``SWEEP_TICKS`` ticks. None (sweep every status) for an event without
    them (an invocation by hand) or with values that are not."""
    scheduled, rate = event.get("scheduledTime"), event.get("rateMinutes")
    if not isinstance(scheduled, str) or isinstance(rate, bool) or not isinstance(rate, int):
        return None
    try:
        moment = datetime.strptime(scheduled, SCHEDULED_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
    if rate < 1:
        return None
    return int(moment.timestamp()) // (rate * 60) % SWEEP_TICKS


def unqualified(function_arn: str) -> str:
    """The function's ARN without a version or alias: the resource the hand-out grant names
    (``DriftCheckHandOutPolicy``). IAM authorises an invocation of a qualified ARN against
    that qualified resource (Lambda developer guide, "Fine-tuning the Resources and
    Conditions sections of policies"), which a grant of the unqualified ARN does not cover;
    the invocation that was called through a qualified ARN (an alias, ``$LATEST``) would be
    refused its hand-out."""
    # arn:partition:lambda:region:account:function:name[:qualifier]
    return ":".join(function_arn.split(":")[:7])


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(
        event,
        function=unqualified(context.invoked_function_arn),
        deadline=budget.Deadline.of(context),
    )

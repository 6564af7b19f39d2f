"""Drift check: invoked by the EventBridge Scheduler schedule; re-observes every target.

For each item of the spec table: validate it, observe the registration (one
GetRegisterAccountStatus per distinct account and Region, shared by the targets that name it),
read the status, decide (``logic.drift.check``), emit the target's metrics, and start a
reconcile execution only when one would change something (``logic.drift``). A target
reports its own ``RegistrationHealthy`` gauge (0) only while it is unhealthy, and its other
metrics only while they are true (``logic.health``): a healthy fleet keeps no per-target
series. Every tick counts the fleet (``Targets``, one series per state) and emits one
``DriftChecks`` heartbeat, whose alarm treats missing data as breaching: a checker that stops
running alarms even when no target is left to report on.

Each table is read once per tick. Steady state per target: one GetRegisterAccountStatus (per
account and Region), its item in the spec table's Scan, and its status in one read of the
status table (a fleet of one batch: the tick's one consistent Scan, which also finds statuses
whose spec item is gone; a fleet handed out in batches: each batch's consistent BatchGetItem of
its targets, and the tick's Scan of one segment in ``SWEEP_TICKS`` for that sweep, its own
targets outside the segment read by key); no lease read, no execution.
The observations are made in parallel (at most ``OBSERVE_THREADS`` at once), each account and
Region once; a target in another account is observed through its member role, assumed at most
once per account and tick, and its credentials and client are kept for the next ticks of a
warm environment (``DRIFT_SESSION``, ``member.py``). A status whose spec item is gone (a
deletion whose run stepped aside for a run that then died) gets a run (unless a run holds the
target), which records ``Unmanaged``.

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

A target that cannot be observed (throttling, access denied) does not stop the others; the
invocation then raises ``DriftCheckIncomplete`` at the end, so the function's Errors alarm names
the problem; the next tick observes again.

Why one module: a tick and its batches are one check (validate, observe, read the statuses,
decide, count) with its steps around it (split, hand out, sweep, finish); each step is a
function here, and no other handler uses them.
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

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import FleetWiseTransientError, ReconcileError
from fleetwise_reconciler.logic import drift
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.health import FleetState
from fleetwise_reconciler.logic.plan import Phase
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.observability import (
    COUNT,
    DRIFT_CHECKS,
    DRIFT_DETECTED,
    INVALID_SPEC,
    REGISTRATION_HEALTHY,
    TARGET_PAUSED,
    TARGETS,
    logger,
    publish,
    publish_counts,
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
# An observation that fails transiently (throttling, a connection dropped or timed out: the
# clients make one attempt, as the workflow's steps, which Step Functions retries) is made
# again, OBSERVE_ATTEMPTS in all, after a growing pause. The drift check runs outside Step
# Functions: without this one lost request among a fleet's thousands fails the whole tick
# (DriftCheckIncomplete, the function's Errors alarm), as the bench saw at 1,000 targets.
OBSERVE_ATTEMPTS = 3
OBSERVE_BACKOFF_SECONDS = 0.25
pause = time.sleep
# A fleet handed out in batches: each batch reads its own targets' statuses, so a Scan of the
# whole status table by the tick's invocation would read theirs a second time (1.5 reads per
# target and tick at two batches). That invocation then scans one segment of this many of the
# table (a parallel Scan's segment, chosen from the tick's scheduled time: sweep_segment) for
# statuses whose spec item is gone, and reads its own targets' other statuses by key: about
# 1 + 1 / SWEEP_TICKS reads per target and tick, and a status without its item is swept
# within SWEEP_TICKS ticks (2.5 hours at the default rate of 15 minutes) instead of one. A
# fleet that fits one batch scans the whole table every tick, as before (one read each).
SWEEP_TICKS = 10
# EventBridge Scheduler's <aws.scheduler.scheduled-time>, e.g. 2022-03-22T18:59:43Z
# (EventBridge Scheduler user guide, "Adding context attributes").
SCHEDULED_TIME = "%Y-%m-%dT%H:%M:%SZ"


class DriftCheckIncomplete(Exception):
    """At least one target could not be observed this tick (the others were checked)."""


def metrics_of(found: drift.Check) -> dict[str, tuple[MetricUnit, float]]:
    """The target's own metrics for one tick: each only while it is true (the health gauge,
    0, only while unhealthy); nothing for a healthy target."""
    values: dict[str, tuple[MetricUnit, float]] = {}
    if not found.healthy:
        values[REGISTRATION_HEALTHY] = (COUNT, 0)
    if found.drift_detected:
        values[DRIFT_DETECTED] = (COUNT, 1)
    if found.paused:
        values[TARGET_PAUSED] = (COUNT, 1)
    if found.invalid:
        values[INVALID_SPEC] = (COUNT, 1)
    return values


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
        elif given is None:
            # The member roles' cache too (functools.cache may run a first call twice when
            # two threads make it at once: two caches, and each account assumed twice).
            wiring.member_roles()

    def observe(key: str) -> None:
        for attempt in range(1, OBSERVE_ATTEMPTS + 1):
            try:
                observed[key] = wiring.fleetwise_for(key, run, given).get_status()
            except FleetWiseTransientError as error:
                errors[key] = error
                if attempt < OBSERVE_ATTEMPTS:
                    pause(OBSERVE_BACKOFF_SECONDS * attempt)
                continue
            except ReconcileError as error:
                errors[key] = error
                return
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


@dataclass
class Tally:
    """What one invocation of a tick found: its checks, the runs it started, the targets it
    could not observe, and the fleet's count in each state."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    fleet: Counter[FleetState] = field(default_factory=Counter)


def check_items(
    items: list[dict[str, Any]],
    tally: Tally,
    *,
    stamp: str,
    statuses: StatusRepository,
    recorded: Callable[[], Mapping[str, dict[str, Any]]],
    fleetwise: wiring.FleetWisePorts | None,
    stepfunctions: Any | None,
    context: ValidationContext,
) -> None:
    """Validate, observe and decide each item of ``items``; emit its metrics; start a run
    where one would change something. ``recorded`` reads the statuses (by target) once the
    observations are made. Adds what it found to ``tally``."""
    settings = get_settings()
    now = clock.now()
    validated = [(raw, validate(raw, context)) for raw in items]
    # Targets naming the same account and Region share one observation.
    observed, errors = observe_all(
        {v.spec.target for _, v in validated if v.valid and v.spec is not None},
        run=DRIFT_SESSION,
        given=fleetwise,
    )
    # The statuses are read after the observations, as one consistent read (a Scan or a
    # BatchGetItem) instead of one read per target, and consistent on purpose: the decision
    # compares the status with what was just observed, and an eventually consistent read
    # could miss what a run recorded a moment ago (Registered after its Poll) and start a
    # run that has nothing to do (the lease, read again just before a start, only stops runs
    # still in flight). Reading them before observing would widen that window by the time
    # the observations take.
    status_of = recorded()
    for raw, validation in validated:
        target = str(raw.get("target"))
        version = spec_hash(raw)
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
                tally.fleet[FleetState.UNOBSERVED] += 1
                continue
            observation = observed[key]
        found = drift.check(
            target,
            validation,
            observation,
            spec_hash=version,
            status=status_of.get(target),
            max_attempts=settings.max_registration_attempts,
        )
        if found.start:
            # Read now, not with the statuses: a run that started meanwhile holds it.
            found = drift.unless_running(found, statuses.get_lease(target), now.timestamp())
        publish(target, metrics_of(found))
        tally.fleet[found.state] += 1
        name = drift.execution_name(target, stamp)
        if found.start and start_run(
            stepfunctions or wiring.stepfunctions(), settings.state_machine_arn, target, name
        ):
            tally.started.append(name)
        if found.start or not found.healthy:
            # A target in trouble, or one given a run; a healthy one is only counted.
            logger.info(
                "drift checked",
                target=target,
                why=str(found.why),
                action=str(found.plan.action),
                reason=found.plan.reason,
                healthy=found.healthy,
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
) -> None:
    """Invoke ``function`` asynchronously once per batch of items (Lambda queues each
    invocation and runs them side by side). A batch that could not be handed out counts as
    unobserved."""
    for number, items in enumerate(batches, start=1):
        try:
            client.invoke(
                FunctionName=function,
                InvocationType="Event",
                Payload=batch_event(stamp, number, len(batches), items),
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
                targets=len(items),
                code=code,
                detail=str(error),
            )
            tally.unobserved.append(f"the {len(items)} targets of batch {number} ({code})")
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
    ``DriftCheckIncomplete`` if a target went unobserved, else return ``result``."""
    logger.info(
        "drift check summary",
        checked=len(tally.checks),
        targets={str(state): count for state, count in sorted(tally.fleet.items()) if count},
        started=len(tally.started),
        executions=tally.started,
        unobserved=len(tally.unobserved),
        **result,
        **summary,
    )
    if tally.unobserved:
        raise DriftCheckIncomplete(
            f"could not observe {', '.join(tally.unobserved)}; the other targets were checked"
        )
    return {
        "checked": len(tally.checks),
        "started": tally.started,
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
    "targets", "items"}``, from the tick's own invocation)."""
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    validation_context = context or wiring.validation_context()
    tally = Tally()

    def check(
        items: list[dict[str, Any]],
        stamp: str,
        recorded: Callable[[], Mapping[str, dict[str, Any]]],
    ) -> None:
        check_items(items, tally, stamp=stamp, statuses=statuses, recorded=recorded,
                    fleetwise=fleetwise, stepfunctions=stepfunctions,
                    context=validation_context)  # fmt: skip

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
        check(items, stamp, lambda: statuses.get_statuses(mine))
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
        )
    # The statuses, consistently and after observing (see check_items): this invocation's
    # targets' and, for the sweep below, every other status; in a fleet handed out in
    # batches, only one segment of the others (sweep_segment).
    segment = sweep_segment(event) if batches else None
    everything: dict[str, dict[str, Any]] = {}

    def own_and_swept() -> dict[str, dict[str, Any]]:
        if segment is None:
            everything.update(statuses.all_statuses())
            return everything
        everything.update(statuses.all_statuses(segment, SWEEP_TICKS))
        mine = [str(raw.get("target")) for raw in own]
        return {**everything, **statuses.get_statuses(t for t in mine if t not in everything)}

    check(own, stamp, own_and_swept)
    seen = {str(raw.get("target")) for raw in items}
    now = clock.now()

    # Statuses whose item is gone: no metrics (an Unmanaged target reports nothing), a run
    # when the status does not say Unmanaged yet (its lease is read only then).
    for target, status in sorted(everything.items()):
        phase = status.get("phase")
        if target in seen or phase == Phase.UNMANAGED:
            continue
        phase = phase if isinstance(phase, str) else None
        why = drift.without_item(phase, statuses.get_lease(target), now.timestamp())
        if why is None:
            continue
        name = drift.execution_name(target, stamp)
        if why in drift.STARTING and start_run(
            stepfunctions or wiring.stepfunctions(), settings.state_machine_arn, target, name
        ):
            tally.started.append(name)
        logger.info("status without a spec item", target=target, phase=phase, why=str(why))

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
    return handle(event, function=unqualified(context.invoked_function_arn))

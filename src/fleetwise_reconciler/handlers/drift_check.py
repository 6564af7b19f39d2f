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

Steady state per target: one GetRegisterAccountStatus (per account and Region), the spec
table's Scan (shared) and one status read; no lease read, no execution. The observations are
made in parallel (at most ``OBSERVE_THREADS`` at once), each account and Region once; a target
in another account is observed through its member role, assumed once per account and tick.
Then one Scan of the status table (target and phase only) finds statuses whose spec item is
gone: a deletion whose run stepped aside for a run that then died. Each gets a run (unless a
run holds the target), which records ``Unmanaged``.

A target that cannot be observed (throttling, access denied) does not stop the others; the
check then raises ``DriftCheckIncomplete`` at the end, so the function's Errors alarm names
the problem; the next tick observes again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import ReconcileError
from fleetwise_reconciler.logic import drift
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.health import FleetState
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


def handle(
    event: dict[str, Any],
    *,
    specs: SpecRepository | None = None,
    statuses: StatusRepository | None = None,
    fleetwise: wiring.FleetWisePorts | None = None,
    stepfunctions: Any | None = None,
    context: ValidationContext | None = None,
) -> dict[str, Any]:
    specs = specs or wiring.spec_repository()
    statuses = statuses or wiring.status_repository()
    settings = get_settings()
    validation_context = context or wiring.validation_context()
    now = clock.now()
    stamp = now.strftime(EXECUTION_STAMP)
    checks: list[dict[str, Any]] = []
    started: list[str] = []
    unobserved: list[str] = []
    fleet: Counter[FleetState] = Counter()

    items = [(raw, validate(raw, validation_context)) for raw in specs.scan()]
    # Targets naming the same account and Region share one observation.
    observed, errors = observe_all(
        {v.spec.target for _, v in items if v.valid and v.spec is not None},
        run=f"drift-check-{stamp}",
        given=fleetwise,
    )
    seen: set[str] = set()
    for raw, validation in items:
        target = str(raw.get("target"))
        seen.add(target)
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
                unobserved.append(f"{target} ({error.code})")
                fleet[FleetState.UNOBSERVED] += 1
                continue
            observation = observed[key]
        found = drift.check(
            target,
            validation,
            observation,
            spec_hash=version,
            status=statuses.get_status(target),
            max_attempts=settings.max_registration_attempts,
        )
        if found.start:
            found = drift.unless_running(found, statuses.get_lease(target), now.timestamp())
        publish(target, metrics_of(found))
        fleet[found.state] += 1
        name = drift.execution_name(target, stamp)
        if found.start and start_run(
            stepfunctions or wiring.stepfunctions(), settings.state_machine_arn, target, name
        ):
            started.append(name)
        logger.info(
            "drift checked",
            target=target,
            why=str(found.why),
            action=str(found.plan.action),
            reason=found.plan.reason,
            healthy=found.healthy,
            execution=name if found.start else None,
        )
        checks.append(found.as_dict())

    # Statuses whose item is gone: no metrics (an Unmanaged target reports nothing), a run
    # when the status does not say Unmanaged yet.
    for target, phase in statuses.status_phases():
        if target in seen:
            continue
        why = drift.without_item(phase, statuses.get_lease(target), now.timestamp())
        if why is None:
            continue
        name = drift.execution_name(target, stamp)
        if why in drift.STARTING and start_run(
            stepfunctions or wiring.stepfunctions(), settings.state_machine_arn, target, name
        ):
            started.append(name)
        logger.info("status without a spec item", target=target, phase=phase, why=str(why))

    # The fleet's counts (every state, zeros included: the dashboard's series stay whole),
    # then the heartbeat: this check ran (its alarm fires when ticks stop arriving).
    publish_counts(TARGETS, "state", {str(state): fleet[state] for state in FleetState})
    publish(None, {DRIFT_CHECKS: (COUNT, 1)})
    if unobserved:
        raise DriftCheckIncomplete(
            f"could not observe {', '.join(unobserved)}; the other targets were checked"
        )
    return {"checked": len(checks), "started": started, "targets": checks}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

"""A fleet rehearsed at scale: N targets over A accounts and R Regions, then a steady state.

``rehearse_fleet(n, accounts)`` deploys the hub (no default target; every other account
listed in Parameter Store under the stack's ``MemberAccountsPath``, ``MEMBERS_PER_LIST`` to a
list, as an operator past one parameter value's 315 ids lists them) and the member template
into each member account, as StackSets would;
writes every spec item at once (BatchWriteItem, as a rollout of a batch of items would);
settles on the virtual clock; checks that every target is Registered with exactly one
RegisterAccount in its own account and Region (``FleetError`` otherwise); then lets the
drift schedule tick at the template's default rate for ``hours`` with nothing changing.

It returns a ``FleetReport``: the wall and virtual times, and for the rollout and for the
steady state (each a ``Usage``) what the rehearsal actually saw the stack cause: IoT
FleetWise calls, executions and their state transitions, Lambda invocations and their
in-process durations, the product's AWS calls (DynamoDB request units per table,
StartExecution and its refusals, STS AssumeRole), the custom metric series and the hours in
which each got data (from the EMF documents the handlers printed), and the log bytes the
handlers printed. ``fleet_cost`` prices a report.

``rehearse_fleet(written=True)`` rolls out a sample and writes the other targets as that
rollout left its like, for the drift tick at sizes a rollout here cannot reach (10,000).

Why one module: the fleet's figures (pure parts), collecting them from a running rehearsal,
and driving it are one measurement; split, each part would only be read with the others.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetwise_rehearsal.aws.dynamo_units import item_size, write_units
from fleetwise_rehearsal.aws.lambda_runtime import Invocation
from fleetwise_rehearsal.aws.stack import DEFAULT_ACCOUNT, DEFAULT_REGION
from fleetwise_rehearsal.fleet.call_meter import (
    ApiCall,
    CallMeter,
    items_per_table,
    operations,
    units_per_table,
)
from fleetwise_rehearsal.rehearsal import Rehearsal

# The Regions IoT FleetWise serves (ap-south-1 is gated: opt-in, but served), as the
# template's SERVED_REGIONS lists them and the simulator accepts them.
FLEETWISE_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
FIRST_MEMBER = 210_000_000_000
# BatchWriteItem takes at most 25 put or delete requests.
BATCH_WRITE_LIMIT = 25
# Step Functions' StartExecution (Standard) token bucket per account and Region: 1,300
# tokens refilled at 300 per second in US East (N. Virginia), US West (Oregon) and Europe
# (Ireland); 800 and 150 elsewhere (Step Functions developer guide, "Step Functions service
# quotas", API action throttling). A refused call gets ThrottlingException; the product's
# stream trigger retries it with the SDK's standard retries (3 attempts, jittered backoff),
# then reports the record as a batch item failure, which the event source mapping retries.
# moto never refuses one: the report replays the calls' virtual times through this bucket.
START_EXECUTION_BUCKET = {"us-east-1": 1300, "us-west-2": 1300, "eu-west-1": 1300}
START_EXECUTION_REFILL = {"us-east-1": 300.0, "us-west-2": 300.0, "eu-west-1": 300.0}
OTHER_REGION_BUCKET, OTHER_REGION_REFILL = 800, 150.0
# DynamoDB Streams writes one stream record per item write that changes the item; a shard
# takes at most two readers at once (more may be throttled: the DynamoDB Streams API's
# LimitExceededException), and the trigger's event source mapping is one reader. Lambda reads
# a shard in order and retries a failing batch until it succeeds, expires
# (MaximumRecordAgeInSeconds) or runs out of retries (MaximumRetryAttempts): while it
# retries, that shard is blocked. So the report counts the stream's records, its batches, the
# batches that failed and the records sent to the on-failure queue: no failed batch, no shard
# blocked.


class FleetError(AssertionError):
    """The fleet did not converge as it must (a target not Registered, or not exactly one
    RegisterAccount per target)."""


@dataclass(frozen=True)
class Series:
    """One CloudWatch custom metric: namespace, metric name and its exact dimension set."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    def label(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}/{self.name}{{{dims}}}"


@dataclass
class Usage:
    """What the stack did in one stretch of virtual time (``seconds`` long)."""

    seconds: float
    fleetwise: Counter[str] = field(default_factory=Counter)
    executions: int = 0
    state_transitions: int = 0
    invocations: Counter[str] = field(default_factory=Counter)
    # Invocations whose handler raised (the drift check raises when it could not observe
    # some target), per function.
    invocation_errors: Counter[str] = field(default_factory=Counter)
    # Lambda GB-seconds and billed milliseconds are computed from these per function.
    invocation_seconds: dict[str, float] = field(default_factory=dict)
    invocation_billed_ms: dict[str, int] = field(default_factory=dict)
    # The longest invocation per function (in-process), and the most targets one drift check
    # invocation checked: what bounds an invocation as the fleet grows.
    invocation_max_seconds: dict[str, float] = field(default_factory=dict)
    drift_check_max_targets: int = 0
    api: Counter[str] = field(default_factory=Counter)
    dynamodb: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Items read per table (whatever their size): the drift check's reads per target.
    items_read: dict[str, int] = field(default_factory=dict)
    start_execution_refused: int = 0
    start_execution_retries: int = 0
    series_hours: dict[Series, float] = field(default_factory=dict)
    log_bytes: int = 0
    log_lines: int = 0
    # X-Ray traces with active tracing, before sampling: one per execution (its Lambda tasks
    # join its trace) and one per other invocation.
    traces: int = 0

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0


@dataclass(frozen=True)
class Tick:
    """One steady-state tick: the product's AssumeRole calls, the status table's items read,
    the drift check's invocations and those that raised, and the targets its invocations
    found unhealthy."""

    assume_role: int
    status_reads: int
    invocations: int
    errors: int
    unhealthy: int


@dataclass
class FleetReport:
    """A fleet rehearsal's figures (see the module docstring)."""

    targets: list[str]
    accounts: int
    regions: tuple[str, ...]
    memory_mb: dict[str, int]
    drift_rate_minutes: int
    wall_deploy: float
    wall_rollout: float
    wall_steady: float
    converge_seconds: float
    register_per_target: dict[str, int]
    rollout: Usage
    steady: Usage
    rollout_write_units: float
    stream_records: int
    stream_batches: int
    stream_failed_batches: int
    stream_on_failure: int
    start_execution_peak_refusals: int
    phases: Counter[str]
    alarms: dict[str, dict[str, Any]]
    dashboards: int
    keys: int
    log_retention_days: int
    storage_bytes: int
    # The status table's physical name (the key of its figures in a Usage).
    status_table: str = ""
    # Each steady-state tick's figures, in order.
    ticks: list[Tick] = field(default_factory=list)
    # Targets written settled instead of rolled out (``rehearse_fleet(written=True)``).
    written: int = 0

    @property
    def n(self) -> int:
        return len(self.targets)


# -- pure parts ----------------------------------------------------------------------------


# The account ids one standard parameter's value holds: 12 digits and a comma each within its
# 4,096 characters (the strict rehearsal refuses more, as Parameter Store does).
MEMBERS_PER_LIST = 315


def list_members(r: Rehearsal, members: Sequence[str]) -> int:
    """List ``members`` under the stack's member-accounts path (the functions' environment
    names it), one StringList parameter per ``MEMBERS_PER_LIST``; returns the lists written."""
    path = r.stack.function_env("DriftCheckFunction")["MEMBER_ACCOUNTS_PATH"]
    ssm = r.client("ssm")
    lists = 0
    for first in range(0, len(members), MEMBERS_PER_LIST):
        value = ",".join(members[first : first + MEMBERS_PER_LIST])
        ssm.put_parameter(Name=f"{path}/fleet-{lists}", Type="StringList", Value=value)
        lists += 1
    return lists


def member_accounts(count: int) -> list[str]:
    """``count`` member account ids, deterministic and distinct from the hub's."""
    return [f"{FIRST_MEMBER + i:012d}" for i in range(count)]


def fleet_targets(
    n: int, accounts: Sequence[str], regions: Sequence[str] = FLEETWISE_REGIONS
) -> list[str]:
    """``n`` distinct ``<account>:<region>`` targets, spread over every account first (a
    target is an account and a Region, so ``n`` is at most accounts x Regions)."""
    if n > len(accounts) * len(regions):
        raise ValueError(
            f"{n} targets need at least {math.ceil(n / len(regions))} accounts over "
            f"{len(regions)} Regions (a target is one account in one Region)"
        )
    return [
        f"{accounts[i % len(accounts)]}:{regions[(i // len(accounts)) % len(regions)]}"
        for i in range(n)
    ]


def state_transitions(history: Iterable[Mapping[str, Any]]) -> int:
    """State transitions Step Functions Standard bills for one execution history: one per
    state entered, plus one per retry of a Task (its pricing page counts retries)."""
    entered = scheduled = tasks = 0
    for event in history:
        kind = str(event["type"])
        entered += kind.endswith("StateEntered")
        tasks += kind == "TaskStateEntered"
        scheduled += kind == "TaskScheduled"
    return entered + scheduled - tasks


def series_hours(
    documents: Iterable[Mapping[str, Any]], start: float, end: float
) -> dict[Series, float]:
    """Per custom metric series, the hours of [start, end) in which it got data.

    CloudWatch meters a custom metric per hour in which it receives data, prorated over the
    month. A series is a namespace, a metric name and an exact dimension set; an EMF document
    publishes each metric once per dimension set of its directive. Hours are counted from
    ``start`` (an hour ``(start + k h, start + (k + 1) h]``)."""
    seen: dict[Series, set[int]] = {}
    for doc in documents:
        meta = doc.get("_aws") or {}
        stamp = float(meta.get("Timestamp", 0)) / 1000.0
        if not start < stamp <= end:
            continue
        hour = math.ceil((stamp - start) / 3600.0) - 1
        for directive in meta.get("CloudWatchMetrics") or []:
            namespace = str(directive.get("Namespace", ""))
            for dimension_set in directive.get("Dimensions") or [[]]:
                dims = tuple(sorted((str(k), str(doc.get(k, ""))) for k in dimension_set))
                for metric in directive.get("Metrics") or []:
                    key = Series(namespace, str(metric["Name"]), dims)
                    seen.setdefault(key, set()).add(hour)
    return {series: float(len(hours)) for series, hours in seen.items()}


# Lambda's own lines per invocation, not captured in-process: START and END (about 60 and 50
# bytes with the request id), REPORT (about 130) and, with active tracing, its XRAY line
# (about 100). An estimate of their size, not a measurement.
PLATFORM_LOG_BYTES = 350


def log_bytes(invocations: Iterable[Invocation]) -> tuple[int, int]:
    """(bytes, lines) the handlers printed (logs and EMF documents, newline included),
    plus Lambda's platform lines estimated at ``PLATFORM_LOG_BYTES`` per invocation."""
    size = lines = 0
    for invocation in invocations:
        size += PLATFORM_LOG_BYTES
        for line in invocation.stdout:
            size += len(line.encode()) + 1
            lines += 1
    return size, lines


def token_bucket_refusals(times: Iterable[float], *, size: int, refill: float) -> int:
    """How many calls at ``times`` (seconds) a token bucket of ``size`` tokens refilled at
    ``refill`` a second would refuse (a refused call takes no token)."""
    tokens = float(size)
    last: float | None = None
    refused = 0
    for at in sorted(times):
        if last is not None:
            tokens = min(float(size), tokens + (at - last) * refill)
        last = at
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            refused += 1
    return refused


def billed_ms(seconds: float) -> int:
    """Lambda bills duration rounded up to the millisecond."""
    return max(1, math.ceil(seconds * 1000))


# -- the rehearsal -------------------------------------------------------------------------


class _Window:
    """Collects the Usage of [start, end) from a running rehearsal."""

    def __init__(self, r: Rehearsal, meter: CallMeter, functions: Mapping[str, str]) -> None:
        self.r = r
        self.meter = meter
        self.functions = functions  # physical name -> logical id

    def usage(self, start: float, end: float, *, first_invocation: int) -> Usage:
        r = self.r
        usage = Usage(seconds=end - start)
        if r.sim is not None:
            usage.fleetwise = Counter(c.operation for c in r.sim.calls() if start <= c.at < end)
        for summary in r.execution_summaries():
            began = summary["startDate"].timestamp()
            if start <= began < end:
                usage.executions += 1
                history = r._history(summary["executionArn"])
                usage.state_transitions += state_transitions(history)
        invocations = r.invoker.invocations[first_invocation:]
        for invocation in invocations:
            name = self.functions.get(invocation.function_name, invocation.function_name)
            usage.invocations[name] += 1
            if invocation.error_type is not None:
                usage.invocation_errors[f"{name}: {invocation.error_type}"] += 1
            usage.invocation_seconds[name] = (
                usage.invocation_seconds.get(name, 0.0) + invocation.duration_seconds
            )
            usage.invocation_billed_ms[name] = usage.invocation_billed_ms.get(name, 0) + billed_ms(
                invocation.duration_seconds
            )
            usage.invocation_max_seconds[name] = max(
                usage.invocation_max_seconds.get(name, 0.0), invocation.duration_seconds
            )
            if name == "DriftCheckFunction" and isinstance(invocation.result, dict):
                checked = invocation.result.get("checked")
                if isinstance(checked, int):
                    usage.drift_check_max_targets = max(usage.drift_check_max_targets, checked)
        calls = self.meter.between(start, end)
        usage.api = operations(calls)
        usage.dynamodb = units_per_table(calls)
        usage.items_read = items_per_table(calls)
        starts = [c for c in calls if c.operation == "StartExecution"]
        usage.start_execution_refused = sum(
            1 for c in starts if c.error not in (None, "ExecutionAlreadyExists")
        )
        usage.start_execution_retries = sum(c.retries for c in starts)
        docs = [doc for inv in invocations for doc in inv.metrics()]
        usage.series_hours = series_hours(docs, start, end)
        usage.log_bytes, usage.log_lines = log_bytes(invocations)
        usage.traces = usage.executions + sum(1 for i in invocations if i.execution_arn is None)
        return usage


def _functions(r: Rehearsal) -> tuple[dict[str, str], dict[str, int]]:
    names: dict[str, str] = {}
    memory: dict[str, int] = {}
    for logical_id, resource in r.stack.of_type("AWS::Lambda::Function").items():
        if resource.physical_id is not None:
            names[resource.physical_id] = logical_id
        memory[logical_id] = int(resource.properties.get("MemorySize") or 128)
    return names, memory


def _storage_bytes(r: Rehearsal) -> int:
    """Bytes both tables hold, DynamoDB's 100 bytes of overhead per item included."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - inside the mock

    backend = dynamodb_backends[r.account_id][r.region]
    size = 0
    for logical_id in ("SpecTable", "StatusTable"):
        for item in backend.get_table(r.stack.physical_id(logical_id)).all_items():
            size += item_size(item.to_json()["Attributes"]) + 100
    return size


def _write_all(r: Rehearsal, targets: Sequence[str]) -> float:
    """Every spec item at once, 25 per BatchWriteItem; returns the write units consumed."""
    ddb = r.client("dynamodb")
    table = r.stack.physical_id("SpecTable")
    units = 0.0
    for first in range(0, len(targets), BATCH_WRITE_LIMIT):
        items = [{"target": {"S": t}} for t in targets[first : first + BATCH_WRITE_LIMIT]]
        unprocessed: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in items]}
        while unprocessed:
            answer = ddb.batch_write_item(RequestItems=unprocessed)
            unprocessed = answer.get("UnprocessedItems") or {}
        units += sum(write_units(item_size(i)) for i in items)
    r.note(f"{len(targets)} spec items written at once")
    return units


def _register_calls(r: Rehearsal, targets: Sequence[str]) -> dict[str, int]:
    if r.sim is None:
        raise FleetError("the fleet rehearsal needs the simulator (no external endpoint)")
    counts = Counter(f"{c.account}:{c.region}" for c in r.sim.calls("RegisterAccount"))
    return {t: counts.get(t, 0) for t in targets}


def _phases(r: Rehearsal, targets: Sequence[str]) -> Counter[str]:
    """The phase of each target's status (``None`` for a target without one), read with one
    consistent Scan of the status table."""
    pages = r.client("dynamodb").get_paginator("scan")
    phase: dict[str, str] = {}
    for page in pages.paginate(TableName=r.stack.physical_id("StatusTable"), ConsistentRead=True):
        for item in page["Items"]:
            if item["kind"]["S"] == "STATUS":
                phase[item["target"]["S"]] = str(item.get("phase", {}).get("S"))
    return Counter(phase.get(t, "None") for t in targets)


def _write_settled(r: Rehearsal, targets: Sequence[str], like: str) -> None:
    """Each of ``targets`` as a rollout leaves it, copied from account ``like``'s target in
    the same Region (rolled out): its status item (the account's id replaced, the spec
    version computed for its own item), its registration in the simulator, and its spec item,
    written without a stream record (so that no run starts: a run of a settled target
    changes nothing)."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - inside the mock

    from fleetwise_reconciler.logic.compare import spec_hash  # noqa: PLC0415

    if r.sim is None:
        raise FleetError("the fleet rehearsal needs the simulator (no external endpoint)")
    ddb = r.client("dynamodb")
    status_table = r.stack.physical_id("StatusTable")
    by_region: dict[str, list[str]] = {}
    for target in targets:
        account, _, region = target.partition(":")
        by_region.setdefault(region, []).append(account)
    puts: list[dict[str, Any]] = []
    for region, accounts in by_region.items():
        sample = ddb.get_item(
            TableName=status_table,
            Key={"target": {"S": f"{like}:{region}"}, "kind": {"S": "STATUS"}},
            ConsistentRead=True,
        ).get("Item")
        if sample is None:
            raise FleetError(f"{like}:{region} has no status to copy")
        text = json.dumps(sample)
        for account in accounts:
            item = json.loads(text.replace(like, account))
            item["specHash"] = {"S": spec_hash({"target": f"{account}:{region}"})}
            puts.append({"PutRequest": {"Item": item}})
        r.sim.copy_registration((like, region), [(a, region) for a in accounts])
    for first in range(0, len(puts), BATCH_WRITE_LIMIT):
        unprocessed: dict[str, Any] = {status_table: puts[first : first + BATCH_WRITE_LIMIT]}
        while unprocessed:
            unprocessed = ddb.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems")
    table = dynamodb_backends[r.account_id][r.region].get_table(r.stack.physical_id("SpecTable"))
    shard, table.stream_shard = table.stream_shard, None
    try:
        for target in targets:
            table.put_item({"target": {"S": target}})
    finally:
        table.stream_shard = shard
    r.note(f"{len(targets)} targets written as rolled out (spec item, status, registration)")


def _tick(
    r: Rehearsal,
    meter: CallMeter,
    since: float,
    first_invocation: int,
    functions: Mapping[str, str],
) -> Tick:
    calls = meter.between(since)
    status_table = r.stack.physical_id("StatusTable")
    checks = [
        i
        for i in r.invoker.invocations[first_invocation:]
        if functions.get(i.function_name) == "DriftCheckFunction"
    ]
    return Tick(
        assume_role=operations(calls)["sts:AssumeRole"],
        status_reads=items_per_table(calls).get(status_table, 0),
        invocations=len(checks),
        errors=sum(1 for i in checks if i.error_type is not None),
        unhealthy=sum(
            1
            for i in checks
            if isinstance(i.result, dict)
            for found in i.result.get("targets", [])
            if not found.get("healthy")
        ),
    )


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Everything the deploy made (every account's moto backends, IAM's managed policies in
    each: hundreds of thousands of objects at a few hundred accounts) out of the garbage
    collector's sight while the fleet runs: a collection then walks only what the fleet
    makes, not the whole deployment each time (``gc.freeze``; undone after)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def rehearse_fleet(
    n: int,
    accounts: int,
    *,
    regions: Sequence[str] = FLEETWISE_REGIONS,
    hours: int = 24,
    seed: int = 0,
    jitter_fraction: float | None = 0.5,
    hub_account: str = DEFAULT_ACCOUNT,
    hub_region: str = DEFAULT_REGION,
    settle_timeout_wall: float = 3600.0,
    written: bool = False,
) -> FleetReport:
    """Rehearse ``n`` targets over ``accounts`` accounts (the hub's included) and ``regions``,
    then ``hours`` of drift ticks; see the module docstring.

    ``written``: only the targets of the hub and the first member account are rolled out
    (and checked as above); every other target is written as that rollout left its like
    (``_write_settled``) and the steady state ticks over all of them. A tick reads the spec
    items, the statuses and each registration, and assumes each member role: it cannot tell
    a target rolled out from one written so (the bench checks that the ticks start no run and
    find every target healthy), and a rollout of 10,000 targets would take hours here."""
    if hours < 1:
        raise ValueError("the steady state lasts at least one hour")
    members = member_accounts(accounts - 1)
    targets = fleet_targets(n, [hub_account, *members], regions)
    sampled = {hub_account, *members[:1]}
    rolled = [t for t in targets if t.partition(":")[0] in sampled] if written else targets
    settled = [t for t in targets if t not in set(rolled)]
    began = time.perf_counter()
    with (
        Rehearsal(
            {"ManageDefaultTarget": "false"},
            member_accounts={m: {} for m in members},
            seed=seed,
            jitter_fraction=jitter_fraction,
            account_id=hub_account,
            region=hub_region,
            settle_timeout_wall=settle_timeout_wall,
        ) as r,
        _frozen_heap(),
    ):
        list_members(r, members)
        deployed = time.perf_counter()
        functions, memory = _functions(r)
        rate = int(r.stack.translated.template["Parameters"]["DriftCheckRateMinutes"]["Default"])
        with CallMeter(r.clock.time, account=hub_account, region=hub_region) as meter:
            window = _Window(r, meter, functions)
            start = r.clock.time()
            written_units = _write_all(r, rolled)
            r.settle()
            if settled:
                _write_settled(r, settled, members[0])
            rolled_out = time.perf_counter()
            ends = [
                s["stopDate"].timestamp()
                for s in r.execution_summaries()
                if s.get("stopDate") is not None
            ]
            converged = max(ends, default=start)
            registers = _register_calls(r, rolled)
            phases = _phases(r, targets)
            wrong = {t: c for t, c in registers.items() if c != 1}
            if wrong or phases != Counter({"Registered": len(targets)}):
                raise FleetError(
                    f"not converged: phases {dict(phases)}, RegisterAccount calls per target "
                    f"other than 1: {dict(list(wrong.items())[:10])}"
                )
            # Windows are half-open: the rollout's last writes, at the very instant it
            # converged, are the rollout's.
            boundary = r.clock.time() + 1e-6
            rollout = window.usage(start, boundary, first_invocation=0)
            starts = [c.at for c in meter.calls if c.operation == "StartExecution"]
            peak_refusals = token_bucket_refusals(
                starts,
                size=START_EXECUTION_BUCKET.get(hub_region, OTHER_REGION_BUCKET),
                refill=START_EXECUTION_REFILL.get(hub_region, OTHER_REGION_REFILL),
            )

            steady_from = r.clock.time()
            first_steady = len(r.invoker.invocations)
            steady_began = time.perf_counter()
            ticks: list[Tick] = []
            for _ in range(hours * 60 // rate):
                r.advance(rate * 60)
                tick_from, first_invocation = r.clock.time(), len(r.invoker.invocations)
                r.tick()
                r.settle()
                ticks.append(_tick(r, meter, tick_from, first_invocation, functions))
            steady_to = r.clock.time()
            steady = window.usage(boundary, steady_to + 1e-6, first_invocation=first_steady)
            steady.seconds = steady_to - steady_from
            if settled and (steady.executions or any(t.unhealthy for t in ticks)):
                raise FleetError(
                    f"the ticks told written targets from rolled-out ones: {steady.executions} "
                    f"runs, unhealthy per tick {[t.unhealthy for t in ticks]}"
                )
            finished = time.perf_counter()
        deliveries = r.delivery.deliveries
        parameters = r.stack.translated.template["Parameters"]
        return FleetReport(
            targets=targets,
            accounts=accounts,
            regions=tuple(regions),
            memory_mb=memory,
            drift_rate_minutes=rate,
            wall_deploy=deployed - began,
            wall_rollout=rolled_out - deployed,
            wall_steady=finished - steady_began,
            converge_seconds=converged - start,
            register_per_target=registers,
            rollout=rollout,
            steady=steady,
            rollout_write_units=written_units,
            stream_records=sum(len(d.sequence_numbers) for d in deliveries if d.attempt == 1),
            stream_batches=len(deliveries),
            stream_failed_batches=sum(
                1 for d in deliveries if d.function_error or d.batch_item_failures
            ),
            stream_on_failure=len(r.delivery.on_failure_records),
            start_execution_peak_refusals=peak_refusals,
            phases=phases,
            alarms={k: dict(v) for k, v in r.stack.alarms.items()},
            dashboards=len(r.stack.of_type("AWS::CloudWatch::Dashboard")),
            keys=len(r.stack.of_type("AWS::KMS::Key")),
            log_retention_days=int(parameters["LogRetentionDays"]["Default"]),
            storage_bytes=_storage_bytes(r),
            status_table=r.stack.physical_id("StatusTable"),
            ticks=ticks,
            written=len(settled),
        )


__all__ = [
    "FLEETWISE_REGIONS",
    "ApiCall",
    "FleetError",
    "FleetReport",
    "Series",
    "Tick",
    "Usage",
    "fleet_targets",
    "log_bytes",
    "member_accounts",
    "rehearse_fleet",
    "series_hours",
    "state_transitions",
    "token_bucket_refusals",
]

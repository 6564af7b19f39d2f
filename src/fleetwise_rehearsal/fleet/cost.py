"""What a rehearsed fleet costs a month: pure functions over its counts and ``prices``.

The steady state (``fleet.Usage`` of the drift ticks, nothing changing) is scaled to a
730-hour month; the stack's own resources (alarms, the dashboard, the topic's key) are priced
from the template as deployed. Free tiers are left out (they are the account's, shared with
everything else in it). ``monthly_cost(0 targets)`` is the idle stack; the cost of a target is
``(monthly(N) - monthly(0)) / N``.

CloudTrail and KMS are priced where they apply: ``Trails`` says how many trails deliver the
account's management events (the first copy is free) and whether one records data events;
``Stack.data_kms_key`` whether the tables and queues use a customer managed key
(``DataKmsKeyArn``). Which calls are which events: IoT FleetWise, STS, Parameter Store, Step
Functions and KMS calls are management events (StartExecution counted so: the conservative
choice); DynamoDB item operations, SQS messages and Lambda invocations are data events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetwise_rehearsal.aws.alarms import Query, parse_query
from fleetwise_rehearsal.fleet.driver import FleetReport, Series, Usage
from fleetwise_rehearsal.fleet.prices import HOURS_PER_MONTH, PRICES, Price

# CloudWatch's first tier covers the first 10,000 custom metrics; the lower prices beyond it
# are not modelled.
FIRST_METRIC_TIER = 10_000
# Services whose API calls CloudTrail records as management events, and as data events (a
# Lambda invocation is a data event however it is invoked; usage.invocations counts them).
MANAGEMENT_SERVICES = frozenset({"sts", "ssm", "states", "kms"})
DATA_SERVICES = frozenset({"dynamodb", "sqs"})
# DynamoDB "caches the plaintext table keys for each caller in memory" and asks KMS again
# "after five minutes of inactivity" (AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS
# KMS"); SQS reuses a data key for KmsDataKeyReusePeriodSeconds (300 s by default).
KMS_CACHE_SECONDS = 300
# DynamoDB counts 100 bytes of overhead per item towards storage.
ITEM_OVERHEAD_BYTES = 100
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GB = 1e9


@dataclass(frozen=True)
class Line:
    """One part of a monthly cost: what, how much of it a month, and its price."""

    part: str
    quantity: float
    price: str
    usd: float


@dataclass(frozen=True)
class Stack:
    """What the deployed stack holds, as far as its price goes."""

    alarms: Mapping[str, Mapping[str, Any]]
    dashboards: int
    keys: int
    memory_mb: Mapping[str, int]
    drift_rate_minutes: int
    log_retention_days: int
    # DataKmsKeyArn set: the tables and the queues encrypt with the operator's key.
    data_kms_key: bool = False


@dataclass(frozen=True)
class Trails:
    """The account's CloudTrail trails, as far as the stack's events go: how many deliver its
    management events (the first copy in a Region is free), and whether one records data
    events (DynamoDB, SQS, Lambda), which every delivery pays for."""

    management_copies: int = 1
    data_events: bool = False


def kms_requests(usage: Usage, stack: Stack) -> float:
    """Requests to the data key in ``usage`` (none without ``DataKmsKeyArn``): each table a
    drift tick or a run reads costs one table-key request (its callers' caches last 5
    minutes; ticks and runs are further apart), each SQS message at most one. The log groups'
    and the alarm topic's requests are not modelled (AWS documents no rate)."""
    if not stack.data_kms_key:
        return 0.0
    ticks = usage.seconds / (stack.drift_rate_minutes * 60)
    windows = max(ticks, 0.0) + usage.executions
    if stack.drift_rate_minutes * 60 < KMS_CACHE_SECONDS:
        raise ValueError("drift checks closer than the key caches last are not modelled")
    messages = sum(n for call, n in usage.api.items() if call.startswith("sqs:"))
    return windows * len(usage.dynamodb) + messages


def management_events(usage: Usage, kms: float) -> float:
    """Management events ``usage`` causes: every IoT FleetWise call, the STS, Parameter
    Store and Step Functions calls, and ``kms`` requests."""
    calls = sum(n for call, n in usage.api.items() if call.split(":", 1)[0] in MANAGEMENT_SERVICES)
    return sum(usage.fleetwise.values()) + calls + kms


def data_events(usage: Usage) -> float:
    """Data events ``usage`` causes: DynamoDB item operations, SQS messages, invocations."""
    calls = sum(n for call, n in usage.api.items() if call.split(":", 1)[0] in DATA_SERVICES)
    return calls + sum(usage.invocations.values())


def _usd(price: Price, quantity: float, per: float = 1.0) -> float:
    return quantity * price.usd / per


def analyzed_metrics(query: Query, usage: Usage) -> float:
    """The series a Metrics Insights query analyzes (its SCHEMA's exact dimensions, its WHERE
    conditions), on average over the usage's hours."""
    hours = sum(
        active
        for series, active in usage.series_hours.items()
        if (series.namespace, series.name) == (query.namespace, query.metric)
        and frozenset(k for k, _ in series.dimensions) == query.schema
        and set(query.where) <= set(series.dimensions)
    )
    return hours / usage.hours if usage.hours else 0.0


def alarm_metrics(alarms: Mapping[str, Mapping[str, Any]], usage: Usage) -> tuple[int, float]:
    """(standard alarm metrics, metrics analyzed by Metrics Insights alarms): an alarm on one
    metric is one alarm metric, a metric-math alarm one per metric it lists, an alarm on a
    Metrics Insights query one per metric the query analyzes."""
    standard = 0
    insights = 0.0
    for props in alarms.values():
        metrics = props.get("Metrics") or []
        queries = [
            parse_query(str(m["Expression"]))
            for m in metrics
            if str(m.get("Expression", "")).lstrip().startswith("SELECT")
        ]
        if queries:
            insights += sum(analyzed_metrics(q, usage) for q in queries)
        else:
            standard += len([m for m in metrics if "MetricStat" in m]) or 1
    return standard, insights


def metric_months(usage: Usage) -> dict[Series, float]:
    """Custom metric-months per series: the share of the month's hours it got data in."""
    if not usage.hours:
        return {}
    return {s: min(1.0, h / usage.hours) for s, h in usage.series_hours.items()}


def top_series(usage: Usage, count: int = 5) -> list[tuple[Series, float]]:
    """The ``count`` series that cost most a month (USD), most first."""
    price = PRICES["custom_metric"]
    ranked = sorted(metric_months(usage).items(), key=lambda kv: (-kv[1], kv[0].label()))
    return [(s, _usd(price, m)) for s, m in ranked[:count]]


def monthly_cost(
    usage: Usage, stack: Stack, *, storage_bytes: int, trails: Trails | None = None
) -> list[Line]:
    """The month's cost of ``usage`` (a steady state) on ``stack``, part by part (one trail
    of management events, no data events, unless ``trails`` says otherwise)."""
    p = PRICES
    trails = trails or Trails()
    scale = HOURS_PER_MONTH / usage.hours
    kms = kms_requests(usage, stack) * scale
    paid_management = management_events(usage, kms / scale) * scale * (trails.management_copies - 1)
    paid_data = data_events(usage) * scale if trails.data_events else 0.0
    requests = sum(usage.invocations.values()) * scale
    gb_seconds = scale * sum(
        ms / 1000 * stack.memory_mb.get(fn, 128) / 1024
        for fn, ms in usage.invocation_billed_ms.items()
    )
    reads = scale * sum(r for r, _ in usage.dynamodb.values())
    writes = scale * sum(w for _, w in usage.dynamodb.values())
    months = sum(metric_months(usage).values())
    if months > FIRST_METRIC_TIER:
        raise ValueError(f"{months:.0f} custom metrics: tiers past the first are not modelled")
    standard, insights = alarm_metrics(stack.alarms, usage)
    ingested_gb = usage.log_bytes * scale / GB
    # What the retention keeps at any time, uncompressed: an upper bound (AWS bills the
    # compressed size).
    stored_gb = ingested_gb * stack.log_retention_days / DAYS_PER_MONTH
    ticks = HOURS_PER_MONTH * 60 / stack.drift_rate_minutes
    stored_table_gb = storage_bytes / GB
    return [
        Line(
            "Lambda requests", requests, "lambda_request", _usd(p["lambda_request"], requests, 1e6)
        ),
        Line(
            "Lambda duration (GB-seconds, rehearsed in-process)",
            gb_seconds,
            "lambda_arm_gb_second",
            _usd(p["lambda_arm_gb_second"], gb_seconds),
        ),
        Line(
            "Step Functions state transitions",
            usage.state_transitions * scale,
            "state_transition",
            _usd(p["state_transition"], usage.state_transitions * scale, 1e3),
        ),
        Line(
            "DynamoDB read request units",
            reads,
            "read_request",
            _usd(p["read_request"], reads, 1e6),
        ),
        Line(
            "DynamoDB write request units",
            writes,
            "write_request",
            _usd(p["write_request"], writes, 1e6),
        ),
        Line(
            "DynamoDB storage and point-in-time recovery (GB)",
            stored_table_gb,
            "dynamodb_storage",
            _usd(p["dynamodb_storage"], stored_table_gb) + _usd(p["pitr"], stored_table_gb),
        ),
        Line(
            "CloudWatch custom metrics (metric-months)",
            months,
            "custom_metric",
            _usd(p["custom_metric"], months),
        ),
        Line(
            "CloudWatch alarm metrics", standard, "alarm_metric", _usd(p["alarm_metric"], standard)
        ),
        Line(
            "CloudWatch Metrics Insights alarms (metrics analyzed)",
            insights,
            "insights_alarm_metric",
            _usd(p["insights_alarm_metric"], insights),
        ),
        Line(
            "CloudWatch dashboards",
            stack.dashboards,
            "dashboard",
            _usd(p["dashboard"], stack.dashboards),
        ),
        Line("KMS keys", stack.keys, "kms_key", _usd(p["kms_key"], stack.keys)),
        Line(
            "CloudWatch Logs ingestion (GB)",
            ingested_gb,
            "log_ingestion",
            _usd(p["log_ingestion"], ingested_gb),
        ),
        Line(
            "CloudWatch Logs storage (GB-months, uncompressed)",
            stored_gb,
            "log_storage",
            _usd(p["log_storage"], stored_gb),
        ),
        Line(
            "EventBridge Scheduler invocations",
            ticks,
            "scheduler_invocation",
            _usd(p["scheduler_invocation"], ticks, 1e6),
        ),
        Line(
            "X-Ray traces (every run and every other invocation)",
            usage.traces * scale,
            "xray_trace",
            _usd(p["xray_trace"], usage.traces * scale, 1e6),
        ),
        Line("STS AssumeRole", usage.api.get("sts:AssumeRole", 0) * scale, "sts_request", 0.0),
        Line(
            "KMS requests to the data key (DataKmsKeyArn)",
            kms,
            "kms_request",
            _usd(p["kms_request"], kms, 1e4),
        ),
        Line(
            "CloudTrail management events in trails past the first",
            paid_management,
            "cloudtrail_management_copy",
            _usd(p["cloudtrail_management_copy"], paid_management, 1e5),
        ),
        Line(
            "CloudTrail data events (trails that record them)",
            paid_data,
            "cloudtrail_data_event",
            _usd(p["cloudtrail_data_event"], paid_data, 1e5),
        ),
    ]


def total(lines: Iterable[Line]) -> float:
    return sum(line.usd for line in lines)


def stack_of(report: FleetReport) -> Stack:
    return Stack(
        alarms=report.alarms,
        dashboards=report.dashboards,
        keys=report.keys,
        memory_mb=report.memory_mb,
        drift_rate_minutes=report.drift_rate_minutes,
        log_retention_days=report.log_retention_days,
    )


def report_cost(report: FleetReport) -> list[Line]:
    """The month's cost of a fleet rehearsal's steady state."""
    return monthly_cost(report.steady, stack_of(report), storage_bytes=report.storage_bytes)


def per_target(report: FleetReport, idle: FleetReport) -> float:
    """USD a month per target: what ``report``'s fleet adds to the idle stack, per target."""
    return (total(report_cost(report)) - total(report_cost(idle))) / report.n

"""AWS's public prices the cost figures of the documents use, in one place, with the day they
were read, and the stack's fixed monthly parts computed from them and the template.

Prices are US East (N. Virginia), in USD, as AWS's pricing pages gave them on ``READ_ON``;
``seen_on`` is the page a figure was read from (AWS's own page, or, where its text did not
carry the figure, the published summary it was read from, or ``UNCONFIRMED``: check those
against AWS's page before relying on them). docs/cost.md is generated from this module
(``make docs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fleetwise_reconciler.logic.health import FleetState

READ_ON = date(2026, 12, 2)
REGION = "us-east-1"
# AWS's pricing pages and its calculator count a month as 730 hours.
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    free_tier: str
    source: str
    seen_on: str


KMS = "https://aws.amazon.com/kms/pricing/"
CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
XRAY = "https://aws.amazon.com/xray/pricing/"
SCHEDULER = "https://aws.amazon.com/eventbridge/pricing/"
LAMBDA = "https://aws.amazon.com/lambda/pricing/"
STEP_FUNCTIONS = "https://aws.amazon.com/step-functions/pricing/"
SNS = "https://aws.amazon.com/sns/pricing/"
IAM = "https://aws.amazon.com/iam/pricing/"
CLOUDTRAIL = "https://aws.amazon.com/cloudtrail/pricing/"
# A figure no page read on READ_ON carried: AWS's long-standing price, to confirm.
UNCONFIRMED = f"not confirmed on {READ_ON.isoformat()}: check the AWS page"

PRICES: dict[str, Price] = {
    "kms_key": Price(1.00, "key-month (prorated hourly)", "none", KMS, KMS),
    # Each automatic (yearly) rotation adds a key-month (AWS's page); that the charge stops
    # after the second rotation (AWS's change of April 2024) was not read on the page.
    "kms_rotation": Price(
        1.00,
        "rotation-month, first two rotations",
        "none",
        KMS,
        KMS + " ($1 per rotation; the cap of two rotations not confirmed there)",
    ),
    "alarm_metric": Price(
        0.10,
        "standard-resolution alarm metric-month",
        "10 alarm metrics a month",
        CLOUDWATCH,
        "https://c3x.dev/resources/aws/aws_cloudwatch_metric_alarm",
    ),
    "dashboard": Price(
        3.00,
        "dashboard-month",
        "3 dashboards of up to 50 metrics",
        CLOUDWATCH,
        UNCONFIRMED,
    ),
    "custom_metric": Price(
        0.30,
        "metric-month (first 10,000 metrics)",
        "10 metrics a month",
        CLOUDWATCH,
        "https://cal53.calculator.city/cloudwatch-custom-metrics-calculator/",
    ),
    "pitr": Price(
        0.20,
        "GB-month of table data (continuous backups)",
        "none",
        DYNAMODB,
        UNCONFIRMED,
    ),
    "read_request": Price(
        0.125,
        "million read request units (on-demand)",
        "none",
        DYNAMODB,
        UNCONFIRMED,
    ),
    "xray_trace": Price(
        5.00,
        "million traces recorded",
        "100,000 traces a month",
        XRAY,
        "https://aws.amazon.com/de/xray/pricing/",
    ),
    "scheduler_invocation": Price(
        1.00,
        "million invocations",
        "14 million invocations a month",
        SCHEDULER,
        "https://cloudburn.io/blog/amazon-eventbridge-pricing",
    ),
    "lambda_request": Price(
        0.20,
        "million requests",
        "1 million requests a month",
        LAMBDA,
        "https://cloudchipr.com/blog/aws-lambda-pricing",
    ),
    "lambda_arm_gb_second": Price(
        0.0000133334,
        "GB-second (arm64)",
        "400,000 GB-seconds a month",
        LAMBDA,
        "https://cloudchipr.com/blog/aws-lambda-pricing",
    ),
    # The fleet bench (fleet_cost) prices these too.
    "state_transition": Price(
        0.025,
        "thousand state transitions (Standard; retries count)",
        "4,000 state transitions a month",
        STEP_FUNCTIONS,
        STEP_FUNCTIONS,
    ),
    "write_request": Price(
        0.625,
        "million write request units (on-demand)",
        "none",
        DYNAMODB,
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing",
    ),
    "dynamodb_storage": Price(
        0.25,
        "GB-month of table data (Standard table class)",
        "25 GB a month",
        DYNAMODB,
        UNCONFIRMED,
    ),
    # CloudWatch's alarms page prices an alarm on a Metrics Insights query per metric the
    # query analyzes, at the alarm-metric price; the free alarm metrics exclude such alarms
    # (AWS's page, free tier). The per-metric figure was not read on the page itself.
    "insights_alarm_metric": Price(
        0.10,
        "metric analyzed by a Metrics Insights alarm query, a month",
        "none",
        CLOUDWATCH,
        UNCONFIRMED,
    ),
    "log_ingestion": Price(
        0.50,
        "GB ingested (Standard log class; Lambda's logs, first tier)",
        "5 GB a month (ingestion, storage and scans together)",
        CLOUDWATCH,
        "https://c3x.dev/blog/cloudwatch-logs-cost-optimization",
    ),
    "log_storage": Price(
        0.03,
        "GB-month archived (compressed)",
        "see log_ingestion",
        CLOUDWATCH,
        "https://c3x.dev/blog/cloudwatch-logs-cost-optimization",
    ),
    "sns_publish": Price(
        0.50,
        "million publishes",
        "1 million publishes a month",
        SNS,
        UNCONFIRMED,
    ),
    # "The first copy of management events is delivered free of charge. Additional copies of
    # management events are charged at $2.00 per 100,000 events"; "Data events ... are
    # charged at $0.10 per 100,000 events" and only trails that select them record them (AWS's
    # CloudTrail pricing page). The first copy is per Region.
    "cloudtrail_management_copy": Price(
        2.00,
        "100,000 management events, in each copy after the first",
        "the first copy of management events in each Region",
        CLOUDTRAIL,
        CLOUDTRAIL,
    ),
    "cloudtrail_data_event": Price(
        0.10,
        "100,000 data events (trails that select them only)",
        "none",
        CLOUDTRAIL,
        CLOUDTRAIL,
    ),
    # Requests to a customer managed key, whoever makes them (the services encrypting with
    # it included). AWS's page gives the free tier ("20,000 requests/month calculated across
    # all regions"); the request price was read from a summary of it.
    "kms_request": Price(
        0.03,
        "10,000 requests (symmetric keys)",
        "20,000 requests a month",
        KMS,
        "https://www.wring.co/blog/aws-kms-pricing-guide",
    ),
    # IAM and AWS STS are offered at no additional charge.
    "sts_request": Price(0.0, "request", "free", IAM, UNCONFIRMED),
}


@dataclass(frozen=True)
class Part:
    """One fixed part of the stack's monthly cost: what it is, its quantity, its cost."""

    name: str
    quantity: str
    usd: float
    price: str


def _resources(translated: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in translated.values() if r.get("Type") == kind]


def _is_insights(alarm: Mapping[str, Any]) -> bool:
    """Whether the alarm watches a Metrics Insights query (its expression, possibly a Fn::Sub
    of the translated template, starts with SELECT)."""

    def text(value: Any) -> str:
        if isinstance(value, dict) and "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return str(sub[0] if isinstance(sub, list) else sub)
        return str(value)

    return any(
        text(m.get("Expression", "")).lstrip().startswith("SELECT")
        for m in alarm["Properties"].get("Metrics", [])
    )


def _default(template: Mapping[str, Any], name: str) -> str:
    return str(template["Parameters"][name]["Default"])


def fixed_parts(template: Mapping[str, Any], translated: Mapping[str, Any]) -> list[Part]:
    """The monthly cost of what the stack holds whatever its targets, with the template's
    defaults (``template``: the SAM template; ``translated``: its resources translated), before
    any free tier. The drift check's duration is priced per second of average duration: it
    depends on the account, and a rehearsal does not measure it."""
    p = PRICES
    alarms = _resources(translated, "AWS::CloudWatch::Alarm")
    insights = [a for a in alarms if _is_insights(a)]
    alarm_metrics = sum(
        len([m for m in a["Properties"].get("Metrics", []) if "MetricStat" in m]) or 1
        for a in alarms
        if not _is_insights(a)
    )
    states = len(FleetState)
    dashboards = len(_resources(translated, "AWS::CloudWatch::Dashboard"))
    keys = len(_resources(translated, "AWS::KMS::Key"))
    rate = int(_default(template, "DriftCheckRateMinutes"))
    ticks = HOURS_PER_MONTH * 60 // rate
    (drift_function,) = [
        r
        for name, r in translated.items()
        if name == "DriftCheckFunction" and r["Type"] == "AWS::Lambda::Function"
    ]
    memory_gb = int(drift_function["Properties"]["MemorySize"]) / 1024
    return [
        Part(
            "KMS key of the alarm topic (when `AlarmTopicKmsKeyArn` is empty)",
            f"{keys} key",
            keys * p["kms_key"].usd,
            "kms_key",
        ),
        Part(
            "CloudWatch alarms (standard resolution)",
            f"{alarm_metrics} alarm metrics",
            alarm_metrics * p["alarm_metric"].usd,
            "alarm_metric",
        ),
        Part(
            "CloudWatch alarms on Metrics Insights queries, grouped by target: the series they "
            "read are those of targets that need attention, none while every target is healthy",
            f"{len(insights)} alarms, 0 series",
            0.0,
            "insights_alarm_metric",
        ),
        Part("dashboard", f"{dashboards} dashboard", dashboards * p["dashboard"].usd, "dashboard"),
        Part(
            "`DriftChecks` heartbeat metric and the fleet's `Targets` count, one per state",
            f"{1 + states} metrics",
            (1 + states) * p["custom_metric"].usd,
            "custom_metric",
        ),
        Part(
            f"drift check schedule (every {rate} minutes)",
            f"{ticks:,} invocations",
            ticks * p["scheduler_invocation"].usd / 1e6,
            "scheduler_invocation",
        ),
        Part(
            "drift check Lambda requests",
            f"{ticks:,} requests",
            ticks * p["lambda_request"].usd / 1e6,
            "lambda_request",
        ),
        Part(
            f"drift check Lambda duration ({memory_gb:g} GB), per second of average duration",
            f"{ticks * memory_gb:,.0f} GB-seconds",
            ticks * memory_gb * p["lambda_arm_gb_second"].usd,
            "lambda_arm_gb_second",
        ),
        Part(
            "drift check `Scan`s of the spec and status tables (eventually consistent, "
            "under 4 KB each)",
            f"{ticks * 2 * 0.5:,.0f} read request units",
            ticks * 2 * 0.5 * p["read_request"].usd / 1e6,
            "read_request",
        ),
        Part(
            "X-Ray traces of the drift checks (`Tracing: Active`)",
            f"{ticks:,} traces",
            ticks * p["xray_trace"].usd / 1e6,
            "xray_trace",
        ),
    ]

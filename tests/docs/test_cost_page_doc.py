"""docs/cost.md: generated from the prices (fleetwise_rehearsal.fleet.prices) and the template, so a
changed default, alarm or price changes it; its quantities counted here again from the template
independently of the generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from doc_support import ROOT, flat, read
from test_parameters_doc import docs_reference

from fleetwise_rehearsal.aws.template import translate
from fleetwise_rehearsal.fleet.prices import HOURS_PER_MONTH, PRICES, READ_ON, fixed_parts

COST = read("docs/cost.md")


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    resources = translate(
        ROOT / "template.yaml", {}, region="us-east-1", account_id="123456789012"
    ).resources
    return dict(resources)


def test_the_cost_page_is_generated() -> None:
    assert docs_reference.cost_markdown() == COST, "docs/cost.md is stale: run `make docs`"


def test_the_page_says_when_and_where_the_prices_were_read() -> None:
    assert f"read on {READ_ON.isoformat()}" in flat(COST)
    for key, price in PRICES.items():
        assert f"| `{key}` |" in COST
        assert price.source.startswith("https://aws.amazon.com/")


def test_the_quantities_are_the_templates(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    parts = {p.price: p for p in fixed_parts(template, translated)}
    alarms = [r for r in translated.values() if r["Type"] == "AWS::CloudWatch::Alarm"]

    # every alarm reads one metric (through FILL: one metric of the expression), so each is
    # one alarm metric, except the six per-target alarms on Metrics Insights queries, which
    # read no series while every target is healthy
    def stats(alarm: dict[str, Any]) -> list[Any]:
        return [m for m in alarm["Properties"]["Metrics"] if "MetricStat" in m]

    single = [a for a in alarms if len(stats(a)) == 1]
    insights = [a for a in alarms if not stats(a)]
    assert len(single) + len(insights) == len(alarms)
    queries = [a["Properties"]["Metrics"][0]["Expression"]["Fn::Sub"] for a in insights]
    assert all(query.startswith("SELECT") for query in queries)
    assert len(insights) == 6
    assert parts["alarm_metric"].quantity == f"{len(single)} alarm metrics"
    assert parts["alarm_metric"].usd == pytest.approx(len(single) * 0.10)
    assert (parts["insights_alarm_metric"].quantity, parts["insights_alarm_metric"].usd) == (
        "6 alarms, 0 series",
        0.0,
    )
    # the heartbeat and the fleet's count in each of its eight states
    assert parts["custom_metric"].quantity == "9 metrics"
    rate = int(template["Parameters"]["DriftCheckRateMinutes"]["Default"])
    ticks = HOURS_PER_MONTH * 60 // rate
    assert (rate, ticks) == (15, 2920)
    for key in ("scheduler_invocation", "lambda_request", "xray_trace"):
        assert parts[key].quantity.startswith(f"{ticks:,} ")
    memory = int(template["Globals"]["Function"]["MemorySize"])
    assert parts["lambda_arm_gb_second"].quantity == f"{ticks * memory / 1024:,.0f} GB-seconds"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert parts["kms_key"].usd == 1.00
    assert "AlarmTopicKmsKeyArn" in parts["kms_key"].name
    assert template["Resources"]["AlarmTopicKey"]["Condition"] == "CreateAlarmTopicKey"


def test_every_alarm_is_standard_resolution_whatever_the_period(template: dict[str, Any]) -> None:
    # high-resolution alarms (periods of 10 or 30 s) are priced higher
    for name in ("HealthAlarmPeriodSeconds", "FailureAlarmPeriodSeconds"):
        assert min(int(v) for v in template["Parameters"][name]["AllowedValues"]) >= 60


def test_the_idle_total_is_the_sum_of_its_parts(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    parts = fixed_parts(template, translated)
    fixed = sum(p.usd for p in parts if p.price != "lambda_arm_gb_second")
    assert f"**An idle stack: about ${fixed:,.2f} a month**" in COST
    # the key, 24 alarms on one metric each, the dashboard, 9 metrics (heartbeat, fleet counts)
    assert fixed == pytest.approx(1.00 + 2.40 + 3.00 + 9 * 0.30, abs=0.03)


def test_the_readme_and_deploy_chapter_point_at_the_page() -> None:
    assert Path(ROOT / "docs" / "cost.md").exists()
    assert "[docs/cost.md](docs/cost.md)" in read("README.md")
    assert "[cost.md](cost.md)" in read("docs/deploy.md")


def test_the_scans_priced_are_the_runbooks_rehearsed_ones(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    # tests/docs/test_costs_doc.py checks the runbook's per-tick table against a rehearsed tick
    (row,) = [
        line for line in read("docs/runbook.md").splitlines() if line.startswith("| DynamoDB reads")
    ]
    scans = row.split(" | ")[1].count("`Scan`")
    parts = {p.price: p for p in fixed_parts(template, translated)}
    ticks = HOURS_PER_MONTH * 60 // int(template["Parameters"]["DriftCheckRateMinutes"]["Default"])
    assert scans == 2
    assert parts["read_request"].quantity == f"{ticks * scans * 0.5:,.0f} read request units"

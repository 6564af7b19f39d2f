"""docs/limits.md: generated from the quota ledger (fleetwise_rehearsal.fleet.quotas), so its
numbers are the ones tests/template/test_quotas.py computes and checks."""

from __future__ import annotations

from doc_support import flat, read
from test_parameters_doc import docs_reference

from fleetwise_rehearsal.fleet.quotas import LARGEST, ledger

LIMITS = read("docs/limits.md")


def test_the_limits_page_is_generated() -> None:
    assert docs_reference.limits_markdown() == LIMITS, "docs/limits.md is stale: run `make docs`"


def test_the_page_gives_each_quota_its_number_usage_and_page() -> None:
    for row in ledger(LARGEST):
        line = next(line for line in LIMITS.splitlines() if f"| {row.quota.name} |" in line)
        assert f"| {row.quota.limit:,} {row.quota.unit} | {row.usage.amount:,} |" in line
        assert line.rstrip().endswith(f"| {row.quota.source} |")


def test_the_largest_configuration_is_stated() -> None:
    text = flat(LIMITS)
    assert "| targets (account and Region pairs) in a stack's spec table | 10,000 |" in text
    assert "| stacks of this template side by side in one account and Region | 2 |" in text

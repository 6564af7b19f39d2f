"""The cost figures the documents give, against what produces them: the per-run figures of the
README against rehearsed runs, the drift check's per-tick table of the runbook against a
rehearsed tick, and the poll figures against `make bench`'s simulation run with its seed and
the template's defaults."""

from __future__ import annotations

import importlib.util
import random
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from doc_support import ROOT, TARGET, flat, read, section, table_rows

from fleetwise_rehearsal.rehearsal import Execution, Rehearsal


@dataclass(frozen=True)
class RunCost:
    transitions: int
    invocations: int
    calls: dict[str, int]


def run_cost(r: Rehearsal, execution: Execution, calls: dict[str, int]) -> RunCost:
    """What Step Functions bills (a transition per state entered, plus one per retry, as its
    pricing page documents) and the Lambda invocations of one execution."""
    history = r.history(execution.name)
    entered = sum(1 for event in history if event["type"].endswith("StateEntered"))
    tasks = sum(1 for event in history if event["type"] == "TaskStateEntered")
    scheduled = sum(1 for event in history if event["type"] == "TaskScheduled")
    return RunCost(entered + scheduled - tasks, scheduled, calls)


def calls_since(r: Rehearsal, before: dict[str, int]) -> dict[str, int]:
    now = r.fleetwise_calls()
    return {op: now[op] - before.get(op, 0) for op in now if now[op] != before.get(op, 0)}


def readme_cost() -> str:
    text = flat(read("README.md"))
    return text[text.index("**Cost per run**") : text.index("The states, payloads")]


@pytest.mark.e2e
def test_the_readme_per_run_figures_are_those_of_rehearsed_runs(
    rehearse: Callable[..., Rehearsal],
) -> None:
    r = rehearse()
    # a registration pending for the simulator's default 300 s, jitter at its mean (0.5)
    r.write_spec({"target": TARGET})
    r.settle()
    registration = run_cost(r, r.executions()[0], r.fleetwise_calls())
    # a reconcileToken edit on the registered account
    before = r.fleetwise_calls()
    r.update_spec(TARGET, reconcileToken="now")
    r.settle()
    nothing = run_cost(r, r.executions()[1], calls_since(r, before))

    said = re.search(
        r"\(an edit of `reconcileToken` on a registered account\) is (\d+) state transitions, "
        r"(\d+) Lambda invocations and (\d+) `GetRegisterAccountStatus`; a registration "
        r"pending for 300 s, with the poll jitter at its mean, is (\d+) state transitions "
        r".*?, (\d+) Lambda invocations, (\d+) `RegisterAccount` and (\d+) "
        r"`GetRegisterAccountStatus`",
        readme_cost(),
    )
    assert said is not None, readme_cost()
    assert [int(n) for n in said.groups()] == [
        nothing.transitions,
        nothing.invocations,
        nothing.calls["GetRegisterAccountStatus"],
        registration.transitions,
        registration.invocations,
        registration.calls["RegisterAccount"],
        registration.calls["GetRegisterAccountStatus"],
    ]
    assert nothing.calls == {"GetRegisterAccountStatus": 1}


@pytest.mark.e2e
def test_the_runbook_drift_check_cost_is_that_of_a_rehearsed_tick(
    rehearse: Callable[..., Rehearsal], template: dict[str, Any]
) -> None:
    per_day = 24 * 60 // int(template["Parameters"]["DriftCheckRateMinutes"]["Default"])
    assert f"{per_day} invocations and {per_day} status calls a day" in flat(
        read("docs/runbook.md")
    )
    table = table_rows(section(read("docs/runbook.md"), "### What one check costs"))
    rows = {row[0]: row[1:] for row in table[1:]}
    assert rows["Lambda invocations"] == ["1 (`DriftCheckFunction`)", "-"]
    assert rows["IoT FleetWise calls"][1].startswith("1 `GetRegisterAccountStatus`")
    assert rows["Step Functions executions, state transitions"] == ["0", "0"]
    assert rows["EMF metric records"] == [
        "9 (`DriftChecks`, `Targets` per state)",
        "0 (1 `TargetInTrouble` while in trouble)",
    ]

    # GIVEN two targets, registered as declared, their status current
    r = rehearse()
    other = "123456789012:eu-central-1"
    r.write_spec({"target": TARGET})
    r.write_spec({"target": other})
    r.settle()
    executions = len(r.executions())
    before_calls = r.fleetwise_calls()
    before_invocations = len(r.invoker.invocations)
    before_metrics = len(r.metrics())

    # WHEN the drift schedule fires
    started = r.tick()
    r.settle()

    # THEN one invocation, one status call per target's account and Region, no run, one
    # heartbeat record and the fleet's count per state, and no record of either target's own
    invoked = [i.function_name for i in r.invoker.invocations[before_invocations:]]
    assert invoked == [r.stack.function_name("DriftCheckFunction")]
    assert started == [] and len(r.executions()) == executions
    assert calls_since(r, before_calls) == {"GetRegisterAccountStatus": 2}
    records = r.metrics()[before_metrics:]
    names = sorted(name for doc in records for name in metric_names(doc))
    assert names == ["DriftChecks", *["Targets"] * 8]
    counts = [doc.get("Targets") for doc in records]
    assert counts == [[2.0], *[[0.0]] * 7, None]  # both Healthy
    assert len(records) == 9


def metric_names(doc: dict[str, Any]) -> list[str]:
    return [m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_rehearsal", ROOT / "bench" / "bench_rehearsal.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_poll_figures_are_the_bench_simulation_with_the_template_defaults(
    template: dict[str, Any],
) -> None:
    bench = load_bench()
    defaults = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    # the bench's schedule is the template's (a changed default must change the figures)
    rng = random.Random(7)  # noqa: S311 - the bench's own seeded simulation
    pendings = [max(0.0, rng.gauss(300, 60)) for _ in range(bench.SAMPLES)]
    ours = [
        bench.backoff(
            pending,
            rng,
            initial=float(defaults["InitialWaitSeconds"]),
            interval=float(defaults["PollIntervalSeconds"]),
            rate=float(defaults["PollBackoffRate"]),
            cap=float(defaults["PollMaxDelaySeconds"]),
            max_attempts=int(defaults["PollMaxAttempts"]),
        )
        for pending in pendings
    ]
    edge = [bench.fixed(pending) for pending in pendings]
    mean_polls = statistics.fmean(polls for polls, _ in ours)
    p95_notice = bench.p95([late for _, late in ours])
    edge_polls = statistics.fmean(polls for polls, _ in edge)

    said = re.search(
        r"a mean of about ([\d.]+) status polls and completion noticed within about (\d+) s "
        r"at p95, where the public setup script's fixed 5 s polling makes about (\d+) polls",
        flat(read("README.md")),
    )
    assert said is not None
    assert said.group(1) == f"{mean_polls:.1f}"
    assert int(said.group(2)) == round(p95_notice)
    assert int(said.group(3)) == round(edge_polls)

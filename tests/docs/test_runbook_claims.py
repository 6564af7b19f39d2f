"""What docs/runbook.md says the stack does, rehearsed: how long a terminal failure is alarmed,
what outlives the execution timeout, what a failed-run event that never arrives leaves behind, and
what StatusPolls counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from doc_support import TARGET, flat, read, section

from fleetwise_rehearsal.fleetwise import Outcome
from fleetwise_rehearsal.rehearsal import Rehearsal
from fleetwise_rehearsal.scenarios.runner import ScenarioRunner

pytestmark = pytest.mark.e2e

RUNBOOK = read("docs/runbook.md")


def default(template: dict[str, Any], name: str) -> int:
    return int(template["Parameters"][name]["Default"])


def entry(alarm: str) -> str:
    return flat(section(RUNBOOK, f"### `{alarm}`"))


def ticks_every(r: Rehearsal, seconds: float, count: int) -> None:
    """The drift schedule firing ``count`` times, ``seconds`` apart, each run settled."""
    for _ in range(count):
        r.advance(seconds)
        r.tick()
        r.settle()


def test_a_terminal_failure_stays_in_alarm_until_repaired_and_pages_once(
    rehearse: Callable[..., Rehearsal], template: dict[str, Any]
) -> None:
    assert "until that is repaired or the item changes" in entry("RegistrationFailed")
    period = default(template, "HealthAlarmPeriodSeconds")
    drift = default(template, "DriftAlarmPeriods")
    assert f"({drift * period // 60} minutes by default)" in entry("DriftPersists")
    rate = default(template, "DriftCheckRateMinutes") * 60

    # GIVEN a registration IoT FleetWise refuses for good
    r = rehearse()
    assert r.sim is not None
    r.sim.fail_next("RegisterAccount", "AccessDeniedException", "not authorized")
    r.write_spec({"target": TARGET})
    r.settle()
    assert (r.status() or {})["reason"] == "AccessDeniedException"

    # WHEN drift checks run for four hours, nothing fixed
    ticks_every(r, rate, 4 * 3600 // rate)
    r.advance(60)
    monitor = r.alarm_monitor()
    after = [s for s in monitor.history if s.at > r.deployed_at + 60]
    # THEN the failure's alarm named the target at every minute from its first, and sent
    # one ALARM notification and no OK; no other alarm paged for it (one page per incident)
    failed = [
        any(dict(c).get("target") == TARGET for c in s.contributors["RegistrationFailedAlarm"])
        for s in after
    ]
    assert all(failed)
    pages = [n for n in monitor.notifications if n.contributor is not None]
    assert [(n.alarm, n.state, n.value("target")) for n in pages] == [
        ("RegistrationFailedAlarm", "ALARM", TARGET)
    ]
    # AND nothing retried the call: the schedule only observed and reported
    assert r.fleetwise_calls().get("RegisterAccount") == 1

    # WHEN the cause is fixed and a reconcile asked for
    r.write_spec({"target": TARGET, "reconcileToken": "fixed"})
    r.settle()
    r.advance(60)
    # THEN the alarm is OK, with one OK notification naming the target
    pages = [n for n in r.alarm_monitor().notifications if n.contributor is not None]
    assert [(n.state, n.value("target")) for n in pages] == [("ALARM", TARGET), ("OK", TARGET)]


def test_repeated_failed_registrations_outlive_the_execution_timeout_as_the_runbook_says(
    rehearse: Callable[..., Rehearsal], template: dict[str, Any]
) -> None:
    attempts = default(template, "MaxRegistrationAttempts")
    budget = default(template, "RegistrationBudgetSeconds")
    timeout = default(template, "ExecutionTimeoutSeconds")
    pending = 850
    said = re.search(
        r"(\d+) attempts pending (\d+) s each take about (\d+) minutes, past the (\d+)-minute "
        r"timeout",
        entry("ExecutionsTimedOut"),
    )
    assert said is not None
    assert [int(g) for g in said.groups()] == [
        attempts,
        pending,
        round(attempts * pending / 60),
        timeout // 60,
    ]
    assert pending < budget < timeout < attempts * pending

    # GIVEN every registration pending 850 s, then failing
    r = rehearse()
    assert r.sim is not None
    r.sim.script_registrations([Outcome(pending_seconds=pending, result="FAILURE")] * attempts)

    # WHEN the item is written and the run goes on re-registering
    r.write_spec({"target": TARGET})
    r.settle()

    # THEN the run times out with the last attempt pending, recorded, its lease released
    statuses = [e.status for e in r.executions()]
    assert statuses == ["TIMED_OUT"]
    status = r.status() or {}
    assert (status["phase"], status["reason"]) == ("Failed", "ExecutionTimedOut")
    assert status["attempts"]["count"] == attempts
    assert r.lease() is None
    r.advance(60)  # the alarm reads the minute that ended
    assert "ExecutionsTimedOutAlarm" in r.alarms_in_alarm()

    # WHEN the drift checks follow, the count goes on: the next run waits for the last
    # registration, and records the attempts spent when it fails, calling nothing more
    ticks_every(r, default(template, "DriftCheckRateMinutes") * 60, 3)
    status = r.status() or {}
    assert (status["phase"], status["reason"]) == ("Failed", "RegistrationFailed")
    assert r.fleetwise_calls().get("RegisterAccount") == attempts


def test_a_dead_run_whose_event_never_arrives_keeps_the_previous_status_and_its_lease(
    rehearse: Callable[..., Rehearsal], template: dict[str, Any]
) -> None:
    lease_seconds = default(template, "ExecutionTimeoutSeconds") + 300
    assert "`ExecutionTimeoutSeconds` plus 5 minutes after its last renewal" in entry(
        "DeadLetterQueueMessages"
    )

    # GIVEN a registered target whose registration is later lost, and the next attempt fails
    r = rehearse()
    assert r.sim is not None
    runner = ScenarioRunner(r)
    runner.apply({"write": {"target": TARGET}})
    runner.apply("settle")
    registered = r.status() or {}
    assert registered["phase"] == "Registered"
    r.sim.forget_registration()
    r.sim.script_registrations([Outcome(pending_seconds=300, result="FAILURE")])
    # ... and the failed-run events never reach ExecutionFailedFunction (as when EventBridge
    # gives up and sends them to the dead-letter queue)
    r.stack.rules["ExecutionFailedRule"]["State"] = "DISABLED"

    # WHEN a drift check starts a repair, and the repair dies while it waits
    runner.apply({"at": 900, "tick": None})
    repair = r.running_executions(TARGET)
    assert len(repair) == 1
    runner.apply({"at": 1000, "abort": "running"})
    assert [e.status for e in r.executions()] == ["SUCCEEDED", "ABORTED"]

    # THEN the status is the previous one, which says nothing of the dead run: only the
    # attempt its Register step counted before calling moved
    after = r.status() or {}
    assert after["attempts"] == {"specHash": registered["specHash"], "count": 1, "refused": 0}
    assert {k: v for k, v in after.items() if k != "attempts"} == {
        k: v for k, v in registered.items() if k != "attempts"
    }
    # and the dead run's lease lives on from its last renewal (Register, at 900 s)
    lease = r.lease() or {}
    assert lease["holder"] == repair[0]["executionArn"]
    renewed = runner.origin.timestamp() + 900
    assert float(lease["expiresAt"]) == renewed + lease_seconds

    # WHEN drift checks run while the lease lives, they start nothing
    runner.apply({"at": 1800, "tick": None})
    runner.apply({"at": 900 + lease_seconds - 60, "tick": None})
    assert len(r.executions()) == 2

    # WHEN the first check after it expired runs, it repairs the target
    runner.apply({"at": 900 + lease_seconds + 60, "tick": None})
    runner.finish()
    assert len(r.executions()) == 3
    assert (r.status() or {})["phase"] == "Registered"


def test_status_polls_count_every_poll_the_last_one_included(
    rehearse: Callable[..., Rehearsal],
) -> None:
    assert "every pending poll and the last one, which sees the outcome" in flat(RUNBOOK)

    # GIVEN a registration of the simulator's default 300 s
    r = rehearse()
    assert r.sim is not None
    r.write_spec({"target": TARGET})
    r.settle()

    # THEN StatusPolls counts each GetRegisterAccountStatus of the Poll step, the one that saw
    # REGISTRATION_SUCCESS included (Observe's call is not a poll)
    values = [doc["StatusPolls"] for doc in r.metrics() if "StatusPolls" in doc]
    polls = sum(sum(v) if isinstance(v, list) else v for v in values)
    answers = [
        call.output.get("accountStatus")
        for call in r.sim.calls()
        if call.operation == "GetRegisterAccountStatus" and "PollFunction" in (call.tag or "")
    ]
    assert answers[-1] == "REGISTRATION_SUCCESS"
    assert polls == len(answers) == r.fleetwise_calls()["GetRegisterAccountStatus"] - 1

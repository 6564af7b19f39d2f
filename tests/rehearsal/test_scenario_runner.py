"""The scenario runner on the rehearsed stack: each step's effect, at its virtual moment.

FULL jitter is pinned to half of each interval, so every delay is exact."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_rehearsal.rehearsal import START, Rehearsal
from fleetwise_rehearsal.scenarios.format import (
    Scenario,
    ScenarioError,
    parse_expectations,
    simulator_keeps_regions,
)
from fleetwise_rehearsal.scenarios.runner import ScenarioRunner, check_expectations, run_scenario

pytestmark = pytest.mark.e2e

T = "123456789012:us-east-1"
EU = "123456789012:eu-central-1"
OPERATOR = {"ManageDefaultTarget": "false"}
# The template's defaults with the jitter pinned at 0.5: polls 2.5, 5, 10 and then 15 s apart.
POLLS_OF_A_300_S_REGISTRATION = [2.5, 5.0, 10.0, 15.0, 15.0, 15.0, 15.0, 15.0]


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture
def start() -> Iterator[Callable[..., ScenarioRunner]]:
    """A rehearsal (parameters as keyword arguments) and a runner on it; closed afterwards."""
    with contextlib.ExitStack() as stack:

        def begin(**parameters: str) -> ScenarioRunner:
            rehearsal = stack.enter_context(Rehearsal(parameters, jitter_fraction=0.5))
            return ScenarioRunner(rehearsal)

        yield begin


def fleetwise(runner: ScenarioRunner, region: str = "us-east-1") -> Any:
    """A client of the rehearsal's simulator, over the real protocol."""
    assert runner.rehearsal.sim is not None
    return boto3.client(
        "iotfleetwise",
        region_name=region,
        endpoint_url=runner.rehearsal.sim.endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),  # each answer
    )


def test_at_runs_executions_to_the_moment_and_a_write_starts_its_run_when_it_lands(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    r = runner.rehearsal
    runner.apply({"write": {"mode": "cloudwatch"}})
    # WHEN a patch is written at 100 s
    runner.apply({"at": 100, "patch": {"reconcileToken": "t1"}})
    # THEN time is at 100 s, the first run still waits in AwaitRegistration (210 s), and the
    # patch's own run started at 100 s and stepped aside for the lease holder
    assert r.clock.now() == at(100)
    first, second = r.executions()
    assert (first.status, first.path[-1], first.started_at) == (
        "RUNNING",
        "AwaitRegistration",
        at(0),
    )
    assert (second.status, second.started_at, second.path[-1]) == (
        "SUCCEEDED",
        at(100),
        "LeftToHolder",
    )
    assert r.clock.delays_for("wait:AwaitRegistration") == [210.0]
    # a later `at` is fine, one that has passed is refused, naming the step
    with pytest.raises(ScenarioError) as caught:
        runner.apply({"at": 50, "tick": None})
    assert str(caught.value) == (
        "scenario: step 3 (tick): 'at' 50 has passed: the rehearsal is already at 100 s"
    )


def test_abort_running_ends_the_run_aborted_and_the_rule_records_it_at_that_moment(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    r = runner.rehearsal
    runner.apply({"write": {"mode": "cloudwatch"}})
    runner.apply({"at": 150, "abort": "running"})
    [run] = r.executions()
    assert (run.status, run.stopped_at) == ("ABORTED", at(150))
    assert r.clock.now() == at(150)
    # the execution-status rule's target ran at 150 s with the ABORTED event
    [recorded] = r.invoker.calls(r.stack.function_name("ExecutionFailedFunction"))
    assert recorded.started_at == at(150)
    assert recorded.event["detail"]["status"] == "ABORTED"
    assert recorded.event["detail"]["executionArn"] == run.arn
    status = r.status(T)
    assert status is not None
    assert status["history"][0]["at"] == "2026-11-26T12:02:30.000Z"
    assert r.lease(T) is None
    # nothing else runs now: a second abort finds nothing and says so
    runner.apply({"abort": "running"})
    assert [e.text for e in r.timeline() if e.kind == "note"][-1] == (
        f"abort: no execution of {T} is running"
    )


def test_stop_by_name_sends_error_and_cause_and_an_unknown_name_is_refused(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    r = runner.rehearsal
    runner.apply({"write": {"mode": "cloudwatch"}})
    [run] = r.executions()
    runner.apply({"at": 60, "stop": run.name, "error": "Operator", "cause": "maintenance"})
    [stopped] = r.executions()
    assert (stopped.status, stopped.stopped_at) == ("ABORTED", at(60))
    assert f"StopExecution {run.name} error='Operator' cause='maintenance'" in [
        e.text for e in r.timeline() if e.kind == "note"
    ]
    with pytest.raises(ScenarioError) as caught:
        runner.apply({"abort": "no-such-run"})
    assert str(caught.value) == "scenario: step 3 (abort): no execution named 'no-such-run'"


def test_write_patch_delete_tick_advance_settle(start: Callable[..., ScenarioRunner]) -> None:
    runner = start(**OPERATOR)
    r = runner.rehearsal
    runner.apply({"write": {"mode": "cloudwatch", "reconcileToken": "a"}})
    runner.apply("settle")
    # settle ran the registration to its end: polls 2.5 s ... 15 s apart after 210 s
    assert [e.status for e in r.executions()] == ["SUCCEEDED"]
    assert r.clock.delays_for("retry:Poll:RegistrationPending") == POLLS_OF_A_300_S_REGISTRATION
    assert r.clock.now() == at(210 + sum(POLLS_OF_A_300_S_REGISTRATION))
    # patch: null removes an attribute (and its stream record starts a run)
    runner.apply({"patch": {"reconcileToken": None, "policy": "enforce"}})
    assert r.specs() == [{"target": T, "mode": "cloudwatch", "policy": "enforce"}]
    runner.apply("settle")
    assert len(r.executions()) == 2
    # advance lets exactly that much virtual time pass
    before = r.clock.now()
    runner.apply({"advance": 900})
    assert r.clock.now() == before + timedelta(seconds=900)
    # a tick on a registered, matching account observes and starts nothing ...
    calls = r.fleetwise_calls()["GetRegisterAccountStatus"]
    runner.apply("tick")
    assert len(r.executions()) == 2
    assert r.fleetwise_calls()["GetRegisterAccountStatus"] == calls + 1
    # ... and after an out-of-band failure, it starts the drift run, named by the minute
    runner.apply({"simulator": {"status": "REGISTRATION_FAILURE"}})
    runner.apply({"advance": 60})
    runner.apply("tick")
    drift = r.executions()[-1]
    assert drift.name == f"drift-123456789012-us-east-1-{r.clock.now():%Y%m%dT%H%MZ}"
    assert drift.input["trigger"] == "schedule"
    runner.apply("settle")
    # delete removes the item; its REMOVE record starts a run that records Unmanaged
    runner.apply({"delete": T})
    assert r.specs() == []
    runner.apply("settle")
    assert len(r.executions()) == 4
    status = r.status(T)
    assert status is not None and status["phase"] == "Unmanaged"
    assert [s.kind for s in runner.applied] == [
        "write",
        "settle",
        "patch",
        "settle",
        "advance",
        "tick",
        "simulator",
        "advance",
        "tick",
        "settle",
        "delete",
        "settle",
    ]


def test_parameters_reach_the_next_run_while_a_running_one_keeps_its_definition(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    r = runner.rehearsal
    runner.apply({"write": {"mode": "cloudwatch"}})
    # WHEN the poll interval doubles while the first run waits
    runner.apply({"at": 10, "parameters": {"PollIntervalSeconds": "10"}})
    assert r.parameters == {"ManageDefaultTarget": "false", "PollIntervalSeconds": "10"}
    runner.apply("settle")
    first = len(r.clock.delays_for("retry:Poll:RegistrationPending"))
    # THEN the running run kept the definition it started with (AWS: "Running executions
    # will continue to use the previous definition")
    assert r.clock.delays_for("retry:Poll:RegistrationPending") == POLLS_OF_A_300_S_REGISTRATION
    # AND a run started afterwards polls 5, 10, then 15 s apart (interval 10, cap 30, jitter .5)
    runner.apply({"simulator": {"forget": True}})
    runner.apply({"patch": {"reconcileToken": "again"}})
    runner.apply("settle")
    assert r.clock.delays_for("retry:Poll:RegistrationPending")[first:] == [
        5.0,
        10.0,
        15.0,
        15.0,
        15.0,
        15.0,
        15.0,
    ]
    assert [e.status for e in r.executions()] == ["SUCCEEDED", "SUCCEEDED"]


def test_a_parameter_the_custom_resource_takes_sends_it_an_update(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start()  # the deploy writes the default target's item
    r = runner.rehearsal
    runner.deploy()
    runner.apply("settle")
    assert r.specs()[0]["policy"] == "enforce"
    runner.apply({"parameters": {"TargetPolicy": "observe-only"}})
    update = r.custom_resource_answers[-1]
    assert (update["Status"], update["PhysicalResourceId"]) == ("SUCCESS", T)
    assert r.specs()[0]["policy"] == "observe-only"
    runner.apply("settle")
    assert [e.input["trigger"] for e in r.executions()] == ["stream", "stream"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"TableDeletionProtection": "true"},
            "scenario: step 1 (parameters): the new parameters change resources the rehearsal "
            "cannot update in place: SpecTable (AWS::DynamoDB::Table), StatusTable "
            "(AWS::DynamoDB::Table)",
        ),
        (
            {"ManageDefaultTarget": "true"},
            "scenario: step 1 (parameters): the new parameters add or remove resources, which "
            "the rehearsal cannot update in place (added: DefaultTargetSpec; removed: none)",
        ),
    ],
)
def test_a_stack_update_the_rehearsal_cannot_make_is_refused(
    start: Callable[..., ScenarioRunner], parameters: dict[str, str], message: str
) -> None:
    runner = start(**OPERATOR)
    with pytest.raises(ScenarioError) as caught:
        runner.apply({"parameters": parameters})
    assert str(caught.value) == message
    assert runner.rehearsal.parameters == OPERATOR


def test_simulator_lines_script_the_stacks_own_account(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    client = fleetwise(runner)
    runner.apply(
        {
            "simulator": {
                "register": [{"pending": 400, "result": "FAILURE", "iamError": "propagating"}]
            }
        }
    )
    client.register_account()
    runner.apply({"advance": 400})
    status = client.get_register_account_status()
    assert (status["accountStatus"], status["iamRegistrationResponse"]["errorMessage"]) == (
        "REGISTRATION_FAILURE",
        "propagating",
    )
    runner.apply({"simulator": {"status": "REGISTRATION_SUCCESS"}})
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_SUCCESS"
    runner.apply(
        {
            "simulator": {
                "timestream": {
                    "databaseName": "fleet",
                    "tableName": "signals",
                    "roleArn": "arn:aws:iam::123456789012:role/T",
                }
            }
        }
    )
    answer = client.get_register_account_status()["timestreamRegistrationResponse"]
    assert (answer["timestreamDatabaseName"], answer["timestreamTableName"]) == ("fleet", "signals")
    runner.apply({"simulator": {"campaigns": [{"name": "c1"}, {"name": "c2"}]}})
    assert [c["name"] for c in client.list_campaigns()["campaignSummaries"]] == ["c1", "c2"]
    runner.apply({"simulator": {"deleteServiceLinkedRole": True}})
    assert client.get_register_account_status()["accountStatus"] == "REGISTRATION_FAILURE"
    runner.apply(
        {
            "simulator": {
                "fail": {
                    "operation": "GetRegisterAccountStatus",
                    "code": "ThrottlingException",
                    "retryAfter": 7,
                }
            }
        }
    )
    with pytest.raises(ClientError) as throttled:
        client.get_register_account_status()
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["retryAfterSeconds"] == 7
    runner.apply({"simulator": {"forget": True}})
    with pytest.raises(ClientError) as forgotten:
        client.get_register_account_status()
    assert forgotten.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.skipif(simulator_keeps_regions(), reason="the simulator keeps state per Region")
def test_another_region_is_refused_before_anything_starts_while_the_simulator_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(self: Rehearsal) -> Rehearsal:
        raise AssertionError("the rehearsal was started")

    monkeypatch.setattr(Rehearsal, "__enter__", never)
    scenario = Scenario(steps=[{"simulator": {"target": EU, "forget": True}}], source="s.yaml")
    with pytest.raises(ScenarioError) as caught:
        run_scenario(scenario)
    assert str(caught.value) == (
        "s.yaml: step 1 (simulator): the simulator keeps one registration, for the stack's "
        "own account and Region: it cannot script another target"
    )


@pytest.mark.skipif(not simulator_keeps_regions(), reason="the simulator keeps one Region")
def test_a_simulator_line_for_another_region_changes_that_region_only(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    runner.apply({"simulator": {"target": EU, "status": "REGISTRATION_SUCCESS"}})
    eu = fleetwise(runner, "eu-central-1").get_register_account_status()
    assert eu["accountStatus"] == "REGISTRATION_SUCCESS"
    with pytest.raises(ClientError) as home:
        fleetwise(runner).get_register_account_status()
    assert home.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_expectations_report_each_difference_in_words(
    start: Callable[..., ScenarioRunner],
) -> None:
    runner = start(**OPERATOR)
    r = runner.rehearsal
    runner.apply({"write": {"mode": "cloudwatch"}})
    runner.finish()
    runner.apply("tick")  # the schedule's check (its heartbeat alarm is quiet from then on)
    status = r.status(T)
    assert status is not None
    held = parse_expectations(
        {
            "targets": {
                T: {
                    "phase": "Registered",
                    "reason": "Registered",
                    "current": True,
                    "lease": "released",
                    "attempts": 0,  # Registered: the failure budget starts afresh
                    "lastError": None,
                },
                EU: None,
            },
            "calls": {"RegisterAccount": 1, "ListCampaigns": 0},
            "executions": {"SUCCEEDED": 1, "total": 1, "FAILED": 0},
            "alarms": [],
        }
    )
    assert check_expectations(r, held) == []
    # WHEN the account loses its registration and a new token starts a run that registers
    runner.apply({"simulator": {"forget": True}})
    runner.apply({"patch": {"reconcileToken": "unseen"}})
    status = r.status(T)
    assert status is not None
    wrong = parse_expectations(
        {
            "targets": {
                T: {
                    "phase": "Failed",
                    "reason": "Boom",
                    "current": True,
                    "lease": "released",
                    "attempts": 2,
                    "lastError": "AccessDeniedException",
                    "messageContains": "denied",
                },
                EU: {"phase": "Registered"},
            },
            "calls": {"RegisterAccount": 3},
            "executions": {"RUNNING": 0, "total": 5},
            "alarms": ["ExecutionsAbortedAlarm"],
        }
    )
    lease = r.lease(T)
    assert lease is not None
    holder = str(lease["holder"]).rsplit(":", 1)[-1]
    [item] = r.specs()
    assert check_expectations(r, wrong) == [
        f"{T}: phase is 'Registered', expected 'Failed'",
        f"{T}: reason is 'Registered', expected 'Boom'",
        f"{T}: attempts is 1, expected 2",
        f"{T}: lastError is None, expected 'AccessDeniedException'",
        f"{T}: message {status['message']!r} does not contain 'denied'",
        f"{T}: current is False (the item is spec {spec_hash(item)}, the status is about "
        f"{status['specHash']}), expected True",
        f"{T}: lease is held by {holder}, expected released",
        f"{EU}: no status recorded",
        "calls: RegisterAccount was called 2 time(s), expected 3",
        "executions: 1 RUNNING, expected 0",
        "executions: 2 total, expected 5",
        "alarms: in ALARM none, expected ['ExecutionsAbortedAlarm']",
    ]
    runner.finish()
    assert check_expectations(r, parse_expectations({"targets": {T: None}})) == [
        f"{T}: expected no status, found phase Registered"
    ]


def test_run_until_needs_the_manual_clock_and_a_moment_ahead() -> None:
    with Rehearsal(OPERATOR) as r:
        with pytest.raises(RuntimeError) as auto:
            r.run_until(None)
        assert str(auto.value) == (
            "run_until drives the clock: set clock.auto_advance = False first"
        )
        r.clock.auto_advance = False
        r.run_until(at(30))
        with pytest.raises(ValueError) as past:
            r.run_until(datetime(2026, 11, 26, 12, 0, 10, tzinfo=UTC))
        assert str(past.value) == (
            "2026-11-26T12:00:10Z is earlier than the virtual now 2026-11-26T12:00:30Z"
        )

"""The scheduled drift check with moto's DynamoDB and Step Functions, FleetWise behind
botocore's Stubber (every FleetWise call a tick makes is queued here, and only those)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from handler_fakes import Clock, executions, status_response

from fleetwise_reconciler import budget
from fleetwise_reconciler import errors as errors_module
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.errors import FleetWiseTerminalError
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.handlers import drift_check
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.settings import get_settings

REGION = "us-east-1"
TARGET = "123456789012:us-east-1"
OTHER_REGION_TARGET = "123456789012:eu-central-1"
HOLDER = "arn:aws:states:us-east-1:123456789012:execution:Reconcile:earlier"
NAME = "drift-123456789012-us-east-1-20261126T1200Z"
# One per tick, whatever the targets: the silent-checker alarm watches it.
HEARTBEAT = {"target": None, "values": {"DriftChecks": [1.0]}, "dimensions": [["service"]]}
STATES = ("Healthy", "Paused", "Reconciling", "Drifted", "Unobserved", "Blocked", "Failed",
          "Invalid")  # fmt: skip


def fleet(**counts: int) -> list[dict[str, Any]]:
    """What ends every tick: the fleet's count in each state (zeros included), the heartbeat."""
    return [
        {
            "target": None,
            "state": state,
            "values": {"Targets": [float(counts.get(state, 0))]},
            "dimensions": [["service", "state"]],
        }
        for state in STATES
    ] + [HEARTBEAT]


# What a run records of a successful registration (the part a tick compares with its own).
SEEN_REGISTERED = {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"}


def record_status(
    statuses: StatusRepository, now: Clock, target: str, raw: dict[str, Any], **fields: Any
) -> None:
    """Arrange a STATUS item for ``raw``'s version the way a run writes it (under the lease)."""
    statuses.acquire_lease(target, HOLDER, now=now(), lease_seconds=60)
    statuses.put_status(target, HOLDER, {"specHash": spec_hash(raw), **fields})
    statuses.release_lease(target, HOLDER)


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """(target, metric values, dimension sets) of every EMF line printed."""
    out = []
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        found = {
            "target": doc.get("target"),
            "values": {m["Name"]: doc[m["Name"]] for m in directive["Metrics"]},
            "dimensions": [sorted(d) for d in directive["Dimensions"]],
        }
        if "state" in doc:
            found = {"target": found["target"], "state": doc["state"], **found}
        out.append(found)
    return out


def tick(
    specs: SpecRepository,
    statuses: StatusRepository,
    fleetwise: FleetWise,
    client: Any,
) -> dict[str, Any]:
    return drift_check.handle({}, specs=specs, statuses=statuses, fleetwise=lambda _r: fleetwise,
                              stepfunctions=client)  # fmt: skip


def test_steady_state_costs_one_status_call_and_starts_nothing(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a registered target whose status says so
    fleetwise, stub = stubbed
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    record_status(status_repository, now, TARGET, {"target": TARGET}, phase="Registered",
                  reason="UpToDate", observed=SEEN_REGISTERED)  # fmt: skip
    capsys.readouterr()
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    # WHEN the schedule fires
    result = tick(spec_repository, status_repository, fleetwise, client)
    # THEN exactly one GetRegisterAccountStatus (Stubber), no execution, and no series of
    # the target's own: it is counted healthy in the fleet's counts
    assert result["started"] == []
    assert [t["why"] for t in result["targets"]] == ["InSync"]
    assert executions(client, arn) == []
    assert emitted(capsys) == fleet(Healthy=1)


def test_enforced_drift_starts_one_named_run_and_reports_it(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleetwise, stub = stubbed
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    record_status(status_repository, now, TARGET, {"target": TARGET}, phase="Registered",
                  reason="UpToDate")  # fmt: skip
    capsys.readouterr()
    for _ in range(2):
        stub.add_response(
            "get_register_account_status", status_response("REGISTRATION_FAILURE"), {}
        )
    result = tick(spec_repository, status_repository, fleetwise, client)
    assert result["started"] == [NAME]
    assert executions(client, arn) == [
        {"name": NAME, "input": {"target": TARGET, "trigger": "schedule", "eventId": NAME}}
    ]
    # AND the target is Reconciling (the run repairs the drift): within its grace nothing is
    # reported, but the drift check remembers since when it has seen it so
    assert emitted(capsys) == fleet(Reconciling=1)
    assert status_repository.get_status_and_watch(TARGET)[1] == {
        "state": "Reconciling",
        "since": "2026-11-26T12:00:00.000Z",
        "reported": False,
    }
    # AND the same tick delivered again within the minute starts no second run (Step
    # Functions answers a running execution's name and input idempotently)
    tick(spec_repository, status_repository, fleetwise, client)
    assert len(executions(client, arn)) == 1


def test_a_running_reconcile_is_left_alone(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
) -> None:
    fleetwise, stub = stubbed
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    status_repository.acquire_lease(TARGET, HOLDER, now=now(), lease_seconds=1800)
    stub.add_response("get_register_account_status", status_response("REGISTRATION_PENDING"), {})
    result = tick(spec_repository, status_repository, fleetwise, client)
    assert [t["why"] for t in result["targets"]] == ["RunActive"]
    assert executions(client, arn) == []


def test_an_expired_lease_does_not_hold_the_target(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
) -> None:
    fleetwise, stub = stubbed
    client, _arn = state_machine
    spec_repository.put({"target": TARGET})
    status_repository.acquire_lease(TARGET, HOLDER, now=now(), lease_seconds=60)
    now.advance(61)
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
    )
    result = tick(spec_repository, status_repository, fleetwise, client)
    assert result["started"] == ["drift-123456789012-us-east-1-20261126T1201Z"]


def test_a_status_whose_item_is_gone_gets_a_run_unless_it_says_unmanaged_or_a_run_holds_it(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN three statuses whose spec items were deleted, and no item at all: one says the
    # run that died failed, one says Unmanaged already, one is held by a running run
    fleetwise, _stub = stubbed
    client, arn = state_machine
    died, recorded, held = (f"12345678901{n}:us-east-1" for n in (1, 2, 3))
    record_status(status_repository, now, died, {"target": died}, phase="Failed",
                  reason="ExecutionTimedOut")  # fmt: skip
    record_status(status_repository, now, recorded, {"target": recorded}, phase="Unmanaged",
                  reason="SpecDeleted")  # fmt: skip
    record_status(status_repository, now, held, {"target": held}, phase="Failed",
                  reason="ExecutionTimedOut")  # fmt: skip
    status_repository.acquire_lease(held, HOLDER, now=now(), lease_seconds=1800)
    capsys.readouterr()
    # WHEN a tick runs (the stub has no FleetWise answer queued: a call would fail the test)
    result = tick(spec_repository, status_repository, fleetwise, client)
    # THEN only the status that does not say Unmanaged, unheld, gets a run; no target metrics
    name = f"drift-{died.replace(':', '-')}-20261126T1200Z"
    assert result == {
        "checked": 0,
        "started": [name],
        "unobserved": [],
        "targets": [],
        "batches": 0,
    }
    assert executions(client, arn) == [
        {"name": name, "input": {"target": died, "trigger": "schedule", "eventId": name}}
    ]
    assert emitted(capsys) == fleet()


def test_invalid_and_paused_targets_are_reported_without_a_call(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an invalid spec already recorded as Invalid, and a paused target in another Region
    # already recorded as Paused
    fleetwise, stub = stubbed
    client, _arn = state_machine
    invalid = {"target": TARGET, "colour": "blue"}
    paused = {"target": OTHER_REGION_TARGET, "paused": True}
    spec_repository.put(invalid)
    spec_repository.put(paused)
    record_status(status_repository, now, TARGET, invalid, phase="Invalid", reason="InvalidSpec")
    record_status(
        status_repository,
        now,
        OTHER_REGION_TARGET,
        paused,
        phase="Paused",
        reason="Paused",
        observed=SEEN_REGISTERED,
    )
    capsys.readouterr()
    # the paused target's Region is observed (one call): paused targets report their health
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    result = tick(spec_repository, status_repository, fleetwise, client)
    assert result["started"] == []
    assert sorted((t["target"], t["why"]) for t in result["targets"]) == [
        (OTHER_REGION_TARGET, "Paused"),
        (TARGET, "AlreadyRecorded"),
    ]
    # AND the invalid target is reported in trouble under its name; the paused one is not
    assert emitted(capsys) == [
        {
            "target": TARGET,
            "state": "Invalid",
            "values": {"TargetInTrouble": [1.0]},
            "dimensions": [["service", "state", "target"]],
        },
        *fleet(Paused=1, Invalid=1),
    ]


def test_targets_of_one_account_and_region_share_one_observation(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
) -> None:
    client, _arn = state_machine
    regions: list[str] = []

    class Port(FleetWise):
        def get_status(self) -> dict[str, Any]:
            return {"registered": False}

    def port_for(region: str) -> FleetWise:
        regions.append(region)
        return Port(client=object())

    spec_repository.put({"target": TARGET})
    spec_repository.put({"target": OTHER_REGION_TARGET})
    drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                       fleetwise=port_for, stepfunctions=client)  # fmt: skip
    assert sorted(regions) == ["eu-central-1", "us-east-1"]


def test_a_target_that_cannot_be_observed_is_reported_under_its_name_and_the_others_checked(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two targets in two Regions, observed in parallel, each through its own port, one
    # throttled on every attempt the tick makes (OBSERVE_ATTEMPTS)
    monkeypatch.setattr(drift_check, "pause", lambda _seconds: None)
    fleetwise, stub = stubbed
    other_client = boto3.client(
        "iotfleetwise",
        region_name="eu-central-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    client, _arn = state_machine
    spec_repository.put({"target": TARGET})
    spec_repository.put({"target": OTHER_REGION_TARGET})
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
    )
    with Stubber(other_client) as other_stub:
        for _ in range(drift_check.OBSERVE_ATTEMPTS):
            other_stub.add_client_error(
                "get_register_account_status",
                service_error_code="ThrottlingException",
                http_status_code=400,
            )
        ports = {REGION: fleetwise, "eu-central-1": FleetWise(other_client)}
        # WHEN the schedule fires
        result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                    fleetwise=ports.__getitem__, stepfunctions=client)  # fmt: skip
        other_stub.assert_no_pending_responses()
    # THEN the tick does not fail: the target it could not observe is Unobserved, reported
    # under its own name (the per-target alarm names it); the other one was checked (not
    # registered: a run starts, Reconciling within its grace) and the check still beat
    assert result["unobserved"] == [f"{OTHER_REGION_TARGET} (ThrottlingException)"]
    assert [t["target"] for t in result["targets"]] == [TARGET]
    assert emitted(capsys) == [
        {
            "target": OTHER_REGION_TARGET,
            "state": "Unobserved",
            "values": {"TargetInTrouble": [1.0]},
            "dimensions": [["service", "state", "target"]],
        },
        *fleet(Reconciling=1, Unobserved=1),
    ]
    assert status_repository.get_status_and_watch(OTHER_REGION_TARGET)[1] == {
        "state": "Unobserved",
        "since": "2026-11-26T12:00:00.000Z",
        "reported": True,
    }


def test_an_unobserved_target_is_cleared_once_a_check_observes_it_again(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a registered target whose observation is refused on one tick
    fleetwise, stub = stubbed
    client, _arn = state_machine
    registered(status_repository, spec_repository, now, TARGET)
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="AccessDeniedException",
        http_status_code=403,
    )
    tick(spec_repository, status_repository, fleetwise, client)
    capsys.readouterr()
    # WHEN the next tick observes it, registered as declared
    now.advance(900)
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    tick(spec_repository, status_repository, fleetwise, client)
    # THEN its trouble is cleared (0), once, and its memory deleted
    assert emitted(capsys) == [
        {
            "target": TARGET,
            "state": "Unobserved",
            "values": {"TargetInTrouble": [0.0]},
            "dimensions": [["service", "state", "target"]],
        },
        *fleet(Healthy=1),
    ]
    assert status_repository.get_status_and_watch(TARGET)[1] is None
    # AND a third tick reports nothing of the target's own
    now.advance(900)
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    tick(spec_repository, status_repository, fleetwise, client)
    assert emitted(capsys) == fleet(Healthy=1)


def test_a_recorded_failure_stays_failed_when_the_target_cannot_be_observed(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleetwise, stub = stubbed
    client, _arn = state_machine
    spec_repository.put({"target": TARGET})
    record_status(status_repository, now, TARGET, {"target": TARGET}, phase="Failed",
                  reason="AccessDeniedException")  # fmt: skip
    capsys.readouterr()
    stub.add_client_error(
        "get_register_account_status",
        service_error_code="AccessDeniedException",
        http_status_code=403,
    )
    tick(spec_repository, status_repository, fleetwise, client)
    assert emitted(capsys) == [
        {
            "target": TARGET,
            "state": "Failed",
            "values": {"TargetInTrouble": [1.0]},
            "dimensions": [["service", "state", "target"]],
        },
        *fleet(Failed=1),
    ]


def test_a_drift_nothing_repairs_is_reported_once_its_grace_has_passed(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an observe-only target whose drift is recorded, and a drift grace of 2 x 900 s
    monkeypatch.setenv("HEALTH_ALARM_PERIOD_SECONDS", "900")
    monkeypatch.setenv("DRIFT_ALARM_PERIODS", "2")
    fleetwise, stub = stubbed
    client, _arn = state_machine
    raw = {"target": TARGET, "policy": "observe-only"}
    spec_repository.put(raw)
    failure = {"registered": True, "accountStatus": "REGISTRATION_FAILURE"}
    record_status(status_repository, now, TARGET, raw, phase="Drifted", reason="DriftDetected",
                  drift=["the account's registration is REGISTRATION_FAILURE"],
                  observed=failure)  # fmt: skip
    capsys.readouterr()
    trouble = {
        "target": TARGET,
        "state": "Drifted",
        "values": {"TargetInTrouble": [1.0]},
        "dimensions": [["service", "state", "target"]],
    }
    reported = []
    for _ in range(4):  # ticks at 12:00, 12:15, 12:30, 12:45
        stub.add_response(
            "get_register_account_status", status_response("REGISTRATION_FAILURE"), {}
        )
        tick(spec_repository, status_repository, fleetwise, client)
        reported.append(trouble in emitted(capsys))
        now.advance(900)
    # THEN the drift is reported from the tick 30 minutes after the first that saw it
    assert reported == [False, False, True, True]


def test_targets_unobserved_past_their_grace_are_each_reported_and_counted(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN two targets whose status checks are throttled, each remembered unobserved since
    # an hour ago (past the grace of the unhealthy alarm's periods)
    client, _arn = state_machine
    since = {"state": "Unobserved", "since": "2026-11-26T11:00:00.000Z", "reported": False}
    for target in (TARGET, OTHER_REGION_TARGET):
        spec_repository.put({"target": target})
        status_repository.put_watch(target, since)
    capsys.readouterr()

    class Throttled(FleetWise):
        def get_status(self) -> dict[str, Any]:
            raise errors_module.FleetWiseTransientError(
                "ThrottlingException", "Rate exceeded", operation="GetRegisterAccountStatus"
            )

    # WHEN the tick runs
    drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                       fleetwise=lambda _r: Throttled(client=object()),
                       stepfunctions=client)  # fmt: skip
    # THEN each is in trouble from the moment remembered, and the fleet counts both
    trouble = [
        {
            "target": target,
            "state": "Unobserved",
            "values": {"TargetInTrouble": [1.0]},
            "dimensions": [["service", "state", "target"]],
        }
        for target in (OTHER_REGION_TARGET, TARGET)
    ]
    found = emitted(capsys)
    assert sorted(found[: len(trouble)], key=lambda e: str(e["target"])) == trouble
    assert found[len(trouble) :] == fleet(Unobserved=2)
    # AND what each remembers now says the trouble was reported, since the same moment
    for target in (TARGET, OTHER_REGION_TARGET):
        assert status_repository.get_status_and_watch(target)[1] == since | {"reported": True}


def test_a_watch_whose_item_is_gone_is_cleared_and_deleted(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleetwise, _stub = stubbed
    client, _arn = state_machine
    gone = "123456789019:us-east-1"
    status_repository.put_watch(
        gone, {"state": "Unobserved", "since": "2026-11-26T11:00:00.000Z", "reported": True}
    )
    capsys.readouterr()
    tick(spec_repository, status_repository, fleetwise, client)
    assert emitted(capsys) == [
        {
            "target": gone,
            "state": "Unobserved",
            "values": {"TargetInTrouble": [0.0]},
            "dimensions": [["service", "state", "target"]],
        },
        *fleet(),
    ]
    assert status_repository.get_status_and_watch(gone) == (None, None)


def test_the_fleets_counts_add_up_to_its_targets(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN one target in each state a tick can tell from one observation per account/Region
    client, _arn = state_machine
    items = {
        "123456789012:us-east-1": ({}, "Registered", SEEN_REGISTERED),
        "123456789013:us-east-1": ({"paused": True}, "Paused", SEEN_REGISTERED),
        "123456789014:us-east-1": ({}, "Failed", None),
        "123456789015:us-east-1": ({}, "Blocked", None),
        "123456789016:us-east-1": ({"colour": "blue"}, "Invalid", None),
        "123456789017:us-east-1": ({"policy": "observe-only"}, "Drifted", None),
        "123456789018:us-east-1": ({}, None, None),
    }
    for target, (extra, phase, observed) in items.items():
        raw = {"target": target, **extra}
        spec_repository.put(raw)
        if phase is not None:
            fields = {"observed": observed} if observed else {}
            record_status(status_repository, now, target, raw, phase=phase, reason=phase,
                          **fields)  # fmt: skip
    capsys.readouterr()
    answers = {
        "123456789012": "REGISTRATION_SUCCESS",
        "123456789013": "REGISTRATION_SUCCESS",
        "123456789014": "REGISTRATION_FAILURE",
        "123456789015": "REGISTRATION_FAILURE",
        "123456789017": "REGISTRATION_FAILURE",
        "123456789018": "REGISTRATION_PENDING",
    }

    class Port(FleetWise):
        def __init__(self, account: str) -> None:
            super().__init__(client=object())
            self.account = account

        def get_status(self) -> dict[str, Any]:
            if self.account == "123456789018":
                raise FleetWiseTerminalError("AccessDeniedException", "no")
            return {"registered": True, "accountStatus": answers[self.account]}

    # one observation at a time, in the order of the keys, so each port knows its account
    monkeypatch.setattr(drift_check, "OBSERVE_THREADS", 1)
    monkeypatch.setenv("MEMBER_ACCOUNT_IDS", ",".join(t.split(":")[0] for t in items))
    get_settings.cache_clear()
    accounts = iter(sorted(t for t in items if t != "123456789016:us-east-1"))
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                fleetwise=lambda _r: Port(next(accounts).split(":")[0]),
                                stepfunctions=client)  # fmt: skip
    counts = {
        m["state"]: m["values"]["Targets"][0] for m in emitted(capsys) if "Targets" in m["values"]
    }
    # THEN every target is counted in exactly one state, and the states add up to the fleet
    assert sum(counts.values()) == len(items)
    assert {s: c for s, c in counts.items() if c} == {
        "Healthy": 1, "Paused": 1, "Failed": 1, "Blocked": 1, "Invalid": 1, "Drifted": 1,
        "Unobserved": 1,
    }  # fmt: skip
    assert len(result["targets"]) + len(result["unobserved"]) == len(items)


def test_a_target_given_a_run_and_one_in_trouble_are_each_logged_with_the_plan(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a target recorded Registered whose account now reports a failure (us-east-1),
    # and one recorded Failed with its attempts spent that still reports it (eu-central-1)
    client, _arn = state_machine
    for target in (TARGET, OTHER_REGION_TARGET):
        spec_repository.put({"target": target})
    record_status(status_repository, now, TARGET, {"target": TARGET}, phase="Registered",
                  reason="UpToDate", observed=SEEN_REGISTERED)  # fmt: skip
    spent = get_settings().max_registration_attempts
    version = spec_hash({"target": OTHER_REGION_TARGET})
    record_status(status_repository, now, OTHER_REGION_TARGET, {"target": OTHER_REGION_TARGET},
                  phase="Failed", reason="RegistrationFailed",
                  drift=["IoT FleetWise reports REGISTRATION_FAILURE"],
                  observed={"registered": True, "accountStatus": "REGISTRATION_FAILURE"},
                  attempts={"specHash": version, "count": spent, "refused": 0})  # fmt: skip

    class Failing(FleetWise):
        def get_status(self) -> dict[str, Any]:
            return {"registered": True, "accountStatus": "REGISTRATION_FAILURE"}

    caplog.clear()
    # WHEN the tick runs
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                fleetwise=lambda _r: Failing(client=object()),
                                stepfunctions=client)  # fmt: skip
    # THEN the first is given a run and the second only reported: each has its line, with
    # what the tick planned and the run it started, if any
    assert result["started"] == [NAME]
    fields = ("target", "why", "action", "reason", "state", "execution")
    lines = [
        {"message": r.getMessage()} | {k: getattr(r, k, None) for k in fields}
        for r in caplog.records
        if r.getMessage() == "drift checked"
    ]
    assert sorted(lines, key=lambda line: str(line["target"])) == [
        {"message": "drift checked", "target": OTHER_REGION_TARGET, "why": "ReportOnly",
         "action": "Failed", "reason": "RegistrationFailed", "state": "Failed",
         "execution": None},
        {"message": "drift checked", "target": TARGET, "why": "PlanActs",
         "action": "Register", "reason": "RegistrationFailed", "state": "Reconciling",
         "execution": NAME},
    ]  # fmt: skip


class RefusingOne:
    """The Step Functions client, except that StartExecution of one execution name fails."""

    def __init__(self, client: Any, name: str, error: Exception) -> None:
        self._client, self._name, self._error = client, name, error
        self.exceptions = client.exceptions

    def start_execution(self, **kwargs: Any) -> Any:
        if kwargs["name"] == self._name:
            raise self._error
        return self._client.start_execution(**kwargs)


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "InvalidName", "Message": "bad"}}, "StartExecution"),
        ClientError(
            {"Error": {"Code": "ExecutionLimitExceeded", "Message": "full"}}, "StartExecution"
        ),
        EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com"),
    ],
    ids=["refused", "limit", "no-answer"],
)
def test_one_targets_start_execution_failure_affects_that_target_only(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
) -> None:
    # GIVEN three targets needing a run (never reconciled), the first one's StartExecution
    # failing, and a status whose item is gone (the sweep's)
    client, arn = state_machine

    class Port(FleetWise):
        def get_status(self) -> dict[str, Any]:
            return {"registered": False}

    first, second, third = (f"12345678901{n}:us-east-1" for n in (1, 2, 3))
    for target in (first, second, third):
        spec_repository.put({"target": target})
    gone = "123456789019:us-east-1"
    record_status(status_repository, now, gone, {"target": gone}, phase="Failed",
                  reason="ExecutionTimedOut")  # fmt: skip
    names = {t: f"drift-{t.replace(':', '-')}-20261126T1200Z" for t in (first, second, third, gone)}
    capsys.readouterr()
    # WHEN the tick runs
    with pytest.raises(drift_check.DriftCheckIncomplete) as raised:
        drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                           fleetwise=lambda _r: Port(client=object()),
                           stepfunctions=RefusingOne(client, names[first], error))  # fmt: skip
    # THEN the others' runs start, the sweep's too, the check beats, and it fails at its end
    # naming the one target not started
    code = (
        "EndpointConnectionError"
        if isinstance(error, EndpointConnectionError)
        else (error.response["Error"]["Code"] if isinstance(error, ClientError) else "?")
    )
    assert str(raised.value) == (
        f"could not check {first} (StartExecution: {code}); the other targets were checked"
    )
    assert [e["name"] for e in executions(client, arn)] == sorted(
        [names[second], names[third], names[gone]]
    )
    # (two of the three are in accounts this stack may not manage: Invalid, yet each gets
    # the run that records it)
    assert emitted(capsys)[-len(STATES) - 1 :] == fleet(Reconciling=1, Invalid=2)


def test_observations_run_in_parallel_each_account_and_region_once() -> None:
    # GIVEN ports that each wait until three observations are in flight at once
    barrier = threading.Barrier(3, timeout=10)
    asked: list[str] = []

    class Port(FleetWise):
        def __init__(self, region: str) -> None:
            super().__init__(client=object())
            self.region = region

        def get_status(self) -> dict[str, Any]:
            asked.append(self.region)
            barrier.wait()  # breaks (and fails the test) unless three calls overlap
            return {"registered": False, "region": self.region}

    keys = ["123456789012:us-east-1", "123456789012:eu-central-1", "123456789012:ap-south-1"]
    observed, errors = drift_check.observe_all(keys + keys[:1], run="tick", given=Port)
    assert errors == {}
    assert sorted(asked) == ["ap-south-1", "eu-central-1", "us-east-1"]
    assert {k: v["region"] for k, v in observed.items()} == {k: k.split(":")[1] for k in keys}


def test_the_scheduled_event_reaches_the_handler(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No spec item: the tick checks nothing, calls nothing, starts nothing.
    monkeypatch.setenv("SPEC_TABLE_NAME", spec_repository._model.Meta.table_name)
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository)
    assert result == {"checked": 0, "started": [], "unobserved": [], "targets": [], "batches": 0}
    assert now() - now.moment == timedelta(0)


# A fleet larger than one invocation's batch: the tick's invocation checks the first batch
# and hands each further one to an asynchronous invocation of the same function.
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:stack-DriftCheckFunction-abc"
FLEET = [
    "123456789012:ap-south-1",
    "123456789012:eu-central-1",
    "123456789012:us-east-1",
    "123456789013:eu-central-1",
    "123456789013:us-east-1",
]
STAMP = "20261126T1200Z"
TICK_MILLIS = 1795694400000  # 2026-11-26T12:00:00Z, the minute STAMP names


@pytest.fixture
def lambda_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    """Batches of two targets, and a real Lambda client whose Invoke requests Stubber checks
    against the service model."""
    monkeypatch.setenv("DRIFT_CHECK_BATCH_SIZE", "2")
    client = boto3.client("lambda", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def hand_out_request(batch: int, batches: int, targets: list[str]) -> dict[str, Any]:
    """The Invoke of a batch of registered targets: the targets and their items (the items
    the tick read, which the batch does not read again)."""
    event = {"tick": STAMP, "batch": batch, "batches": batches, "targets": targets,
             "items": [{"target": target} for target in targets]}  # fmt: skip
    return {"FunctionName": FUNCTION, "InvocationType": "Event",
            "Payload": json.dumps(event).encode()}  # fmt: skip


def registered(
    statuses: StatusRepository, specs: SpecRepository, now: Clock, *targets: str
) -> None:
    for target in targets:
        specs.put({"target": target})
        record_status(statuses, now, target, {"target": target}, phase="Registered",
                      reason="UpToDate", observed=SEEN_REGISTERED)  # fmt: skip


def test_a_fleet_past_one_batch_is_handed_out_in_sorted_batches_and_the_first_checked_here(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    lambda_stub: tuple[Any, Stubber],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN five registered targets (written out of order) and batches of two
    fleetwise, stub = stubbed
    client, arn = state_machine
    lam, lam_stub = lambda_stub
    registered(status_repository, spec_repository, now, *reversed(FLEET))
    capsys.readouterr()
    # THEN the two later batches are handed out first, each once, asynchronously, each ending
    # where an account's targets end (the second account's two targets together) ...
    lam_stub.add_response("invoke", {"StatusCode": 202}, hand_out_request(1, 2, FLEET[2:3]))
    lam_stub.add_response("invoke", {"StatusCode": 202}, hand_out_request(2, 2, FLEET[3:]))
    # ... and the first two targets are observed here, one call each
    for _ in range(2):
        stub.add_response(
            "get_register_account_status", status_response("REGISTRATION_SUCCESS"), {}
        )
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                fleetwise=lambda _r: fleetwise, stepfunctions=client,
                                function=FUNCTION, lambda_client=lam)  # fmt: skip
    assert result["batches"] == 2
    assert [t["target"] for t in result["targets"]] == FLEET[:2]
    assert [t["why"] for t in result["targets"]] == ["InSync", "InSync"]
    assert executions(client, arn) == []
    # AND this invocation counts only its own targets; the heartbeat is the tick's one
    assert emitted(capsys) == fleet(Healthy=2)


def test_a_batch_checks_its_targets_and_counts_them_at_the_ticks_minute_without_a_heartbeat(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a batch of three targets handed out by the 12:00 tick, one of them drifted, one
    # deleted since, and the batch running a minute and a half later
    fleetwise, stub = stubbed
    client, arn = state_machine
    registered(status_repository, spec_repository, now, *FLEET[1:3])
    gone = "123456789014:us-east-1"
    now.advance(90)
    capsys.readouterr()
    stub.add_response("get_register_account_status", status_response("REGISTRATION_SUCCESS"), {})
    stub.add_response("get_register_account_status", status_response("REGISTRATION_FAILURE"), {})
    event = {"tick": STAMP, "batch": 1, "batches": 2, "targets": [*FLEET[1:3], gone]}
    # One observation at a time, in the order of the keys, so that the stubbed answers go to
    # the targets in the order queued (two threads took them in either order on a loaded
    # machine).
    serial = pytest.MonkeyPatch()
    serial.setattr(drift_check, "OBSERVE_THREADS", 1)
    result = drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                                fleetwise=lambda _r: fleetwise, stepfunctions=client)  # fmt: skip
    serial.undo()
    # THEN the drifted target's run is named after the tick, not the batch's own minute
    name = f"drift-123456789012-us-east-1-{STAMP}"
    assert result["batch"] == 1
    assert result["started"] == [name]
    assert [(t["target"], t["why"]) for t in result["targets"]] == [
        (FLEET[1], "InSync"),
        (FLEET[2], "PlanActs"),
    ]
    assert [e["name"] for e in executions(client, arn)] == [name]
    printed = capsys.readouterr().out
    lines = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    # AND its counts carry the tick's minute (CloudWatch adds them to the tick's other
    # invocations' counts), the drifted target's own series its own time, no heartbeat
    assert [(d.get("state"), d["_aws"]["Timestamp"]) for d in lines if "Targets" in d] == [
        (state, TICK_MILLIS) for state in STATES
    ]
    assert {d["state"]: d["Targets"] for d in lines if "Targets" in d} == {
        "Healthy": [1.0], "Paused": [0.0], "Reconciling": [1.0], "Drifted": [0.0],
        "Unobserved": [0.0], "Blocked": [0.0], "Failed": [0.0], "Invalid": [0.0],
    }  # fmt: skip
    assert not [d for d in lines if "DriftChecks" in d]


def test_a_batch_that_could_not_be_handed_out_fails_the_tick_and_counts_unobserved(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    lambda_stub: tuple[Any, Stubber],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleetwise, stub = stubbed
    client, _arn = state_machine
    lam, lam_stub = lambda_stub
    registered(status_repository, spec_repository, now, *FLEET)
    capsys.readouterr()
    lam_stub.add_response("invoke", {"StatusCode": 202}, hand_out_request(1, 2, FLEET[2:3]))
    lam_stub.add_client_error("invoke", service_error_code="TooManyRequestsException",
                              http_status_code=429,
                              expected_params=hand_out_request(2, 2, FLEET[3:]))  # fmt: skip
    for _ in range(2):
        stub.add_response(
            "get_register_account_status", status_response("REGISTRATION_SUCCESS"), {}
        )
    with pytest.raises(
        drift_check.DriftCheckIncomplete,
        match=r"^could not check the 2 targets of batch 2 \(TooManyRequestsException\); "
        "the other targets were checked$",
    ):
        drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                           fleetwise=lambda _r: fleetwise, stepfunctions=client,
                           function=FUNCTION, lambda_client=lam)  # fmt: skip
    # the batch that was not handed out counts as unobserved; the tick still beat
    assert emitted(capsys) == fleet(Healthy=2, Unobserved=2)


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ({"batch": 1, "targets": [TARGET]}, TypeError, "needs its tick's stamp, got None"),
        ({"batch": 1, "tick": "12:00", "targets": [TARGET]}, ValueError, "does not match"),
        ({"batch": 1, "tick": STAMP, "targets": TARGET}, TypeError, "needs a list of targets"),
        ({"batch": 1, "tick": STAMP, "targets": [1]}, TypeError, r"got \[1\]"),
        (
            {
                "batch": 1,
                "tick": STAMP,
                "targets": [TARGET],
                "items": [{"target": OTHER_REGION_TARGET}],
            },
            TypeError,
            "^a drift check batch's items must be items of its targets$",
        ),
        (
            {"batch": 1, "tick": STAMP, "targets": [TARGET], "items": {"target": TARGET}},
            TypeError,
            "^a drift check batch's items must be items of its targets$",
        ),
        (
            {"batch": 1, "tick": STAMP, "targets": [TARGET], "items": [[TARGET]]},
            TypeError,
            "^a drift check batch's items must be items of its targets$",
        ),
    ],
)
def test_a_malformed_batch_fails_before_any_call(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    stubbed: tuple[FleetWise, Stubber],
    state_machine: tuple[Any, str],
    event: dict[str, Any],
    error: type[Exception],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleetwise, _stub = stubbed  # no answer queued: any FleetWise call fails the test
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    with pytest.raises(error, match=message):
        drift_check.handle(event, specs=spec_repository, statuses=status_repository,
                           fleetwise=lambda _r: fleetwise, stepfunctions=client)  # fmt: skip
    assert executions(client, arn) == []
    assert emitted(capsys) == []


@pytest.mark.parametrize(
    ("count", "size", "own", "batches"),
    [
        (5, 2, 2, [[2, 3], [4]]),
        (4, 2, 2, [[2, 3]]),
        (3, 3, 3, []),
        (2, 500, 2, []),
        (0, 1, 0, []),
        (3, 1, 1, [[1], [2]]),
    ],
)
def test_split_keeps_the_first_batch_and_hands_out_the_rest_in_order(
    count: int, size: int, own: int, batches: list[list[int]]
) -> None:
    items = [{"target": f"t{i}", "other": i} for i in range(count)]
    mine, rest = drift_check.split(items, size)
    assert mine == items[:own]
    assert rest == [[items[i] for i in batch] for batch in batches]


@pytest.mark.parametrize(
    ("accounts", "size", "sizes"),
    [
        # an account's targets are never split across two invocations ...
        ("aaabbbccc", 4, [3, 3, 3]),
        ("aabbbcc", 4, [2, 3, 2]),
        ("abcdef", 4, [4, 2]),
        ("aabbcc", 4, [4, 2]),
        # ... unless one account alone has more targets than a batch holds
        ("aaaaab", 2, [2, 2, 2]),
        ("abbbbb", 2, [1, 2, 2, 1]),
    ],
)
def test_split_ends_a_batch_where_an_accounts_targets_end(
    accounts: str, size: int, sizes: list[int]
) -> None:
    items = [{"target": f"{account}:region-{i}"} for i, account in enumerate(accounts)]
    mine, rest = drift_check.split(items, size)
    assert [len(batch) for batch in [mine, *rest]] == sizes
    assert [raw for batch in [mine, *rest] for raw in batch] == items


def test_a_batch_lost_on_the_way_counts_unobserved_with_the_sdks_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Unreachable:
        def __init__(self) -> None:
            self.errors: list[Exception] = [
                EndpointConnectionError(endpoint_url="https://lambda.us-east-1.amazonaws.com"),
                # A code the Lambda model does not declare: botocore raises a plain ClientError
                ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "Invoke"),
            ]

        def invoke(self, **_request: Any) -> None:
            raise self.errors.pop(0)

    tally = drift_check.Tally()
    batches = [[{"target": "a"}, {"target": "b"}], [{"target": "c"}]]
    drift_check.hand_out(batches, tally, stamp=STAMP, function=FUNCTION, client=Unreachable())
    assert tally.missed == [
        "the 2 targets of batch 1 (EndpointConnectionError)",
        "the 1 targets of batch 2 (ServiceUnavailable)",
    ]
    assert dict(tally.fleet) == {drift_check.FleetState.UNOBSERVED: 3}
    fields = ("batch", "targets", "code", "detail")
    assert [
        {"level": r.levelname, "message": r.getMessage()}
        | {k: getattr(r, k, None) for k in fields}
        for r in caplog.records
    ] == [
        {"level": "ERROR", "message": "drift check could not hand out a batch", "batch": 1,
         "targets": 2, "code": "EndpointConnectionError",
         "detail": 'Could not connect to the endpoint URL: "https://lambda.us-east-1.amazonaws.com"'},
        {"level": "ERROR", "message": "drift check could not hand out a batch", "batch": 2,
         "targets": 1, "code": "ServiceUnavailable",
         "detail": "An error occurred (ServiceUnavailable) when calling the Invoke operation: x"},
    ]  # fmt: skip


def test_the_ticks_minute_is_read_from_its_stamp() -> None:
    assert drift_check.tick_moment(STAMP) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert drift_check.tick_moment(STAMP).timestamp() * 1000 == TICK_MILLIS
    with pytest.raises(ValueError, match="does not match format"):
        drift_check.tick_moment("2026-11-26T12:00Z")


class TimeLeft:
    def __init__(self, millis: float) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return int(self.millis)


def test_a_target_whose_work_may_not_finish_in_time_counts_unobserved(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN less time left than one target's work and the sweep may take (budget.py)
    client, arn = state_machine
    spec_repository.put({"target": TARGET})
    needed = budget.seconds(budget.LOOPS["DriftCheckFunction"]) + budget.DYNAMODB.worst_seconds
    capsys.readouterr()

    class Port(FleetWise):
        def get_status(self) -> dict[str, Any]:
            raise AssertionError("no observation may start")

    # WHEN the tick runs THEN nothing is observed or started, the check still beats, and it
    # fails at its end naming the target
    with pytest.raises(
        drift_check.DriftCheckIncomplete,
        match=rf"^could not check {TARGET} \(TimeBudgetSpent\)",
    ):
        drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                           fleetwise=lambda _r: Port(client=object()), stepfunctions=client,
                           deadline=budget.Deadline.of(TimeLeft(needed * 1000 - 1)))  # fmt: skip
    assert executions(client, arn) == []
    assert emitted(capsys) == fleet(Unobserved=1)
    # AND with that much time left, the target is checked and its run started
    drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                       fleetwise=lambda _r: FleetWiseNotRegistered(), stepfunctions=client,
                       deadline=budget.Deadline.of(TimeLeft(needed * 1000)))  # fmt: skip
    assert [e["name"] for e in executions(client, arn)] == [NAME]


class FleetWiseNotRegistered(FleetWise):
    def __init__(self) -> None:
        super().__init__(client=object())

    def get_status(self) -> dict[str, Any]:
        return {"registered": False}


def test_a_target_the_check_missed_is_logged_with_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tally = drift_check.Tally()
    error = drift_check._out_of_time("the sweep")
    assert error.as_dict() == {
        "code": "TimeBudgetSpent",
        "message": "no time left in this invocation",
        "retryable": True,
        "operation": "the sweep",
        "retryAfterSeconds": None,
    }
    drift_check.missed(tally, TARGET, error)
    drift_check.missed(tally, OTHER_REGION_TARGET, error)
    assert tally.missed == [
        f"{TARGET} (TimeBudgetSpent)",
        f"{OTHER_REGION_TARGET} (TimeBudgetSpent)",
    ]
    assert dict(tally.fleet) == {drift_check.FleetState.UNOBSERVED: 2}
    fields = ("target", "code", "operation", "detail")
    records = [
        {"level": r.levelname, "message": r.getMessage()} | {k: getattr(r, k, None) for k in fields}
        for r in caplog.records
    ]
    assert records == [
        {
            "level": "ERROR",
            "message": "drift check missed the target",
            "target": target,
            "code": "TimeBudgetSpent",
            "operation": "the sweep",
            "detail": "no time left in this invocation",
        }
        for target in (TARGET, OTHER_REGION_TARGET)
    ]


def test_batches_not_handed_out_in_time_are_missed() -> None:
    class NoCall:
        def invoke(self, **_request: Any) -> None:
            raise AssertionError("no batch may be handed out without the time to")

    tally = drift_check.Tally()
    tally.fleet[drift_check.FleetState.UNOBSERVED] = 1  # a target counted before
    batches = [[{"target": "a"}, {"target": "b"}], [{"target": "c"}]]
    drift_check.hand_out(batches, tally, stamp=STAMP, function=FUNCTION, client=NoCall(),
                         deadline=budget.Deadline.of(TimeLeft(0)))  # fmt: skip
    assert tally.missed == [
        "the 2 targets of batch 1 (TimeBudgetSpent)",
        "the 1 targets of batch 2 (TimeBudgetSpent)",
    ]
    assert dict(tally.fleet) == {drift_check.FleetState.UNOBSERVED: 4}


class _Context:
    """What Lambda passes the handler (the fields the Powertools logger reads)."""

    function_name = "stack-DriftCheckFunction-abc"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    aws_request_id = "request"

    def __init__(self, invoked_function_arn: str) -> None:
        self.invoked_function_arn = invoked_function_arn


@pytest.mark.parametrize("qualifier", ["", ":$LATEST", ":live", ":7"])
def test_the_hand_out_invokes_the_unqualified_arn_its_grant_names(
    monkeypatch: pytest.MonkeyPatch, qualifier: str
) -> None:
    # GIVEN the function invoked through its ARN, with or without a version or alias (the
    # grant DriftCheckHandOutPolicy names DriftCheckFunction.Arn: the unqualified ARN)
    handed: list[str | None] = []

    def handle(event: dict[str, Any], *, function: str | None = None, **_: Any) -> dict[str, Any]:
        handed.append(function)
        return {}

    monkeypatch.setattr(drift_check, "handle", handle)
    # WHEN a tick runs
    drift_check.lambda_handler({}, _Context(FUNCTION + qualifier))  # type: ignore[arg-type]
    # THEN its batches are handed to the unqualified ARN, whatever ARN it was invoked by
    assert handed == [FUNCTION]


class Refusing:
    """A Step Functions client whose StartExecution raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.exceptions = boto3.client("stepfunctions", region_name="us-east-1").exceptions

    def start_execution(self, **_kwargs: Any) -> Any:
        raise self.error


def test_a_start_refused_without_an_error_document_is_missed_as_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN StartExecution answering an error botocore could not parse (no Error document)
    tally = drift_check.Tally()
    refused = ClientError({"ResponseMetadata": {"HTTPStatusCode": 502}}, "StartExecution")
    # WHEN the check starts the target's run
    drift_check.start_for(tally, Refusing(refused), "arn:sm", TARGET, "drift-run")
    # THEN the target is missed under the code 'Unknown', and the log says so
    assert tally.started == []
    assert tally.missed == [f"{TARGET} (StartExecution: Unknown)"]
    assert [(r.getMessage(), getattr(r, "code", None)) for r in caplog.records] == [
        ("drift check could not start a run", "Unknown")
    ]


def test_a_start_that_fails_logs_the_target_the_run_and_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN StartExecution refused with a throttling error
    tally = drift_check.Tally()
    refused = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution"
    )
    # WHEN the check starts the target's run
    drift_check.start_for(tally, Refusing(refused), "arn:sm", TARGET, "drift-run")
    # THEN the log names the target, the run, the code and the error's text
    fields = ("target", "execution", "code", "detail")
    assert [
        {"message": r.getMessage()} | {k: getattr(r, k, None) for k in fields}
        for r in caplog.records
    ] == [
        {
            "message": "drift check could not start a run",
            "target": TARGET,
            "execution": "drift-run",
            "code": "ThrottlingException",
            "detail": str(refused),
        }
    ]
    assert tally.missed == [f"{TARGET} (StartExecution: ThrottlingException)"]


def test_a_run_already_started_this_minute_is_logged_with_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a tick's run that already exists (a redelivered tick)
    client = boto3.client("stepfunctions", region_name="us-east-1")
    already = client.exceptions.ExecutionAlreadyExists(
        {"Error": {"Code": "ExecutionAlreadyExists", "Message": "exists"}}, "StartExecution"
    )
    tally = drift_check.Tally()
    # WHEN the check starts it again
    drift_check.start_for(tally, Refusing(already), "arn:sm", TARGET, "drift-run")
    # THEN nothing is started or missed, and the log names the run
    assert (tally.started, tally.missed) == ([], [])
    assert [(r.getMessage(), getattr(r, "execution", None)) for r in caplog.records] == [
        ("drift run already started for this minute", "drift-run")
    ]


def test_targets_left_for_want_of_time_are_each_named_and_logged_with_the_check(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN two targets and less time left than one target's work may take
    client, _arn = state_machine
    spec_repository.put({"target": TARGET})
    spec_repository.put({"target": OTHER_REGION_TARGET})
    needed = budget.seconds(budget.LOOPS["DriftCheckFunction"]) + budget.DYNAMODB.worst_seconds

    class Port(FleetWise):
        def get_status(self) -> dict[str, Any]:
            raise AssertionError("no observation may start")

    # WHEN the tick runs THEN it fails at its end naming both, one after the other
    with pytest.raises(drift_check.DriftCheckIncomplete) as raised:
        drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                           fleetwise=lambda _r: Port(client=object()), stepfunctions=client,
                           deadline=budget.Deadline.of(TimeLeft(needed * 1000 - 1)))  # fmt: skip
    first, second = sorted([TARGET, OTHER_REGION_TARGET])
    assert str(raised.value) == (
        f"could not check {first} (TimeBudgetSpent), {second} (TimeBudgetSpent); the other "
        "targets were checked"
    )
    # AND each is logged as missed by the drift check itself
    assert [
        (r.getMessage(), getattr(r, "target", None), getattr(r, "operation", None))
        for r in caplog.records
        if r.getMessage() == "drift check missed the target"
    ] == [
        ("drift check missed the target", first, "the drift check"),
        ("drift check missed the target", second, "the drift check"),
    ]


def test_a_target_that_cannot_be_observed_is_logged_with_the_services_error(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    state_machine: tuple[Any, str],
    now: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a target whose status check is throttled
    client, _arn = state_machine
    spec_repository.put({"target": TARGET})

    class Throttled(FleetWise):
        def get_status(self) -> dict[str, Any]:
            raise errors_module.FleetWiseTransientError(
                "ThrottlingException", "Rate exceeded", operation="GetRegisterAccountStatus"
            )

    # WHEN the tick runs
    result = drift_check.handle({}, specs=spec_repository, statuses=status_repository,
                                fleetwise=lambda _r: Throttled(client=object()),
                                stepfunctions=client)  # fmt: skip
    # THEN the target is unobserved, and the log names the call and what the service said
    assert result["unobserved"] == [f"{TARGET} (ThrottlingException)"]
    fields = ("target", "code", "operation", "detail")
    assert [
        {"level": r.levelname} | {k: getattr(r, k, None) for k in fields}
        for r in caplog.records
        if r.getMessage() == "drift check could not observe the target"
    ] == [
        {"level": "ERROR", "target": TARGET, "code": "ThrottlingException",
         "operation": "GetRegisterAccountStatus", "detail": "Rate exceeded"},
    ]  # fmt: skip

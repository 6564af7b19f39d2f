"""The deploy's custom resource and the handler for executions that die."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from handler_fakes import Clock, load_event

from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository
from fleetwise_reconciler.handlers import deploy_spec, execution_failed
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.settings import get_settings

TARGET = "123456789012:us-east-1"
ROLE = "arn:aws:iam::123456789012:role/FleetWiseTimestream"
EXEC = "arn:aws:states:us-east-1:123456789012:execution:Reconcile:run-1"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:Reconcile:run-2"


class CloudFormation:
    """Receives the custom resource's answers on loopback, as CloudFormation's S3 URL would."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                owner.answers.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/response"

    def __enter__(self) -> CloudFormation:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    with CloudFormation() as fake:
        yield fake


def request(
    kind: str, url: str, properties: dict[str, str], old: dict[str, str] | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/fw/1",
        "RequestId": "req-1",
        "LogicalResourceId": "DefaultTargetSpec",
        "ResourceType": "Custom::FleetWiseTargetSpec",
        "ResourceProperties": {"ServiceToken": "arn:lambda", **properties},
    }
    if kind != "Create":
        event["PhysicalResourceId"] = TARGET
    if old is not None:
        event["OldResourceProperties"] = {"ServiceToken": "arn:lambda", **old}
    return event


MODERN = {"Target": TARGET, "Mode": "cloudwatch", "Policy": "enforce", "Paused": "false"}


@pytest.mark.parametrize(
    ("properties", "item"),
    [
        # only the target: the parameters' defaults, written out
        (
            {"Target": "123456789012:us-east-1"},
            {"target": "123456789012:us-east-1", "mode": "cloudwatch", "policy": "enforce",
             "paused": False},
        ),
        # blank parameters are their defaults too (CloudFormation passes '' for them)
        (
            {"Target": "123456789012:us-east-1", "Mode": "", "Policy": "", "Paused": "False"},
            {"target": "123456789012:us-east-1", "mode": "cloudwatch", "policy": "enforce",
             "paused": False},
        ),
        # every parameter given, as CloudFormation passes them (strings)
        (
            {"Target": "123456789012:us-east-1", "Mode": "cloudwatch", "Policy": "observe-only",
             "Paused": "true"},
            {"target": "123456789012:us-east-1", "mode": "cloudwatch", "policy": "observe-only",
             "paused": True},
        ),
    ],
    ids=["defaults", "blanks", "given"],
)  # fmt: skip
def test_the_spec_item_is_what_the_parameters_declare(
    properties: dict[str, Any], item: dict[str, Any]
) -> None:
    assert deploy_spec.spec_item(properties) == item


def test_a_timestream_spec_item_keeps_blank_names_blank_for_validation_to_refuse() -> None:
    # GIVEN Timestream mode without the database, table or role (parameters left empty)
    item = deploy_spec.spec_item({"Target": "123456789012:us-east-1", "Mode": "timestream"})
    # THEN the item says so as it is (no made-up names): validation refuses it by name
    assert item == {
        "target": "123456789012:us-east-1",
        "mode": "timestream",
        "policy": "enforce",
        "paused": False,
        "timestream": {"databaseName": "", "tableName": ""},
        "iamRoleArn": "",
    }


def test_create_writes_the_item_and_answers(
    spec_repository: SpecRepository, cloudformation: CloudFormation
) -> None:
    deploy_spec.handle(request("Create", cloudformation.url, MODERN), specs=spec_repository)
    assert spec_repository.get(TARGET) == {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "enforce",
        "paused": False,
    }
    assert cloudformation.answers == [
        {
            "Status": "SUCCESS",
            "Reason": f"wrote the spec item for {TARGET}",
            "PhysicalResourceId": TARGET,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/fw/1",
            "RequestId": "req-1",
            "LogicalResourceId": "DefaultTargetSpec",
            "Data": {"Target": TARGET},
        }
    ]


def test_create_legacy(spec_repository: SpecRepository, cloudformation: CloudFormation) -> None:
    properties = {
        **MODERN,
        "Mode": "timestream",
        "TimestreamDatabaseName": "fleet",
        "TimestreamTableName": "signals",
        "IamRoleArn": ROLE,
    }
    deploy_spec.handle(request("Create", cloudformation.url, properties), specs=spec_repository)
    assert spec_repository.get(TARGET) == {
        "target": TARGET,
        "mode": "timestream",
        "policy": "enforce",
        "paused": False,
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iamRoleArn": ROLE,
    }


def test_an_unrelated_stack_update_keeps_the_operators_edit(
    spec_repository: SpecRepository, cloudformation: CloudFormation
) -> None:
    edited = {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "observe-only",
        "reconcileToken": "t1",
    }
    spec_repository.put(edited)
    deploy_spec.handle(
        request("Update", cloudformation.url, MODERN, old=MODERN), specs=spec_repository
    )
    assert spec_repository.get(TARGET) == edited
    assert cloudformation.answers[0]["Status"] == "SUCCESS"


def test_a_parameter_change_rewrites_the_item(
    spec_repository: SpecRepository, cloudformation: CloudFormation
) -> None:
    spec_repository.put({"target": TARGET, "policy": "observe-only"})
    deploy_spec.handle(
        request("Update", cloudformation.url, {**MODERN, "Paused": "true"}, old=MODERN),
        specs=spec_repository,
    )
    assert spec_repository.get(TARGET) == {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "enforce",
        "paused": True,
    }


def test_delete_writes_nothing_and_never_deregisters(
    spec_repository: SpecRepository, cloudformation: CloudFormation
) -> None:
    spec_repository.put({"target": TARGET})
    deploy_spec.handle(request("Delete", cloudformation.url, MODERN), specs=spec_repository)
    assert spec_repository.get(TARGET) == {"target": TARGET}
    assert cloudformation.answers[0]["Status"] == "SUCCESS"
    assert cloudformation.answers[0]["Reason"] == (
        "left the spec item in place (no deregistration exists)"
    )


def test_invalid_parameters_fail_the_deploy_and_write_nothing(
    spec_repository: SpecRepository, cloudformation: CloudFormation
) -> None:
    properties = {**MODERN, "Mode": "timestream", "TimestreamDatabaseName": "x"}
    deploy_spec.handle(request("Create", cloudformation.url, properties), specs=spec_repository)
    assert spec_repository.get(TARGET) is None
    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == (
        "ValueError: the stack's parameters give an invalid spec: iamRoleArn: is required when "
        "mode is 'timestream'; timestream.databaseName: String should have at least 3 "
        "characters; timestream.tableName: String should have at least 3 characters"
    )


def failed_event(execution: str, status: str = "TIMED_OUT") -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": execution,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Reconcile",
            "name": execution.rsplit(":", 1)[1],
            "status": status,
            "input": json.dumps({"target": TARGET, "trigger": "stream"}),
            "error": None,
            "cause": None,
        },
    }


def test_a_timed_out_execution_records_and_releases(
    status_repository: StatusRepository, now: Clock
) -> None:
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.put_status(TARGET, EXEC, {"phase": "Registering", "specHash": "h1"})
    result = execution_failed.handle(failed_event(EXEC), statuses=status_repository)
    assert result == {"recorded": True, "released": True}
    assert status_repository.get_lease(TARGET) is None
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"]) == ("Failed", "ExecutionTimedOut")
    assert status["lastError"]["retryable"] is True
    assert status["message"] == (
        "the reconcile workflow ended TIMED_OUT (TIMED_OUT); the lease was released and the "
        "next edit or drift check tries again"
    )


def test_a_dead_run_is_recorded_against_the_spec_version_it_was_reconciling(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a status of an older version, and a run that observed a newer one, then died
    newer = {"target": TARGET, "reconcileToken": "t2"}
    spec_repository.put(newer)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=3900)
    status_repository.put_status(
        TARGET, EXEC, {"phase": "Registered", "specHash": "h-older", "observedSpec": {"a": 1}}
    )
    status_repository.renew_lease(
        TARGET, EXEC, now=now(), lease_seconds=3900, spec_hash=spec_hash(newer)
    )
    for _ in range(2):
        status_repository.count_attempt(TARGET, EXEC, spec_hash=spec_hash(newer), limit=5)
    # WHEN the failed-run rule delivers its end
    result = execution_failed.handle(
        failed_event(EXEC, "ABORTED"), statuses=status_repository, specs=spec_repository
    )
    # THEN the status names that version and item, keeps the durable count, and the lease is gone
    assert result == {"recorded": True, "released": True}
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["reason"], status["specHash"]) == (
        "Failed",
        "ExecutionAborted",
        spec_hash(newer),
    )
    assert status["observedSpec"] == newer
    assert status["attempts"] == {"specHash": spec_hash(newer), "count": 2, "refused": 0}
    assert status_repository.get_lease(TARGET) is None


def test_a_run_that_died_before_observing_keeps_the_recorded_version(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    spec_repository.put({"target": TARGET, "reconcileToken": "t2"})
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=3900)
    status_repository.put_status(
        TARGET, EXEC, {"phase": "Registered", "specHash": "h-older", "observedSpec": {"a": 1}}
    )
    execution_failed.handle(
        failed_event(EXEC, "FAILED"), statuses=status_repository, specs=spec_repository
    )
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["specHash"], status["observedSpec"]) == (
        "Failed",
        "h-older",
        {"a": 1},
    )


def test_a_dead_execution_never_overwrites_a_newer_runs_status(
    status_repository: StatusRepository, now: Clock
) -> None:
    status_repository.acquire_lease(TARGET, OTHER, now=now(), lease_seconds=1800)
    status_repository.put_status(TARGET, OTHER, {"phase": "Registering", "specHash": "h2"})
    result = execution_failed.handle(failed_event(EXEC, "ABORTED"), statuses=status_repository)
    assert result == {"recorded": False, "released": False}
    assert status_repository.get_status(TARGET) == {"phase": "Registering", "specHash": "h2"}
    assert status_repository.get_lease(TARGET)["holder"] == OTHER


def test_a_dead_run_that_noted_the_recorded_version_keeps_the_recorded_spec(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a run that noted on its lease the version the status already records, and a spec
    # item edited since (another version: its own run will come)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=3900)
    status_repository.put_status(
        TARGET, EXEC, {"phase": "Registered", "specHash": "h-recorded", "observedSpec": {"a": 1}}
    )
    status_repository.renew_lease(
        TARGET, EXEC, now=now(), lease_seconds=3900, spec_hash="h-recorded"
    )
    spec_repository.put({"target": TARGET, "reconcileToken": "edited"})
    # WHEN the run dies
    execution_failed.handle(
        failed_event(EXEC, "FAILED"), statuses=status_repository, specs=spec_repository
    )
    # THEN the failure is recorded against the recorded version and the spec it recorded
    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["phase"], status["specHash"], status["observedSpec"]) == (
        "Failed",
        "h-recorded",
        {"a": 1},
    )


def test_a_dead_run_without_a_lease_records_nothing(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a status and no lease at all (it expired, and nobody holds the target)
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.put_status(TARGET, EXEC, {"phase": "Registered", "specHash": "h1"})
    status_repository.release_lease_if_holder(TARGET, EXEC)
    # WHEN the failed-run rule delivers the run's end
    result = execution_failed.handle(
        failed_event(EXEC, "ABORTED"), statuses=status_repository, specs=spec_repository
    )
    # THEN nothing is written over the status (only a holder records) and nothing released
    assert result == {"recorded": False, "released": False}
    assert status_repository.get_status(TARGET) == {"phase": "Registered", "specHash": "h1"}


def test_the_sample_create_event(
    spec_repository: SpecRepository, cloudformation: CloudFormation
) -> None:
    event = {**load_event("custom-resource-create.json"), "ResponseURL": cloudformation.url}
    result = deploy_spec.handle(event, specs=spec_repository)
    assert result == {
        "Status": "SUCCESS",
        "Reason": f"wrote the spec item for {TARGET}",
        "PhysicalResourceId": TARGET,
    }
    assert spec_repository.get(TARGET) == {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "enforce",
        "paused": False,
    }


def test_the_sample_timed_out_event(status_repository: StatusRepository, now: Clock) -> None:
    event = load_event("execution-timed-out.json")
    execution = event["detail"]["executionArn"]
    status_repository.acquire_lease(TARGET, execution, now=now(), lease_seconds=1800)
    assert execution_failed.handle(event, statuses=status_repository) == {
        "recorded": True,
        "released": True,
    }


def test_an_event_without_input_reads_it_back(
    status_repository: StatusRepository, now: Clock
) -> None:
    class StepFunctions:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def describe_execution(self, executionArn: str) -> dict[str, Any]:
            self.asked.append(executionArn)
            return {"input": json.dumps({"target": TARGET, "trigger": "stream"})}

    event = failed_event(EXEC, "ABORTED")
    del event["detail"]["input"]
    fake = StepFunctions()
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    result = execution_failed.handle(event, statuses=status_repository, stepfunctions=fake)
    assert result == {"recorded": True, "released": True}
    assert fake.asked == [EXEC]
    assert status_repository.get_status(TARGET)["reason"] == "ExecutionAborted"


def _emitted(out: str) -> list[tuple[str, dict[str, Any], list[float]]]:
    """Each EMF record written: its metric's name, its dimensions' values, its values."""
    records = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    found = []
    for record in records:
        [directive] = record["_aws"]["CloudWatchMetrics"]
        [metric] = directive["Metrics"]
        names = {name for dimensions in directive["Dimensions"] for name in dimensions}
        found.append(
            (metric["Name"], {n: record[n] for n in sorted(names)}, record[metric["Name"]])
        )
    return found


def test_a_failed_execution_is_recorded_with_its_error_counted_and_logged(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a registered target whose run holds the lease, then fails with an error and cause
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.put_status(
        TARGET, EXEC, {"phase": "Registered", "specHash": "h1", "observedSpec": {"target": TARGET}}
    )
    event = failed_event(EXEC, "FAILED")
    event["detail"].update(error="States.TaskFailed", cause="boom")
    capsys.readouterr()
    # WHEN the failed-run rule delivers its end
    result = execution_failed.handle(event, statuses=status_repository, specs=spec_repository)
    # THEN the status is Failed for the version it had, with the workflow's error
    assert result == {"recorded": True, "released": True}
    at = "2026-11-26T12:00:00.000Z"
    message = (
        "the reconcile workflow ended FAILED (boom); the lease was released and the next edit "
        "or drift check tries again"
    )
    condition = {"lastTransitionTime": at, "message": message, "specHash": "h1", "status": "False"}
    assert status_repository.get_status(TARGET) == {
        "conditions": [
            {**condition, "reason": "ExecutionFailed", "type": "Ready"},
            {**condition, "reason": "ExecutionFailed", "type": "Synced"},
            {**condition, "reason": "InSync", "type": "Drifted"},
        ],
        "drift": [],
        "history": [
            {"at": at, "execution": EXEC, "phase": "Failed", "reason": "ExecutionFailed",
             "specHash": "h1"},
        ],
        "lastError": {"at": at, "code": "States.TaskFailed", "message": "boom",
                      "operation": "ReconcileWorkflow", "retryable": True},
        "lastExecutionArn": EXEC,
        "lastReconcileFinishedAt": at,
        "lastTransitionTime": at,
        "managedSince": at,
        "message": message,
        "observedSpec": {"target": TARGET},
        "phase": "Failed",
        "reason": "ExecutionFailed",
        "specHash": "h1",
        "updatedAt": at,
    }  # fmt: skip
    # AND the target is in trouble (Failed) and one failed registration is counted by reason
    assert _emitted(capsys.readouterr().out) == [
        ("TargetInTrouble", {"service": "fleetwise-reconciler", "state": "Failed",
                             "target": TARGET}, [1.0]),
        ("RegistrationFailed", {"reason": "ExecutionFailed", "service": "fleetwise-reconciler",
                                "target": TARGET}, [1.0]),
    ]  # fmt: skip
    # AND one log line says what was done
    fields = ("target", "execution", "status", "recorded", "released")
    assert [
        (r.levelname, r.getMessage(), {k: getattr(r, k, None) for k in fields})
        for r in caplog.records
    ] == [
        ("INFO", "dead execution handled", {"target": TARGET, "execution": EXEC,
         "status": "FAILED", "recorded": True, "released": True}),
    ]  # fmt: skip


def test_a_failed_run_of_a_blocked_target_moves_its_trouble_to_failed(
    spec_repository: SpecRepository,
    status_repository: StatusRepository,
    now: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a target recorded Blocked, whose next run holds the lease and then fails
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.put_status(TARGET, EXEC, {"phase": "Blocked", "specHash": "h1"})
    capsys.readouterr()
    # WHEN the failed-run rule delivers its end
    execution_failed.handle(
        failed_event(EXEC, "FAILED"), statuses=status_repository, specs=spec_repository
    )
    # THEN the Blocked trouble is cleared as the Failed one is raised: one target, one trouble
    dimensions = {"service": "fleetwise-reconciler", "target": TARGET}
    assert [e for e in _emitted(capsys.readouterr().out) if e[0] == "TargetInTrouble"] == [
        ("TargetInTrouble", {**dimensions, "state": "Blocked"}, [0.0]),
        ("TargetInTrouble", {**dimensions, "state": "Failed"}, [1.0]),
    ]


def test_a_failed_run_keeps_the_history_within_its_limit(
    spec_repository: SpecRepository, status_repository: StatusRepository, now: Clock
) -> None:
    # GIVEN a status whose history is full (HistoryLimit entries, all recent, newest first)
    limit = get_settings().history_limit
    entries = [{"at": "2026-11-26T11:00:00.000Z", "execution": f"run-{n}", "phase": "Failed",
                "reason": "ExecutionFailed", "specHash": "h1"} for n in range(limit)]  # fmt: skip
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    status_repository.put_status(
        TARGET, EXEC, {"phase": "Registered", "specHash": "h1", "history": entries}
    )
    # WHEN its run fails
    execution_failed.handle(
        failed_event(EXEC, "FAILED"), statuses=status_repository, specs=spec_repository
    )
    # THEN the oldest entry makes room for the failure: the history stays at its limit
    # (newest first: the failure, then every entry but the oldest)
    history = status_repository.get_status(TARGET)["history"]
    assert [e["execution"] for e in history] == [EXEC] + [f"run-{n}" for n in range(limit - 1)]


@pytest.mark.parametrize(
    ("detail", "reason", "code", "cause"),
    [
        # no status in the event: a failure, and the state is the cause
        ({"status": None, "error": None, "cause": None}, "ExecutionFailed", "ExecutionFailed",
         "FAILED"),
        # a state this handler does not know: a failure still
        ({"status": "PAUSED", "error": None, "cause": None}, "ExecutionFailed",
         "ExecutionFailed", "PAUSED"),
        # an error without a cause: the error is the cause
        ({"status": "FAILED", "error": "Lambda.Unknown", "cause": None}, "ExecutionFailed",
         "Lambda.Unknown", "Lambda.Unknown"),
        # a cause without an error: the reason is the code
        ({"status": "ABORTED", "error": None, "cause": "stopped by hand"}, "ExecutionAborted",
         "ExecutionAborted", "stopped by hand"),
    ],
    ids=["no-status", "unknown-status", "error-only", "cause-only"],
)  # fmt: skip
def test_what_a_dead_runs_event_leaves_out_is_filled_in(
    status_repository: StatusRepository,
    now: Clock,
    detail: dict[str, Any],
    reason: str,
    code: str,
    cause: str,
) -> None:
    status_repository.acquire_lease(TARGET, EXEC, now=now(), lease_seconds=1800)
    event = failed_event(EXEC)
    event["detail"].update(detail)
    if detail["status"] is None:
        del event["detail"]["status"]

    execution_failed.handle(event, statuses=status_repository)

    status = status_repository.get_status(TARGET)
    assert status is not None
    assert (status["reason"], status["lastError"]["code"], status["lastError"]["message"]) == (
        reason,
        code,
        cause,
    )


@pytest.mark.parametrize("given", ["{}", "[1, 2]", '{"trigger": "stream"}'])
def test_an_execution_whose_input_names_no_target_records_nothing_and_says_so(
    status_repository: StatusRepository, now: Clock, caplog: pytest.LogCaptureFixture, given: str
) -> None:
    event = failed_event(EXEC)
    event["detail"]["input"] = given

    assert execution_failed.handle(event, statuses=status_repository) == {
        "recorded": False,
        "released": False,
    }
    assert [
        (r.levelname, r.getMessage(), getattr(r, "execution", None)) for r in caplog.records
    ] == [("WARNING", "execution input has no target; nothing to record", EXEC)]


@pytest.mark.parametrize(
    ("kind", "physical_id", "properties", "answer"),
    [
        # CloudFormation names the resource it deletes: that is the answer's id, whatever the
        # properties say
        ("Delete", "spec-of-an-older-stack", MODERN, "spec-of-an-older-stack"),
        # a hand-made Delete without a physical id answers under the target, or 'spec'
        ("Delete", None, MODERN, TARGET),
        ("Delete", None, {}, "spec"),
        ("Update", "spec-of-an-older-stack", MODERN, "spec-of-an-older-stack"),
    ],
    ids=["delete", "delete-without-id", "delete-without-anything", "update-unchanged"],
)
def test_a_request_that_writes_nothing_answers_under_the_id_it_was_given(
    spec_repository: SpecRepository,
    cloudformation: CloudFormation,
    kind: str,
    physical_id: str | None,
    properties: dict[str, str],
    answer: str,
) -> None:
    event = request(kind, cloudformation.url, properties, old=properties)
    if physical_id is None:
        del event["PhysicalResourceId"]
    else:
        event["PhysicalResourceId"] = physical_id

    result = deploy_spec.handle(event, specs=spec_repository)

    reason = (
        "left the spec item in place (no deregistration exists)"
        if kind == "Delete"
        else "no spec property changed; the item (and any operator edit) is kept"
    )
    assert result == {"Status": "SUCCESS", "Reason": reason, "PhysicalResourceId": answer}
    [sent] = cloudformation.answers
    assert (sent["Status"], sent["Reason"], sent["PhysicalResourceId"]) == (
        "SUCCESS",
        reason,
        answer,
    )
    assert spec_repository.get(TARGET) is None


@pytest.mark.parametrize(
    ("physical_id", "properties", "answer", "reason"),
    [
        # a failed Create has no physical id yet: it answers under the target it was given
        (None, {**MODERN, "Mode": "bogus"}, TARGET, "ValueError: the stack's parameters give "
         "an invalid spec: mode: must be one of 'cloudwatch' or 'timestream', got 'bogus'"),
        # without even a target: under 'spec'
        (None, {}, "spec", "KeyError: 'Target'"),
        # a failed Update keeps the id CloudFormation gave
        ("spec-of-an-older-stack", {**MODERN, "Mode": "bogus"}, "spec-of-an-older-stack",
         "ValueError: the stack's parameters give an invalid spec: mode: must be one of "
         "'cloudwatch' or 'timestream', got 'bogus'"),
    ],
    ids=["create", "create-without-target", "update"],
)  # fmt: skip
def test_a_request_that_fails_answers_failed_under_the_id_it_has_and_logs_why(
    spec_repository: SpecRepository,
    cloudformation: CloudFormation,
    caplog: pytest.LogCaptureFixture,
    physical_id: str | None,
    properties: dict[str, str],
    answer: str,
    reason: str,
) -> None:
    kind = "Create" if physical_id is None else "Update"
    event = request(kind, cloudformation.url, properties, old=MODERN)
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id

    result = deploy_spec.handle(event, specs=spec_repository)

    assert result == {"Status": "FAILED", "Reason": reason, "PhysicalResourceId": answer}
    [sent] = cloudformation.answers
    assert (sent["Status"], sent["PhysicalResourceId"]) == ("FAILED", answer)
    failed = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [(r.getMessage(), getattr(r, "request", None)) for r in failed] == [
        ("custom resource failed", kind)
    ]
    assert spec_repository.get(TARGET) is None


def test_every_answer_to_cloudformation_is_logged_with_what_it_says(
    spec_repository: SpecRepository,
    cloudformation: CloudFormation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deploy_spec.handle(request("Create", cloudformation.url, MODERN), specs=spec_repository)

    answered = [r for r in caplog.records if r.getMessage() == "answering CloudFormation"]
    assert [(r.levelname, getattr(r, "status", None), getattr(r, "reason", None))
            for r in answered] == [
        ("INFO", "SUCCESS", f"wrote the spec item for {TARGET}")
    ]  # fmt: skip

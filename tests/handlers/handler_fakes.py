"""Fakes shared by the handler tests: a hand-moved clock and model-shaped FleetWise answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def status_response(
    status: str, *, timestream: dict[str, str] | None = None, role: str | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "customerAccountId": "123456789012",
        "accountStatus": status,
        "iamRegistrationResponse": {
            "roleArn": role
            or "arn:aws:iam::123456789012:role/aws-service-role/iotfleetwise.amazonaws.com/"
            "AWSServiceRoleForIoTFleetWise",
            "registrationStatus": status,
        },
        "creationTime": T0,
        "lastModificationTime": T0,
    }
    if timestream:
        response["timestreamRegistrationResponse"] = {
            "timestreamDatabaseName": timestream["databaseName"],
            "timestreamTableName": timestream["tableName"],
            "registrationStatus": status,
        }
    return response


EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (shared with `sam local invoke`)."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def executions(client: Any, arn: str) -> list[dict[str, Any]]:
    """The state machine's executions as (name, parsed input), sorted by name."""
    listed = client.list_executions(stateMachineArn=arn)["executions"]
    described = [client.describe_execution(executionArn=e["executionArn"]) for e in listed]
    return sorted(
        ({"name": d["name"], "input": json.loads(d["input"])} for d in described),
        key=lambda e: e["name"],
    )

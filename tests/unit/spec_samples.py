"""Specs and observations shared by the planning tests (test_plan, test_drift_logic)."""

from __future__ import annotations

from typing import Any

from fleetwise_reconciler.logic.validate import ValidationContext

ACCOUNT = "123456789012"
TARGET = f"{ACCOUNT}:us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/FleetWiseTimestream"
SLR = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/iotfleetwise.amazonaws.com/"
    "AWSServiceRoleForIoTFleetWise"
)
CONTEXT = ValidationContext(account_id=ACCOUNT)
MODERN = {"target": TARGET}
LEGACY = {
    "target": TARGET,
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": ROLE,
}
NOT_REGISTERED: dict[str, Any] = {"registered": False}

"""The deploy's custom resource: writes the default target's spec item from stack parameters.

- Create: write the item. Update: write it only when a spec-relevant property changed, so an
  operator's later edit of the item survives unrelated stack updates. Delete: write nothing
  and never deregister (IoT FleetWise has no such API); the item stays, management stops
  with the stack.
- It always answers CloudFormation, a failure too, with the reason (a stack never hangs on it).
- An invalid combination of parameters fails the deploy with the field-level message and
  writes nothing.
- The first registration is not missed: the stream's event source mapping exists before this
  resource (DependsOn) and reads from TRIM_HORIZON, so the record of this write is delivered
  whatever the order in which the mapping becomes active.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import budget, wiring
from fleetwise_reconciler.dal.repository import SpecRepository
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.observability import logger

SPEC_PROPERTIES = (
    "Target",
    "Mode",
    "Policy",
    "Paused",
    "TimestreamDatabaseName",
    "TimestreamTableName",
    "IamRoleArn",
)


def spec_item(properties: dict[str, Any]) -> dict[str, Any]:
    """The spec item the stack's parameters declare (CloudFormation passes strings)."""
    item: dict[str, Any] = {
        "target": str(properties["Target"]),
        "mode": str(properties.get("Mode") or "cloudwatch"),
        "policy": str(properties.get("Policy") or "enforce"),
        "paused": str(properties.get("Paused")).lower() == "true",
    }
    if item["mode"] == "timestream":
        item["timestream"] = {
            "databaseName": str(properties.get("TimestreamDatabaseName") or ""),
            "tableName": str(properties.get("TimestreamTableName") or ""),
        }
        item["iamRoleArn"] = str(properties.get("IamRoleArn") or "")
    return item


def _changed(event: dict[str, Any]) -> bool:
    new = event.get("ResourceProperties") or {}
    old = event.get("OldResourceProperties") or {}
    return any(str(new.get(key, "")) != str(old.get(key, "")) for key in SPEC_PROPERTIES)


def apply(
    event: dict[str, Any], *, specs: SpecRepository, context: ValidationContext
) -> tuple[str, str]:
    """Carry out the request; returns (physical resource id, what was done)."""
    request = event["RequestType"]
    properties = event.get("ResourceProperties") or {}
    physical_id = str(event.get("PhysicalResourceId") or properties.get("Target") or "spec")
    if request == "Delete":
        return physical_id, "left the spec item in place (no deregistration exists)"
    if request == "Update" and not _changed(event):
        return physical_id, "no spec property changed; the item (and any operator edit) is kept"
    item = spec_item(properties)
    result = validate(item, context)
    if not result.valid:
        raise ValueError(f"the stack's parameters give an invalid spec: {result.message}")
    specs.put(item)
    return item["target"], f"wrote the spec item for {item['target']}"


def respond(event: dict[str, Any], status: str, reason: str, physical_id: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {"Target": physical_id},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    # urllib's timeout bounds the connection and each read (budget.CLOUDFORMATION_RESPONSE).
    timeout = budget.CLOUDFORMATION_RESPONSE.read_timeout
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - as above
        answer.read()


def handle(
    event: dict[str, Any],
    *,
    specs: SpecRepository | None = None,
    context: ValidationContext | None = None,
) -> dict[str, str]:
    physical_id = str(
        event.get("PhysicalResourceId")
        or (event.get("ResourceProperties") or {}).get("Target")
        or "spec"
    )
    try:
        physical_id, reason = apply(
            event,
            specs=specs or wiring.spec_repository(),
            context=context or wiring.validation_context(),
        )
        status = "SUCCESS"
    except Exception as error:  # noqa: BLE001 - CloudFormation must always get an answer
        logger.exception("custom resource failed", request=event.get("RequestType"))
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    logger.info("answering CloudFormation", status=status, reason=reason)
    respond(event, status, reason, physical_id)
    return {"Status": status, "Reason": reason, "PhysicalResourceId": physical_id}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return handle(event)

"""Stream trigger: one reconcile execution per spec change, named from the stream record.

DynamoDB streams deliver at least once. The execution's name is the record's ``eventID``, so a
redelivered record cannot start a second run (``ExecutionAlreadyExists`` counts as success),
while a genuinely new change (a revert A → B → A included) has a new eventID and is reconciled.
Each record succeeds or fails on its own (partial batch response), so one bad record never
blocks the others; after the mapping's retries it goes to the on-failure queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleetwise_reconciler import budget, wiring
from fleetwise_reconciler.observability import COUNT, TRIGGER_FAILED_RECORDS, logger, publish
from fleetwise_reconciler.settings import get_settings
from fleetwise_reconciler.workflow import hashed_name, is_execution_name, start_reconcile


def execution_input(record: DynamoDBRecord) -> tuple[str, dict[str, Any]]:
    """The execution's name and input for one stream record."""
    keys = record.dynamodb.keys if record.dynamodb else None
    target = (keys or {}).get("target")
    if not isinstance(target, str) or not target:
        raise ValueError(f"stream record {record.event_id} has no string 'target' key")
    event_id = str(record.event_id)
    # DynamoDB's eventIDs are names Step Functions takes; anything else is made into one.
    name = event_id if is_execution_name(event_id) else hashed_name("stream-", event_id)
    return name, {"target": target, "trigger": "stream", "eventId": name}


def start(record: DynamoDBRecord, *, client: Any, state_machine_arn: str) -> str:
    name, payload = execution_input(record)
    if start_reconcile(
        client, state_machine_arn, name=name, target=payload["target"], trigger="stream"
    ):
        logger.info("reconcile started", execution=name, target=payload["target"])
    else:
        logger.info("redelivered record: execution already started", execution=name)
    return name


def handle(
    event: dict[str, Any],
    context: LambdaContext | None = None,
    *,
    client: Any | None = None,
) -> dict[str, Any]:
    client = client or wiring.stepfunctions()
    arn = get_settings().state_machine_arn
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    deadline = budget.Deadline.of(context)

    def record_handler(record: DynamoDBRecord) -> str:
        # A record whose StartExecution may no longer finish in time is not started: it
        # fails alone, and the mapping delivers it again (budget.py).
        if not deadline.allows(budget.LOOPS["StreamTriggerFunction"]):
            raise budget.TimeBudgetSpent(f"no time left to start a run for {record.event_id}")
        return start(record, client=client, state_machine_arn=arn)

    try:
        response = process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=processor,
            context=context,
        )
    except BatchProcessingError:
        # Every record failed: Powertools raises (the mapping retries the whole batch), and
        # the failures must still be counted, or the alarm misses the commonest case.
        publish(None, {TRIGGER_FAILED_RECORDS: (COUNT, len(processor.fail_messages))})
        raise
    failed = len(response.get("batchItemFailures", []))
    if failed:
        publish(None, {TRIGGER_FAILED_RECORDS: (COUNT, failed)})
    return dict(response)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)

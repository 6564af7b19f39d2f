"""DynamoDB Streams and the stream's event source mapping, delivered as Lambda delivers them.

moto delivers a stream's records inside the write, ignores FilterCriteria and partial-batch
responses, and empties the stream; ``StreamDelivery`` instead reads the stream through the
dynamodbstreams API and delivers it the way Lambda does (filter, batching, partial failures,
bisection, retries, the on-failure destination). ``apply`` makes moto write no record for a
write that changes nothing, as DynamoDB Streams does.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fleetwise_rehearsal.aws import clients, strict
from fleetwise_rehearsal.aws.patching import Patcher
from fleetwise_rehearsal.aws.vclock import VirtualClock

# (module, attribute path, kind) of every moto internal this module replaces or reads.
PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("moto.dynamodb.models.table", "StreamShard.add", "method"),
)

# The signatures the replacements are written against (parameter names, in order).
EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "StreamShard.add": ("self", "old", "new"),
}


def apply(patcher: Patcher) -> None:
    """DynamoDB Streams: "If you perform a PutItem or UpdateItem operation that does not
    change any data in an item, DynamoDB Streams does not write a stream record for that
    operation." moto writes one; the rehearsal does not."""
    original_add = patcher.original("moto.dynamodb.models.table", "StreamShard.add")

    def add(self: Any, old: Any, new: Any) -> None:
        if old is not None and new is not None and old == new:
            return
        original_add(self, old, new)

    patcher.replace("moto.dynamodb.models.table", "StreamShard.add", add)


# -- DynamoDB stream delivery (Lambda's event source mapping, done faithfully) ---------------


class UnsupportedFilterPattern(ValueError):
    """A FilterCriteria pattern uses a rule the rehearsal does not implement."""


def _same(a: Any, b: Any) -> bool:
    # Type-strict: in JSON, false is not 0 and true is not 1.
    return type(a) is type(b) and a == b


def _match_rule(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        if set(rule) == {"exists"}:
            return bool(rule["exists"]) == present
        if not present:
            return False
        if set(rule) == {"prefix"}:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if set(rule) == {"anything-but"}:
            excluded = rule["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return not any(_same(value, e) for e in excluded)
        raise UnsupportedFilterPattern(f"filter rule {rule!r} is not supported")
    return present and _same(rule, value)


def _match_values(rules: list[Any], present: bool, value: Any) -> bool:
    if present and isinstance(value, list):
        return any(_match_rule(rule, True, v) for rule in rules for v in value)
    return any(_match_rule(rule, present, value) for rule in rules)


def filter_matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Lambda's event-filtering match of one record against one pattern.

    Supported: nested objects, lists of exact values (type-strict), ``exists``, ``prefix``
    and ``anything-but``. Anything else raises UnsupportedFilterPattern."""
    for key, rule in pattern.items():
        present = isinstance(record, Mapping) and key in record
        value = record.get(key) if present else None
        if isinstance(rule, dict):
            if not present or not isinstance(value, Mapping):
                # A nested pattern under a missing key still matches {"exists": false} leaves.
                if not _only_absence(rule):
                    return False
                continue
            if not filter_matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_values(rule, present, value):
                return False
        else:
            raise UnsupportedFilterPattern(f"pattern value for {key!r} must be a list or object")
    return True


def _only_absence(rule: Mapping[str, Any]) -> bool:
    for value in rule.values():
        if isinstance(value, dict):
            if not _only_absence(value):
                return False
        elif not (isinstance(value, list) and any(r == {"exists": False} for r in value)):
            return False
    return True


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """The stream event source mapping as the template declares it."""

    function_name: str
    event_source_arn: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    filter_patterns: tuple[Mapping[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    bisect_batch_on_function_error: bool = False
    on_failure_destination: str | None = None
    uuid: str | None = None


@dataclass
class Delivery:
    """One invocation made by the stream delivery."""

    sequence_numbers: list[str]
    attempt: int
    function_error: str | None
    batch_item_failures: list[str]


# Lambda gives up on a record after 24 hours with MaximumRetryAttempts -1; the rehearsal
# has no such clock for stream retries, so an endless poison loop is cut here, loudly.
INFINITE_RETRY_CAP = 100


class PoisonLoop(RuntimeError):
    """A batch kept failing with MaximumRetryAttempts -1."""


class StreamDelivery:
    """Delivers a DynamoDB stream to its function the way Lambda's event source mapping does.

    ``pump()`` reads every new record through the dynamodbstreams API, drops the records no
    filter matches, invokes the function in batches of at most BatchSize, and handles
    failures: with ReportBatchItemFailures it retries from the lowest failed sequence number;
    on a function error it bisects the batch (when BisectBatchOnFunctionError is set, which
    does not count as a retry) or retries it whole; after MaximumRetryAttempts it sends
    Lambda's on-failure record to the on-failure SQS queue and moves on.
    """

    def __init__(
        self,
        spec: EventSourceMappingSpec,
        *,
        region: str,
        account_id: str,
        clock: VirtualClock,
    ) -> None:
        self.spec = spec
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.deliveries: list[Delivery] = []
        self.filtered_out: list[dict[str, Any]] = []
        self.on_failure_records: list[dict[str, Any]] = []
        self.lost: list[dict[str, Any]] = []
        self._checkpoint: dict[str, str] = {}
        self._started = False
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = clients.client(service, self.region)
        return self._clients[service]

    def start(self) -> None:
        """Begin at StartingPosition (LATEST: records written before this call are skipped)."""
        if self.spec.starting_position == "LATEST":
            streams = self._client("dynamodbstreams")
            for shard_id in self._shards(streams):
                records = self._read(streams, shard_id)
                if records:
                    self._checkpoint[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._started = True

    def _shards(self, streams: Any) -> list[str]:
        desc = streams.describe_stream(StreamArn=self.spec.event_source_arn)
        return [s["ShardId"] for s in desc["StreamDescription"]["Shards"]]

    def _read(self, streams: Any, shard_id: str) -> list[dict[str, Any]]:
        after = self._checkpoint.get(shard_id)
        kwargs: dict[str, Any] = {"StreamArn": self.spec.event_source_arn, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kwargs["SequenceNumber"] = after
        iterator = streams.get_shard_iterator(**kwargs)["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
        return records

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(record, default=_encode_datetime))
        out["awsRegion"] = self.region
        out["eventSourceARN"] = self.spec.event_source_arn
        return out

    def lose(self) -> int:
        """Skip every record written since the last delivery, delivering none; returns how
        many were lost (they stay in ``lost``)."""
        if not self._started:
            self.start()
        streams = self._client("dynamodbstreams")
        count = 0
        for shard_id in self._shards(streams):
            raw = self._read(streams, shard_id)
            if raw:
                self.lost.extend(self._lambda_record(r) for r in raw)
                count += len(raw)
                self._checkpoint[shard_id] = raw[-1]["dynamodb"]["SequenceNumber"]
        return count

    def pump(self, times: int = 1) -> list[Delivery]:
        """Deliver everything new (each batch ``times`` times: a redelivery); return the
        invocations made."""
        if not self._started:
            self.start()
        streams = self._client("dynamodbstreams")
        made: list[Delivery] = []
        for shard_id in self._shards(streams):
            raw = self._read(streams, shard_id)
            if not raw:
                continue
            records = [self._lambda_record(r) for r in raw]
            selected = [r for r in records if self._selected(r)]
            self.filtered_out.extend(r for r in records if r not in selected)
            for batch in self._batches(selected):
                for _ in range(times):
                    made.extend(self._deliver(shard_id, batch))
            self._checkpoint[shard_id] = raw[-1]["dynamodb"]["SequenceNumber"]
        self.deliveries.extend(made)
        return made

    def skip_to_end(self) -> None:
        """Deliver nothing written so far and forget what was delivered (Rehearsal.reset)."""
        streams = self._client("dynamodbstreams")
        for shard_id in self._shards(streams):
            records = self._read(streams, shard_id)
            if records:
                self._checkpoint[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._started = True
        self.deliveries.clear()
        self.filtered_out.clear()
        self.on_failure_records.clear()
        self.lost.clear()

    def _batches(self, records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """At most BatchSize records, and never more than a synchronous invocation's 6 MB
        payload: Lambda's event source mapping cuts a batch short rather than exceed it."""
        batch: list[dict[str, Any]] = []
        size = len(b'{"Records": []}')
        for record in records:
            record_size = len(json.dumps(record).encode()) + len(b", ")
            if batch and (
                len(batch) == self.spec.batch_size
                or size + record_size > strict.LAMBDA_PAYLOAD_LIMIT_BYTES
            ):
                yield batch
                batch, size = [], len(b'{"Records": []}')
            batch.append(record)
            size += record_size
        if batch:
            yield batch

    def _selected(self, record: Mapping[str, Any]) -> bool:
        if not self.spec.filter_patterns:
            return True
        return any(filter_matches(p, record) for p in self.spec.filter_patterns)

    def _deliver(self, shard_id: str, batch: list[dict[str, Any]]) -> list[Delivery]:
        made: list[Delivery] = []
        limit = self.spec.maximum_retry_attempts
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, retries = pending.popleft()
            error, failures = self._invoke(records)
            seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
            made.append(Delivery(seqs, retries + 1, error, failures))
            if error is None and not failures:
                continue
            if error is None:
                first = min(seqs.index(f) for f in failures)
                remaining = records[first:]
            else:
                remaining = records
                if self.spec.bisect_batch_on_function_error and len(records) > 1:
                    half = len(records) // 2
                    pending.appendleft((records[half:], retries))
                    pending.appendleft((records[:half], retries))
                    continue
            exhausted = retries >= limit if limit >= 0 else False
            if limit < 0 and retries >= INFINITE_RETRY_CAP:
                raise PoisonLoop(
                    f"records {seqs[0]}..{seqs[-1]} failed {retries + 1} times "
                    "with MaximumRetryAttempts -1"
                )
            if exhausted:
                self._send_on_failure(shard_id, remaining, error, retries + 1)
            else:
                pending.appendleft((remaining, retries + 1))
        return made

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
        client = self._client("lambda")
        response = client.invoke(
            FunctionName=self.spec.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"Records": records}).encode(),
        )
        body = response["Payload"].read()
        error = response.get("FunctionError")
        if error:
            return error, []
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        if not self.spec.report_batch_item_failures:
            return None, []
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        failures_raw = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures_raw:
            return None, []
        failures: list[str] = []
        for item in failures_raw:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in seqs:
                # Lambda treats a malformed identifier as the whole batch failing.
                return None, list(seqs)
            failures.append(ident)
        return None, failures

    def _send_on_failure(
        self,
        shard_id: str,
        records: list[dict[str, Any]],
        function_error: str | None,
        invoke_count: int,
    ) -> None:
        def arrival(record: Mapping[str, Any]) -> str:
            moment = datetime.fromtimestamp(
                float(record["dynamodb"]["ApproximateCreationDateTime"]), UTC
            )
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        function_arn = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.spec.function_name}"
        )
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = function_error
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": self.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(records[0]),
                "approximateArrivalOfLastRecord": arrival(records[-1]),
                "batchSize": len(records),
                "streamArn": self.spec.event_source_arn,
            },
        }
        self.on_failure_records.append(message)
        destination = self.spec.on_failure_destination
        if destination:
            sqs = self._client("sqs")
            name = destination.rsplit(":", 1)[-1]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=self.account_id)
            sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody=json.dumps(message))


def _encode_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        # Lambda's stream events carry ApproximateCreationDateTime as epoch seconds.
        return value.timestamp()
    if isinstance(value, bytes):
        # boto3 decoded the wire's base64 (B, BS); the event carries it as the wire does.
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

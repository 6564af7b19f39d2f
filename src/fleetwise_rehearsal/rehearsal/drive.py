"""Driving a rehearsal as the world would: deploys and stack updates, operators' edits, the
stream, the drift schedule, the execution-status rule, StopExecution, and virtual time."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fleetwise_rehearsal.aws.stack_update import StackUpdate
from fleetwise_rehearsal.aws.stack_update import update as stack_update
from fleetwise_rehearsal.aws.streams import filter_matches
from fleetwise_rehearsal.aws.vclock import ClockStalled
from fleetwise_rehearsal.rehearsal.core import (
    FINISHED_BADLY,
    RUN_LIMIT_SECONDS,
    STATUS_CHANGE,
    aware,
    dynamo_value,
    plain,
    serializer,
    stamp,
)
from fleetwise_rehearsal.rehearsal.observe import Observing


class Driving(Observing):
    """What acts on a rehearsal: every method here changes something, then lets the stack react."""

    def deploy_spec(self, logical_id: str | None = None) -> dict[str, Any]:
        """Run the template's custom resource with a CloudFormation Create event; pump.

        Returns the answer the function PUT to the ``ResponseURL``."""
        customs = self.stack.custom_resources
        if logical_id is None:
            if len(customs) != 1:
                raise LookupError(f"expected one custom resource, found {sorted(customs)}")
            logical_id = next(iter(customs))
        return self._custom_resource_request("Create", logical_id, dict(customs[logical_id]))

    def _custom_resource_request(
        self,
        request_type: str,
        logical_id: str,
        properties: dict[str, Any],
        old_properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a custom resource the request CloudFormation would; pump; return its answer."""
        request_id = str(uuid.uuid4())
        stack_id = (
            f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
            f"{self.stack.name}/{uuid.UUID(int=0)}"
        )
        if self._catcher is None:
            raise RuntimeError("the rehearsal is not running")
        event = {
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": self._catcher.url(request_id),
            "StackId": stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": self.stack.resources[logical_id].type,
            "ResourceProperties": properties,
        }
        if request_type != "Create":
            # CloudFormation sends the id the resource's last answer gave.
            given = [
                a.get("PhysicalResourceId")
                for a in self.custom_resource_answers
                if a.get("LogicalResourceId") == logical_id
            ]
            event["PhysicalResourceId"] = next(
                (str(g) for g in reversed(given) if g), self.stack.physical_id(logical_id)
            )
        if old_properties is not None:
            event["OldResourceProperties"] = old_properties
        before = len(self._catcher.answers)
        self._invoke(str(properties["ServiceToken"]), event)
        answers = self._catcher.answers[before:]
        answer = answers[-1] if answers else {"Status": "NO ANSWER"}
        self.custom_resource_answers.append(answer)
        self._note(
            "deploy",
            f"custom resource {logical_id} ({request_type}): {answer.get('Status')} "
            f"({answer.get('Reason', '')})",
            answer=answer,
        )
        self.pump()
        return answer

    def write_spec(self, item: Mapping[str, Any], *, stream: str = "delivered") -> None:
        """PutItem the spec item as an operator would, then pump the stream (``stream``: how
        the write's record reaches the trigger, see ``deliver``)."""
        body = dict(item)
        body.setdefault("target", self.default_target)
        self.client("dynamodb").put_item(
            TableName=self.stack.physical_id("SpecTable"),
            Item={k: serializer.serialize(dynamo_value(v)) for k, v in body.items()},
        )
        self._note("edit", f"spec written for {body['target']}", item=plain(body))
        self.deliver(stream)

    def put_item(self, item: Mapping[str, Mapping[str, Any]], *, stream: str = "delivered") -> None:
        """PutItem of an item written in DynamoDB JSON (any attribute type: sets, binary,
        null, nested), as ``aws dynamodb put-item --item`` writes it; then pump the stream."""
        self.client("dynamodb").put_item(
            TableName=self.stack.physical_id("SpecTable"),
            Item={k: dict(v) for k, v in item.items()},
        )
        target = str(item["target"]["S"])
        kinds = ", ".join(f"{name} ({next(iter(value))})" for name, value in item.items())
        self._note("edit", f"item written for {target!r}: {kinds}")
        self.deliver(stream)

    def update_spec(
        self, target: str | None = None, *, stream: str = "delivered", **attributes: Any
    ) -> None:
        """UpdateItem the spec item (``None`` removes an attribute), then pump the stream."""
        target = target or self.default_target
        sets = {k: v for k, v in attributes.items() if v is not None}
        removes = [k for k, v in attributes.items() if v is None]
        names = {f"#a{i}": k for i, k in enumerate(attributes)}
        by_name = {k: n for n, k in names.items()}
        parts = []
        if sets:
            parts.append("SET " + ", ".join(f"{by_name[k]} = :v{by_name[k][2:]}" for k in sets))
        if removes:
            parts.append("REMOVE " + ", ".join(by_name[k] for k in removes))
        kwargs: dict[str, Any] = {
            "TableName": self.stack.physical_id("SpecTable"),
            "Key": {"target": {"S": target}},
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": names,
        }
        if sets:
            kwargs["ExpressionAttributeValues"] = {
                f":v{by_name[k][2:]}": serializer.serialize(dynamo_value(v))
                for k, v in sets.items()
            }
        self.client("dynamodb").update_item(**kwargs)
        self._note("edit", f"spec of {target} edited: {plain(attributes)}", edit=plain(attributes))
        self.deliver(stream)

    def delete_spec(self, target: str | None = None, *, stream: str = "delivered") -> None:
        target = target or self.default_target
        self.client("dynamodb").delete_item(
            TableName=self.stack.physical_id("SpecTable"), Key={"target": {"S": target}}
        )
        self._note("edit", f"spec of {target} deleted")
        self.deliver(stream)

    def deliver(self, stream: str = "delivered") -> int:
        """Deliver the stream's new records: as Lambda's event source mapping usually does
        (``delivered``), never (``lost``: the records are skipped, as when they went to the
        on-failure destination or aged out of the stream; the drift check must find the
        change), or each batch twice (``twice``: "Lambda event source mappings process each
        event at least once, and duplicate processing of records can occur", Lambda
        Developer Guide, "Lambda event source mappings")."""
        if stream == "lost":
            lost = self.delivery.lose()
            self._note("note", f"stream: {lost} record(s) lost, never delivered")
            return 0
        if stream == "twice":
            with self.clock.hold():
                made = self.delivery.pump(times=2)
            self._note("note", "stream: the batch was delivered twice")
            return len(made)
        return self.pump()

    def pump(self) -> int:
        """Deliver new stream records to the trigger; returns the number of invocations.

        Held on the clock: executions the trigger starts in one batch begin at one moment."""
        with self.clock.hold():
            made = self.delivery.pump()
        return len(made)

    def settle(self) -> None:
        """Run until every execution finished, applying the stream, the status rule and the
        deliveries due by now (an asynchronous invocation's retry, a late event), of every
        stack side by side."""
        while True:
            delivered = sum(peer.pump() for peer in self.stacks())
            self.clock.settle(self.settle_timeout_wall)
            fired = sum(
                peer._apply_execution_rules() + peer._deliver_due() for peer in self.stacks()
            )
            if not delivered and not fired:
                return

    def _deliver_due(self) -> int:
        """Run the deliveries due by now, at this moment; returns how many ran."""
        due = self.invoker.due(self.clock.time())
        if due:
            with self.clock.hold():
                for delivery in due:
                    delivery()
        return len(due)

    def deliver_next(self, channel: str, how: str, seconds: float = 0.0) -> None:
        """How the next delivery of ``channel`` arrives, as AWS may deliver it:

        - ``schedule``, ``twice``: the drift schedule's next tick invokes its function twice
          (the schedule invokes it asynchronously; Lambda's queue may hand one event out
          more than once, "How Lambda handles errors and retries with asynchronous
          invocation");
        - ``async``, ``twice``: the next asynchronous invocation (the schedule's, a batch the
          drift check hands out) is delivered twice (same page);
        - ``rule``, ``twice`` or ``late``: the next event of the execution-status rule reaches
          its target twice, or ``seconds`` late (EventBridge retries a delivery for up to 24
          hours, "How EventBridge retries delivering events"; a Lambda target is invoked
          asynchronously, so its queue may duplicate it)."""
        if channel == "schedule" and how == "twice":
            self._schedule_twice += 1
        elif channel == "async" and how == "twice":
            self.invoker.duplicate_async += 1
        elif channel == "rule" and how in ("twice", "late"):
            self._rule_deliveries.append("twice" if how == "twice" else float(seconds))
        else:
            raise ValueError(f"no delivery {how!r} of {channel!r}")
        self._note(
            "note", f"the next {channel} delivery: {how}{f' {seconds:g} s' if seconds else ''}"
        )

    def tick(self) -> list[str]:
        """What the drift schedule would do now; returns the executions it started.

        A template ``AWS::Scheduler::Schedule`` whose target is a Lambda function has that
        function invoked with the schedule's input. Without one, a drift run is started per
        spec item, named ``drift-<account>-<region>-<YYYYMMDDTHHMMZ>``."""
        before = {e["executionArn"] for e in self._list_executions()}
        schedules = self.stack.of_type("AWS::Scheduler::Schedule")
        lambda_targets = [
            r.properties["Target"]
            for r in schedules.values()
            if ":lambda:" in str((r.properties.get("Target") or {}).get("Arn", ""))
        ]
        with self.clock.hold():
            if lambda_targets:
                # EventBridge Scheduler invokes a Lambda target asynchronously: its errors
                # are retried by Lambda's own asynchronous retries (aws/lambda_runtime.py).
                twice, self._schedule_twice = (
                    self._schedule_twice > 0,
                    max(0, self._schedule_twice - 1),
                )
                for target in lambda_targets:
                    raw = target.get("Input")
                    if isinstance(raw, str):
                        # Scheduler fills in its context attributes (EventBridge Scheduler
                        # user guide, "Adding context attributes"); the schedule fires now.
                        scheduled = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
                        raw = raw.replace("<aws.scheduler.scheduled-time>", scheduled)
                    event = json.loads(raw) if isinstance(raw, str) else (raw or {})
                    for _ in range(2 if twice else 1):
                        self._note("tick", "drift schedule fires its function")
                        self._invoke(str(target["Arn"]), event, asynchronous=True)
            else:
                stamp = self.clock.now().strftime("%Y%m%dT%H%MZ")
                sfn = self.client("stepfunctions")
                for item in self.specs():
                    target_key = str(item["target"])
                    account, _, region = target_key.partition(":")
                    name = f"drift-{account}-{region}-{stamp}"
                    self._note("tick", f"drift check {name}")
                    with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
                        sfn.start_execution(
                            stateMachineArn=self.state_machine_arn,
                            name=name,
                            input=json.dumps(
                                {"target": target_key, "trigger": "schedule", "eventId": name}
                            ),
                        )
        after = self._list_executions()
        return [e["name"] for e in after if e["executionArn"] not in before]

    def advance_to(self, moment: datetime) -> None:
        """Let virtual time pass until ``moment`` (nothing may be running)."""
        self.advance(max(0.0, (moment - self.clock.now()).total_seconds()))

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass with nothing running (between scenes)."""
        self.clock.advance(seconds, timeout_wall=self.settle_timeout_wall)

    # -- driving moment by moment (the clock in manual mode) -------------------------------------

    def run_until(
        self,
        moment: datetime | None,
        *,
        observe: Callable[[], None] | None = None,
        limit_seconds: float = RUN_LIMIT_SECONDS,
    ) -> None:
        """Let virtual time run, executions running: to ``moment``, or (``None``) until no
        execution runs.

        The clock must be in manual mode (``clock.auto_advance = False``). Time moves from one
        wake-up to the next; at each, once every execution sleeps again, new stream records are
        delivered and the execution-status rule is applied, so a run that fails, times out or
        is aborted is recorded at that moment, and a trigger's run starts when its write lands.
        ``observe`` is called at each of these moments. Raises ValueError for a moment in the
        past, ClockStalled when executions run but none waits for a virtual time, or when they
        still run after ``limit_seconds`` of virtual time."""
        if self.clock.auto_advance:
            raise RuntimeError("run_until drives the clock: set clock.auto_advance = False first")
        now = self.clock.time()
        stop_at = None if moment is None else moment.timestamp()
        if stop_at is not None and stop_at < now:
            raise ValueError(f"{stamp(moment)} is earlier than the virtual now {stamp(None, now)}")
        give_up = now + limit_seconds
        while True:
            # In manual mode settle() returns once every execution sleeps: this moment is done.
            self.settle()
            if observe is not None:
                observe()
            now = self.clock.time()
            if stop_at is not None and now >= stop_at:
                return
            wake = _earliest(self._next_wake_up(), self.invoker.next_due())
            if stop_at is None:
                if self.clock.actors == 0 and self.invoker.next_due() is None:
                    return
                if wake is None or wake > give_up:
                    why = (
                        "with nothing to wait for"
                        if wake is None
                        else f"after {limit_seconds:g} s of virtual time"
                    )
                    raise ClockStalled(
                        f"{self.clock.actors} execution(s) still running at "
                        f"{stamp(None, now)} {why}"
                    )
                goal = wake
            else:
                goal = stop_at if wake is None else min(wake, stop_at)
            self.clock.advance(max(0.0, goal - now), timeout_wall=self.settle_timeout_wall)

    def _next_wake_up(self) -> float | None:
        """The earliest wake-up still pending on the clock (virtual epoch seconds), if any.

        Read from the clock's heap under its lock: VirtualClock offers no public accessor yet,
        and its record of delays is stamped to the microsecond only, too coarse to land on a
        wake-up exactly."""
        clock = self.clock
        with clock._cv:
            pending = [s.wake_at for s in clock._heap if not s.cancelled and not s.woken]
        return min(pending, default=None)

    def running_executions(self, target: str | None = None) -> list[dict[str, Any]]:
        """ListExecutions summaries of the RUNNING executions (of ``target``'s runs when given)."""
        sfn = self.client("stepfunctions")
        running = [e for e in self._list_executions() if e["status"] == "RUNNING"]
        if target is None:
            return running

        def target_of(summary: Mapping[str, Any]) -> Any:
            described = sfn.describe_execution(executionArn=summary["executionArn"])
            return json.loads(described.get("input") or "{}").get("target")

        return [e for e in running if target_of(e) == target]

    def stop_execution(
        self, execution: str, *, error: str | None = None, cause: str | None = None
    ) -> str:
        """StopExecution of one execution (name or ARN), as an operator would; returns its ARN.

        A run asleep (in a Wait state or a Retry's backoff) ends ABORTED at once, as in AWS.
        The status rule is applied by the next ``settle`` or ``run_until``."""
        arn = execution
        if not execution.startswith("arn:"):
            found = [e["executionArn"] for e in self._list_executions() if e["name"] == execution]
            if not found:
                raise LookupError(f"no execution named {execution!r}")
            arn = found[0]
        sfn = self.client("stepfunctions")
        request: dict[str, Any] = {"executionArn": arn}
        if error is not None:
            request["error"] = error
        if cause is not None:
            request["cause"] = cause
        sfn.stop_execution(**request)
        details = "".join(f" {k}={v!r}" for k, v in request.items() if k != "executionArn")
        self._note("note", f"StopExecution {arn.rsplit(':', 1)[-1]}{details}")
        # A sleeping run notices the stop within a few wall milliseconds; wait for it to end.
        deadline = time.monotonic() + self.settle_timeout_wall
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise ClockStalled(f"{arn} did not end after StopExecution")
            time.sleep(0.005)
        return arn

    def update_parameters(self, changes: Mapping[str, str]) -> StackUpdate:
        """A stack update that changes template parameters (see ``stack.update``); each custom
        resource whose properties changed gets CloudFormation's Update request."""
        parameters = {**self.parameters, **changes}
        update = stack_update(self.stack, self.template, parameters)
        self.parameters = parameters
        self._note(
            "deploy",
            f"stack updated ({', '.join(f'{k}={v}' for k, v in changes.items())}): "
            f"{', '.join(update.changed) or 'no resource changed'}",
        )
        for logical_id, (old, new) in update.custom_resources.items():
            self._custom_resource_request("Update", logical_id, dict(new), dict(old))
        return update

    def _apply_execution_rules(self) -> int:
        """Apply every EventBridge rule to executions that ended badly; returns events sent."""
        rules = self.stack.rules
        if not rules:
            return 0
        fired = 0
        sfn = self.client("stepfunctions")
        ended = [e for status in FINISHED_BADLY for e in self._list_executions(status)]
        for summary in sorted(ended, key=lambda e: (e["startDate"], e["name"])):
            arn = summary["executionArn"]
            if arn in self._rule_handled:
                continue
            self._rule_handled.add(arn)
            described = sfn.describe_execution(executionArn=arn)
            event = self._status_change_event(described)
            for logical_id, rule in sorted(rules.items()):
                if str(rule.get("State", "ENABLED")) != "ENABLED":
                    continue
                pattern = rule.get("EventPattern")
                if not isinstance(pattern, dict) or not filter_matches(pattern, event):
                    continue
                for target in rule.get("Targets") or []:
                    target_arn = str(target["Arn"])
                    if ":lambda:" not in target_arn:
                        continue
                    how = self._rule_deliveries.popleft() if self._rule_deliveries else None
                    self._note(
                        "execution",
                        f"rule {logical_id}: {summary['name']} {summary['status']} "
                        f"-> {target_arn.rsplit(':', 1)[-1]}"
                        + (
                            ""
                            if how is None
                            else f" ({how} s late)"
                            if how != "twice"
                            else " (twice)"
                        ),
                    )
                    if isinstance(how, float):
                        later = self.clock.time() + how

                        def deliver(arn: str = target_arn, sent: Any = event) -> None:
                            self._invoke(arn, sent)

                        self.invoker.schedule(later, deliver)
                        continue
                    for _ in range(2 if how == "twice" else 1):
                        self._invoke(target_arn, event)
                    fired += 1
        return fired

    def _status_change_event(self, described: Mapping[str, Any]) -> dict[str, Any]:
        """The event Step Functions sends to EventBridge when an execution changes status."""

        def millis(value: Any) -> int | None:
            return int(aware(value).timestamp() * 1000) if value else None

        detail: dict[str, Any] = {
            "executionArn": described["executionArn"],
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": millis(described.get("startDate")),
            "stopDate": millis(described.get("stopDate")),
            "input": described.get("input"),
            "output": described.get("output"),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True},
            "error": described.get("error"),
            "cause": described.get("cause"),
        }
        stop = described.get("stopDate") or self.clock.now()
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": STATUS_CHANGE,
            "source": "aws.states",
            "account": self.account_id,
            "time": aware(stop).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [described["executionArn"]],
            "detail": detail,
        }


def _earliest(*moments: float | None) -> float | None:
    known = [m for m in moments if m is not None]
    return min(known, default=None)

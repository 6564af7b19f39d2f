"""Inspecting a rehearsal: the tables, executions, IoT FleetWise calls, metrics, alarms and the
narrated timeline, each read through the emulated services' own APIs."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fleetwise_rehearsal.aws import alarms as alarm_eval
from fleetwise_rehearsal.aws.alarm_monitor import AlarmMonitor, Notification
from fleetwise_rehearsal.rehearsal.core import (
    Event,
    Execution,
    RehearsalCore,
    aware,
    item_of,
    plain,
)


class Observing(RehearsalCore):
    """What a rehearsal shows: state, history and signals, read without changing anything."""

    def specs(self) -> list[dict[str, Any]]:
        table = self.stack.physical_id("SpecTable")
        items = self.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        return [plain(item_of(i)) for i in items]

    def status(self, target: str | None = None) -> dict[str, Any] | None:
        """The target's STATUS item as plain JSON values (None if never recorded)."""
        return self._status_item(target or self.default_target, "STATUS")

    def lease(self, target: str | None = None) -> dict[str, Any] | None:
        return self._status_item(target or self.default_target, "LEASE")

    def _status_item(self, target: str, kind: str) -> dict[str, Any] | None:
        answer = self.client("dynamodb").get_item(
            TableName=self.stack.physical_id("StatusTable"),
            Key={"target": {"S": target}, "kind": {"S": kind}},
            ConsistentRead=True,
        )
        raw = answer.get("Item")
        return plain(item_of(raw)) if raw else None

    def targets(self) -> list[str]:
        """Every target with a spec item or a status."""
        found = {str(s["target"]) for s in self.specs()}
        items = self.client("dynamodb").scan(TableName=self.stack.physical_id("StatusTable"))
        found |= {i["target"]["S"] for i in items["Items"] if i["kind"]["S"] == "STATUS"}
        return sorted(found)

    def execution_summaries(self) -> list[dict[str, Any]]:
        """ListExecutions summaries of every execution (cheaper than ``executions``: no
        describe, no history), oldest first."""
        return self._list_executions()

    def executions(self) -> list[Execution]:
        """Every execution, oldest first, with its path of states."""
        sfn = self.client("stepfunctions")
        out: list[Execution] = []
        for summary in self._list_executions():
            arn = summary["executionArn"]
            described = sfn.describe_execution(executionArn=arn)
            history = self._history(arn)
            path = tuple(
                e["stateEnteredEventDetails"]["name"]
                for e in history
                if e["type"].endswith("StateEntered")
            )
            out.append(
                Execution(
                    name=summary["name"],
                    arn=arn,
                    status=described["status"],
                    input=json.loads(described.get("input") or "{}"),
                    path=path,
                    started_at=aware(described["startDate"]),
                    stopped_at=aware(described["stopDate"]) if described.get("stopDate") else None,
                    error=described.get("error"),
                    cause=described.get("cause"),
                )
            )
        return out

    def history(self, execution_name: str) -> list[dict[str, Any]]:
        """The execution history events of one execution (by name)."""
        arn = next(
            e["executionArn"] for e in self._list_executions() if e["name"] == execution_name
        )
        return self._history(arn)

    def fleetwise_operations(self) -> list[str]:
        """Every FleetWise request received, in order (every attempt)."""
        if self.sim is not None:
            return [c.operation for c in self.sim.calls()]
        if self._proxy is None:
            raise RuntimeError("the rehearsal is not running")
        return list(self._proxy.operations)

    def fleetwise_calls(self) -> dict[str, int]:
        """Requests per FleetWise operation, every attempt counted."""
        return dict(sorted(Counter(self.fleetwise_operations()).items()))

    def metrics(self) -> list[dict[str, Any]]:
        """Every EMF document the handlers printed, in order (every stack's)."""
        return self.invoker.metrics()

    def metric_store(self) -> alarm_eval.MetricStore:
        """Every datapoint CloudWatch would hold now, in this account and Region (the stacks
        side by side share it): the reconciler's EMF datapoints plus the AWS-namespace
        datapoints synthesised from what the rehearsal saw, each stamped with the virtual
        time of its event. Kept up to date incrementally. Synthesised, one datapoint of value
        1 each:

        - ``AWS/States`` ``ExecutionsFailed`` / ``ExecutionsTimedOut`` / ``ExecutionsAborted``
          (dimension ``StateMachineArn``) for each finished execution with that status;
        - ``AWS/Lambda`` ``Errors`` (dimension ``FunctionName``) for each in-process invocation
          whose handler raised (Lambda's "Unhandled" error), plus ``Invocations`` for each one;
        - ``AWS/SQS`` ``ApproximateNumberOfMessagesVisible`` (dimension ``QueueName``): the
          queue's count now, once within every minute that ended since the store was last
          brought up to date, for every queue of every stack (between two updates nothing ran,
          so nothing changed).

        Nothing else of the AWS namespaces is synthesised: an alarm on another AWS metric sees
        no data (and so follows its TreatMissingData)."""
        signals = self._signals
        invocations = self.invoker.invocations
        if len(invocations) < signals.invocations:  # reset(): start over
            signals.clear()
        new: list[alarm_eval.Datapoint] = []
        for invocation in invocations[signals.invocations :]:
            new += alarm_eval.datapoints_from_emf(invocation.metrics())
            dims = frozenset({("FunctionName", invocation.function_name)})
            stamp = invocation.started_at.timestamp()
            new.append(alarm_eval.Datapoint("AWS/Lambda", "Invocations", dims, stamp, 1.0))
            if invocation.error_type is not None:
                new.append(alarm_eval.Datapoint("AWS/Lambda", "Errors", dims, stamp, 1.0))
        signals.invocations = len(invocations)
        metric_by_status = {
            "FAILED": "ExecutionsFailed",
            "TIMED_OUT": "ExecutionsTimedOut",
            "ABORTED": "ExecutionsAborted",
        }
        for peer in self.stacks():
            for summary in (e for s in metric_by_status for e in peer._list_executions(s)):
                name = metric_by_status[summary["status"]]
                if not summary.get("stopDate"):
                    continue
                if summary["executionArn"] in signals.executions:
                    continue
                signals.executions.add(summary["executionArn"])
                new.append(
                    alarm_eval.Datapoint(
                        "AWS/States",
                        name,
                        frozenset({("StateMachineArn", summary["stateMachineArn"])}),
                        aware(summary["stopDate"]).timestamp(),
                        1.0,
                    )
                )
        now = self.clock.time()
        minute = math.floor(now / 60) * 60
        if signals.queues_until is None or signals.queues_until < minute:
            first = minute if signals.queues_until is None else signals.queues_until + 60
            sqs = self.client("sqs")
            for peer in self.stacks():
                for resource in peer.stack.of_type("AWS::SQS::Queue").values():
                    attributes = sqs.get_queue_attributes(
                        QueueUrl=resource.physical_id,
                        AttributeNames=["ApproximateNumberOfMessages"],
                    )["Attributes"]
                    depth = float(attributes.get("ApproximateNumberOfMessages", 0))
                    dims = frozenset({("QueueName", str(resource.attributes["QueueName"]))})
                    # The depth now is the depth through each minute that ended since the
                    # last update: one datapoint inside each of them.
                    new += [
                        alarm_eval.Datapoint(
                            "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, m - 30, depth
                        )
                        for m in range(int(first), int(minute) + 1, 60)
                    ]
            signals.queues_until = minute
        signals.store.add(new)
        return signals.store

    def datapoints(self) -> list[alarm_eval.Datapoint]:
        """Every datapoint of ``metric_store``, in time order."""
        store = self.metric_store()
        return sorted(
            (p for key in store.names() for p in store.between(*key, -math.inf, math.inf)),
            key=lambda p: p.timestamp,
        )

    def alarm_states(self, at: float | None = None) -> dict[str, alarm_eval.Evaluation]:
        """Every alarm of this stack evaluated at ``at`` (default: now, virtual), by logical
        id, as CloudWatch would evaluate it at that minute."""
        store = self.metric_store()
        now = self.clock.time() if at is None else at
        return {
            logical_id: alarm_eval.evaluate(
                str(props.get("AlarmName") or self.stack.physical_id(logical_id)),
                props,
                store,
                now,
                created=self.deployed_at,
            )
            for logical_id, props in sorted(self.stack.alarms.items())
        }

    def alarms_in_alarm(self) -> list[str]:
        """Logical ids of the template alarms that would be in ALARM now."""
        return [k for k, v in self.alarm_states().items() if v.state == alarm_eval.ALARM]

    def alarm_targets(self) -> dict[str, list[str]]:
        """For each alarm in ALARM that groups by target, the targets it names in ALARM."""
        return {
            k: v.in_alarm("target")
            for k, v in self.alarm_states().items()
            if v.state == alarm_eval.ALARM and v.contributors
        }

    def alarm_monitor(self) -> AlarmMonitor:
        """This stack's alarms watched every minute since the stack was deployed, brought up
        to now: their states minute by minute and the notifications they sent."""
        if self._monitor is None:
            self._monitor = AlarmMonitor(dict(self.stack.alarms), created=self.deployed_at)
        self._monitor.advance(self.metric_store(), self.clock.time())
        return self._monitor

    def notifications(self) -> list[Notification]:
        """Every notification this stack's alarm actions sent so far (``alarm_monitor``)."""
        return list(self.alarm_monitor().notifications)

    def timeline(self) -> list[Event]:
        """The rehearsal's events with virtual timestamps, in time order: driver actions,
        workflow states, FleetWise calls, backoff delays and metrics."""
        events = list(self._events)
        for execution in self.executions():
            for entry in self._history(execution.arn):
                kind = entry["type"]
                at = aware(entry["timestamp"])
                if kind == "ExecutionStarted":
                    events.append(Event(at, "execution", f"{execution.name} started", {"end": 0}))
                elif kind.endswith("StateEntered"):
                    state = entry["stateEnteredEventDetails"]["name"]
                    events.append(Event(at, "state", f"{execution.name} {state}"))
                elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
                              "ExecutionAborted"):  # fmt: skip
                    events.append(
                        Event(at, "execution", f"{execution.name} {execution.status}", {"end": 1})
                    )
        if self.sim is not None:
            for call in self.sim.calls():
                text = call.operation + (f" -> {call.error_type}" if call.error_type else "")
                if call.operation == "GetRegisterAccountStatus" and not call.error_type:
                    text += f" -> {call.output.get('accountStatus')}"
                if call.operation == "RegisterAccount":
                    text += f" request {json.dumps(call.input, sort_keys=True)}"
                events.append(
                    Event(datetime.fromtimestamp(call.at, UTC), "fleetwise", text, {"call": call})
                )
        for delay in self.clock.delays:
            events.append(Event(delay.requested_at, "delay", f"{delay.label} {delay.seconds:g}s"))
        fleet: dict[datetime, list[str]] = {}
        for doc in self.metrics():
            meta = doc["_aws"]
            names = [
                m["Name"] for d in meta.get("CloudWatchMetrics", []) for m in d.get("Metrics", [])
            ]
            at = datetime.fromtimestamp(float(meta.get("Timestamp", 0)) / 1000, UTC)
            if doc.get("state") and "Targets" in names:
                # The fleet's count of one state: a tick's counts read as one line.
                if at not in fleet:
                    fleet[at] = []
                    events.append(Event(at, "metric", "", {"target": None}))
                for name in names:
                    fleet[at].append(f"{doc['state']} {float(doc[name][0]):g}")
                continue
            text = ", ".join(f"{n}={doc.get(n)}" for n in names)
            events.append(Event(at, "metric", text, {"target": doc.get("target")}))
        events = [
            replace(e, text="Targets: " + ", ".join(fleet[e.at]))
            if e.kind == "metric" and not e.text and e.at in fleet
            else e
            for e in events
        ]
        # Within one virtual instant, causes before effects: the driver's action, a run
        # starting, its states, its FleetWise calls, the delay it then asks for, its metrics,
        # and last the run ending.
        order = {"deploy": 0, "edit": 0, "tick": 0, "note": 0, "execution": 1, "state": 2,
                 "fleetwise": 3, "delay": 4, "metric": 5}  # fmt: skip

        def key(event: Event) -> tuple[datetime, int]:
            rank = 9 if event.data.get("end") == 1 else order.get(event.kind, 8)
            return (event.at, rank)

        return sorted(events, key=key)

    def note(self, text: str) -> None:
        """Add a narrator's line to the timeline at the current virtual time."""
        self._note("note", text)

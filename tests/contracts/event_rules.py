"""EventBridge rules, the Scheduler schedule and the stream filter, against AWS's rules.

Sources (AWS documentation, by title):
- Amazon EventBridge User Guide, "Creating event patterns" and "Content filtering in event
  patterns": a pattern matches an event when every field it names matches one of its values
  or filters; matching here uses moto's implementation of those documented operators, and the
  events matched are the sample events in ``events/`` (the shapes AWS documents: "Step
  Functions Execution Status Change" in the Step Functions Developer Guide, the DynamoDB
  Streams record in the Lambda Developer Guide).
- Amazon EventBridge API Reference, "RetryPolicy": ``MaximumRetryAttempts`` 0-185,
  ``MaximumEventAgeInSeconds`` 60-86400, for rule targets and schedule targets alike.
- Amazon EventBridge User Guide, "Using resource-based policies for Amazon EventBridge": a
  Lambda target needs a permission for ``events.amazonaws.com`` (from the rule's ARN) and an
  SQS dead-letter queue a queue policy for it.
- EventBridge Scheduler User Guide, "Schedule types": ``rate(value unit)`` with a positive
  whole value and the unit ``minute``/``hour``/``day`` for 1, plural otherwise; API Reference
  "FlexibleTimeWindow": ``MaximumWindowInMinutes`` 1-1440 when the mode is ``FLEXIBLE``;
  "Target": ``Input`` is the payload, for a Lambda target a JSON document; the execution
  role is assumed by ``scheduler.amazonaws.com`` and must allow ``lambda:InvokeFunction`` on
  the target and ``sqs:SendMessage`` on the dead-letter queue.
- AWS Lambda Developer Guide, "Lambda event filtering": each ``FilterCriteria`` pattern is an
  EventBridge pattern over the record.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from iam_values import allows, as_list, trusts
from moto.events.models import EventPattern
from stack_values import Deployed

EVENTS = Path(__file__).resolve().parents[2] / "events"
RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def matches(pattern: Any, event: dict[str, Any]) -> bool:
    """Whether EventBridge would deliver ``event`` for ``pattern`` (a dict or JSON text)."""
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    return EventPattern.load(raw).matches_event(event)


def _retry_findings(at: str, policy: dict[str, Any]) -> list[str]:
    found = []
    attempts = _int(policy.get("MaximumRetryAttempts", 185))
    if attempts is None or not 0 <= attempts <= 185:
        found.append(f"{at}: MaximumRetryAttempts {policy['MaximumRetryAttempts']!r} outside 0-185")
    age = _int(policy.get("MaximumEventAgeInSeconds", 86400))
    if age is None or not 60 <= age <= 86400:
        found.append(
            f"{at}: MaximumEventAgeInSeconds {policy['MaximumEventAgeInSeconds']!r} outside "
            "60-86400"
        )
    return found


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def rule_findings(stack: Deployed) -> list[str]:
    found = []
    permissions = stack.of_type("AWS::Lambda::Permission").values()
    for name, rule in sorted(stack.of_type("AWS::Events::Rule").items()):
        props = rule["Properties"]
        try:
            matches(props["EventPattern"], {})
        except Exception as error:  # noqa: BLE001 - moto raises its own exception types
            found.append(f"{name}: the event pattern is invalid: {error}")
            continue
        arn = next(v for v, k in stack.names.items() if k == name and v.startswith("arn:"))
        for target in props.get("Targets", []):
            at = f"{name}/{target['Id']}"
            found += _retry_findings(at, target.get("RetryPolicy", {}))
            function = stack.named(target["Arn"])
            if function and stack.resources[function]["Type"] == "AWS::Lambda::Function":
                allowed = any(
                    p["Properties"].get("Principal") == "events.amazonaws.com"
                    and stack.named(p["Properties"]["FunctionName"]) == function
                    and p["Properties"].get("SourceArn") == arn
                    for p in permissions
                )
                if not allowed:
                    found.append(f"{at}: no Lambda permission lets this rule invoke {function}")
            dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letters and not _queue_policy_allows(stack, dead_letters, arn):
                found.append(f"{at}: no queue policy lets this rule send to its dead-letter queue")
    return found


def _queue_policy_allows(stack: Deployed, queue_arn: str, source_arn: str) -> bool:
    queue = stack.named(queue_arn)
    for policy in stack.of_type("AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        if queue not in {stack.named(q) for q in props["Queues"]}:
            continue
        for statement in as_list(props["PolicyDocument"]["Statement"]):
            if (
                statement.get("Effect") == "Allow"
                and "sqs:SendMessage" in as_list(statement.get("Action"))
                and statement.get("Principal", {}).get("Service") == "events.amazonaws.com"
                and statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
                == source_arn
            ):
                return True
    return False


def schedule_findings(stack: Deployed) -> list[str]:
    found = []
    for name, schedule in sorted(stack.of_type("AWS::Scheduler::Schedule").items()):
        props = schedule["Properties"]
        expression = props["ScheduleExpression"]
        rate = RATE.match(expression)
        if not rate:
            found.append(f"{name}: {expression!r} is not rate(value unit)")
        elif (rate["value"] == "1") != (not rate["unit"].endswith("s")):
            found.append(f"{name}: {expression!r}: the unit is singular for 1 only")
        window = props.get("FlexibleTimeWindow", {})
        if window.get("Mode") == "FLEXIBLE":
            minutes = _int(window.get("MaximumWindowInMinutes"))
            if minutes is None or not 1 <= minutes <= 1440:
                found.append(f"{name}: a FLEXIBLE window needs MaximumWindowInMinutes 1-1440")
        elif window.get("Mode") != "OFF":
            found.append(f"{name}: FlexibleTimeWindow mode {window.get('Mode')!r}")
        target = props["Target"]
        found += _retry_findings(name, target.get("RetryPolicy", {}))
        try:
            json.loads(target.get("Input", "{}"))
        except ValueError:
            found.append(f"{name}: the target Input is not JSON (a Lambda target gets JSON)")
        role = stack.named(target["RoleArn"])
        if role is None or not trusts(stack, role, "scheduler.amazonaws.com"):
            found.append(f"{name}: the target's role is not one scheduler.amazonaws.com assumes")
            continue
        if not allows(stack, role, "lambda:InvokeFunction", target["Arn"]):
            found.append(f"{name}: its role may not invoke {stack.named(target['Arn'])}")
        dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
        if dead_letters and not allows(stack, role, "sqs:SendMessage", dead_letters):
            found.append(f"{name}: its role may not send to its dead-letter queue")
    return found


def filter_patterns(stack: Deployed) -> dict[str, list[str]]:
    """Event source mapping -> its FilterCriteria patterns (JSON text)."""
    return {
        name: [f["Pattern"] for f in m["Properties"].get("FilterCriteria", {}).get("Filters", [])]
        for name, m in stack.of_type("AWS::Lambda::EventSourceMapping").items()
    }

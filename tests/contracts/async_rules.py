"""Functions invoked asynchronously must not lose their failures.

What AWS documents (AWS Lambda Developer Guide, "Invoking a Lambda function asynchronously",
"Configuring error handling for asynchronous invocation", "Capturing records of Lambda
asynchronous invocations"; EventBridge Scheduler User Guide, "Configuring a dead-letter
queue"):
- EventBridge Scheduler and EventBridge rules invoke a Lambda function asynchronously; their
  retry policy and dead-letter queue cover delivering the event only;
- an invocation whose function raises is retried by Lambda (``MaximumRetryAttempts``, 0-2,
  default 2) while it is younger than ``MaximumEventAgeInSeconds`` (60-21600), then discarded
  unless the function has an on-failure destination (or a dead-letter queue);
- a standard SQS queue can be the on-failure destination (FIFO queues cannot), and Lambda
  sends to it with the function's execution role, which needs ``sqs:SendMessage`` on it.
The stack's own rule on top: the destination has an alarm on its visible messages.
"""

from __future__ import annotations

from typing import Any

from iam_values import allows, role_of_function
from stack_values import Deployed

# Invoked asynchronously without an on-failure destination on purpose, with the reason.
ACCEPTED_WITHOUT_DESTINATION: dict[str, str] = {
    "ExecutionFailedFunction": "the rule's target has its own retry policy and dead-letter "
    "queue, and a failed-run event this function fails to record costs at most one lease "
    "lifetime before the next run takes the target over (template.yaml, ES1007)",
}


def async_invokers(stack: Deployed) -> dict[str, list[str]]:
    """Function logical id -> the schedules and rules that invoke it asynchronously."""
    found: dict[str, list[str]] = {}
    for name, schedule in stack.of_type("AWS::Scheduler::Schedule").items():
        target = stack.named(schedule["Properties"]["Target"]["Arn"])
        if target and stack.resources[target]["Type"] == "AWS::Lambda::Function":
            found.setdefault(target, []).append(name)
    for name, rule in stack.of_type("AWS::Events::Rule").items():
        for target_spec in rule["Properties"].get("Targets", []):
            target = stack.named(target_spec["Arn"])
            if target and stack.resources[target]["Type"] == "AWS::Lambda::Function":
                found.setdefault(target, []).append(name)
    return found


def _alarmed_queues(stack: Deployed) -> set[str]:
    """The queues an alarm watches the visible messages of (directly, or through FILL)."""
    queues = set()
    for alarm in stack.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        metrics = [props] + [
            q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q
        ]
        for metric in metrics:
            if (metric.get("Namespace"), metric.get("MetricName")) != (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
            ):
                continue
            for dimension in metric.get("Dimensions", []):
                if dimension["Name"] == "QueueName" and stack.named(dimension["Value"]):
                    queues.add(str(stack.named(dimension["Value"])))
    return queues


def async_findings(stack: Deployed) -> list[str]:
    configs: dict[str, dict[str, Any]] = {}
    for config in stack.of_type("AWS::Lambda::EventInvokeConfig").values():
        function = stack.named(config["Properties"]["FunctionName"])
        if function is not None:
            configs[function] = config["Properties"]
    found = []
    alarmed = _alarmed_queues(stack)
    for function, invokers in sorted(async_invokers(stack).items()):
        if function in ACCEPTED_WITHOUT_DESTINATION:
            continue
        config = configs.get(function)
        by = ", ".join(sorted(invokers))
        if config is None:
            found.append(
                f"{function}: invoked asynchronously by {by} with no EventInvokeConfig: a "
                "failing invocation is retried twice, then dropped"
            )
            continue
        found += _config_findings(stack, function, config, alarmed)
    return found


def _config_findings(
    stack: Deployed, function: str, config: dict[str, Any], alarmed: set[str]
) -> list[str]:
    found = []
    retries = config.get("MaximumRetryAttempts", 2)
    if not isinstance(retries, int) or not 0 <= retries <= 2:
        found.append(f"{function}: MaximumRetryAttempts {retries!r} outside 0-2")
    age = config.get("MaximumEventAgeInSeconds", 21600)
    if not isinstance(age, int) or not 60 <= age <= 21600:
        found.append(f"{function}: MaximumEventAgeInSeconds {age!r} outside 60-21600")
    destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    queue = stack.named(destination) if destination else None
    if queue is None or stack.resources[queue]["Type"] != "AWS::SQS::Queue":
        return [*found, f"{function}: no on-failure destination queue of the stack"]
    if stack.resources[queue]["Properties"].get("FifoQueue"):
        found.append(f"{function}: {queue} is a FIFO queue, which Lambda cannot send records to")
    role = role_of_function(stack, function)
    if role is None or not allows(stack, role, "sqs:SendMessage", str(destination)):
        found.append(f"{function}: its role may not sqs:SendMessage to {queue}")
    if queue not in alarmed:
        found.append(f"{function}: nothing alarms on messages in {queue}")
    return found

"""A stack update in the rehearsal: new parameter values applied to the deployed stack.

CloudFormation's update, for what the rehearsal deploys (``stack.deploy``): functions get their
new configuration, the state machine its new definition, alarms are put again, the resources
kept as data are replaced, and a custom resource whose properties changed is reported so that
the caller sends it CloudFormation's Update request. A change to a resource holding state
(tables, queues, topics, the event source mapping) is refused (``UnsupportedUpdate``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetwise_rehearsal.aws import strict
from fleetwise_rehearsal.aws.stack import Deployer, Stack, parameter_values, translate_once
from fleetwise_rehearsal.aws.template import Resolver


class UnsupportedUpdate(ValueError):
    """A stack update that changes what the rehearsal cannot change in place."""


@dataclass(frozen=True)
class StackUpdate:
    """What ``update`` changed, by logical id.

    ``custom_resources`` maps each custom resource whose properties changed to its
    ``(old, new)`` properties: CloudFormation then sends it an Update request, which is the
    caller's to send (the rehearsal answers custom resources itself)."""

    functions: tuple[str, ...] = ()
    state_machines: tuple[str, ...] = ()
    custom_resources: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    others: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        return (*self.functions, *self.state_machines, *self.custom_resources, *self.others)


# Resources the rehearsal created in moto with state of their own (items, messages, stream
# positions): how CloudFormation updates them is not modelled, so a change to one is refused.
_NOT_UPDATABLE = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Lambda::EventSourceMapping",
)


def update(
    stack: Stack, template_path: Path | str, parameters: Mapping[str, Any] | None = None
) -> StackUpdate:
    """A stack update with new ``parameters``: re-resolve the template against the deployed
    resources and apply what changed, in the active moto mock.

    Functions get their new configuration (environment, timeout, memory) and the state
    machine its new definition; alarms are put again; the properties of resources kept as
    data (rules, schedules, log groups, roles, custom resources) are replaced. Step
    Functions documents that running executions keep the definition they started with
    (UpdateStateMachine: "Running executions will continue to use the previous definition
    and roleArn"), and moto snapshots the definition when an execution starts, so only runs
    started afterwards see the new one. An update that would add or remove a resource, or
    change a stateful one (a table, a queue, a topic, the stream's event source mapping),
    raises UnsupportedUpdate before anything is changed."""
    translated = translate_once(
        Path(template_path), parameters or {}, region=stack.region, account_id=stack.account_id
    )
    strict.check_parameter_values(translated.parameters)
    cfn = translated.template
    resolver = Resolver(
        parameters=parameter_values(cfn, translated.parameters),
        conditions=cfn.get("Conditions") or {},
        mappings=cfn.get("Mappings") or {},
        account_id=stack.account_id,
        region=stack.region,
        stack_name=stack.name,
    )
    for resource in stack.resources.values():
        if resource.physical_id is not None:
            resolver.refs[resource.logical_id] = resource.physical_id
        for name, value in resource.attributes.items():
            resolver.attributes[(resource.logical_id, name)] = value
    wanted = [
        logical_id
        for logical_id, spec in cfn["Resources"].items()
        if spec.get("Condition") is None or resolver.condition(spec["Condition"])
    ]
    added = sorted(set(wanted) - set(stack.resources))
    removed = sorted(set(stack.resources) - set(wanted))
    if added or removed:
        raise UnsupportedUpdate(
            "the new parameters add or remove resources, which the rehearsal cannot update "
            f"in place (added: {', '.join(added) or 'none'}; removed: "
            f"{', '.join(removed) or 'none'})"
        )
    changes: dict[str, dict[str, Any]] = {}
    for logical_id in wanted:
        resource = stack.resources[logical_id]
        new = resolver.resolve(cfn["Resources"][logical_id].get("Properties") or {})
        if resource.type == "AWS::Lambda::Function":
            env = (new.get("Environment") or {}).get("Variables")
            if env:
                new["Environment"] = {"Variables": {k: str(v) for k, v in env.items()}}
        if new != resource.properties:
            changes[logical_id] = new
    stateful = [
        f"{k} ({stack.resources[k].type})"
        for k in changes
        if stack.resources[k].type in _NOT_UPDATABLE
    ]
    if stateful:
        raise UnsupportedUpdate(
            "the new parameters change resources the rehearsal cannot update in place: "
            + ", ".join(stateful)
        )
    stack.translated = translated
    deployer = Deployer(stack, resolver)
    functions: list[str] = []
    machines: list[str] = []
    customs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    others: list[str] = []
    for logical_id, new in changes.items():
        resource = stack.resources[logical_id]
        old, resource.properties = resource.properties, new
        if resource.type == "AWS::Lambda::Function":
            deployer.client("lambda").update_function_configuration(
                FunctionName=resource.physical_id,
                Environment=new.get("Environment") or {"Variables": {}},
                Timeout=int(new.get("Timeout", 3)),
                MemorySize=int(new.get("MemorySize", 128)),
            )
            functions.append(logical_id)
        elif resource.type == "AWS::StepFunctions::StateMachine":
            definition = deployer.definition(resource)
            if definition != stack.state_machine_definitions.get(logical_id):
                deployer.client("stepfunctions").update_state_machine(
                    stateMachineArn=resource.physical_id, definition=definition
                )
                stack.state_machine_definitions[logical_id] = definition
            machines.append(logical_id)
        elif resource.type.startswith("Custom::"):
            customs[logical_id] = (old, new)
        else:
            if resource.type == "AWS::CloudWatch::Alarm":
                deployer._create_AWS_CloudWatch_Alarm(resource)  # PutMetricAlarm replaces it
            elif resource.type == "AWS::IAM::Role":
                # moto does not evaluate policies; the new documents are stored all the same.
                for policy in new.get("Policies") or []:
                    document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
                    deployer.client("iam").put_role_policy(
                        RoleName=resource.physical_id,
                        PolicyName=policy["PolicyName"],
                        PolicyDocument=json.dumps(document),
                    )
            others.append(logical_id)
    return StackUpdate(tuple(functions), tuple(machines), customs, tuple(others))

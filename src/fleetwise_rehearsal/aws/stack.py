"""Deploy ``template.yaml`` into moto, from the template itself.

moto's own CloudFormation ignores ``DefinitionSubstitutions``, hides the state machine from the
executing interpreter and silently skips alarms, so the rehearsal creates each resource of
the translated template through the services' APIs, in dependency order, resolving the
intrinsics itself. What moto leaves inert is kept as data on the ``Stack`` for the rehearsal
to apply: the event source mapping (``StreamDelivery``), the EventBridge rules, the alarms'
definitions and the custom resources.

Call ``deploy`` inside an active ``moto.mock_aws`` (see ``MOTO_CONFIG``) with
``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` in the environment (``aws_environment`` sets it).

Why one module: the deployer creates every resource type of the translated template through
the services' APIs in one dependency-ordered pass; its per-type methods share the resolver,
the naming rules and the stack they fill, and ``stack_update`` reuses them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends

from fleetwise_rehearsal.aws import clients, strict
from fleetwise_rehearsal.aws.streams import EventSourceMappingSpec
from fleetwise_rehearsal.aws.template import Resolver, Translated, UnsupportedIntrinsic, translate

# moto.mock_aws(config=MOTO_CONFIG): run state machines for real, never try Docker.
MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

DEFAULT_ACCOUNT = "123456789012"
# member/template.yaml: what StackSets roll out to the member accounts (``deploy_member``).
MEMBER_TEMPLATE = Path(__file__).resolve().parents[3] / "member" / "template.yaml"
MEMBER_STACK_NAME = "fleetwise-reconciler-member"
DEFAULT_REGION = "us-east-1"


@contextlib.contextmanager
def aws_environment(region: str = DEFAULT_REGION) -> Iterator[None]:
    """Fake credentials and the settings decorator-mode moto needs, restored afterwards.

    botocore 1.44 sends DynamoDB (streams) calls to an account-ID endpoint moto does not
    match unless the account-ID endpoint mode is disabled."""
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Resource:
    """One resource of the translated template, as deployed."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    physical_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    """The deployed stack: what the rehearsal needs to drive and inspect it."""

    name: str
    account_id: str
    region: str
    translated: Translated
    resources: dict[str, Resource] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    state_machine_definitions: dict[str, str] = field(default_factory=dict)

    def physical_id(self, logical_id: str) -> str:
        """What ``Ref`` returns (table name, function name, queue URL, state machine ARN...)."""
        resource = self._get(logical_id)
        if resource.physical_id is None:
            raise KeyError(f"{logical_id} has no physical id in the rehearsal")
        return resource.physical_id

    def attribute(self, logical_id: str, name: str) -> Any:
        """What ``Fn::GetAtt`` returns."""
        resource = self._get(logical_id)
        if name not in resource.attributes:
            raise KeyError(f"{logical_id}.{name} is not known")
        return resource.attributes[name]

    def arn(self, logical_id: str) -> str:
        return str(self.attribute(logical_id, "Arn"))

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The resolved environment variables of a function."""
        props = self._of_type(logical_id, "AWS::Lambda::Function").properties
        return dict((props.get("Environment") or {}).get("Variables") or {})

    def function_name(self, logical_id: str) -> str:
        return self.physical_id(logical_id)

    @property
    def event_source_mappings(self) -> dict[str, EventSourceMappingSpec]:
        return {
            r.logical_id: r.attributes["Spec"]
            for r in self.resources.values()
            if r.type == "AWS::Lambda::EventSourceMapping"
        }

    @property
    def event_source_mapping(self) -> EventSourceMappingSpec:
        """The stack's one stream event source mapping."""
        mappings = list(self.event_source_mappings.values())
        if len(mappings) != 1:
            raise LookupError(f"expected one event source mapping, found {len(mappings)}")
        return mappings[0]

    def of_type(self, resource_type: str) -> dict[str, Resource]:
        return {k: r for k, r in self.resources.items() if r.type == resource_type}

    @property
    def alarms(self) -> dict[str, dict[str, Any]]:
        """Resolved properties of every CloudWatch alarm (also created in moto)."""
        return {k: r.properties for k, r in self.of_type("AWS::CloudWatch::Alarm").items()}

    @property
    def rules(self) -> dict[str, dict[str, Any]]:
        """Resolved properties of every EventBridge rule (the rehearsal applies them)."""
        return {k: r.properties for k, r in self.of_type("AWS::Events::Rule").items()}

    @property
    def custom_resources(self) -> dict[str, dict[str, Any]]:
        """Resolved properties of every custom resource (ServiceToken included)."""
        return {
            k: r.properties
            for k, r in self.resources.items()
            if r.type.startswith("Custom::") or r.type == "AWS::CloudFormation::CustomResource"
        }

    def _get(self, logical_id: str) -> Resource:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} is not a deployed resource of {self.name}") from None

    def _of_type(self, logical_id: str, resource_type: str) -> Resource:
        resource = self._get(logical_id)
        if resource.type != resource_type:
            raise TypeError(f"{logical_id} is a {resource.type}, not a {resource_type}")
        return resource


def apply_definition_substitutions(definition: str, substitutions: Mapping[str, Any]) -> str:
    """Step Functions' ``DefinitionSubstitutions``: ``${Key}`` for each key; others stay."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        return str(substitutions[key]) if key in substitutions else match.group(0)

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", one, definition)


def deploy(
    template_path: Path | str,
    parameters: Mapping[str, Any] | None = None,
    *,
    account_id: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    stack_name: str = "fleetwise-reconciler",
) -> Stack:
    """Create every resource of the SAM template in the active moto mock; return the Stack."""
    path = Path(template_path)
    translated = translate_once(path, parameters or {}, region=region, account_id=account_id)
    # CloudFormation refuses the change set before creating anything.
    strict.check_parameter_values(translated.parameters)
    cfn = translated.template
    resolver = Resolver(
        parameters=parameter_values(cfn, translated.parameters),
        conditions=cfn.get("Conditions") or {},
        mappings=cfn.get("Mappings") or {},
        account_id=account_id,
        region=region,
        stack_name=stack_name,
    )
    stack = Stack(name=stack_name, account_id=account_id, region=region, translated=translated)
    deployer = Deployer(stack, resolver)
    for logical_id in _creation_order(cfn["Resources"]):
        spec = cfn["Resources"][logical_id]
        condition = spec.get("Condition")
        if condition is not None and not resolver.condition(condition):
            stack.skipped.append(logical_id)
            continue
        deployer.create(logical_id, spec)
    return stack


_TRANSLATED: dict[tuple[Any, ...], Translated] = {}
_DEFINITION_URI = re.compile(r"^\s*DefinitionUri:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)


def deploy_member(
    account_id: str,
    *,
    hub_account_id: str,
    hub_stack_name: str,
    region: str,
    parameters: Mapping[str, str] | None = None,
    template: Path = MEMBER_TEMPLATE,
) -> Stack:
    """``member/template.yaml`` in ``account_id``, trusting the hub stack unless
    ``parameters`` say otherwise (inside the running mock)."""
    values = {"HubAccountId": hub_account_id, "HubStackName": hub_stack_name}
    values.update(parameters or {})
    return deploy(
        template, values, account_id=account_id, region=region, stack_name=MEMBER_STACK_NAME
    )


def translate_once(
    path: Path, parameters: Mapping[str, Any], *, region: str, account_id: str
) -> Translated:
    """``translate``, done once per template text, ASL texts, parameters, Region and account
    in a process (a deploy per test would otherwise parse the YAML every time); each caller
    gets its own copy."""
    text = path.read_text(encoding="utf-8")
    definitions = tuple(
        (uri, (path.parent / uri).read_text(encoding="utf-8"))
        for uri in _DEFINITION_URI.findall(text)
        if (path.parent / uri).is_file()
    )
    key = (
        str(path.resolve()),
        text,
        definitions,
        json.dumps(dict(parameters), sort_keys=True, default=str),
        region,
        account_id,
    )
    if key not in _TRANSLATED:
        _TRANSLATED[key] = translate(path, parameters, region=region, account_id=account_id)
    return copy.deepcopy(_TRANSLATED[key])


def parameter_values(cfn: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in (cfn.get("Parameters") or {}).items():
        if name not in values:
            raise ValueError(f"parameter {name} has no value and no default")
        value = values[name]
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [] if value == "" else [part.strip() for part in value.split(",")]
        out[name] = value
    return out


def _references(value: Any) -> set[str]:
    """Logical ids a piece of template mentions through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                target = arg.split(".")[0] if isinstance(arg, str) else arg[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    found.add(name.split(".")[0])
                if not isinstance(arg, str):
                    found |= _references(arg[1])
            else:
                found |= _references(arg)
    return found


def _creation_order(resources: Mapping[str, Any]) -> list[str]:
    """Logical ids, each after every resource it references or DependsOn (stable order)."""
    deps: dict[str, set[str]] = {}
    for logical_id, spec in resources.items():
        depends = spec.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        mentioned = _references(spec.get("Properties") or {}) | set(depends)
        deps[logical_id] = {d for d in mentioned if d in resources and d != logical_id}
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            raise ValueError(f"circular dependency through {node}")
        visiting.add(node)
        for dep in sorted(deps[node]):
            visit(dep)
        visiting.discard(node)
        done.add(node)
        order.append(node)

    for logical_id in resources:
        visit(logical_id)
    return order


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # The code never runs from the zip: handlers run in-process from the package.
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


class Deployer:
    def __init__(self, stack: Stack, resolver: Resolver) -> None:
        self.stack = stack
        self.resolver = resolver
        self.region = stack.region
        self.account_id = stack.account_id
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = clients.client(service, self.region, account=self.account_id)
        return self._clients[service]

    def name_for(self, logical_id: str, limit: int = 64) -> str:
        # CloudFormation's generated names are "<stack>-<logical id>-<suffix>"; the rehearsal
        # drops the random suffix so names are deterministic.
        return f"{self.stack.name}-{logical_id}"[:limit]

    def create(self, logical_id: str, spec: Mapping[str, Any]) -> None:
        kind = str(spec["Type"])
        raw = spec.get("Properties") or {}
        creator = getattr(self, "_create_" + kind.replace("::", "_"), None)
        if creator is None:
            creator = self._create_custom if kind.startswith("Custom::") else self._keep
        properties = self.resolver.resolve(raw)
        resource = Resource(logical_id=logical_id, type=kind, properties=properties)
        creator(resource)
        if resource.physical_id is not None:
            self.resolver.refs[logical_id] = resource.physical_id
        for name, value in resource.attributes.items():
            self.resolver.attributes[(logical_id, name)] = value
        self.stack.resources[logical_id] = resource

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    # -- kept as data ---------------------------------------------------------------------

    def _keep(self, resource: Resource) -> None:
        resource.physical_id = self.name_for(resource.logical_id)

    def _create_custom(self, resource: Resource) -> None:
        # The rehearsal calls the ServiceToken function with a Create event itself.
        resource.physical_id = self.name_for(resource.logical_id)

    def _create_AWS_Events_Rule(self, resource: Resource) -> None:
        name = resource.properties.get("Name") or self.name_for(resource.logical_id)
        resource.physical_id = name
        resource.attributes["Arn"] = self.arn("events", f"rule/{name}")

    def _create_AWS_Logs_LogGroup(self, resource: Resource) -> None:
        name = resource.properties.get("LogGroupName") or self.name_for(resource.logical_id, 512)
        resource.physical_id = name
        resource.attributes["Arn"] = self.arn("logs", f"log-group:{name}:*")

    # -- created in moto ----------------------------------------------------------------------

    def _create_AWS_IAM_Role(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("RoleName") or self.name_for(resource.logical_id)
        iam = self.client("iam")
        role = iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        )["Role"]
        for policy in props.get("Policies") or []:
            # SAM's policy templates omit "Version"; IAM then assumes the 2008 language,
            # which moto refuses outright. The rehearsal does not evaluate policies, so the
            # current version stands in.
            document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(document),
            )
        for arn in props.get("ManagedPolicyArns") or []:
            resource.attributes.setdefault("ManagedPolicyArns", []).append(arn)
        resource.physical_id = name
        resource.attributes.update(Arn=role["Arn"], RoleId=role["RoleId"])

    def _create_AWS_IAM_RolePolicy(self, resource: Resource) -> None:
        props = resource.properties
        self.client("iam").put_role_policy(
            RoleName=props["RoleName"],
            PolicyName=props["PolicyName"],
            PolicyDocument=json.dumps(props["PolicyDocument"]),
        )
        resource.physical_id = self.name_for(resource.logical_id)

    def _create_AWS_DynamoDB_Table(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("TableName") or self.name_for(resource.logical_id, 255)
        ddb = self.client("dynamodb")
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                args[key] = props[key]
        stream = props.get("StreamSpecification")
        if stream:
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if "DeletionProtectionEnabled" in props:
            args["DeletionProtectionEnabled"] = bool(props["DeletionProtectionEnabled"])
        table = ddb.create_table(**args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        resource.physical_id = name
        resource.attributes["Arn"] = table["TableArn"]
        if "LatestStreamArn" in table:
            resource.attributes["StreamArn"] = table["LatestStreamArn"]

    def _create_AWS_SQS_Queue(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("QueueName") or self.name_for(resource.logical_id, 80)
        attributes = {
            key: json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in props.items()
            if key not in ("QueueName", "Tags")
        }
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        resource.physical_id = url
        resource.attributes.update(Arn=self.arn("sqs", name), QueueName=name, QueueUrl=url)

    def _create_AWS_SSM_Parameter(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("Name") or f"/{self.name_for(resource.logical_id, 1011)}"
        args = {k: props[k] for k in ("Description", "Type", "Tier") if k in props}
        self.client("ssm").put_parameter(Name=name, Value=str(props["Value"]), **args)
        resource.physical_id = name
        resource.attributes.update(Type=props.get("Type"), Value=props["Value"])

    def _create_AWS_SNS_Topic(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("TopicName") or self.name_for(resource.logical_id, 256)
        arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        resource.physical_id = arn
        resource.attributes.update(TopicArn=arn, TopicName=name)

    def _create_AWS_Lambda_Function(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("FunctionName") or self.name_for(resource.logical_id)
        args: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": props["Runtime"],
            "Role": props["Role"],
            "Handler": props["Handler"],
            "Code": {"ZipFile": _dummy_zip()},
            "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
        }
        env = (props.get("Environment") or {}).get("Variables")
        if env:
            args["Environment"] = {"Variables": {k: str(v) for k, v in env.items()}}
            props["Environment"] = args["Environment"]
        if props.get("Architectures"):
            args["Architectures"] = props["Architectures"]
        created = self.client("lambda").create_function(**args)
        resource.physical_id = name
        resource.attributes["Arn"] = created["FunctionArn"]

    def definition(self, resource: Resource) -> str:
        """The state machine's definition as Step Functions receives it (substitutions applied)."""
        props = resource.properties
        if "DefinitionString" in props:
            text = str(props["DefinitionString"])
        elif "Definition" in props:
            text = json.dumps(props["Definition"])
        elif resource.logical_id in self.stack.translated.definitions:
            text = self.stack.translated.definitions[resource.logical_id]
        else:
            raise UnsupportedIntrinsic(
                f"{resource.logical_id}: no definition the rehearsal can read"
            )
        substitutions = props.get("DefinitionSubstitutions") or {}
        definition = apply_definition_substitutions(text, substitutions)
        json.loads(definition)  # a clear error here beats moto's parser's
        return definition

    def _create_AWS_StepFunctions_StateMachine(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("StateMachineName") or self.name_for(resource.logical_id, 80)
        definition = self.definition(resource)
        created = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )
        self.stack.state_machine_definitions[resource.logical_id] = definition
        resource.physical_id = created["stateMachineArn"]
        resource.attributes.update(Arn=created["stateMachineArn"], Name=name)

    def _create_AWS_CloudWatch_Alarm(self, resource: Resource) -> None:
        props = resource.properties
        name = props.get("AlarmName") or self.name_for(resource.logical_id, 255)
        allowed = {
            "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
            "InsufficientDataActions", "MetricName", "Namespace", "Statistic",
            "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
            "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
            "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId",
            "EvaluationWindow", "WarmUpConfiguration",
        }  # fmt: skip
        args = {k: v for k, v in props.items() if k in allowed}
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in args:
                args[key] = int(args[key])
        # A Ref to a Number parameter is a string; CloudFormation converts each query's period
        # to PutMetricAlarm's integer as it does the alarm's own.
        if "Metrics" in args:
            args["Metrics"] = [_integer_periods(query) for query in args["Metrics"]]
        if "Threshold" in args:
            args["Threshold"] = float(args["Threshold"])
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **args)
        resource.physical_id = name
        resource.attributes["Arn"] = self.arn("cloudwatch", f"alarm:{name}")

    def _create_AWS_Lambda_EventSourceMapping(self, resource: Resource) -> None:
        props = resource.properties
        function = str(props["FunctionName"])
        created = self.client("lambda").create_event_source_mapping(
            EventSourceArn=props["EventSourceArn"],
            FunctionName=function,
            StartingPosition=props.get("StartingPosition", "TRIM_HORIZON"),
            BatchSize=int(props.get("BatchSize", 100)),
        )
        _detach_from_moto_delivery(self.account_id, self.region, props["EventSourceArn"])
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        resource.physical_id = created["UUID"]
        resource.attributes["Spec"] = EventSourceMappingSpec(
            function_name=function.rsplit(":", 1)[-1] if function.startswith("arn:") else function,
            event_source_arn=props["EventSourceArn"],
            batch_size=int(props.get("BatchSize", 100)),
            starting_position=props.get("StartingPosition", "TRIM_HORIZON"),
            filter_patterns=tuple(json.loads(f["Pattern"]) for f in filters),
            report_batch_item_failures="ReportBatchItemFailures"
            in (props.get("FunctionResponseTypes") or []),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            bisect_batch_on_function_error=str(
                props.get("BisectBatchOnFunctionError", False)
            ).lower()
            == "true",
            on_failure_destination=on_failure,
            uuid=created["UUID"],
        )


def _integer_periods(query: Mapping[str, Any]) -> dict[str, Any]:
    """A metric data query with its periods (its own, its MetricStat's) as integers."""
    out = dict(query)
    if "Period" in out:
        out["Period"] = int(out["Period"])
    if "MetricStat" in out:
        out["MetricStat"] = {**out["MetricStat"], "Period": int(out["MetricStat"]["Period"])}
    return out


def _detach_from_moto_delivery(account_id: str, region: str, stream_arn: str) -> None:
    """Stop moto delivering the stream inside each write (StreamDelivery does it instead)."""
    table_name = stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
    table = dynamodb_backends[account_id][region].get_table(table_name)
    if not hasattr(table, "lambda_event_source_mappings"):
        raise RuntimeError("moto's Table.lambda_event_source_mappings is gone (moto upgraded?)")
    table.lambda_event_source_mappings.clear()

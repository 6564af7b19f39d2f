"""The AWS quotas the stack touches, and its own usage of each at a given configuration.

Why one module: the quotas, the template sized for a configuration and the measures that
read it are one table; split, a reader would follow each row across three files.

Each ``Quota`` names AWS's limit, its number and the AWS page that documents it; its
``measure`` computes the stack's usage from the translated template (``template.yaml`` through
the SAM translator, every intrinsic resolved with CloudFormation's longest generated names)
and the fleet's size. ``ledger(LARGEST)`` is the largest configuration the project supports;
docs/limits.md is generated from it (``make docs``) and tests/template/test_quotas.py fails
when any usage passes its quota, and shows that one step past each documented maximum does.

``aws.strict`` enforces the same numbers in the rehearsal where moto does not (Lambda's
environment, IAM's policy sizes, a parameter value at deploy): the constants live there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from pynamodb.constants import BATCH_GET_PAGE_LIMIT

from fleetwise_reconciler.handlers.drift_check import HAND_OUT_BYTES
from fleetwise_reconciler.logic.compare import MAX_SPEC_BYTES
from fleetwise_rehearsal.aws.stack import apply_definition_substitutions, parameter_values
from fleetwise_rehearsal.aws.strict import (
    CFN_PARAMETER_VALUE_BYTES,
    IAM_ROLE_POLICY_CHARS,
    IAM_TRUST_POLICY_CHARS,
    LAMBDA_ENVIRONMENT_BYTES,
    environment_size,
    policy_size,
)
from fleetwise_rehearsal.aws.template import Resolver, Translated, translate

TEMPLATE: Final = Path(__file__).resolve().parents[3] / "template.yaml"

# -- the numbers, each where AWS documents it ------------------------------------------------

CFN_PAGE: Final = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
)
LAMBDA_PAGE: Final = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_INVOKE_PAGE: Final = "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html"
IAM_PAGE: Final = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
SFN_PAGE: Final = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
DYNAMODB_PAGE: Final = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
)
SSM_PAGE: Final = "https://docs.aws.amazon.com/general/latest/gr/ssm.html"
SSM_PUT_PAGE: Final = (
    "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html"
)
INSIGHTS_PAGE: Final = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/"
    "cloudwatch-metrics-insights-limits.html"
)
ALARM_LIMITS_PAGE: Final = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html"
)
LOGS_PAGE: Final = (
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"
)
EVENTS_PAGE: Final = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
SCHEDULER_PAGE: Final = (
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html"
)

# -- the configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """A fleet and the stacks that manage it, as far as quotas see them."""

    # Stacks of this template side by side in one account and Region.
    stacks: int = 2
    targets: int = 10_000
    # The accounts 10,000 targets span: one account in each of IoT FleetWise's three Regions
    # is three targets, so 3,334 accounts, the hub's and 3,333 members.
    member_accounts: int = 3_333
    # Member accounts listed in the template parameter MemberAccountIds (the rest are listed
    # under the stack's Parameter Store path or allowed through MemberOrganizationId).
    listed_in_template: int = 315
    # Role ARNs in AllowedPassRoleArns, each of a role with a 64-character name (the longest).
    pass_role_arns: int = 26
    stack_name_length: int = 128
    drift_check_batch_size: int = 500

    def stack_name(self, index: int = 0) -> str:
        stem = f"fleetwise-{index}-"
        return (stem + "x" * self.stack_name_length)[: self.stack_name_length]

    def parameters(self) -> dict[str, Any]:
        """The template parameters whose values grow what the quotas measure, at this size."""
        accounts = [f"{100000000000 + n:012d}" for n in range(self.listed_in_template)]
        roles = [
            f"arn:aws:iam::123456789012:role/{n:04d}" + "r" * 60 for n in range(self.pass_role_arns)
        ]
        return {
            "MemberAccountIds": ",".join(accounts),
            "AllowedPassRoleArns": ",".join(roles),
            "MemberOrganizationId": "o-" + "a" * 32,
            "MetricsNamespace": "N" * 255,
            "LogLevel": "WARNING",
            "DataKmsKeyArn": (
                "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"
            ),
            "AlarmEmail": "operations-alerts@example.com",
            "DriftCheckBatchSize": str(self.drift_check_batch_size),
        }


# What the project supports: two stacks in one account and Region, 10,000 targets over 1,000
# member accounts in the three Regions IoT FleetWise serves.
LARGEST: Final = Configuration()


# -- the template, sized -----------------------------------------------------------------------

# Name quotas of the resource types whose names CloudFormation generates here
# ("<stack>-<logical id>-<suffix>", cut to fit): the longest name each can get.
_NAME_LIMITS: Final[Mapping[str, int]] = {
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::SQS::Queue": 80,
    "AWS::StepFunctions::StateMachine": 80,
    "AWS::Scheduler::Schedule": 64,
    "AWS::SNS::Topic": 256,
    "AWS::Events::Rule": 64,
}


@dataclass
class Sized:
    """The translated template with every resource's properties resolved as CloudFormation
    would resolve them for ``configuration`` (names at their longest)."""

    configuration: Configuration
    translated: Translated
    template_bytes: int
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)
    # The physical name of every resource (what Ref returns for most types).
    names: dict[str, str] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == resource_type}


class _LongestNames(Resolver):
    """Resolves Ref and Fn::GetAtt of resources to the longest names CloudFormation could
    generate for them (it needs no deployed stack)."""

    types: Mapping[str, str] = {}

    def name(self, logical_id: str) -> str:
        limit = _NAME_LIMITS.get(self.types.get(logical_id, ""), 255)
        return f"{self.stack_name}-{logical_id}-ABCDEFGHIJKLM"[:limit]

    def ref(self, name: str) -> Any:
        if name in self.types:
            return self.name(name)
        return super().ref(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.types:
            return super().get_att(logical_id, attribute)
        service = self.types[logical_id].split("::")[1].lower()
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{self.name(logical_id)}"


def size(configuration: Configuration, template_path: Path = TEMPLATE) -> Sized:
    """The template translated and resolved for ``configuration``'s first stack."""
    region, account = "us-east-1", "123456789012"
    parameters = configuration.parameters()
    translated = translate(template_path, parameters, region=region, account_id=account)
    cfn = translated.template
    resolver = _LongestNames(
        parameters=parameter_values(cfn, translated.parameters),
        conditions=cfn.get("Conditions") or {},
        mappings=cfn.get("Mappings") or {},
        account_id=account,
        region=region,
        stack_name=configuration.stack_name(),
    )
    resolver.types = {k: str(r["Type"]) for k, r in cfn["Resources"].items()}
    sized = Sized(
        configuration=configuration,
        translated=translated,
        template_bytes=len(template_path.read_bytes()),
    )
    sized.names = {logical_id: resolver.name(logical_id) for logical_id in resolver.types}
    for logical_id, spec in cfn["Resources"].items():
        condition = spec.get("Condition")
        if condition is not None and not resolver.condition(condition):
            continue
        properties = resolver.resolve(spec.get("Properties") or {})
        sized.resources[logical_id] = {"Type": spec["Type"], "Properties": properties}
        if spec["Type"] == "AWS::StepFunctions::StateMachine":
            sized.definitions[logical_id] = apply_definition_substitutions(
                translated.definitions[logical_id],
                properties.get("DefinitionSubstitutions") or {},
            )
    return sized


# -- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    amount: int
    where: str


@dataclass(frozen=True)
class Quota:
    key: str
    service: str
    name: str
    limit: int
    unit: str
    source: str
    measure: Callable[[Sized], Usage]
    adjustable: bool = False
    # The configuration's dimension this quota bounds at the documented maximum: one more of
    # it passes the quota (tests/template/test_quotas.py shows it).
    bounds: str | None = None
    # Past the quota AWS degrades rather than refuses, and the stack relies on it: what then.
    past_it: str | None = None


def _largest(usages: Mapping[str, int]) -> Usage:
    where, amount = max(usages.items(), key=lambda item: (item[1], item[0]))
    return Usage(amount, where)


def _parameter_values(sized: Sized) -> Usage:
    values = sized.configuration.parameters()
    return _largest({name: len(str(v).encode("utf-8")) for name, v in values.items()})


def _environments(sized: Sized) -> Usage:
    return _largest(
        {
            logical_id: environment_size(
                (r["Properties"].get("Environment") or {}).get("Variables") or {}
            )
            for logical_id, r in sized.of_type("AWS::Lambda::Function").items()
        }
    )


def _role_policies(sized: Sized) -> dict[str, int]:
    roles = sized.of_type("AWS::IAM::Role")
    totals = {
        logical_id: sum(
            policy_size(p["PolicyDocument"]) for p in r["Properties"].get("Policies") or []
        )
        for logical_id, r in roles.items()
    }
    names = {sized.names[logical_id]: logical_id for logical_id in roles}
    for r in sized.of_type("AWS::IAM::RolePolicy").values():
        owner = names.get(str(r["Properties"]["RoleName"]))
        if owner is not None:
            totals[owner] += policy_size(r["Properties"]["PolicyDocument"])
    return totals


def _trust_policies(sized: Sized) -> Usage:
    return _largest(
        {
            logical_id: policy_size(r["Properties"]["AssumeRolePolicyDocument"])
            for logical_id, r in sized.of_type("AWS::IAM::Role").items()
        }
    )


def _count(resource_type: str) -> Callable[[Sized], Usage]:
    def measure(sized: Sized) -> Usage:
        per_stack = len(sized.of_type(resource_type))
        stacks = sized.configuration.stacks
        return Usage(per_stack * stacks, f"{stacks} stacks x {per_stack}")

    return measure


def _insights_alarms(sized: Sized) -> Usage:
    per_stack = sum(
        1
        for r in sized.of_type("AWS::CloudWatch::Alarm").values()
        if any(
            "SELECT" in str(m.get("Expression", "")) for m in r["Properties"].get("Metrics") or []
        )
    )
    stacks = sized.configuration.stacks
    return Usage(per_stack * stacks, f"{stacks} stacks x {per_stack}")


def _names(resource_type: str, prop: str) -> Callable[[Sized], Usage]:
    def measure(sized: Sized) -> Usage:
        return _largest(
            {k: len(str(r["Properties"][prop])) for k, r in sized.of_type(resource_type).items()}
        )

    return measure


def _role_paths(sized: Sized) -> Usage:
    return _largest(
        {
            k: len(str(r["Properties"].get("Path", "/")))
            for k, r in sized.of_type("AWS::IAM::Role").items()
        }
    )


def _drift_check_invocations(sized: Sized) -> Usage:
    configuration = sized.configuration
    batches = math.ceil(configuration.targets / configuration.drift_check_batch_size)
    return Usage(
        configuration.stacks * batches,
        f"{configuration.stacks} stacks x {batches} batches of "
        f"{configuration.drift_check_batch_size}",
    )


def _member_lists(sized: Sized) -> Usage:
    # A list of member accounts holds as many ids as the template parameter (each 12 digits
    # and a comma) within a standard parameter's 4,096 characters.
    per_list = (CFN_PARAMETER_VALUE_BYTES + 1) // 13
    lists = math.ceil(sized.configuration.member_accounts / per_list)
    stacks = sized.configuration.stacks
    return Usage(stacks * lists, f"{stacks} stacks x {lists} lists of {per_list} accounts")


def _definitions(sized: Sized) -> Usage:
    return _largest({k: len(text.encode("utf-8")) for k, text in sized.definitions.items()})


# Events a state adds to an execution's history (AWS's history event types): a Lambda Task's
# entered, scheduled, started, succeeded and exited; each retried attempt's scheduled, started
# and failed (or timed out); any other state's entered and exited.
TASK_EVENTS = 5
RETRY_EVENTS = 3
STATE_EVENTS = 2


def history_bound(definition: Mapping[str, Any], passes: int) -> int:
    """An upper bound of one execution's history events: ``passes`` times through every state
    of ``definition``, every retrier of each Task spent to its MaxAttempts, and the execution's
    started and ended events."""
    per_pass = 0
    for state in definition["States"].values():
        if state["Type"] == "Task":
            retries = sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry") or [])
            per_pass += TASK_EVENTS + RETRY_EVENTS * retries
        else:
            per_pass += STATE_EVENTS
    return passes * per_pass + 2


def _history(sized: Sized) -> Usage:
    # A run passes through the workflow at most once per loop (MaxLoops more after the first)
    # and may go back once per throttle wait (ThrottleMaxWaits): counted as whole passes.
    values = sized.translated.parameters
    loops, waits = int(values["MaxLoops"]), int(values["ThrottleMaxWaits"])
    passes = (loops + 1) * (waits + 1)
    return _largest(
        {
            logical_id: history_bound(json.loads(text), passes)
            for logical_id, text in sized.definitions.items()
        }
    )


def most_loops_within_history(configuration: Configuration = LARGEST) -> int:
    """The largest MaxLoops whose history bound stays within 25,000 events, with the
    template's ThrottleMaxWaits."""
    sized = size(configuration)
    definition = json.loads(sized.definitions["ReconcileStateMachine"])
    waits = int(sized.translated.parameters["ThrottleMaxWaits"])
    loops = 0
    while history_bound(definition, (loops + 2) * (waits + 1)) <= 25_000:
        loops += 1
    return loops


def _section(name: str) -> Callable[[Sized], Usage]:
    def measure(sized: Sized) -> Usage:
        return Usage(len(sized.translated.template.get(name) or {}), "template.yaml")

    return measure


def _fixed(amount: int, where: str) -> Callable[[Sized], Usage]:
    return lambda _sized: Usage(amount, where)


QUOTAS: Final[tuple[Quota, ...]] = (
    Quota(
        "cfn-parameter-value", "CloudFormation", "Parameter value size",
        CFN_PARAMETER_VALUE_BYTES, "bytes", CFN_PAGE, _parameter_values,
        bounds="listed_in_template",
    ),
    Quota(
        "cfn-stack-name", "CloudFormation", "Stack name", 128, "characters", CFN_PAGE,
        lambda sized: Usage(len(sized.configuration.stack_name()), "stack name"),
        bounds="stack_name_length",
    ),
    Quota(
        "cfn-template-body-s3", "CloudFormation",
        "Template body size in an Amazon S3 object (sam deploy uploads it: resolve_s3)",
        1024 * 1024, "bytes", CFN_PAGE,
        lambda sized: Usage(sized.template_bytes, "template.yaml"),
    ),
    Quota(
        "cfn-resources", "CloudFormation", "Resources in a template", 500, "resources",
        CFN_PAGE, lambda sized: Usage(len(sized.resources), "translated template"),
    ),
    Quota(
        "cfn-parameters", "CloudFormation", "Parameters in a template", 200, "parameters",
        CFN_PAGE, _section("Parameters"),
    ),
    Quota(
        "cfn-outputs", "CloudFormation", "Outputs in a template", 200, "outputs", CFN_PAGE,
        _section("Outputs"),
    ),
    Quota(
        "lambda-environment", "Lambda", "Environment variables of a function, all together",
        LAMBDA_ENVIRONMENT_BYTES, "bytes", LAMBDA_PAGE, _environments,
        bounds="pass_role_arns",
    ),
    Quota(
        "lambda-async-payload", "Lambda", "Invocation payload, asynchronous (a hand-out)",
        1024 * 1024, "bytes", LAMBDA_INVOKE_PAGE,
        _fixed(HAND_OUT_BYTES, "drift check hand-out (HAND_OUT_BYTES)"),
    ),
    Quota(
        "lambda-concurrency", "Lambda", "Concurrent executions per Region", 1000,
        "executions", LAMBDA_PAGE, _drift_check_invocations, adjustable=True,
    ),
    Quota(
        "lambda-layer-name", "Lambda", "Layer name", 140, "characters",
        "https://docs.aws.amazon.com/lambda/latest/api/API_PublishLayerVersion.html",
        _names("AWS::Lambda::LayerVersion", "LayerName"),
    ),
    Quota(
        "iam-role-policies", "IAM", "Inline policies of a role, aggregate",
        IAM_ROLE_POLICY_CHARS, "characters", IAM_PAGE,
        lambda sized: _largest(_role_policies(sized)),
    ),
    Quota(
        "iam-trust-policy", "IAM", "Role trust policy length", IAM_TRUST_POLICY_CHARS,
        "characters", IAM_PAGE, _trust_policies, adjustable=True,
    ),
    Quota(
        "iam-path", "IAM", "Path", 512, "characters", IAM_PAGE, _role_paths,
    ),
    Quota(
        "iam-roles", "IAM", "Roles in an account", 1000, "roles", IAM_PAGE,
        _count("AWS::IAM::Role"), adjustable=True,
    ),
    Quota(
        "sfn-definition", "Step Functions", "State machine definition size", 1024 * 1024,
        "bytes", SFN_PAGE, _definitions,
    ),
    Quota(
        "sfn-history", "Step Functions", "Execution history events (an upper bound of a run's)",
        25_000, "events", SFN_PAGE, _history,
    ),
    Quota(
        "ssm-parameter-value", "Systems Manager", "Standard parameter value size", 4096,
        "characters", SSM_PAGE, _names("AWS::SSM::Parameter", "Value"),
        bounds="listed_in_template",
    ),
    Quota(
        "ssm-parameters", "Systems Manager", "Standard parameters per account and Region",
        10_000, "parameters", SSM_PAGE, _member_lists,
    ),
    Quota(
        "ssm-parameter-name", "Systems Manager", "Parameter name (fully qualified)", 1011,
        "characters", SSM_PUT_PAGE, _names("AWS::SSM::Parameter", "Name"),
    ),
    Quota(
        "logs-group-name", "CloudWatch Logs", "Log group name", 512, "characters",
        LOGS_PAGE, _names("AWS::Logs::LogGroup", "LogGroupName"),
    ),
    Quota(
        "dynamodb-item", "DynamoDB", "Item size (a spec item; larger ones are Invalid)",
        400 * 1024, "bytes", DYNAMODB_PAGE, _fixed(MAX_SPEC_BYTES, "spec item (MAX_SPEC_BYTES)"),
    ),
    Quota(
        "dynamodb-batch-get", "DynamoDB", "BatchGetItem keys per request", 100, "keys",
        DYNAMODB_PAGE, _fixed(BATCH_GET_PAGE_LIMIT, "PynamoDB batch_get page"),
    ),
    Quota(
        "events-rules", "EventBridge", "Rules per event bus", 300, "rules", EVENTS_PAGE,
        _count("AWS::Events::Rule"), adjustable=True,
    ),
    Quota(
        "scheduler-schedules", "EventBridge Scheduler", "Schedules per Region", 10_000_000,
        "schedules", SCHEDULER_PAGE, _count("AWS::Scheduler::Schedule"), adjustable=True,
    ),
    Quota(
        "insights-alarms", "CloudWatch", "Metrics Insights alarms per Region", 200,
        "alarms", INSIGHTS_PAGE, _insights_alarms, adjustable=True,
    ),
    Quota(
        "insights-metrics", "CloudWatch", "Metrics a Metrics Insights query processes",
        10_000, "metrics", INSIGHTS_PAGE,
        # A target has a series of a per-target metric only while it needs attention: every
        # target in trouble at once is the most a per-target alarm's query matches. Past it
        # the query processes "the first 10,000 ... that it finds", in no order: a target in
        # trouble could go unseen, so the fleet stops here.
        lambda sized: Usage(sized.configuration.targets, "every target in trouble at once"),
        bounds="targets",
    ),
    Quota(
        "insights-series", "CloudWatch", "Time series a Metrics Insights query returns", 500,
        "series", INSIGHTS_PAGE,
        lambda sized: Usage(sized.configuration.targets, "every target in trouble at once"),
        past_it=(
            "the query returns the 500 first by its ORDER BY (the worst targets first), so "
            "the alarm still goes to ALARM; its evaluation state reads PARTIAL_DATA"
        ),
    ),
    Quota(
        "alarm-contributors", "CloudWatch",
        "Contributors in ALARM of an alarm on several time series", 100, "contributors",
        ALARM_LIMITS_PAGE,
        lambda sized: Usage(sized.configuration.targets, "every target in trouble at once"),
        past_it=(
            "the alarm is in ALARM and names 100 targets (\"100+ time series evaluated to "
            "ALARM\"); `fleetwise-reconciler status` lists every one"
        ),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    quota: Quota
    usage: Usage

    @property
    def within(self) -> bool:
        return self.usage.amount <= self.quota.limit


def ledger(configuration: Configuration = LARGEST, template_path: Path = TEMPLATE) -> list[Row]:
    """Every quota with the stack's usage at ``configuration``."""
    sized = size(configuration, template_path)
    return [Row(quota, quota.measure(sized)) for quota in QUOTAS]


def breaches(rows: list[Row]) -> list[Row]:
    """Rows past their quota where AWS refuses (not those where it degrades, ``past_it``)."""
    return [row for row in rows if not row.within and row.quota.past_it is None]


def one_past(configuration: Configuration, dimension: str) -> Configuration:
    """``configuration`` with one more of ``dimension``."""
    value = getattr(configuration, dimension)
    return replace(configuration, **{dimension: value + 1})

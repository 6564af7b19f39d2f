"""Where the reconciler runs: its tables from the stack's outputs, its limits from its
parameters (or, with no stack, from ``--param`` and the template's defaults)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from fleetwise_cli.awserrors import code_of, message_of, translated
from fleetwise_cli.context import CliError, Context
from fleetwise_reconciler import wiring
from fleetwise_reconciler.logic.validate import ValidationContext
from fleetwise_reconciler.member import AllowedAccounts
from fleetwise_reconciler.settings import DEFAULT_MEMBER_ROLE_NAME, Settings

TEMPLATE = Path("template.yaml")
# The checkout's template, for a CLI run from another directory.
CHECKOUT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REQUIRED_OUTPUTS = ("SpecTableName", "StatusTableName")


@dataclass(frozen=True)
class Deployment:
    """A deployed stack as the CLI uses it."""

    name: str
    account_id: str
    region: str
    spec_table: str
    status_table: str
    state_machine_arn: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return settings_for(
            self.parameters, account_id=self.account_id, region=self.region, stack=self.name
        )

    def validation_context(self, ctx: Context) -> ValidationContext:
        """What the stack's functions allow a spec: its parameters, and the member accounts
        listed under its path in Parameter Store (read only if a spec names another account,
        with the operator's credentials)."""
        settings = self.settings
        members = AllowedAccounts(
            settings.member_accounts_path,
            fixed=settings.member_account_ids,
            ssm_client=lambda: ctx.client("ssm"),
        )
        return wiring.validation_context(settings, members)


def discover(ctx: Context, name: str) -> Deployment:
    """The stack ``name`` in the session's Region, through DescribeStacks."""
    region = ctx.region
    with translated(f"reading stack {name!r}", "cloudformation"):
        try:
            stacks = ctx.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            # CloudFormation answers a stack it does not know (in this account and Region)
            # with ValidationError "Stack with id NAME does not exist".
            if code_of(error) == "ValidationError" and "does not exist" in message_of(error):
                raise CliError(
                    f"stack {name!r} not found in {region}: deploy it with 'sam deploy', or "
                    "name another with --stack (and --region)"
                ) from None
            raise
    stack = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise CliError(
            f"stack {name!r} has no output {', '.join(missing)}: is it a fleetwise-reconciler "
            f"stack? (status {stack.get('StackStatus')})"
        )
    parameters = {
        p["ParameterKey"]: str(p.get("ResolvedValue") or p.get("ParameterValue") or "")
        for p in stack.get("Parameters") or []
    }
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>
    account = str(stack.get("StackId", "")).split(":")[4:5]
    # Targets of other accounts are reached through their member role.
    ctx.home_account = account[0] if account else None
    ctx.member_role_name = parameters.get("MemberRoleName") or DEFAULT_MEMBER_ROLE_NAME
    return Deployment(
        name=name,
        account_id=account[0] if account else "",
        region=region,
        spec_table=outputs["SpecTableName"],
        status_table=outputs["StatusTableName"],
        state_machine_arn=outputs.get("ReconcileStateMachineArn"),
        parameters=parameters,
    )


def settings_for(
    parameters: Mapping[str, str], *, account_id: str, region: str, stack: str | None = None
) -> Settings:
    """The settings the template gives the functions from these parameter values (its
    ``Globals`` environment): what validation and planning need. ``stack`` names where its
    member accounts are listed (none without a stack: ``--param MemberAccountIds`` then)."""
    roles = tuple(
        part.strip()
        for part in parameters.get("AllowedPassRoleArns", "").split(",")
        if part.strip()
    )
    raw = parameters.get("MaxRegistrationAttempts", "5")
    try:
        attempts = int(raw)
    except ValueError:
        raise CliError(f"MaxRegistrationAttempts must be an integer, got {raw!r}") from None
    members = tuple(
        part.strip() for part in parameters.get("MemberAccountIds", "").split(",") if part.strip()
    )
    return Settings(
        account_id=account_id,
        region=region,
        allowed_pass_role_arns=roles,
        max_registration_attempts=attempts,
        member_account_ids=members,
        member_accounts_path=f"/fleetwise-reconciler/{stack}/member-accounts" if stack else "",
        member_organization_id=parameters.get("MemberOrganizationId", ""),
        member_role_name=parameters.get("MemberRoleName") or DEFAULT_MEMBER_ROLE_NAME,
    )


# -- the template, for a plan without a stack ------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """Reads a CloudFormation template's short-form intrinsics (!Ref, !If, ...) as plain data:
    only the Parameters section is used, and it holds none."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _any_tag)


def template_path(given: str | None) -> Path:
    if given is not None:
        path = Path(given)
    else:
        path = TEMPLATE if TEMPLATE.is_file() else CHECKOUT_TEMPLATE
    if not path.is_file():
        raise CliError(f"no template at {path}: pass --template FILE (the stack's template.yaml)")
    return path


def template_parameters(path: Path) -> dict[str, dict[str, Any]]:
    try:
        template = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: not a readable template: {error}") from None
    declared = (template or {}).get("Parameters") if isinstance(template, dict) else None
    if not isinstance(declared, dict):
        raise CliError(f"{path}: no Parameters section: is it the reconciler's template?")
    return declared


def parameters_with(path: Path, pairs: Sequence[str]) -> dict[str, str]:
    """The template's defaults overridden by ``Key=Value`` pairs, each checked as
    CloudFormation checks a parameter (declared, allowed value, number bounds)."""
    declared = template_parameters(path)
    values = {
        name: _text(spec.get("Default", ""))
        for name, spec in declared.items()
        if isinstance(spec, dict)
    }
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--param: expected Key=Value, got {pair!r}")
        spec = declared.get(key)
        if not isinstance(spec, dict):
            raise CliError(f"--param: {key!r} is not a parameter of {path.name}")
        problem = _parameter_problem(spec, value)
        if problem:
            raise CliError(f"--param: {key}: {problem}")
        values[key] = value
    return values


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _parameter_problem(spec: Mapping[str, Any], text: str) -> str | None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and text not in [str(a) for a in allowed]:
        return f"{text!r} is not one of {', '.join(str(a) for a in allowed)}"
    if spec.get("Type") == "Number":
        try:
            number = float(text)
        except ValueError:
            return f"{text!r} is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{text} is below its MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"{text} is above its MaxValue {spec['MaxValue']}"
    return None

"""SAM → CloudFormation offline, and the intrinsic functions the rehearsal needs resolved.

``translate`` runs aws-sam-translator without AWS: a Region is given, every ``CodeUri``,
layer ``ContentUri`` and ``DefinitionUri`` is swapped for an S3-style placeholder (the
translator insists on one), and the state machine definitions behind ``DefinitionUri`` are
read from disk for the caller.

``Resolver`` evaluates Ref, Fn::GetAtt, Fn::Sub (both forms), Fn::Join, Fn::If (with the
template's Conditions), Fn::Select, Fn::Split, Fn::FindInMap, Fn::Equals/And/Or/Not inside
conditions and the pseudo parameters, against the physical names the stack layer gives it.
Anything else raises UnsupportedIntrinsic naming it, so a template change cannot be silently
mis-deployed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.metrics.metrics import Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_BUCKET = "rehearsal-artifacts"


class UnsupportedIntrinsic(ValueError):
    """The template uses an intrinsic function or reference the resolver does not handle."""


class NoValue:
    """AWS::NoValue: the property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = NoValue()


@dataclass
class Translated:
    """The CloudFormation template, and the ASL text behind each state machine's DefinitionUri."""

    template: dict[str, Any]
    definitions: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template.get("Resources", {}))


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML template, short-form intrinsics included."""
    parsed = yaml_parse(path.read_text(encoding="utf-8"))
    if not isinstance(parsed, dict):
        raise TypeError(f"{path.name} is not a template (top level is not a mapping)")
    return parsed


def translate(
    template_path: Path, parameters: Mapping[str, Any], *, region: str, account_id: str
) -> Translated:
    """Translate the SAM template at ``template_path`` into CloudFormation, offline."""
    sam = load_template(template_path)
    definitions: dict[str, str] = {}
    base = template_path.parent
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
        if kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
        if kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            definitions[logical_id] = (base / props["DefinitionUri"]).read_text(encoding="utf-8")
            props["DefinitionUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.asl.json"
    function_globals = (sam.get("Globals") or {}).get("Function") or {}
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/code.zip"

    values = {**_parameter_defaults(sam), **dict(parameters)}
    # The translator reads the Region and the pseudo parameters from a boto3 session; a
    # session object makes no call.
    session = boto3.Session(region_name=region)
    # The translator records usage metrics for its own service; offline they go nowhere, and
    # publishing them (to its default no-op publisher) stops it warning of unpublished ones.
    metrics = Metrics()
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    cfn = translator.translate(
        copy.deepcopy(sam),
        parameter_values={**values, "AWS::AccountId": account_id, "AWS::Region": region},
        get_managed_policy_map=dict,
    )
    metrics.publish()
    return Translated(template=cfn, definitions=definitions, parameters=values)


def _parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: spec["Default"]
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Resolver:
    """Evaluates intrinsic functions against known physical names and attributes.

    ``refs`` maps a logical id (or parameter) to what ``Ref`` returns; ``attributes`` maps
    ``(logical id, attribute)`` to what ``Fn::GetAtt`` returns. Both fill in as resources are
    created; a reference to something not created yet raises UnsupportedIntrinsic.
    """

    parameters: Mapping[str, Any]
    conditions: Mapping[str, Any]
    account_id: str
    region: str
    stack_name: str
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    _condition_values: dict[str, bool] = field(default_factory=dict)

    @property
    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
                f"{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }

    def condition(self, name: str) -> bool:
        """The value of a named condition of the template."""
        if name not in self._condition_values:
            if name not in self.conditions:
                raise UnsupportedIntrinsic(f"unknown condition {name!r}")
            self._condition_values[name] = self._truth(self.conditions[name])
        return self._condition_values[name]

    def _truth(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((fn, args),) = expr.items()
            if fn == "Fn::Equals":
                left, right = (self.resolve(a) for a in args)
                return str(left) == str(right)
            if fn == "Fn::And":
                return all(self._truth(a) for a in args)
            if fn == "Fn::Or":
                return any(self._truth(a) for a in args)
            if fn == "Fn::Not":
                return not self._truth(args[0])
            if fn == "Condition":
                return self.condition(args)
        raise UnsupportedIntrinsic(f"unsupported condition expression {expr!r}")

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.parameters:
            return self.parameters[name]
        raise UnsupportedIntrinsic(f"Ref to {name!r}: no such parameter or created resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise UnsupportedIntrinsic(
                f"Fn::GetAtt {logical_id}.{attribute}: not known (resource not created, or "
                "attribute not modelled by the rehearsal)"
            ) from None

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic evaluated; AWS::NoValue entries are dropped."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, args),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(args)
            if key.startswith("Fn::"):
                raise UnsupportedIntrinsic(f"{key} is not supported by the rehearsal")
        out: dict[str, Any] = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self.ref,
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": lambda a: str(a[0]).join(str(x) for x in self.resolve(a[1])),
            "Fn::If": self._fn_if,
            "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
            "Fn::Split": lambda a: str(self.resolve(a[1])).split(str(a[0])),
            "Fn::FindInMap": self._fn_find_in_map,
        }

    def _fn_find_in_map(self, args: Any) -> Any:
        name, top, second = (str(self.resolve(a)) for a in args)
        try:
            return self.mappings[name][top][second]
        except KeyError:
            raise UnsupportedIntrinsic(
                f"Fn::FindInMap {name}.{top}.{second}: no such entry"
            ) from None

    def _fn_get_att(self, args: Any) -> Any:
        if isinstance(args, str):
            logical_id, _, attribute = args.partition(".")
        else:
            logical_id, attribute = args[0], self.resolve(args[1])
        return self.get_att(logical_id, attribute)

    def _fn_if(self, args: Any) -> Any:
        name, when_true, when_false = args
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_sub(self, args: Any) -> str:
        if isinstance(args, str):
            text, variables = args, {}
        else:
            text, raw = args
            variables = {k: self.resolve(v) for k, v in raw.items()}
        return self.substitute(text, variables)

    def substitute(self, text: str, variables: Mapping[str, Any]) -> str:
        """Fn::Sub's string rules: ``${Name}``, ``${Logical.Attr}``, ``${!Literal}``."""

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.parameters:
                logical_id, _, attribute = name.partition(".")
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(one, text)

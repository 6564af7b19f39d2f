"""Offline helpers for the template tests: load the SAM template, translate it to
CloudFormation, and turn the state machine definition (a SAM-substituted template) into ASL.

A plain module (not conftest.py) so test modules can import it by a name no other test
directory uses."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
DEFINITION_PATH = ROOT / "statemachine" / "reconcile.asl.json"

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# The Task states' functions, by DefinitionSubstitutions key; dummy ARNs for offline checks.
STEP_FUNCTION_ARNS = {
    f"{name}FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:reconciler-{name}"
    for name in ("Acquire", "Observe", "Register", "Poll", "Record")
}

SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation's short intrinsic tags (!Ref, !Sub, ...)."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The SAM template as a dict, intrinsics in their long form."""
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506
    return loaded


def _no_managed_policies() -> dict[str, str]:
    # The template names no managed policy, so the translator must never need IAM's list.
    raise AssertionError("the template asked SAM for a managed policy")


def translate(sam_template: dict[str, Any], region: str = REGION) -> dict[str, Any]:
    """Translate the SAM template to CloudFormation offline.

    ``sam deploy`` uploads ``CodeUri``, ``ContentUri`` and ``DefinitionUri`` to S3 first; the
    translator only accepts them in that form, so local paths are replaced with S3 placeholders.
    """
    fragment = copy.deepcopy(sam_template)
    fragment["Globals"]["Function"]["CodeUri"] = "s3://artifacts/code.zip"
    for resource in fragment["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"]["DefinitionUri"] = {
                "Bucket": "artifacts",
                "Key": "reconcile.asl.json",
            }
    # The session only tells the translator its Region; it makes no call.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated: dict[str, Any] = translator.translate(
        fragment, parameter_values={}, get_managed_policy_map=_no_managed_policies
    )
    return translated


def parameter_defaults(sam_template: dict[str, Any]) -> dict[str, str]:
    """Every parameter's default as CloudFormation passes it to a Ref: a string."""
    return {
        name: str(spec["Default"])
        for name, spec in sam_template["Parameters"].items()
        if "Default" in spec
    }


def placeholders(definition_text: str) -> set[str]:
    """The ${X} names the definition expects from DefinitionSubstitutions."""
    return set(SUBSTITUTION.findall(definition_text))


def substitute(definition_text: str, values: dict[str, str]) -> str:
    """Apply DefinitionSubstitutions the way Step Functions does: textually, ${X} by value."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no substitution for ${{{name}}}")
        return values[name]

    return SUBSTITUTION.sub(replace, definition_text)


def substitution_values(sam_template: dict[str, Any]) -> dict[str, str]:
    """DefinitionSubstitutions of the template, resolved with parameter defaults and dummy ARNs."""
    defaults = parameter_defaults(sam_template)
    machine = sam_template["Resources"]["ReconcileStateMachine"]["Properties"]
    values: dict[str, str] = {}
    for key, expr in machine["DefinitionSubstitutions"].items():
        if isinstance(expr, dict) and "Ref" in expr:
            values[key] = defaults[expr["Ref"]]
        elif isinstance(expr, dict) and "Fn::GetAtt" in expr:
            values[key] = STEP_FUNCTION_ARNS[key]
        else:
            raise AssertionError(f"unexpected substitution expression for {key}: {expr!r}")
    return values


def iter_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, nested ones (Parallel branches, Map iterators) included."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from iter_states(state[key]["States"])


# -- Rules, evaluated as CloudFormation evaluates them ("Rules syntax", "Rule functions") --


def _value(node: Any, parameters: dict[str, str]) -> Any:
    """A rule function's value (the functions the template uses; anything else fails)."""
    if isinstance(node, list):
        return [_value(item, parameters) for item in node]
    if not isinstance(node, dict):
        return str(node)
    [(name, args)] = node.items()
    if name == "Ref":
        return parameters[args]
    values = _value(args, parameters)
    if name == "Fn::Equals":
        return values[0] == values[1]
    if name == "Fn::Not":
        return not values[0]
    if name == "Fn::Contains":
        return values[1] in values[0]
    raise AssertionError(f"a rule function this test does not evaluate: {name}")


def refusals(template: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    """The AssertDescription of every assertion the parameters fail."""
    parameters = {
        name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()
    }
    parameters.update(overrides)
    found = []
    for rule in template["Rules"].values():
        if "RuleCondition" in rule and not _value(rule["RuleCondition"], parameters):
            continue
        for assertion in rule["Assertions"]:
            if not _value(assertion["Assert"], parameters):
                found.append(" ".join(assertion["AssertDescription"].split()))
    return found

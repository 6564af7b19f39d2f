"""Reading the resolved roles of a deployed stack: which actions each role allows on what."""

from __future__ import annotations

from typing import Any

from stack_values import Deployed


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(stack: Deployed, role: str, action: str, resource: str) -> bool:
    """Whether an Allow statement of ``role``'s inline policies names ``action`` on
    ``resource`` exactly (or on "*"). Wildcards inside ARNs are not expanded: the template
    names its own resources exactly."""
    for policy in stack.resources[role]["Properties"].get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            if statement.get("Effect") != "Allow":
                continue
            if action in as_list(statement.get("Action", [])) and (
                resource in as_list(statement.get("Resource", []))
                or "*" in as_list(statement.get("Resource", []))
            ):
                return True
    return False


def trusts(stack: Deployed, role: str, service: str) -> bool:
    document = stack.resources[role]["Properties"]["AssumeRolePolicyDocument"]
    return any(
        statement.get("Effect") == "Allow"
        and service in as_list(statement.get("Principal", {}).get("Service", []))
        for statement in as_list(document["Statement"])
    )


def role_of_function(stack: Deployed, function: str) -> str | None:
    role_arn = stack.resources[function]["Properties"].get("Role")
    return stack.named(role_arn)

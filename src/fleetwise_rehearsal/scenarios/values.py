"""What every part of a scenario file is checked with: its error, the values it takes, and
the facts of template.yaml it is checked against."""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwise_rehearsal.aws.template import load_template

TARGET_PATTERN = re.compile(r"\d{12}:[a-z]{2}(-[a-z]+)+-\d+")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the step and the problem."""


class Problem(ValueError):
    """A problem inside one step or section, before the location is prefixed."""


@dataclass(frozen=True)
class TemplateFacts:
    """What validation needs from template.yaml: parameter declarations and alarm ids."""

    name: str
    parameters: Mapping[str, Mapping[str, Any]]
    alarms: frozenset[str]


@functools.cache
def template_facts(path: Path) -> TemplateFacts:
    template = load_template(path)
    resources = template.get("Resources") or {}
    return TemplateFacts(
        name=path.name,
        parameters=dict(template.get("Parameters") or {}),
        alarms=frozenset(
            k for k, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"
        ),
    )


def default_template() -> Path:
    from fleetwise_rehearsal.rehearsal import template_path  # noqa: PLC0415 - heavy import

    return template_path()


def suggest(word: str, choices: Sequence[str]) -> str:
    same = [c for c in choices if c.lower() == word.lower()]
    close = same or difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_number(value: Any, what: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Problem(f"{what} must be a number of seconds, not {value!r}")
    if minimum is not None and value < minimum:
        raise Problem(f"{what} must be at least {minimum:g}, not {value!r}")
    return float(value)


def check_target(value: Any, what: str = "'target'") -> str:
    if not isinstance(value, str) or not TARGET_PATTERN.fullmatch(value):
        raise Problem(
            f"{what} must be '<12-digit account>:<region>' (like 123456789012:us-east-1), "
            f"not {value!r}"
        )
    return value


def check_text(value: Any, what: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise Problem(f"{what} must be text, not {value!r}")
    if limit is not None and len(value) > limit:
        raise Problem(f"{what} is longer than {limit} characters")
    return value


def attribute_value(value: Any, path: str) -> Any:
    """A value a DynamoDB item can hold, as the runner writes it."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Problem(f"'{path}' is {value}, which DynamoDB cannot store")
        return value
    if isinstance(value, list):
        return [attribute_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise Problem(f"'{path}' has a key {key!r} that is not text")
        return {k: attribute_value(v, f"{path}.{k}") for k, v in value.items()}
    raise Problem(
        f"'{path}' holds a {type(value).__name__} ({value!r}), which a DynamoDB item cannot "
        "hold; quote it"
    )


def check_mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Problem(f"{what} must be a mapping, not {value!r}")
    return value


def optional_text(body: Mapping[str, Any], key: str, what: str) -> str | None:
    return None if body.get(key) is None else check_text(body[key], what)

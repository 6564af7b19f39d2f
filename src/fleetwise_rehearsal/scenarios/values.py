"""What every part of a scenario file is checked with: its error, the values it takes, and
the facts of template.yaml it is checked against."""

from __future__ import annotations

import base64
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


# DynamoDB's limits on a key: a partition key value of type S is 1 to 2048 bytes (UTF-8),
# DynamoDB Developer Guide, "Quotas in Amazon DynamoDB", "Partition key length".
KEY_BYTES_MAX = 2048
DYNAMODB_TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")


def check_key(value: Any, what: str = "'target'") -> str:
    """Any value the spec table's key can hold: text of 1 to 2048 UTF-8 bytes (an odd key is
    the product's to report Invalid, not the scenario's to refuse)."""
    if not isinstance(value, str) or not 1 <= len(value.encode("utf-8")) <= KEY_BYTES_MAX:
        raise Problem(f"{what} must be text of 1 to {KEY_BYTES_MAX} bytes, not {value!r}")
    return value


def _number_text(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Problem(f"'{path}' (N) holds {value!r}, not a number")
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        raise Problem(f"'{path}' (N) holds {value!r}, not a number") from None
    if not math.isfinite(number):
        raise Problem(f"'{path}' (N) is {text}, which DynamoDB cannot store")
    return text


def _binary(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise Problem(f"'{path}' (B) holds {value!r}, not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise Problem(f"'{path}' (B) holds {value!r}, which is not base64") from None


def attribute(value: Any, path: str) -> dict[str, Any]:
    """One attribute value in DynamoDB JSON (``{"SS": [...]}``), as ``aws dynamodb put-item``
    takes it, checked as DynamoDB checks it; binary values (base64 in the file) become bytes,
    numbers their text."""
    if not isinstance(value, dict) or len(value) != 1:
        raise Problem(
            f"'{path}' must be one typed value like {{S: text}}, one of {', '.join(DYNAMODB_TYPES)}"
        )
    [(kind, body)] = value.items()
    if kind is None:
        raise Problem(f"'{path}': YAML reads the type NULL as null: quote it (\"NULL\": true)")
    if kind not in DYNAMODB_TYPES:
        raise Problem(
            f"'{path}': {kind!r} is not a DynamoDB type{suggest(str(kind), DYNAMODB_TYPES)}"
        )
    if kind == "S":
        if not isinstance(body, str):
            raise Problem(f"'{path}' (S) holds {body!r}, not text (quote it)")
        return {"S": body}
    if kind == "N":
        return {"N": _number_text(body, path)}
    if kind == "B":
        return {"B": _binary(body, path)}
    if kind == "BOOL":
        if not isinstance(body, bool):
            raise Problem(f"'{path}' (BOOL) holds {body!r}, not true or false")
        return {"BOOL": body}
    if kind == "NULL":
        if body is not True:
            raise Problem(f"'{path}' (NULL) must be written {{NULL: true}}")
        return {"NULL": True}
    if kind == "M":
        if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
            raise Problem(f"'{path}' (M) must be a mapping with text keys")
        return {"M": {k: attribute(v, f"{path}.{k}") for k, v in body.items()}}
    if kind == "L":
        if not isinstance(body, list):
            raise Problem(f"'{path}' (L) must be a list")
        return {"L": [attribute(v, f"{path}[{i}]") for i, v in enumerate(body)]}
    # A set: DynamoDB refuses an empty one and one with duplicates.
    if not isinstance(body, list) or not body:
        raise Problem(f"'{path}' ({kind}) must be a non-empty list (DynamoDB has no empty set)")
    if kind == "SS":
        if not all(isinstance(v, str) for v in body):
            raise Problem(f"'{path}' (SS) holds something that is not text")
        members: list[Any] = list(body)
    elif kind == "NS":
        members = [_number_text(v, f"{path}[{i}]") for i, v in enumerate(body)]
    else:
        members = [_binary(v, f"{path}[{i}]") for i, v in enumerate(body)]
    if len(set(members)) != len(members):
        raise Problem(f"'{path}' ({kind}) holds a value twice, which DynamoDB refuses")
    return {kind: members}


def dynamodb_item(value: Any) -> dict[str, dict[str, Any]]:
    """An item in DynamoDB JSON whose ``target`` key is a string (of any text DynamoDB takes)."""
    item = check_mapping(value, "the item (DynamoDB JSON)")
    target = item.get("target")
    if not isinstance(target, dict) or set(target) != {"S"}:
        raise Problem("the item needs its key, 'target', written {S: text}")
    check_key(target["S"])
    return {str(name): attribute(v, str(name)) for name, v in item.items()}

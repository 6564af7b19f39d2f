"""Every JSONPath the workflow reads exists in every state that can reach it.

Step Functions fails an execution with ``States.Runtime`` when a path in ``InputPath``,
``Parameters``, ``ResultSelector``, a Choice rule's ``Variable`` or a Wait's ``SecondsPath``
selects nothing (AWS Step Functions Developer Guide, "Processing input and output":
"the JSONPath ... could not be found in the input"); moto's interpreter goes on. This module
walks the definition from ``StartAt`` the way Step Functions moves data (InputPath ->
Parameters -> task -> ResultSelector -> ResultPath -> OutputPath; a Catch puts
``{"Error", "Cause"}`` at its ResultPath over the state's input), with:

- the execution input's shape (``events/reconcile-input.json``),
- for each Lambda Task, every result shape and every error its handler produced in the
  handler tests (the ledger ``tests/handlers/result_shapes.json``), wrapped as the
  ``lambda:invoke`` integration returns it (``{"Payload": ..., "StatusCode": ...}``) or, for
  an error, as the Catch output Step Functions builds: ``Error`` is the error type and
  ``Cause`` the Python runtime's error payload as a JSON string
  (``{"errorMessage", "errorType", "requestId", "stackTrace"}``).

Shapes (see result_recorder.py) stand for values: ``"<str>"``, ``"<number>"``, ``"<bool>"``,
``"<null>"``, ``{"<json>": shape}`` for a string holding JSON. Choice states are followed on
every branch (every handler result must carry every field the workflow may read, null where
it has no value: docs/workflow.md). The walk reports each path that selects nothing, with the
state, the path and the handler cases that built the data; and the states no recorded case
reaches, since an unreached state is an unchecked one.
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MISSING = object()
STRING, NUMBER, BOOL, NULL, JSON = "<str>", "<number>", "<bool>", "<null>", "<json>"
CONTEXT = {
    "Execution": {
        "Id": STRING,
        "Input": {},
        "Name": STRING,
        "RoleArn": STRING,
        "StartTime": STRING,
        "RedriveCount": NUMBER,
    },
    "State": {"EnteredTime": STRING, "Name": STRING, "RetryCount": NUMBER},
    "StateMachine": {"Id": STRING, "Name": STRING},
    "Task": {"Token": STRING},
}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
# An execution step bound: the walk is over shapes, so it converges long before this.
MAX_STEPS = 200_000


class Unsupported(ValueError):
    """The definition uses something this checker does not model: extend it, do not skip."""


@dataclass(frozen=True)
class Outcome:
    """One recorded handler outcome: a result or an error, with the test that produced it."""

    case: str
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass
class Flow:
    findings: list[str] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)


MARKERS = frozenset({STRING, NUMBER, BOOL, NULL})


def skeleton(value: Any) -> Any:
    """A literal of the definition as a shape. Strings and booleans stay as they are, so a
    Choice on a value the definition itself set (``"resume": "Observe"``) is decided exactly;
    what handlers return is known only by type and every branch is followed."""
    if isinstance(value, dict):
        return {k: skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [skeleton(v) for v in value]
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return NUMBER
    return NULL


def _known(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and value not in MARKERS


def decide(rule: dict[str, Any], shape: Any) -> bool | None:
    """A Choice rule on a shape: True or False when the shape decides it, None otherwise."""
    if "And" in rule or "Or" in rule:
        values = [decide(r, shape) for r in rule.get("And", rule.get("Or", []))]
        # One False decides an And, one True an Or.
        decisive = "And" not in rule
        if decisive in values:
            return decisive
        return None if None in values else not decisive
    if "Not" in rule:
        value = decide(rule["Not"], shape)
        return None if value is None else not value
    variable = get(shape, rule["Variable"]) if "Variable" in rule else MISSING
    if "StringEquals" in rule and _known(variable, str):
        return bool(variable == rule["StringEquals"])
    if "BooleanEquals" in rule and isinstance(variable, bool):
        return bool(variable == rule["BooleanEquals"])
    return None


def get(shape: Any, path: str) -> Any:
    """What a reference path selects in ``shape``, or MISSING."""
    if path == "$":
        return shape
    if not re.fullmatch(r"\$(\.[A-Za-z_][A-Za-z0-9_-]*)+", path):
        raise Unsupported(f"path {path!r}: only $ and $.a.b paths are modelled")
    node = shape
    for key in path[2:].split("."):
        if not isinstance(node, dict) or JSON in node or key not in node:
            return MISSING
        node = node[key]
    return node


def put(shape: Any, path: str, value: Any) -> Any:
    """ResultPath: ``value`` written at ``path`` into a copy of ``shape``."""
    if path == "$":
        return value
    if not re.fullmatch(r"\$(\.[A-Za-z_][A-Za-z0-9_-]*)+", path):
        raise Unsupported(f"ResultPath {path!r}: only $ and $.a.b paths are modelled")
    out = copy.deepcopy(shape) if isinstance(shape, dict) else {}
    node = out
    keys = path[2:].split(".")
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict) or JSON in node[key]:
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value
    return out


def _split_arguments(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'" and not current.endswith("\\"):
            quoted = not quoted
        if not quoted and char in "(":
            depth += 1
        if not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


class _Reader:
    """Evaluates paths and intrinsic functions of one state against one input shape."""

    def __init__(self, state: str, shape: Any, where: str) -> None:
        self.state = state
        self.shape = shape
        self.where = where
        self.findings: list[str] = []

    def path(self, field_name: str, path: str) -> Any:
        source, local = (CONTEXT, "$" + path[2:]) if path.startswith("$$") else (self.shape, path)
        value = get(source, local)
        if value is MISSING:
            self.findings.append(
                f"{self.state}: {field_name} {path} selects nothing in {self.where}"
            )
        return value

    def value(self, field_name: str, expression: str) -> Any:
        match = re.fullmatch(r"(States\.[A-Za-z]+)\((.*)\)", expression.strip(), re.DOTALL)
        if not match:
            return self.path(field_name, expression)
        function, arguments = match.groups()
        values = []
        for argument in _split_arguments(arguments):
            if argument.startswith("$") or argument.startswith("States."):
                values.append(self.value(field_name, argument))
            else:
                values.append(STRING if argument.startswith("'") else NUMBER)
        if function == "States.StringToJson":
            [text] = values
            if text is MISSING:
                return MISSING
            if not (isinstance(text, dict) and JSON in text):
                self.findings.append(
                    f"{self.state}: {field_name} {expression} parses a value that is not a JSON "
                    f"string in {self.where}"
                )
                return MISSING
            return text[JSON]
        if function == "States.MathAdd":
            return NUMBER
        if function in ("States.Format", "States.JsonToString", "States.UUID", "States.Hash"):
            return STRING
        if function in ("States.Array", "States.ArrayPartition", "States.ArrayRange"):
            return [STRING]
        raise Unsupported(f"{self.state}: intrinsic {function} is not modelled")

    def template(self, field_name: str, payload: Any) -> Any:
        """Parameters / ResultSelector: keys ending in .$ are read, the others are literals."""
        if isinstance(payload, dict):
            out = {}
            for key, item in payload.items():
                if key.endswith(".$"):
                    out[key[:-2]] = self.value(f"{field_name}.{key}", item)
                else:
                    out[key] = self.template(f"{field_name}.{key}", item)
            return out
        if isinstance(payload, list):
            return [self.template(field_name, item) for item in payload]
        return skeleton(payload)


def _invoke_output(result: Any) -> Any:
    return {
        "ExecutedVersion": STRING,
        "Payload": result,
        "SdkHttpMetadata": {"HttpHeaders": {}, "HttpStatusCode": NUMBER},
        "SdkResponseMetadata": {"RequestId": STRING},
        "StatusCode": NUMBER,
    }


def _caught(error: dict[str, Any]) -> Any:
    payload = {
        "errorMessage": error["errorMessage"],
        "errorType": error["errorType"],
        "requestId": STRING,
        "stackTrace": [STRING],
    }
    return {"Error": error["errorType"], "Cause": {JSON: payload}}


def _catcher(state: dict[str, Any], error_type: str) -> dict[str, Any] | None:
    for catcher in state.get("Catch", []):
        names = catcher["ErrorEquals"]
        if error_type in names or "States.ALL" in names or "States.TaskFailed" in names:
            return dict(catcher)
    return None


def walk(
    definition: dict[str, Any],
    execution_input: Any,
    outcomes: dict[str, list[Outcome]],
) -> Flow:
    """``outcomes``: Task state name -> what its handler returned or raised in the tests."""
    flow = Flow()
    seen: dict[str, set[str]] = {}
    queue: deque[tuple[str, Any, tuple[str, ...]]] = deque(
        [(definition["StartAt"], execution_input, ("the execution input",))]
    )
    states = definition["States"]
    steps = 0
    reported: set[str] = set()
    while queue:
        steps += 1
        if steps > MAX_STEPS:
            raise Unsupported("the walk does not converge: a loop keeps growing the state")
        name, shape, origin = queue.popleft()
        key = json.dumps(shape, sort_keys=True)
        if key in seen.setdefault(name, set()):
            continue
        seen[name].add(key)
        flow.reached.add(name)
        state = states[name]
        where = "the state built from " + "; ".join(origin)
        for next_name, next_shape, next_origin, findings in _step(
            name, state, shape, where, origin, outcomes
        ):
            for finding in findings:
                if finding not in reported:
                    reported.add(finding)
                    flow.findings.append(finding)
            # A path that selects nothing fails the execution there (States.Runtime).
            if next_name is not None and next_shape is not MISSING and not findings:
                queue.append((next_name, next_shape, next_origin))
    return flow


def _step(
    name: str,
    state: dict[str, Any],
    shape: Any,
    where: str,
    origin: tuple[str, ...],
    outcomes: dict[str, list[Outcome]],
) -> list[tuple[str | None, Any, tuple[str, ...], list[str]]]:
    kind = state["Type"]
    if kind in ("Map", "Parallel"):
        raise Unsupported(f"{name}: {kind} states are not modelled")
    reader = _Reader(name, shape, where)
    effective = shape
    if state.get("InputPath", "$") is not None:
        effective = reader.path("InputPath", state.get("InputPath", "$"))
    if effective is MISSING:
        return [(None, MISSING, origin, reader.findings)]
    if "Parameters" in state:
        parameters = _Reader(name, effective, where)
        effective = parameters.template("Parameters", state["Parameters"])
        reader.findings += parameters.findings
    reader.shape = effective
    out: list[tuple[str | None, Any, tuple[str, ...], list[str]]] = []
    if kind == "Choice":
        for rule in state.get("Choices", []):
            for variable in _variables(rule):
                reader.path("Variable", variable)
        targets = []
        for rule in state.get("Choices", []):
            decided = decide(rule, effective)
            if decided is not False:
                targets.append(rule["Next"])
            if decided is True:
                break
        else:
            targets += [state["Default"]] if "Default" in state else []
        return [(t, _output(state, effective, reader), origin, reader.findings) for t in targets]
    if kind == "Wait":
        for key in ("SecondsPath", "TimestampPath"):
            if key in state:
                value = reader.path(key, state[key])
                if key == "SecondsPath" and value not in (MISSING, NUMBER):
                    reader.findings.append(
                        f"{name}: SecondsPath {state[key]} is {value!r}, not a number, in {where}"
                    )
        return [(_next(state), _output(state, effective, reader), origin, reader.findings)]
    if kind in ("Succeed", "Fail"):
        return [(None, MISSING, origin, reader.findings)]
    if kind == "Pass":
        result = skeleton(state["Result"]) if "Result" in state else effective
        new = _result_path(state, shape, result)
        return [(_next(state), _output(state, new, reader), origin, reader.findings)]
    if kind != "Task":
        raise Unsupported(f"{name}: state type {kind} is not modelled")
    if state.get("Resource") != LAMBDA_INVOKE:
        raise Unsupported(f"{name}: only {LAMBDA_INVOKE} tasks are modelled")
    if not outcomes.get(name):
        return [(None, MISSING, origin, [*reader.findings, f"{name}: no recorded handler outcome"])]
    out.append((None, MISSING, origin, reader.findings))
    for outcome in outcomes[name]:
        case_origin = (*origin, f"{name}: {outcome.case}")
        case_where = f"the {name} result of {outcome.case}"
        if outcome.error is not None:
            catcher = _catcher(state, outcome.error["errorType"])
            if catcher is not None:
                caught = _result_path(catcher, shape, _caught(outcome.error))
                out.append((catcher["Next"], caught, case_origin, []))
            continue
        result = _invoke_output(outcome.result)
        selector = _Reader(name, result, case_where)
        if "ResultSelector" in state:
            result = selector.template("ResultSelector", state["ResultSelector"])
        new = _result_path(state, shape, result)
        out.append((_next(state), _output(state, new, selector), case_origin, selector.findings))
    return out


def _variables(rule: dict[str, Any]) -> list[str]:
    if "Variable" in rule:
        is_present = "IsPresent" in rule
        return [] if is_present else [rule["Variable"]]
    nested = rule.get("And", []) + rule.get("Or", []) + ([rule["Not"]] if "Not" in rule else [])
    return [v for item in nested for v in _variables(item)]


def _next(state: dict[str, Any]) -> str | None:
    return None if state.get("End") else state.get("Next")


def _result_path(state: dict[str, Any], shape: Any, result: Any) -> Any:
    path = state.get("ResultPath", "$")
    return shape if path is None else put(shape, path, result)


def _output(state: dict[str, Any], shape: Any, reader: _Reader) -> Any:
    path = state.get("OutputPath", "$")
    if path is None:
        return {}
    saved = reader.shape
    reader.shape = shape
    value = reader.path("OutputPath", path)
    reader.shape = saved
    return value

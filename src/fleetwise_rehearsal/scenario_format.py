"""Scenario files: what happens to a rehearsed stack, step by step, and what must hold at the end.

A scenario is YAML (or JSON, for a file whose name ends in ``.json``); the README's "The
offline rehearsal" section documents the format with a full example. This module parses and
validates; ``scenario.py`` runs. Everything is checked before anything starts, and a problem
raises ``ScenarioError`` whose message names the file, the step (its 1-based index, its kind
and, from a file, its line) and what is wrong::

    scenario.yaml:12: step 3 (patch): 'paused' holds a date ...

``Scenario.from_file``/``from_text``/``from_dict`` parse, ``Scenario(steps=[...])`` builds one
in code (validated the same way), ``to_yaml`` writes it back; ``parse_step`` validates one
step on its own (``ScenarioRunner.apply`` uses it).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from botocore.model import ServiceModel

from fleetwise_reconciler.logic.plan import Phase
from fleetwise_rehearsal.simulator import (
    FAILURE,
    PENDING,
    SUCCESS,
    Campaign,
    FleetWiseSimulator,
    Outcome,
)
from fleetwise_rehearsal.template import load_template

TARGET_PATTERN = re.compile(r"\d{12}:[a-z]{2}(-[a-z]+)+-\d+")
STEP_KINDS = (
    "write",
    "patch",
    "delete",
    "abort",
    "stop",
    "settle",
    "tick",
    "advance",
    "parameters",
    "simulator",
)
BARE_KINDS = ("settle", "tick")
SIMULATOR_VERBS = (
    "register",
    "fail",
    "status",
    "deleteServiceLinkedRole",
    "forget",
    "timestream",
    "campaigns",
)
EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
RUNNING = "running"
TOP_LEVEL = ("description", "parameters", "jitter", "seed", "steps", "expect")
TARGET_CHECKS = ("phase", "reason", "current", "lease", "attempts", "lastError", "messageContains")

# Sibling keys each step kind accepts beside its own key and ``at``.
_SIBLINGS: dict[str, tuple[str, ...]] = {
    "abort": ("target",),
    "stop": ("target", "error", "cause"),
}
# StopExecution's documented limits.
_STOP_ERROR_MAX = 256
_STOP_CAUSE_MAX = 32768
_CAMPAIGN_STATUSES = ("CREATING", "WAITING_FOR_APPROVAL", "RUNNING", "SUSPENDED")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the step and the problem."""


class _Problem(ValueError):
    """A problem inside one step or section, before the location is prefixed."""


@dataclass(frozen=True)
class Step:
    """One validated step. ``args`` holds the normalised arguments of its ``kind``:

    - write: ``item`` (the attributes; ``target`` only when written);
    - patch: ``target`` (None: the stack's own), ``attributes`` (None removes one);
    - delete: ``target``;
    - abort, stop: ``execution`` (``"running"`` or a name), ``target``, ``error``, ``cause``;
    - settle, tick: nothing; advance: ``seconds``; parameters: ``values`` (strings);
    - simulator: ``target``, ``verb`` and the verb's own (``outcomes``, ``fault``,
      ``status``/``iamError``/``timestreamError``, ``timestream``, ``campaigns``).
    """

    index: int
    kind: str
    at: float | None
    args: Mapping[str, Any]
    raw: Any
    line: int | None = None

    def label(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: step {self.index} ({self.kind})"


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


def _default_template() -> Path:
    from fleetwise_rehearsal.rehearsal import template_path  # noqa: PLC0415 - heavy import

    return template_path()


@dataclass
class Scenario:
    """A validated scenario (see the module docstring). Building one validates it."""

    steps: list[Any] = field(default_factory=list)
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    jitter: float | None = None
    seed: int = 0
    expect: dict[str, Any] | None = None
    source: str = field(default="scenario", compare=False)
    template: Path | None = field(default=None, compare=False, repr=False)
    lines: dict[int, int] = field(default_factory=dict, compare=False, repr=False)
    parsed: list[Step] = field(init=False, compare=False, repr=False)
    expectations: Expectations | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        source = self.source
        facts = template_facts(self.template or _default_template())
        if not isinstance(self.description, str):
            raise ScenarioError(f"{source}: 'description' must be text")
        try:
            self.parameters = check_parameters(self.parameters, facts)
        except _Problem as problem:
            raise ScenarioError(f"{source}: parameters: {problem}") from None
        if self.jitter is not None and (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, int | float)
            or not 0 <= self.jitter <= 1
        ):
            raise ScenarioError(
                f"{source}: 'jitter' must be a number from 0 to 1 (the fraction of FULL "
                f"jitter's range), not {self.jitter!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ScenarioError(f"{source}: 'seed' must be an integer, not {self.seed!r}")
        if not isinstance(self.steps, list):
            raise ScenarioError(f"{source}: 'steps' must be a list of steps")
        parsed: list[Step] = []
        floor = 0.0  # the least virtual time (s since start) each step can happen at
        for position, raw in enumerate(self.steps, start=1):
            step = parse_step(
                raw, position, source=source, facts=facts, line=self.lines.get(position)
            )
            if step.at is not None:
                if step.at < floor:
                    raise ScenarioError(
                        f"{step.label(source)}: 'at' {step.at:g} goes back in time: the steps "
                        f"before it already reach {floor:g} s"
                    )
                floor = step.at
            if step.kind == "advance":
                floor += float(step.args["seconds"])
            parsed.append(step)
        self.parsed = parsed
        self.expectations = (
            None if self.expect is None else parse_expectations(self.expect, source, facts)
        )

    # -- reading and writing ---------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        source: str = "scenario",
        template: Path | None = None,
        lines: Mapping[int, int] | None = None,
    ) -> Scenario:
        if not isinstance(data, dict):
            raise ScenarioError(f"{source}: a scenario is a mapping with 'steps' (and more)")
        unknown = [k for k in data if k not in TOP_LEVEL]
        if unknown:
            raise ScenarioError(
                f"{source}: unknown key {unknown[0]!r}{_suggest(unknown[0], TOP_LEVEL)}; "
                f"a scenario has {', '.join(TOP_LEVEL)}"
            )
        if "steps" not in data:
            raise ScenarioError(f"{source}: 'steps' is missing")
        return cls(
            steps=data["steps"],
            description=data.get("description") or "",
            parameters=data.get("parameters") or {},
            jitter=data.get("jitter"),
            seed=data.get("seed", 0),
            expect=data.get("expect"),
            source=source,
            template=template,
            lines=dict(lines or {}),
        )

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        source: str = "scenario",
        json_format: bool = False,
        template: Path | None = None,
    ) -> Scenario:
        """Parse YAML (or JSON with ``json_format``) text."""
        lines: dict[int, int] = {}
        if json_format:
            try:
                data = json.loads(text)
            except ValueError as error:
                raise ScenarioError(f"{source}: not valid JSON: {error}") from None
        else:
            try:
                data = yaml.safe_load(text)
                lines = _step_lines(text)
            except yaml.YAMLError as error:
                raise ScenarioError(f"{source}: not valid YAML: {_yaml_problem(error)}") from None
        return cls.from_dict(data, source=source, template=template, lines=lines)

    @classmethod
    def from_file(cls, path: Path | str, *, template: Path | None = None) -> Scenario:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ScenarioError(f"{path}: cannot be read: {error}") from None
        return cls.from_text(
            text, source=file.name, json_format=file.suffix.lower() == ".json", template=template
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.jitter is not None:
            out["jitter"] = self.jitter
        if self.seed:
            out["seed"] = self.seed
        out["steps"] = list(self.steps)
        if self.expect is not None:
            out["expect"] = self.expect
        return out

    def to_yaml(self) -> str:
        """The scenario as a file ``from_text`` reads back to an equal scenario."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)


def _step_lines(text: str) -> dict[int, int]:
    """The 1-based line where each step of ``steps`` begins, by 1-based step index."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if getattr(key, "value", None) == "steps" and isinstance(value, yaml.SequenceNode):
            return {i: node.start_mark.line + 1 for i, node in enumerate(value.value, start=1)}
    return {}


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _suggest(word: str, choices: Sequence[str]) -> str:
    same = [c for c in choices if c.lower() == word.lower()]
    close = same or difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- one step --------------------------------------------------------------------------------


def parse_step(
    raw: Any,
    index: int,
    *,
    source: str = "scenario",
    facts: TemplateFacts | None = None,
    line: int | None = None,
) -> Step:
    """Validate one step as written (a mapping, or ``"settle"``/``"tick"``)."""
    kind = _kind_of(raw)
    label = Step(index, kind, None, {}, raw, line).label(source)
    if kind == "?":
        where = f"{source}:{line}" if line is not None else source
        raise ScenarioError(
            f"{where}: step {index}: names no step; a step is one of {', '.join(STEP_KINDS)}"
        )
    if kind not in STEP_KINDS:
        raise ScenarioError(
            f"{label}: unknown step {kind!r}{_suggest(kind, STEP_KINDS)}; a step is one of "
            f"{', '.join(STEP_KINDS)}"
        )
    try:
        at, args = _parse(kind, raw, facts or template_facts(_default_template()))
    except _Problem as problem:
        raise ScenarioError(f"{label}: {problem}") from None
    return Step(index, kind, at, args, raw, line)


def _kind_of(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        verbs = [k for k in raw if k in STEP_KINDS]
        if verbs:
            return str(verbs[0])
        others = [str(k) for k in raw if k != "at" and k not in _all_siblings()]
        return others[0] if others else "?"
    return type(raw).__name__


def _all_siblings() -> set[str]:
    return {s for siblings in _SIBLINGS.values() for s in siblings}


def _parse(kind: str, raw: Any, facts: TemplateFacts) -> tuple[float | None, dict[str, Any]]:
    if isinstance(raw, str):
        if raw not in BARE_KINDS:
            raise _Problem(f"'{raw}' needs a value (write it as '{raw}: ...')")
        return None, {}
    if not isinstance(raw, dict):
        raise _Problem("a step is a mapping (or the word settle or tick)")
    verbs = [k for k in raw if k in STEP_KINDS]
    if len(verbs) > 1:
        raise _Problem(f"one step does one thing, this one has {' and '.join(verbs)}")
    allowed = {"at", kind, *_SIBLINGS.get(kind, ())}
    for key in raw:
        if key not in allowed:
            raise _Problem(
                f"{kind} takes no key {key!r} (it takes {', '.join(sorted(allowed - {kind}))})"
            )
    at = raw.get("at")
    if "at" in raw:
        at = _number(at, "'at'", minimum=0.0)
    value = raw[kind]
    parser = _STEP_PARSERS[kind]
    return at, parser(value, raw, facts)


def _number(value: Any, what: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Problem(f"{what} must be a number of seconds, not {value!r}")
    if minimum is not None and value < minimum:
        raise _Problem(f"{what} must be at least {minimum:g}, not {value!r}")
    return float(value)


def _target(value: Any, what: str = "'target'") -> str:
    if not isinstance(value, str) or not TARGET_PATTERN.fullmatch(value):
        raise _Problem(
            f"{what} must be '<12-digit account>:<region>' (like 123456789012:us-east-1), "
            f"not {value!r}"
        )
    return value


def _text(value: Any, what: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise _Problem(f"{what} must be text, not {value!r}")
    if limit is not None and len(value) > limit:
        raise _Problem(f"{what} is longer than {limit} characters")
    return value


def _attribute_value(value: Any, path: str) -> Any:
    """A value a DynamoDB item can hold, as the runner writes it."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Problem(f"'{path}' is {value}, which DynamoDB cannot store")
        return value
    if isinstance(value, list):
        return [_attribute_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise _Problem(f"'{path}' has a key {key!r} that is not text")
        return {k: _attribute_value(v, f"{path}.{k}") for k, v in value.items()}
    raise _Problem(
        f"'{path}' holds a {type(value).__name__} ({value!r}), which a DynamoDB item cannot "
        "hold; quote it"
    )


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(f"{what} must be a mapping, not {value!r}")
    return value


def _no_value(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    if value is not None:
        raise _Problem(f"takes no value, not {value!r}")
    return {}


def _parse_write(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    item = _mapping(value, "the item to write")
    if "target" in item:
        _target(item["target"])
    return {"item": {k: _attribute_value(v, k) for k, v in item.items()}}


def _parse_patch(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    body = dict(_mapping(value, "the patch"))
    target = _target(body.pop("target")) if "target" in body else None
    if not body:
        raise _Problem("names no attribute to set or remove")
    return {"target": target, "attributes": {k: _attribute_value(v, k) for k, v in body.items()}}


def _parse_delete(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    return {"target": None if value is None else _target(value, "the target to delete")}


def _parse_abort(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    execution = _text(value, "the execution ('running' or an execution name)", limit=80)
    if not execution:
        raise _Problem("names no execution ('running' or an execution name)")
    target = raw.get("target")
    if target is not None:
        if execution != RUNNING:
            raise _Problem("'target' goes with 'running' only: an execution name is enough")
        _target(target)
    args: dict[str, Any] = {"execution": execution, "target": target, "error": None, "cause": None}
    if "error" in raw:
        args["error"] = _text(raw["error"], "'error'", limit=_STOP_ERROR_MAX)
    if "cause" in raw:
        args["cause"] = _text(raw["cause"], "'cause'", limit=_STOP_CAUSE_MAX)
    return args


def _parse_advance(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    return {"seconds": _number(value, "'advance'", minimum=0.0)}


def _parse_parameters(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    values = _mapping(value, "'parameters'")
    if not values:
        raise _Problem("changes no parameter")
    return {"values": check_parameters(values, facts)}


# -- the simulator -------------------------------------------------------------------------------


def _parse_simulator(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    body = dict(_mapping(value, "'simulator'"))
    target = _target(body.pop("target")) if "target" in body else None
    verbs = [k for k in body if k in SIMULATOR_VERBS]
    if len(verbs) != 1:
        unknown = [k for k in body if k not in SIMULATOR_VERBS]
        if unknown and not verbs:
            word = str(unknown[0])
            raise _Problem(
                f"unknown simulator verb {word!r}{_suggest(word, SIMULATOR_VERBS)}; it takes "
                f"one of {', '.join(SIMULATOR_VERBS)}"
            )
        raise _Problem(
            "one simulator line does one thing: "
            + (" and ".join(verbs) if verbs else f"choose one of {', '.join(SIMULATOR_VERBS)}")
        )
    verb = verbs[0]
    extra = [k for k in body if k != verb and not (verb == "status" and k in _STATUS_SIBLINGS)]
    if extra:
        raise _Problem(f"unknown key {extra[0]!r} for the simulator's {verb}")
    args = {"target": target, "verb": verb, **_SIMULATOR_PARSERS[verb](body[verb], body)}
    return args


_STATUS_SIBLINGS = ("iamError", "timestreamError")


def _parse_register(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, list) or not value:
        raise _Problem("'register' is a list of outcomes ({pending, result, iamError, ...})")
    outcomes = []
    for i, written in enumerate(value, start=1):
        entry = _mapping(written, f"outcome {i}")
        unknown = [
            k for k in entry if k not in ("pending", "result", "iamError", "timestreamError")
        ]
        if unknown:
            raise _Problem(
                f"outcome {i}: unknown key {unknown[0]!r} (it takes pending, result, "
                "iamError, timestreamError)"
            )
        result = entry.get("result", "SUCCESS")
        if result not in ("SUCCESS", "FAILURE"):
            raise _Problem(f"outcome {i}: 'result' is SUCCESS or FAILURE, not {result!r}")
        outcomes.append(
            Outcome(
                pending_seconds=_number(
                    entry.get("pending", 300), f"outcome {i}: 'pending'", minimum=0.0
                ),
                result=result,
                iam_error=_optional_text(entry, "iamError", f"outcome {i}: 'iamError'"),
                timestream_error=_optional_text(
                    entry, "timestreamError", f"outcome {i}: 'timestreamError'"
                ),
            )
        )
    return {"outcomes": outcomes}


def _optional_text(body: Mapping[str, Any], key: str, what: str) -> str | None:
    return None if body.get(key) is None else _text(body[key], what)


_FAULT_KEYS = ("operation", "code", "message", "retryAfter", "times")


@dataclass(frozen=True)
class Fault:
    """A simulator ``fail`` line: answer the next ``times`` calls of ``operation`` (None: of
    any) with the error ``code``, carrying ``retryAfterSeconds`` when ``retry_after`` is set."""

    operation: str | None
    code: str
    message: str | None
    retry_after: int | None
    times: int


def _parse_fail(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    fault = _mapping(value, "'fail'")
    unknown = [k for k in fault if k not in _FAULT_KEYS]
    if unknown:
        raise _Problem(f"'fail': unknown key {unknown[0]!r} (it takes {', '.join(_FAULT_KEYS)})")
    if "code" not in fault:
        raise _Problem("'fail' needs a 'code' (an error the operation declares)")
    operation = fault.get("operation")
    if operation is not None:
        operation = _text(operation, "'fail': 'operation'")
    retry_after = fault.get("retryAfter")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
    ):
        raise _Problem(f"'fail': 'retryAfter' is whole seconds, not {retry_after!r}")
    times = fault.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise _Problem(f"'fail': 'times' is a whole number of at least 1, not {times!r}")
    checked = Fault(
        operation=operation,
        code=_text(fault["code"], "'fail': 'code'"),
        message=_optional_text(fault, "message", "'fail': 'message'"),
        retry_after=retry_after,
        times=times,
    )
    # The simulator refuses what the service model forbids (an error the operation does not
    # declare, retryAfterSeconds on an error without it): ask a simulator that never serves.
    try:
        FleetWiseSimulator(service_model=_fleetwise_model()).fail_next(
            checked.operation, checked.code, checked.message, checked.retry_after, checked.times
        )
    except ValueError as error:
        raise _Problem(f"'fail': {error}") from None
    return {"fault": checked}


def _parse_status(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if value not in (PENDING, SUCCESS, FAILURE):
        raise _Problem(f"'status' is one of {PENDING}, {SUCCESS}, {FAILURE}, not {value!r}")
    return {
        "status": value,
        "iamError": _optional_text(body, "iamError", "'iamError'"),
        "timestreamError": _optional_text(body, "timestreamError", "'timestreamError'"),
    }


def _parse_flag(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if value is not True:
        raise _Problem(f"write it as 'true', not {value!r}")
    return {}


def _parse_timestream(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    attach = _mapping(value, "'timestream'")
    keys = ("databaseName", "tableName", "roleArn")
    unknown = [k for k in attach if k not in keys]
    missing = [k for k in keys if k not in attach]
    if unknown or missing:
        raise _Problem(f"'timestream' takes exactly {', '.join(keys)}")
    return {"timestream": {k: _text(attach[k], f"'timestream': '{k}'") for k in keys}}


def _parse_campaigns(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, list):
        raise _Problem("'campaigns' is a list of {name, status, destinations}")
    campaigns = []
    for i, written in enumerate(value, start=1):
        entry = _mapping(written, f"campaign {i}")
        unknown = [k for k in entry if k not in ("name", "status", "destinations")]
        if unknown or "name" not in entry:
            raise _Problem(f"campaign {i}: takes name (required), status, destinations")
        status = entry.get("status", "RUNNING")
        if status not in _CAMPAIGN_STATUSES:
            raise _Problem(
                f"campaign {i}: 'status' is one of {', '.join(_CAMPAIGN_STATUSES)}, not {status!r}"
            )
        destinations = entry.get("destinations") or []
        if not isinstance(destinations, list) or not all(isinstance(d, dict) for d in destinations):
            raise _Problem(
                f"campaign {i}: 'destinations' is a list of data destination configs "
                "(like {s3Config: {...}}); empty means the registered Timestream table"
            )
        campaigns.append(
            Campaign(
                name=_text(entry["name"], f"campaign {i}: 'name'"),
                status=status,
                data_destination_configs=tuple(destinations),
            )
        )
    return {"campaigns": campaigns}


@functools.cache
def _fleetwise_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("iotfleetwise")


def simulator_keeps_regions() -> bool:
    """Whether the simulator's scripting methods take ``region``/``account`` (state kept per
    account and Region)."""
    return "region" in inspect.signature(FleetWiseSimulator.fail_next).parameters


_SIMULATOR_PARSERS = {
    "register": _parse_register,
    "fail": _parse_fail,
    "status": _parse_status,
    "deleteServiceLinkedRole": _parse_flag,
    "forget": _parse_flag,
    "timestream": _parse_timestream,
    "campaigns": _parse_campaigns,
}

_STEP_PARSERS = {
    "write": _parse_write,
    "patch": _parse_patch,
    "delete": _parse_delete,
    "abort": _parse_abort,
    "stop": _parse_abort,
    "settle": _no_value,
    "tick": _no_value,
    "advance": _parse_advance,
    "parameters": _parse_parameters,
    "simulator": _parse_simulator,
}


# -- template parameters -----------------------------------------------------------------------


def check_parameters(values: Any, facts: TemplateFacts) -> dict[str, str]:
    """Parameter values as CloudFormation takes them (strings), checked against the
    template's declarations as CloudFormation checks them."""
    if not isinstance(values, dict):
        raise _Problem("a mapping of template parameter names to values")
    out: dict[str, str] = {}
    for name, value in values.items():
        declared = facts.parameters.get(name)
        if declared is None:
            raise _Problem(
                f"{name!r} is not a parameter of {facts.name}"
                f"{_suggest(str(name), list(facts.parameters))}"
            )
        if isinstance(value, bool):
            raise _Problem(f'{name}: {value!r} is not a string; quote it ("{str(value).lower()}")')
        if not isinstance(value, str | int | float):
            raise _Problem(f"{name}: {value!r} is not a string")
        text = str(value)
        problem = _parameter_problem(declared, text)
        if problem:
            raise _Problem(f"{name}: {problem}")
        out[str(name)] = text
    return out


def _parameter_problem(declared: Mapping[str, Any], text: str) -> str | None:
    allowed = declared.get("AllowedValues")
    if allowed is not None and text not in [str(a) for a in allowed]:
        return f"{text!r} is not one of {', '.join(str(a) for a in allowed)}"
    if declared.get("Type") == "Number":
        try:
            number = float(text)
        except ValueError:
            return f"{text!r} is not a number"
        low, high = declared.get("MinValue"), declared.get("MaxValue")
        if low is not None and number < float(low):
            return f"{text} is below its MinValue {low}"
        if high is not None and number > float(high):
            return f"{text} is above its MaxValue {high}"
    pattern = declared.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), text):
        return f"{text!r} does not match its AllowedPattern {pattern}"
    low_len, high_len = declared.get("MinLength"), declared.get("MaxLength")
    if low_len is not None and len(text) < int(low_len):
        return f"{text!r} is shorter than its MinLength {low_len}"
    if high_len is not None and len(text) > int(high_len):
        return f"{text!r} is longer than its MaxLength {high_len}"
    return None


# -- expectations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectations:
    """What must hold at the end; any part left out is not checked.

    ``targets``: per target, None (no status recorded) or the checks among ``phase``,
    ``reason``, ``current`` (the status is about the item as it is now), ``lease``
    (``released``/``held``), ``attempts``, ``lastError`` (its code, None for none) and
    ``messageContains``. ``calls``: FleetWise requests per operation, every attempt and every
    target counted. ``executions``: executions per status (and ``total``). ``alarms``: the
    exact set of template alarms (logical ids) in ALARM."""

    targets: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    calls: Mapping[str, int] = field(default_factory=dict)
    executions: Mapping[str, int] = field(default_factory=dict)
    alarms: tuple[str, ...] | None = None


def parse_expectations(
    raw: Any, source: str = "scenario", facts: TemplateFacts | None = None
) -> Expectations:
    facts = facts or template_facts(_default_template())

    def fail(where: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{source}: {where}: {problem}")

    if not isinstance(raw, dict):
        raise fail("expect", "a mapping of targets, calls, executions, alarms")
    sections = ("targets", "calls", "executions", "alarms")
    for key in raw:
        if key not in sections:
            raise fail(
                "expect",
                f"unknown key {key!r}{_suggest(str(key), sections)} (it takes "
                f"{', '.join(sections)})",
            )
    targets: dict[str, Mapping[str, Any] | None] = {}
    for target, checks in _section(raw, "targets", fail).items():
        where = f"expect.targets[{target!r}]"
        try:
            _target(target, "the target")
        except _Problem as bad:
            raise fail(where, str(bad)) from None
        if checks is None:
            targets[target] = None
            continue
        if not isinstance(checks, dict):
            raise fail(where, "a mapping of checks, or null for 'no status recorded'")
        for key, value in checks.items():
            problem = _target_check_problem(key, value)
            if problem:
                raise fail(where, problem)
        targets[target] = dict(checks)
    calls = _counts(
        _section(raw, "calls", fail),
        "expect.calls",
        fail,
        list(_fleetwise_model().operation_names),
        "an IoT FleetWise operation",
    )
    executions = _counts(
        _section(raw, "executions", fail),
        "expect.executions",
        fail,
        [*EXECUTION_STATUSES, "total"],
        f"an execution status ({', '.join(EXECUTION_STATUSES)}) or total",
    )
    alarms = raw.get("alarms")
    if alarms is not None:
        if not isinstance(alarms, list) or not all(isinstance(a, str) for a in alarms):
            raise fail("expect.alarms", "a list of alarm logical ids (empty: none in ALARM)")
        for alarm in alarms:
            if alarm not in facts.alarms:
                raise fail(
                    "expect.alarms",
                    f"{alarm!r} is not an alarm of {facts.name}"
                    f"{_suggest(alarm, sorted(facts.alarms))}",
                )
        alarms = tuple(sorted(set(alarms)))
    return Expectations(targets, calls, executions, alarms)


def _section(raw: Mapping[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"expect.{key}", "must be a mapping")
    return value


def _counts(
    section: Mapping[str, Any], where: str, fail: Any, names: list[str], what: str
) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, count in section.items():
        if name not in names:
            raise fail(where, f"{name!r} is not {what}{_suggest(str(name), names)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise fail(where, f"{name}: a count (a whole number), not {count!r}")
        out[name] = count
    return out


def _target_check_problem(key: Any, value: Any) -> str | None:
    if key not in TARGET_CHECKS:
        return (
            f"unknown check {key!r}{_suggest(str(key), TARGET_CHECKS)} (it takes "
            + ", ".join(TARGET_CHECKS)
            + ")"
        )
    if key == "phase" and value not in [p.value for p in Phase]:
        return f"'phase' is one of {', '.join(p.value for p in Phase)}, not {value!r}"
    if key in ("reason", "messageContains") and not isinstance(value, str):
        return f"{key!r} is text, not {value!r}"
    if key == "current" and not isinstance(value, bool):
        return f"'current' is true or false, not {value!r}"
    if key == "lease" and value not in ("released", "held"):
        return f"'lease' is released or held, not {value!r}"
    if key == "attempts" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        return f"'attempts' is a count, not {value!r}"
    if key == "lastError" and value is not None and not isinstance(value, str):
        return f"'lastError' is an error code, or null for none, not {value!r}"
    return None

"""Scenario files: what happens to a rehearsed stack, step by step, and what must hold at the end.

A scenario is YAML (or JSON, for a file whose name ends in ``.json``); the README's "The
offline rehearsal" section documents the format with a full example. This module parses and
validates; ``runner`` runs. Everything is checked before anything starts, and a problem
raises ``ScenarioError`` whose message names the file, the step (its 1-based index, its kind
and, from a file, its line) and what is wrong::

    scenario.yaml:12: step 3 (patch): 'paused' holds a date ...

``Scenario.from_file``/``from_text``/``from_dict`` parse, ``Scenario(steps=[...])`` builds one
in code (validated the same way), ``to_yaml`` writes it back; ``parse_step`` validates one
step on its own (``ScenarioRunner.apply`` uses it).

Why one module: it is the scenario language's grammar, one verb after another, read top to
bottom as its specification; its values, expectations and simulator lines are already apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetwise_rehearsal.scenarios.expect import Expectations, parse_expectations
from fleetwise_rehearsal.scenarios.simulator_lines import parse_simulator, simulator_keeps_regions
from fleetwise_rehearsal.scenarios.values import (
    Problem,
    ScenarioError,
    TemplateFacts,
    attribute_value,
    check_key,
    check_mapping,
    check_number,
    check_target,
    check_text,
    default_template,
    dynamodb_item,
    suggest,
    template_facts,
)

STEP_KINDS = (
    "write",
    "writeItem",
    "patch",
    "delete",
    "abort",
    "stop",
    "settle",
    "tick",
    "advance",
    "parameters",
    "simulator",
    "deliver",
)
BARE_KINDS = ("settle", "tick")
RUNNING = "running"
TOP_LEVEL = (
    "description",
    "parameters",
    "members",
    "stacks",
    "schedule",
    "jitter",
    "seed",
    "steps",
    "expect",
)
# The name the rehearsal deploys the scenario's own stack under.
MAIN_STACK = "fleetwise-reconciler"
# CloudFormation's stack names ("Stack name constraints").
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")

__all__ = [
    "RUNNING",
    "STEP_KINDS",
    "Expectations",
    "Scenario",
    "ScenarioError",
    "Step",
    "TemplateFacts",
    "check_parameters",
    "parse_expectations",
    "parse_step",
    "simulator_keeps_regions",
    "template_facts",
]

# Sibling keys each step kind accepts beside its own key and ``at``; ``stack`` names another
# stack of the scenario's ``stacks`` to act on.
_SIBLINGS: dict[str, tuple[str, ...]] = {
    "abort": ("target", "stack"),
    "stop": ("target", "error", "cause", "stack"),
    "write": ("stream", "stack"),
    "writeItem": ("stream", "stack"),
    "patch": ("stream", "stack"),
    "delete": ("stream", "stack"),
    "tick": ("stack",),
}
# How the stream delivers a write's record to the trigger: as usual, not at all (lost: the
# drift check must find the change), or the batch twice (Lambda's event source mapping
# processes each record at least once).
STREAM_DELIVERIES = ("delivered", "lost", "twice")
# StopExecution's documented limits.
_STOP_ERROR_MAX = 256
_STOP_CAUSE_MAX = 32768


@dataclass(frozen=True)
class Step:
    """One validated step. ``args`` holds the normalised arguments of its ``kind``:

    - write: ``item`` (the attributes; ``target`` only when written);
    - writeItem: ``item`` (DynamoDB JSON, binary values as bytes);
    - patch: ``target`` (None: the stack's own), ``attributes`` (None removes one);
    - delete: ``target``;
    - and for each of these four, ``stream``: ``delivered``, ``lost`` or ``twice``;
    - abort, stop: ``execution`` (``"running"`` or a name), ``target``, ``error``, ``cause``;
    - settle: nothing; advance: ``seconds``; parameters: ``values`` (strings);
    - write, patch, delete, tick, abort, stop: also ``stack`` when given (another stack's);
    - simulator: ``target``, ``verb`` and the verb's own (``outcomes``, ``fault``,
      ``status``/``iamError``/``timestreamError``, ``timestream``, ``campaigns``, ``slow``);
    - deliver: ``channel``, ``how`` (``twice``, ``late``), ``seconds``.
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


@dataclass
class Scenario:
    """A validated scenario (see the module docstring). Building one validates it."""

    steps: list[Any] = field(default_factory=list)
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    # Member accounts: the parameters of member/template.yaml deployed into each one.
    members: dict[str, Any] = field(default_factory=dict)
    # Other hub stacks deployed beside the scenario's own, by name: their parameters.
    stacks: dict[str, Any] = field(default_factory=dict)
    # The drift schedule fires on its own, every DriftCheckRateMinutes of each stack.
    schedule: bool = False
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
        facts = template_facts(self.template or default_template())
        if not isinstance(self.description, str):
            raise ScenarioError(f"{source}: 'description' must be text")
        try:
            self.parameters = check_parameters(self.parameters, facts)
        except Problem as problem:
            raise ScenarioError(f"{source}: parameters: {problem}") from None
        try:
            self.members = check_members(self.members)
        except Problem as problem:
            raise ScenarioError(f"{source}: members: {problem}") from None
        try:
            self.stacks = check_stacks(self.stacks, facts)
        except Problem as problem:
            raise ScenarioError(f"{source}: stacks: {problem}") from None
        if not isinstance(self.schedule, bool):
            raise ScenarioError(f"{source}: 'schedule' must be true or false")
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
            stack = step.args.get("stack")
            if stack is not None and stack not in self.stacks:
                raise ScenarioError(
                    f"{step.label(source)}: 'stack' {stack!r} is not one of the scenario's "
                    f"stacks ({', '.join(self.stacks) or 'none'})"
                )
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
                f"{source}: unknown key {unknown[0]!r}{suggest(unknown[0], TOP_LEVEL)}; "
                f"a scenario has {', '.join(TOP_LEVEL)}"
            )
        if "steps" not in data:
            raise ScenarioError(f"{source}: 'steps' is missing")
        return cls(
            steps=data["steps"],
            description=data.get("description") or "",
            parameters=data.get("parameters") or {},
            members=data.get("members") or {},
            stacks=data.get("stacks") or {},
            schedule=data.get("schedule", False),
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
                data = yaml.load(text, Loader=_ScenarioLoader)  # noqa: S506 - a SafeLoader
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
        if self.members:
            out["members"] = {k: dict(v) for k, v in self.members.items()}
        if self.stacks:
            out["stacks"] = {k: dict(v) for k, v in self.stacks.items()}
        if self.schedule:
            out["schedule"] = True
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


# The longest text ``!repeat`` builds: past every limit a scenario needs to cross (a spec
# item's 4 KiB, Step Functions' 256 KiB, DynamoDB's 400 KB item), short of a memory hog.
REPEAT_LIMIT = 1_000_000


class _ScenarioLoader(yaml.SafeLoader):
    """YAML's safe loader plus ``!repeat [text, count]``: ``text`` written ``count`` times, so
    a scenario can write an item past a size limit without holding a line that long."""


def _repeat(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!repeat takes [text, count]", node.start_mark
        )
    values = loader.construct_sequence(node)
    if (
        len(values) != 2
        or not isinstance(values[0], str)
        or isinstance(values[1], bool)
        or not isinstance(values[1], int)
        or values[1] < 0
        or len(values[0]) * values[1] > REPEAT_LIMIT
    ):
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"!repeat takes [text, count] building at most {REPEAT_LIMIT:,} characters",
            node.start_mark,
        )
    return values[0] * values[1]


_ScenarioLoader.add_constructor("!repeat", _repeat)


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
            f"{label}: unknown step {kind!r}{suggest(kind, STEP_KINDS)}; a step is one of "
            f"{', '.join(STEP_KINDS)}"
        )
    try:
        at, args = _parse(kind, raw, facts or template_facts(default_template()))
    except Problem as problem:
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
            raise Problem(f"'{raw}' needs a value (write it as '{raw}: ...')")
        return None, {}
    if not isinstance(raw, dict):
        raise Problem("a step is a mapping (or the word settle or tick)")
    verbs = [k for k in raw if k in STEP_KINDS]
    if len(verbs) > 1:
        raise Problem(f"one step does one thing, this one has {' and '.join(verbs)}")
    allowed = {"at", kind, *_SIBLINGS.get(kind, ())}
    for key in raw:
        if key not in allowed:
            raise Problem(
                f"{kind} takes no key {key!r} (it takes {', '.join(sorted(allowed - {kind}))})"
            )
    at = raw.get("at")
    if "at" in raw:
        at = check_number(at, "'at'", minimum=0.0)
    value = raw[kind]
    parser = _STEP_PARSERS[kind]
    args = parser(value, raw, facts)
    if "stream" in _SIBLINGS.get(kind, ()):
        stream = raw.get("stream", "delivered")
        if stream not in STREAM_DELIVERIES:
            raise Problem(
                f"'stream' is one of {', '.join(STREAM_DELIVERIES)}, not {stream!r}"
                f"{suggest(str(stream), STREAM_DELIVERIES)}"
            )
        args["stream"] = stream
    if "stack" in raw:
        args["stack"] = check_text(raw["stack"], "'stack'", limit=128)
    return at, args


def _no_value(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    if value is not None:
        raise Problem(f"takes no value, not {value!r}")
    return {}


def _parse_write(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    item = check_mapping(value, "the item to write")
    if "target" in item:
        check_target(item["target"])
    return {"item": {k: attribute_value(v, k) for k, v in item.items()}}


def _parse_write_item(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    return {"item": dynamodb_item(value)}


def _parse_patch(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    body = dict(check_mapping(value, "the patch"))
    target = check_key(body.pop("target")) if "target" in body else None
    if not body:
        raise Problem("names no attribute to set or remove")
    return {"target": target, "attributes": {k: attribute_value(v, k) for k, v in body.items()}}


def _parse_delete(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    # Any key the table holds may be deleted (an odd one written with writeItem included).
    return {"target": None if value is None else check_key(value, "the target to delete")}


def _parse_abort(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    execution = check_text(value, "the execution ('running' or an execution name)", limit=80)
    if not execution:
        raise Problem("names no execution ('running' or an execution name)")
    target = raw.get("target")
    if target is not None:
        if execution != RUNNING:
            raise Problem("'target' goes with 'running' only: an execution name is enough")
        check_target(target)
    args: dict[str, Any] = {"execution": execution, "target": target, "error": None, "cause": None}
    if "error" in raw:
        args["error"] = check_text(raw["error"], "'error'", limit=_STOP_ERROR_MAX)
    if "cause" in raw:
        args["cause"] = check_text(raw["cause"], "'cause'", limit=_STOP_CAUSE_MAX)
    return args


def _parse_advance(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    return {"seconds": check_number(value, "'advance'", minimum=0.0)}


def _parse_parameters(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    values = check_mapping(value, "'parameters'")
    if not values:
        raise Problem("changes no parameter")
    return {"values": check_parameters(values, facts)}


def _parse_simulator_step(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    return parse_simulator(value)


DELIVERY_CHANNELS = ("schedule", "async", "rule")


def _parse_deliver(value: Any, raw: Any, facts: TemplateFacts) -> dict[str, Any]:
    """``{schedule: twice}``, ``{async: twice}``, ``{rule: twice}`` or ``{rule: {late: S}}``:
    how the next delivery of that channel arrives (``Rehearsal.deliver_next``)."""
    body = check_mapping(value, "'deliver'")
    if len(body) != 1 or next(iter(body)) not in DELIVERY_CHANNELS:
        raise Problem(f"'deliver' names one of {', '.join(DELIVERY_CHANNELS)}, not {body!r}")
    [(channel, how)] = body.items()
    if how == "twice":
        return {"channel": channel, "how": "twice", "seconds": 0.0}
    if channel == "rule" and isinstance(how, dict) and set(how) == {"late"}:
        return {
            "channel": channel,
            "how": "late",
            "seconds": check_number(how["late"], "'late'", minimum=1.0),
        }
    late = " or {late: SECONDS}" if channel == "rule" else ""
    raise Problem(f"'deliver': {channel} is delivered 'twice'{late}, not {how!r}")


_STEP_PARSERS = {
    "write": _parse_write,
    "writeItem": _parse_write_item,
    "patch": _parse_patch,
    "delete": _parse_delete,
    "abort": _parse_abort,
    "stop": _parse_abort,
    "settle": _no_value,
    "tick": _no_value,
    "advance": _parse_advance,
    "parameters": _parse_parameters,
    "simulator": _parse_simulator_step,
    "deliver": _parse_deliver,
}


# -- template parameters -----------------------------------------------------------------------


def check_members(values: Any) -> dict[str, dict[str, str]]:
    """Member accounts (12-digit ids) and the member template's parameters for each (the
    hub's account and stack name by default), checked as CloudFormation checks them."""
    if not isinstance(values, dict):
        raise Problem("a mapping of member account ids to member template parameters ({})")
    from fleetwise_rehearsal.aws.stack import MEMBER_TEMPLATE  # noqa: PLC0415 - moto's weight

    facts = template_facts(MEMBER_TEMPLATE)
    out: dict[str, dict[str, str]] = {}
    for account, parameters in values.items():
        if not re.fullmatch(r"[0-9]{12}", str(account)):
            raise Problem(f"{account!r} is not a 12-digit account id (quote it)")
        out[str(account)] = check_parameters(parameters or {}, facts)
    return out


def check_stacks(values: Any, facts: TemplateFacts) -> dict[str, dict[str, str]]:
    """Other hub stacks by name (CloudFormation's stack name rules; not the scenario's own),
    each with its template parameters, checked as CloudFormation checks them."""
    if not isinstance(values, dict):
        raise Problem("a mapping of stack names to their template parameters ({})")
    out: dict[str, dict[str, str]] = {}
    for name, parameters in values.items():
        if not isinstance(name, str) or not _STACK_NAME.fullmatch(name):
            raise Problem(
                f"{name!r} is not a stack name (a letter, then letters, digits and hyphens, "
                "at most 128)"
            )
        if name == MAIN_STACK:
            raise Problem(f"{name!r} is the scenario's own stack")
        out[name] = check_parameters(parameters or {}, facts)
    return out


def check_parameters(values: Any, facts: TemplateFacts) -> dict[str, str]:
    """Parameter values as CloudFormation takes them (strings), checked against the
    template's declarations as CloudFormation checks them."""
    if not isinstance(values, dict):
        raise Problem("a mapping of template parameter names to values")
    out: dict[str, str] = {}
    for name, value in values.items():
        declared = facts.parameters.get(name)
        if declared is None:
            raise Problem(
                f"{name!r} is not a parameter of {facts.name}"
                f"{suggest(str(name), list(facts.parameters))}"
            )
        if isinstance(value, bool):
            raise Problem(f'{name}: {value!r} is not a string; quote it ("{str(value).lower()}")')
        if not isinstance(value, str | int | float):
            raise Problem(f"{name}: {value!r} is not a string")
        text = str(value)
        problem = _parameter_problem(declared, text)
        if problem:
            raise Problem(f"{name}: {problem}")
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
    # CloudFormation checks a CommaDelimitedList's pattern on each of its items.
    items = text.split(",") if declared.get("Type") == "CommaDelimitedList" else [text]
    for item in items:
        if pattern is not None and not re.fullmatch(str(pattern), item.strip()):
            return f"{item.strip()!r} does not match its AllowedPattern {pattern}"
    low_len, high_len = declared.get("MinLength"), declared.get("MaxLength")
    if low_len is not None and len(text) < int(low_len):
        return f"{text!r} is shorter than its MinLength {low_len}"
    if high_len is not None and len(text) > int(high_len):
        return f"{text!r} is longer than its MaxLength {high_len}"
    return None

"""Running scenarios (``format``) on the rehearsal: a whole file, or one step at a time.

``run_scenario`` deploys the stack (its custom resource runs as ``sam deploy`` runs it),
applies every step, settles, checks the expectations and returns a ``ScenarioResult``::

    result = run_scenario(Scenario.from_file("scenarios/registration.yaml"))
    result.failures        # [] when every expectation held

``ScenarioRunner`` applies steps one at a time to a running ``Rehearsal`` (stateful tests
generate steps, apply each, and check invariants in between)::

    with Rehearsal({"ManageDefaultTarget": "false"}) as r:
        runner = ScenarioRunner(r)
        runner.apply({"write": {"mode": "cloudwatch"}})
        runner.apply({"at": 100, "patch": {"paused": True}})
        runner.finish()
        check_expectations(r, parse_expectations({"targets": {...}}))

The semantics of each step are those the README documents: the clock runs in its manual
mode; a step without ``at`` happens at the virtual moment the previous one left, once what
that one started has run as far as it can without time passing; ``at: T`` first lets time
run to T seconds after the runner started, executions running.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from fleetwise_rehearsal.aws.stack import DEFAULT_ACCOUNT, DEFAULT_REGION
from fleetwise_rehearsal.aws.stack_update import UnsupportedUpdate
from fleetwise_rehearsal.fleetwise import SimulatorUsageError
from fleetwise_rehearsal.invariants import InvariantMonitor
from fleetwise_rehearsal.rehearsal import (
    ENDPOINT_VARIABLE,
    Event,
    Execution,
    Rehearsal,
    template_path,
)
from fleetwise_rehearsal.scenarios.expect import check_expectations
from fleetwise_rehearsal.scenarios.format import (
    RUNNING,
    Scenario,
    ScenarioError,
    Step,
    TemplateFacts,
    check_parameters,
    parse_step,
    template_facts,
)
from fleetwise_rehearsal.scenarios.report import iso, report
from fleetwise_rehearsal.scenarios.simulator_lines import (
    ONE_REGION,
    apply_simulator_line,
    describe,
    simulator_keeps_regions,
)

_deserializer = TypeDeserializer()


class ScenarioRunner:
    """Applies scenario steps to a running ``Rehearsal`` (see the module docstring).

    It switches the rehearsal's clock to manual mode. ``origin`` is the moment ``at`` counts
    from (default: the virtual now). ``skipped`` lists the simulator lines skipped because an
    external FleetWise endpoint plays its own part; ``phases`` the successive (phase, reason,
    specHash) of each target's status, as seen after each step and at each wake-up."""

    def __init__(
        self,
        rehearsal: Rehearsal,
        *,
        origin: datetime | None = None,
        source: str = "scenario",
        schedule: bool = False,
    ) -> None:
        self.rehearsal = rehearsal
        self.source = source
        self.origin = origin if origin is not None else rehearsal.clock.now()
        self.facts: TemplateFacts = template_facts(rehearsal.template)
        rehearsal.clock.auto_advance = False
        self.applied: list[Step] = []
        self.skipped: list[str] = []
        self.phases: dict[str, list[dict[str, Any]]] = {}
        # The stacks a step may name (None: the scenario's own), and, with ``schedule``, the
        # moment each one's drift schedule fires next.
        self.stacks: dict[str | None, Rehearsal] = {None: rehearsal}
        self.schedule = schedule
        self.next_tick: dict[str | None, datetime] = {}
        if schedule:
            self.next_tick[None] = self.origin + self._rate(rehearsal)
        # Keep CloudWatch's data up to date at every moment (queue depths are sampled then),
        # for expectations on the notifications the alarms sent.
        self.watch_alarms = False
        self.observe()

    def add_stack(self, name: str, parameters: Mapping[str, str]) -> Rehearsal:
        """Deploy another hub stack beside the scenario's own (``Rehearsal.add_stack``), as
        ``sam deploy`` would: its custom resource runs, its write lands."""
        other = self.rehearsal.add_stack(name, parameters)
        if other.stack.custom_resources:
            other.deploy_spec()
        other.settle()
        self.stacks[name] = other
        if self.schedule:
            self.next_tick[name] = other.clock.now() + self._rate(other)
        return other

    def _rate(self, rehearsal: Rehearsal) -> timedelta:
        minutes = rehearsal.parameters.get(
            "DriftCheckRateMinutes", self.facts.parameters["DriftCheckRateMinutes"]["Default"]
        )
        return timedelta(minutes=float(minutes))

    def run_to(self, moment: datetime) -> None:
        """Let time run to ``moment``, executions running; with ``schedule``, each stack's
        drift schedule fires at its rate on the way (at the start of its window: no jitter)."""
        while self.next_tick:
            name, due = min(self.next_tick.items(), key=lambda item: item[1])
            if due > moment:
                break
            self.rehearsal.run_until(due, observe=self.observe)
            self.stacks[name].tick()
            self.rehearsal.settle()
            self.observe()
            self.next_tick[name] = due + self._rate(self.stacks[name])
        self.rehearsal.run_until(moment, observe=self.observe)

    def _for(self, step: Step) -> Rehearsal:
        """The stack the step acts on."""
        name = step.args.get("stack")
        if name not in self.stacks:
            raise ScenarioError(f"{step.label(self.source)}: no stack {name!r} is deployed")
        return self.stacks[name]

    @property
    def elapsed(self) -> float:
        """Virtual seconds since ``origin``."""
        return (self.rehearsal.clock.now() - self.origin).total_seconds()

    def deploy(self) -> None:
        """What ``sam deploy`` does after creating the resources: run the custom resource
        (when the template has one under these parameters) and let its write land."""
        if self.rehearsal.stack.custom_resources:
            self.rehearsal.deploy_spec()
        self.rehearsal.settle()
        self.observe()

    def apply(self, step: Step | Mapping[str, Any] | str) -> Step:
        """Validate (unless already a ``Step``) and apply one step; returns it validated.

        Raises ScenarioError, naming the step, for a step that is invalid or cannot be
        applied now (an ``at`` that has passed, an execution name that does not exist...)."""
        if not isinstance(step, Step):
            step = parse_step(
                dict(step) if isinstance(step, Mapping) else step,
                len(self.applied) + 1,
                source=self.source,
                facts=self.facts,
            )
        label = step.label(self.source)
        rehearsal = self.rehearsal
        try:
            if step.at is not None:
                moment = self.origin + timedelta(seconds=step.at)
                if moment < rehearsal.clock.now():
                    raise ScenarioError(
                        f"{label}: 'at' {step.at:g} has passed: the rehearsal is already at "
                        f"{self.elapsed:g} s"
                    )
                self.run_to(moment)
            _APPLY[step.kind](self, step)
            # In manual mode this returns once what the step started sleeps or has ended.
            rehearsal.settle()
        except (LookupError, UnsupportedUpdate, SimulatorUsageError) as error:
            raise ScenarioError(f"{label}: {error}") from None
        self.observe()
        self.applied.append(step)
        return step

    def finish(self) -> None:
        """The implicit last step: run until no execution runs."""
        self.rehearsal.run_until(None, observe=self.observe)

    def observe(self) -> None:
        """Note each target's status if its (phase, reason, specHash) changed."""
        rehearsal = self.rehearsal
        if self.watch_alarms:
            rehearsal.metric_store()
        now = iso(rehearsal.clock.now())
        table = rehearsal.stack.physical_id("StatusTable")
        items = rehearsal.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        for raw in items:
            # A STATUS item without a phase holds only the attempt count the Register step
            # records before its first outcome: nothing has been recorded yet.
            if raw["kind"]["S"] != "STATUS" or "phase" not in raw:
                continue
            item = {k: _deserializer.deserialize(v) for k, v in raw.items()}
            seen = self.phases.setdefault(str(item["target"]), [])
            entry = {
                "at": now,
                "phase": item.get("phase"),
                "reason": item.get("reason"),
                "specHash": item.get("specHash"),
            }
            if not seen or {**seen[-1], "at": now} != entry:
                seen.append(entry)

    def report(self, failures: list[str] | None = None) -> dict[str, Any]:
        """The rehearsal's report, plus per target its status history (the status item's
        ``history``) and the phases seen, the skipped lines and the expectations' outcome
        (``failures`` None: there were none to check)."""
        out = report(self.rehearsal)
        for entry in out["targets"]:
            status = self.rehearsal.status(entry["target"]) or {}
            entry["statusHistory"] = status.get("history") or []
            entry["phases"] = self.phases.get(entry["target"], [])
        out["skipped"] = list(self.skipped)
        out["expectations"] = {
            "checked": failures is not None,
            "passed": not failures,
            "failures": list(failures or []),
        }
        return out

    # -- the steps ---------------------------------------------------------------------------

    def _write(self, step: Step) -> None:
        self._for(step).write_spec(step.args["item"], stream=step.args["stream"])

    def _write_item(self, step: Step) -> None:
        self._for(step).put_item(step.args["item"], stream=step.args["stream"])

    def _patch(self, step: Step) -> None:
        self._for(step).update_spec(
            step.args["target"], stream=step.args["stream"], **step.args["attributes"]
        )

    def _delete(self, step: Step) -> None:
        self._for(step).delete_spec(step.args["target"], stream=step.args["stream"])

    def _stop(self, step: Step) -> None:
        args = step.args
        rehearsal = self._for(step)
        if args["execution"] == RUNNING:
            target = args["target"] or rehearsal.default_target
            executions = [e["executionArn"] for e in rehearsal.running_executions(target)]
            if not executions:
                rehearsal.note(f"{step.kind}: no execution of {target} is running")
        else:
            executions = [args["execution"]]
        for execution in executions:
            rehearsal.stop_execution(execution, error=args["error"], cause=args["cause"])

    def _deliver(self, step: Step) -> None:
        args = step.args
        self.rehearsal.deliver_next(args["channel"], args["how"], args["seconds"])

    def _settle(self, step: Step) -> None:
        self.finish()

    def _tick(self, step: Step) -> None:
        self._for(step).tick()

    def _advance(self, step: Step) -> None:
        self.run_to(self.rehearsal.clock.now() + timedelta(seconds=float(step.args["seconds"])))

    def _parameters(self, step: Step) -> None:
        self.rehearsal.update_parameters(step.args["values"])

    def _simulator(self, step: Step) -> None:
        args = step.args
        rehearsal = self.rehearsal
        sim = rehearsal.sim
        if sim is None:
            line = (
                f"{step.label(self.source)}: {args['verb']} skipped: the external FleetWise "
                "endpoint plays its own part"
            )
            self.skipped.append(line)
            rehearsal.note(line)
            return
        target = args["target"]
        where: dict[str, str] = {}
        if target is not None and target != rehearsal.default_target:
            if not simulator_keeps_regions():
                raise ScenarioError(f"{step.label(self.source)}: {ONE_REGION}")
            account, _, region = str(target).partition(":")
            where = {"account": account, "region": region}
        apply_simulator_line(sim, args, **where)
        rehearsal.note(f"simulator ({target or rehearsal.default_target}): {describe(args)}")


_APPLY = {
    "write": ScenarioRunner._write,
    "writeItem": ScenarioRunner._write_item,
    "patch": ScenarioRunner._patch,
    "delete": ScenarioRunner._delete,
    "abort": ScenarioRunner._stop,
    "stop": ScenarioRunner._stop,
    "settle": ScenarioRunner._settle,
    "tick": ScenarioRunner._tick,
    "advance": ScenarioRunner._advance,
    "parameters": ScenarioRunner._parameters,
    "simulator": ScenarioRunner._simulator,
    "deliver": ScenarioRunner._deliver,
}


# -- a whole scenario ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioResult:
    """What a scenario run left: its JSON report, the expectations that failed, the skipped
    simulator lines, and (for narration) the timeline, executions and final statuses."""

    scenario: Scenario
    report: dict[str, Any]
    failures: list[str]
    skipped: list[str]
    timeline: list[Event]
    executions: list[Execution]
    statuses: dict[str, dict[str, Any] | None]
    phases: dict[str, list[dict[str, Any]]]

    @property
    def passed(self) -> bool:
        return not self.failures


def run_scenario(
    scenario: Scenario,
    *,
    parameters: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
) -> ScenarioResult:
    """Deploy, apply every step, settle, check the expectations.

    ``parameters`` (from the command line) override the scenario's own. ``endpoint_url`` (or
    ``AWS_ENDPOINT_URL_IOTFLEETWISE``) replaces the simulator, and simulator lines are then
    skipped. Raises ScenarioError before anything starts for parameters or simulator lines
    this rehearsal cannot take, and naming the step for a step that cannot be applied."""
    facts = template_facts(scenario.template or template_path())
    try:
        merged = check_parameters({**scenario.parameters, **(parameters or {})}, facts)
    except ValueError as problem:  # check_parameters' own, not yet located
        raise ScenarioError(f"{scenario.source}: parameters: {problem}") from None
    external = endpoint_url or os.environ.get(ENDPOINT_VARIABLE)
    if not external and not simulator_keeps_regions():
        own = f"{DEFAULT_ACCOUNT}:{DEFAULT_REGION}"
        for step in scenario.parsed:
            if step.kind == "simulator" and step.args["target"] not in (None, own):
                raise ScenarioError(f"{step.label(scenario.source)}: {ONE_REGION}")
    with Rehearsal(
        merged,
        template=scenario.template,
        seed=scenario.seed,
        jitter_fraction=scenario.jitter,
        endpoint_url=endpoint_url,
        member_accounts=scenario.members,
    ) as rehearsal:
        runner = ScenarioRunner(rehearsal, source=scenario.source, schedule=scenario.schedule)
        runner.watch_alarms = bool(
            scenario.expectations is not None
            and (
                scenario.expectations.notifications is not None
                or any(e.notifications is not None for e in scenario.expectations.stacks.values())
            )
        )
        runner.deploy()
        for name, stack_parameters in scenario.stacks.items():
            runner.add_stack(name, stack_parameters)
        watching = scenario.expectations is not None and scenario.expectations.invariants
        monitor = InvariantMonitor(rehearsal) if watching else None
        broken: dict[str, None] = {}
        for step in scenario.parsed:
            runner.apply(step)
            if monitor is not None:
                if step.kind in ("write", "writeItem", "patch", "delete"):
                    monitor.wrote(_written_target(step))
                broken.update(dict.fromkeys(f"invariant: {v}" for v in monitor.check()))
        runner.finish()
        if monitor is not None:
            broken.update(dict.fromkeys(f"invariant: {v}" for v in monitor.check()))
        failures = (
            [*check_expectations(rehearsal, scenario.expectations), *broken]
            if scenario.expectations is not None
            else None
        )
        return ScenarioResult(
            scenario=scenario,
            report={
                "scenario": {
                    "file": scenario.source,
                    "description": scenario.description,
                    "steps": len(scenario.parsed),
                    "parameters": merged,
                },
                **runner.report(failures),
            },
            failures=failures or [],
            skipped=list(runner.skipped),
            timeline=rehearsal.timeline(),
            executions=rehearsal.executions(),
            statuses={t: rehearsal.status(t) for t in rehearsal.targets()},
            phases={t: list(p) for t, p in runner.phases.items()},
        )


def _written_target(step: Step) -> str:
    """The target a write, patch or delete step changed (the stack's own when unnamed)."""
    own = f"{DEFAULT_ACCOUNT}:{DEFAULT_REGION}"
    if step.kind == "write":
        return str(step.args["item"].get("target") or own)
    if step.kind == "writeItem":
        return str(step.args["item"]["target"]["S"])
    return str(step.args.get("target") or own)


__all__ = [
    "ScenarioError",
    "ScenarioResult",
    "ScenarioRunner",
    "check_expectations",
    "run_scenario",
]

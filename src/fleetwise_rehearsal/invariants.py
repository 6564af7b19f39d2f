"""The invariants of the architecture (section 3), checked on a rehearsal while it runs.

The stateful tests, ``make soak`` and scenario files drive a rehearsal step by step and ask
an ``InvariantMonitor`` after every step what it broke:

- **one acting run per target**: the IoT FleetWise calls the workflow's steps make for one
  account and Region never interleave between two executions (once another run has called,
  an earlier one never calls again);
- **bounded registrations**: every RegisterAccount the service received for one spec version,
  since that version was last recorded Registered or the item last changed (a revert to it
  included), whatever it answered: never more than ``MaxRegistrationAttempts`` that may have
  acted, nor more than as many refused;
- **no status goes back**: the status never claims a spec version written before one it
  already claimed.

Once the driver stops editing and lets the service settle (``settle_and_check``, until a whole
sweep of drift ticks starts nothing): no execution runs, no lease is held, every status
reflects its item's current version (or says ``Unmanaged`` for a deleted item) and the
account status the simulator reports now, and a drift tick starts no run.

Everything is computed from what the rehearsal logged (the simulator's calls, each tagged with
the Lambda invocation that made it, and the invocations themselves), so a check can be
repeated and never changes what it checks.

May import: ``fleetwise_rehearsal.rehearsal``, ``fleetwise_reconciler``. The scenarios and the
generated interleavings check with it, so it knows neither (``settle_and_check`` is handed the
step applier); it reads how many ticks a whole sweep takes from the drift check itself.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleetwise_reconciler.clock import parse
from fleetwise_reconciler.logic.compare import spec_hash

if TYPE_CHECKING:
    from fleetwise_rehearsal.rehearsal import Rehearsal

# Applies one scenario step ("tick", "settle", {"advance": seconds}): a ScenarioRunner's
# ``apply``, passed in so that the invariants never depend on the scenario language.
StepApplier = Callable[[Any], object]

# The steps of the workflow that call IoT FleetWise on behalf of a run (the drift check
# observes too, but acts on nothing).
ACTING_FUNCTIONS = ("ObserveFunction", "RegisterFunction", "PollFunction")
DELETED = "<deleted>"
REGISTER_ACCOUNT = "RegisterAccount"
# Answers that say the service did not act on the call (docs/workflow.md, the attempts bound);
# any other answer, an internal error included, or none, may have acted.
REFUSED = frozenset(
    {"ThrottlingException", "ConflictException", "ValidationException", "AccessDeniedException"}
)


def _sweep_ticks() -> int:
    """How many ticks the drift check of a fanned-out fleet takes to sweep the whole status
    table (``drift_check.SWEEP_TICKS``), asked once a tick ran it in this process.

    Not imported with this module: Powertools' Logger binds ``sys.stdout`` when its module is
    first imported, and the rehearsal's Lambda runtime captures each invocation's log lines by
    having that happen inside an invocation (``lambda_runtime._StdoutRouter``). A handler
    module imported with this one would send every handler's log lines to the process's own
    stdout instead: into ``rehearse --json``'s one JSON object, ``make demo``'s narrative and
    each invocation's missing logs."""
    from fleetwise_reconciler.handlers import drift_check  # noqa: PLC0415 - see above

    return drift_check.SWEEP_TICKS


@dataclass(frozen=True)
class Violation:
    """One broken invariant, with what showed it."""

    invariant: str
    target: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant} [{self.target}]: {self.detail}"


@dataclass(frozen=True)
class _Write:
    target: str
    version: str
    """The item's spec hash after the write, or ``DELETED``."""
    invocations: int
    """How many Lambda invocations had run when the write landed (orders writes and runs)."""
    at: float
    """The virtual moment of the write (epoch seconds)."""


class InvariantMonitor:
    """Watches one rehearsal; the driver reports each spec write (``wrote``)."""

    def __init__(self, rehearsal: Rehearsal, *, max_attempts: int | None = None) -> None:
        self.rehearsal = rehearsal
        parameters = rehearsal.parameters
        self.max_attempts = max_attempts or int(parameters.get("MaxRegistrationAttempts", 5))
        self._writes: list[_Write] = []
        self._claimed: dict[str, int] = {}
        self._targets: dict[str, str] = {}

    # -- what the driver tells us -------------------------------------------------------------

    def wrote(self, target: str) -> None:
        """The driver just wrote, patched or deleted ``target``'s spec item."""
        item = next((s for s in self.rehearsal.specs() if s["target"] == target), None)
        version = DELETED if item is None else spec_hash(item)
        self._writes.append(
            _Write(
                target,
                version,
                len(self.rehearsal.invoker.invocations),
                self.rehearsal.clock.time(),
            )
        )

    # -- the running invariants ---------------------------------------------------------------

    def check(self) -> list[Violation]:
        """Every running invariant, over everything that happened so far."""
        return [*self._one_acting_run(), *self._bounded_registrations(), *self._no_going_back()]

    def _function_names(self, logical_ids: Iterable[str]) -> dict[str, str]:
        stack = self.rehearsal.stack
        return {stack.function_name(logical_id): logical_id for logical_id in logical_ids}

    def _target_of(self) -> dict[str, str]:
        """Execution ARN -> target, from every execution's input (each read once)."""
        sfn = self.rehearsal.client("stepfunctions")
        for summary in self.rehearsal.execution_summaries():
            arn = summary["executionArn"]
            if arn not in self._targets:
                described = sfn.describe_execution(executionArn=arn)
                self._targets[arn] = str(json.loads(described.get("input") or "{}").get("target"))
        return self._targets

    def _one_acting_run(self) -> list[Violation]:
        sim = self.rehearsal.sim
        if sim is None:
            return []
        acting = self._function_names(ACTING_FUNCTIONS)
        found: list[Violation] = []
        current: dict[tuple[str, str], str] = {}
        done: dict[tuple[str, str], set[str]] = defaultdict(set)
        for call in sim.calls():
            function, _, execution = (call.tag or "").partition(" ")
            if function not in acting or not execution:
                continue
            key = (call.account, call.region)
            holder = current.get(key)
            if holder == execution:
                continue
            if execution in done[key]:
                found.append(
                    Violation(
                        "OneActingRun",
                        f"{call.account}:{call.region}",
                        f"{_short(execution)} called {call.operation} after "
                        f"{_short(holder or '?')} had started acting on the target",
                    )
                )
            if holder is not None:
                done[key].add(holder)
            current[key] = execution
        return found

    def _bounded_registrations(self) -> list[Violation]:
        """Every RegisterAccount the service received, whatever it answered, counted against
        the documented bound: per target and spec version, until that version is recorded
        Registered or the item changes (a write of another version; a revert to an earlier
        one is a change), at most ``MaxRegistrationAttempts`` that may have acted (answered,
        an internal error) and as many refused without acting (``REFUSED``)."""
        sim = self.rehearsal.sim
        if sim is None:
            return []
        names = self._function_names(("RegisterFunction", "RecordFunction"))
        register = next(n for n, i in names.items() if i == "RegisterFunction")
        record = next(n for n, i in names.items() if i == "RecordFunction")
        invocations = self.rehearsal.invoker.invocations
        targets = self._target_of()
        # Episodes end where the item changed (a revert A -> B -> A is a change: "quiet until
        # the item changes", architecture invariant 17), listed first so that a call of the
        # invocation the write preceded counts after it ...
        events: list[tuple[float, int, str, Any]] = []
        last: dict[str, str] = {}
        for write in self._writes:
            if last.get(write.target, write.version) != write.version:
                events.append((write.at, write.invocations, "changed", write.target))
            last[write.target] = write.version
        # ... and where a run recorded its spec version Registered.
        for index, invocation in enumerate(invocations):
            if invocation.function_name != record or not isinstance(invocation.result, dict):
                continue
            if invocation.result.get("phase") == "Registered":
                plan = (invocation.event or {}).get("plan") or {}
                target = str((invocation.event or {}).get("target"))
                moment = invocation.started_at.timestamp()
                events.append((moment, index, "registered", (target, plan.get("specHash"))))
        for call in sim.calls(REGISTER_ACCOUNT):
            function, _, execution = (call.tag or "").partition(" ")
            made = [
                (i, inv)
                for i, inv in enumerate(invocations)
                if function == register
                and inv.function_name == register
                and inv.execution_arn == execution
                and inv.started_at.timestamp() <= call.at
            ]
            # A call no Register invocation of a run made still reached the service: it
            # counts, against a version nobody can name.
            index = made[-1][0] if made else len(invocations)
            event = (made[-1][1].event if made else None) or {}
            version = str(event.get("specHash"))
            target = targets.get(execution) or f"{call.account}:{call.region}"
            answer = "refused" if call.error_type in REFUSED else "acted"
            events.append((call.at, index, answer, (target, version)))
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        found: list[Violation] = []
        for _, _, kind, key in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == "changed":
                for counted in [c for c in counts if c[0] == key]:
                    del counts[counted]
                continue
            if kind == "registered":
                counts[(*key, "acted")] = counts[(*key, "refused")] = 0
                continue
            counts[(*key, kind)] += 1
            if counts[(*key, kind)] == self.max_attempts + 1:
                target, version = key
                what = "that may have acted" if kind == "acted" else "refused without acting"
                found.append(
                    Violation(
                        "BoundedRegistrations",
                        target,
                        f"{counts[(*key, kind)]} RegisterAccount calls {what} for spec version "
                        f"{version} (MaxRegistrationAttempts {self.max_attempts})",
                    )
                )
        return found

    def _version_indexes(self, target: str, version: str, seen_at: float) -> list[int]:
        """Which of the target's writes (1-based) the status's version can be: the writes of
        that version made by the moment the run read the item (a revert writes one version
        twice; writes at one virtual instant cannot be told apart by time)."""
        found = []
        for number, write in enumerate(w for w in self._writes if w.target == target):
            if write.at > seen_at:
                break
            if write.version == version:
                found.append(number + 1)
        return found

    def _no_going_back(self) -> list[Violation]:
        found: list[Violation] = []
        for target in {w.target for w in self._writes}:
            status = self.rehearsal.status(target)
            if status is None:
                continue
            version = DELETED if status.get("phase") == "Unmanaged" else status.get("specHash")
            if not version:
                continue
            # When the run read the item (Observe); a dead run's status has only its write.
            seen = status.get("lastReconcileStartedAt") or status.get("updatedAt")
            seen_at = parse(str(seen)).timestamp() if seen else self.rehearsal.clock.time()
            candidates = self._version_indexes(target, str(version), seen_at)
            if not candidates:
                continue  # a version written outside the driver's knowledge
            before = self._claimed.get(target, 0)
            # The earliest write that does not go back; only when every write of this version
            # comes before the one already claimed has the status gone back.
            index = min((c for c in candidates if c >= before), default=max(candidates))
            if index < before:
                found.append(
                    Violation(
                        "NoStatusGoesBack",
                        target,
                        f"the status claims write #{index} ({version}) after claiming "
                        f"write #{before}",
                    )
                )
            self._claimed[target] = max(before, index)
        return found

    # -- quiescence ---------------------------------------------------------------------------

    def settle_and_check(
        self, apply: StepApplier, *, tick_seconds: float = 900, max_ticks: int = 24
    ) -> list[Violation]:
        """Stop editing, let everything finish and the drift schedule tick (every
        ``tick_seconds``, through ``apply`` so runs, stream records and the execution-status
        rule all follow virtual time) until the ticks of one whole sweep start nothing, at
        most ``max_ticks`` more; then check the state a quiet system must be in, and that
        one more tick starts nothing.

        One whole sweep: one tick for a fleet the drift check reads in one invocation, which
        sweeps the whole status table; ``SWEEP_TICKS`` ticks in a row once it hands batches
        out, because its tick then sweeps one segment of the table for statuses whose item is
        gone (a deletion whose stream record was lost), and the product promises to find
        them within that many ticks, not at the next one."""
        r = self.rehearsal

        checker = r.stack.function_name("DriftCheckFunction")
        fanned_out = False

        def tick() -> list[str] | None:
            """The runs one tick started, or None when it could not observe every target
            (the service refused; that is no evidence of a quiet system)."""
            nonlocal fanned_out
            before = {e.arn for e in r.executions()}
            earlier = len(r.invoker.calls(checker))
            apply({"advance": tick_seconds})
            apply("tick")
            apply("settle")
            # The tick's invocations: the scheduled one and, past DriftCheckBatchSize
            # targets, one per batch it handed out. One that failed, or reports a target it
            # could not observe, saw too little to tell.
            for call in r.invoker.calls(checker)[earlier:]:
                if call.error_type is not None:
                    return None
                if isinstance(call.result, dict) and call.result.get("unobserved"):
                    return None
                if isinstance(call.result, dict) and call.result.get("batches"):
                    fanned_out = True
            return [e.name for e in r.executions() if e.arn not in before]

        apply("settle")
        quiet = False
        ran = in_a_row = 0
        needed = 1
        while ran < max_ticks + needed - 1:
            ran += 1
            in_a_row = in_a_row + 1 if tick() == [] else 0
            if fanned_out:
                needed = _sweep_ticks()
            if in_a_row >= needed:
                quiet = True
                break
        found = self.check()
        if not quiet:
            found.append(
                Violation(
                    "Quiescence",
                    "*",
                    f"the drift check still started runs after {max_ticks} ticks",
                )
            )
        found.extend(self._quiet_state())
        again = tick()
        if quiet and again != []:
            found.append(Violation("Quiescence", "*", f"a tick after quiescence started {again}"))
        return found

    def _quiet_state(self) -> list[Violation]:
        r = self.rehearsal
        found: list[Violation] = []
        running = [e.name for e in r.executions() if e.status == "RUNNING"]
        if running:
            found.append(Violation("Quiescence", "*", f"executions still running: {running}"))
        items = {str(s["target"]): s for s in r.specs()}
        for target in sorted(set(items) | {w.target for w in self._writes}):
            lease = r.lease(target)
            if lease is not None:
                found.append(
                    Violation("Quiescence", target, f"lease still held by {lease.get('holder')}")
                )
            status = r.status(target)
            item = items.get(target)
            if item is None:
                if status is not None and status.get("phase") != "Unmanaged":
                    found.append(
                        Violation(
                            "StatusReflectsItem",
                            target,
                            f"the item is deleted but the status says {status.get('phase')}",
                        )
                    )
                continue
            if status is None or status.get("specHash") != spec_hash(item):
                found.append(
                    Violation(
                        "StatusReflectsItem",
                        target,
                        f"the status is for {None if status is None else status.get('specHash')}"
                        f", the item is {spec_hash(item)}",
                    )
                )
                continue
            found.extend(self._agrees_with_the_service(target, status))
        return found

    def _agrees_with_the_service(self, target: str, status: dict[str, Any]) -> list[Violation]:
        sim = self.rehearsal.sim
        observed = status.get("observed")
        if sim is None or not observed or status.get("phase") in ("Invalid", "Unmanaged"):
            return []
        account, _, region = target.partition(":")
        now = sim.account_status(account=account, region=region)
        recorded = observed.get("accountStatus") if observed.get("registered") else None
        if recorded != now:
            return [
                Violation(
                    "StatusAgreesWithService",
                    target,
                    f"the status recorded {recorded or 'not registered'}, IoT FleetWise now "
                    f"reports {now or 'not registered'}",
                )
            ]
        return []


def _short(execution: str) -> str:
    return execution.rsplit(":", 1)[-1]

"""Plain-text narration of a rehearsal: timelines with virtual timestamps, paths, statuses."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from fleetwise_rehearsal.rehearsal import Event, Execution, Rehearsal

if TYPE_CHECKING:
    from fleetwise_rehearsal.scenarios.runner import ScenarioResult

_COLOURS = {"heading": "1", "fleetwise": "36", "delay": "33", "metric": "35", "error": "31"}


class Narrator:
    """Writes the story to ``out``; colour only when ``out`` is a terminal."""

    def __init__(self, out: TextIO | None = None, *, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        isatty = getattr(self.out, "isatty", None)
        self.colour = bool(isatty and isatty()) if colour is None else colour

    def _paint(self, kind: str, text: str) -> str:
        code = _COLOURS.get(kind)
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def line(self, text: str = "", kind: str = "") -> None:
        print(self._paint(kind, text) if kind else text, file=self.out)

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text} ==", "heading")

    def events(self, events: Sequence[Event], *, since: datetime, states: bool = False) -> None:
        """The events at or after ``since``: ``12:03:30 (+3m30s)  kind  text``; the states
        each run entered only when ``states`` (the path is shown once per run instead)."""
        for event in events:
            if event.at < since or (event.kind == "state" and not states):
                continue
            offset = (event.at - since).total_seconds()
            kind = event.kind
            paint = "error" if "->" in event.text and "Exception" in event.text else kind
            stamp = f"{event.at:%H:%M:%S} (+{_duration(offset)})"
            self.line(f"  {stamp:<20} {kind:<9} {self._paint(paint, event.text)}")

    def executions(self, executions: Iterable[Execution]) -> None:
        for execution in executions:
            took = (
                _duration((execution.stopped_at - execution.started_at).total_seconds())
                if execution.stopped_at
                else "running"
            )
            self.line(f"  {execution.name}  {execution.status}  ({took} virtual)")
            self.line(f"    path: {' > '.join(execution.path)}")

    def status(self, target: str, status: dict[str, Any] | None) -> None:
        if status is None:
            self.line(f"  {target}: no status recorded")
            return
        self.line(f"  {target}: phase {status.get('phase')} ({status.get('reason', '')})")
        if status.get("message"):
            self.line(f"    message: {status['message']}")
        for condition in status.get("conditions") or []:
            self.line(
                f"    {condition.get('type')}={condition.get('status')} "
                f"reason={condition.get('reason')}"
            )
        error = status.get("lastError")
        if error:
            self.line(
                f"    lastError: {error.get('code')}: {error.get('message')} "
                f"(retryable={error.get('retryable')})",
                "error",
            )

    def calls(self, calls: dict[str, int]) -> None:
        if not calls:
            self.line("  FleetWise calls: none")
            return
        self.line("  FleetWise calls: " + ", ".join(f"{op} x{n}" for op, n in calls.items()))

    def scene_end(self, rehearsal: Rehearsal, since: datetime, targets: Iterable[str]) -> None:
        """The timeline since ``since``, then the executions and statuses."""
        self.events(rehearsal.timeline(), since=since)
        recent = [e for e in rehearsal.executions() if e.started_at >= since]
        if recent:
            self.line("  executions:")
            self.executions(recent)
        self.line("  status:")
        for target in targets:
            self.status(target, rehearsal.status(target))


def alarms_line(alarms: list[str], targets: dict[str, list[str]]) -> str:
    """The alarms in ALARM, each grouped by target followed by the targets it names."""
    named = [f"{a} ({', '.join(targets[a])})" if targets.get(a) else a for a in alarms]
    return ", ".join(named) or "none"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    fraction = seconds - whole
    tail = f"{secs}s" if fraction < 0.05 else f"{secs + fraction:.1f}s"
    if hours:
        return f"{hours}h{minutes:02d}m{tail}"
    if minutes:
        return f"{minutes}m{tail}"
    return tail


def scenario_story(narrator: Narrator, result: ScenarioResult) -> None:
    """A scenario run for a reader: the timeline, the executions with their paths, each
    target's status and the phases it went through, calls, alarms, skipped lines, and the
    expectations' outcome."""
    scenario = result.scenario
    report = result.report
    narrator.heading(f"scenario {scenario.source}")
    if scenario.description:
        narrator.line(
            textwrap.fill(
                scenario.description.strip(), 96, initial_indent="  ", subsequent_indent="  "
            )
        )
    parameters = report["scenario"]["parameters"]
    if parameters:
        narrator.line("  parameters: " + ", ".join(f"{k}={v}" for k, v in parameters.items()))
    narrator.heading("timeline (virtual time, UTC)")
    if result.timeline:
        narrator.events(result.timeline, since=result.timeline[0].at)
    if result.executions:
        narrator.heading("executions")
        narrator.executions(result.executions)
    narrator.heading("status")
    for target, status in result.statuses.items():
        narrator.status(target, status)
        seen = result.phases.get(target) or []
        if seen:
            narrator.line(
                "    phases seen: "
                + " > ".join(f"{p['phase']} ({p['reason']}) at {p['at'][11:19]}" for p in seen)
            )
    narrator.calls(report["fleetwiseCalls"])
    narrator.line(
        f"  alarms in ALARM: {alarms_line(report['alarms'], report.get('alarmTargets', {}))}"
    )
    for sent in report.get("notifications", []):
        about = f" {sent['target']}" if sent["target"] else ""
        narrator.line(f"  notified at {sent['at'][11:19]}: {sent['alarm']} {sent['state']}{about}")
    for line in result.skipped:
        narrator.line(f"  {line}")
    narrator.heading("expectations")
    expectations = report["expectations"]
    if not expectations["checked"]:
        narrator.line("  none given")
    elif expectations["passed"]:
        narrator.line("  every expectation held")
    else:
        for failure in expectations["failures"]:
            narrator.line(f"  FAILED {failure}", "error")

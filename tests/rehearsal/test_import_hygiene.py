"""The rehearsal's entry points import no handler module, and so no Powertools Logger.

A Logger binds ``sys.stdout`` when it is created, at its module's first import. The rehearsal's
Lambda runtime captures each invocation's log lines (the log bytes the fleet bench charges,
each invocation's log tail, ``rehearse --json``'s clean stdout) by having that first import
happen inside an invocation, where ``sys.stdout`` is its router. Imported earlier, every
handler's log lines would go to the process's own stdout instead."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ENTRY_POINTS = (
    "fleetwise_rehearsal.cli",
    "fleetwise_rehearsal.invariants",
    "fleetwise_rehearsal.rehearsal",
    "fleetwise_rehearsal.scenarios.runner",
    "fleetwise_rehearsal.properties.interleavings",
    "fleetwise_rehearsal.properties.soak",
    "fleetwise_rehearsal.fleet",
)
PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(
    name for name in sys.modules
    if name == "fleetwise_reconciler.observability"
    or name.startswith("fleetwise_reconciler.handlers.")
)))
"""


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_importing_an_entry_point_creates_no_logger(module: str) -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", PROBE, module],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == []

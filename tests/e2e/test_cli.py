"""`fleetwise-reconciler rehearse --json`: in-process, as the console script, and against an
external FleetWise endpoint given through AWS_ENDPOINT_URL_IOTFLEETWISE."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TARGET
from fleetwise_rehearsal import cli
from fleetwise_rehearsal.rehearsal import START
from fleetwise_rehearsal.simulator import FleetWiseSimulator
from fleetwise_rehearsal.vclock import VirtualClock

pytestmark = pytest.mark.e2e

GET = "GetRegisterAccountStatus"
REGISTER = "RegisterAccount"


def run_json(argv: list[str]) -> dict[str, object]:
    out = io.StringIO()
    assert cli.main(["rehearse", "--json", *argv], out=out) == 0
    report: dict[str, object] = json.loads(out.getvalue())
    return report


def test_rehearse_json_default_spec() -> None:
    report = run_json([])
    [target] = report["targets"]  # type: ignore[misc]
    assert target["target"] == TARGET
    assert target["phase"] == "Registered"
    assert {c["type"]: c["status"] for c in target["conditions"]} == {
        "Ready": "True",
        "Synced": "True",
        "Drifted": "False",
    }
    assert "lastError" not in target
    # the registration (the CLI's jitter is seeded random, seed 0: ten polls), then the
    # drift check's one observation: in the steady state a tick starts no execution
    assert report["fleetwiseCalls"] == {GET: 1 + 10 + 1, REGISTER: 1}
    executions = report["executions"]
    assert [e["status"] for e in executions] == ["SUCCEEDED"]  # type: ignore[union-attr]
    assert [e["trigger"] for e in executions] == ["stream"]  # type: ignore[union-attr]
    assert report["alarms"] == []


def test_rehearse_json_spec_file_with_a_terminal_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"mode": "timestream"}))
    report = run_json(["--spec", str(spec)])
    [target] = report["targets"]  # type: ignore[misc]
    assert target["phase"] == "Invalid"
    assert report["fleetwiseCalls"] == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_rehearse_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    spec = tmp_path / "spec.json"
    if content is not None:
        spec.write_text(content)
    out = io.StringIO()
    assert cli.main(["rehearse", "--json", "--spec", str(spec)], out=out) == cli.EXIT_BAD_INPUT
    assert out.getvalue() == ""
    assert message in capsys.readouterr().err


def test_rehearse_against_an_external_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a FleetWise endpoint the rehearsal did not start (on its own clock, which the
    # rehearsal does not drive: registrations settle at once)
    clock = VirtualClock(START)
    with FleetWiseSimulator(clock=clock.time, default_pending_seconds=0) as external:
        monkeypatch.setenv("AWS_ENDPOINT_URL_IOTFLEETWISE", external.endpoint_url)
        report = run_json([])
        # THEN the calls went there, and the report counts them
        assert external.count(REGISTER) == 1
        assert [c.input for c in external.calls(REGISTER)] == [{}]
        assert report["fleetwiseCalls"] == {GET: external.count(GET), REGISTER: 1}
        assert report["endpoint"] == "external"
        assert report["targets"][0]["phase"] == "Registered"  # type: ignore[index]


def test_console_script_prints_one_json_object() -> None:
    script = shutil.which("fleetwise-reconciler", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL_IOTFLEETWISE"}
    done = subprocess.run(  # noqa: S603 - the project's own console script
        [script, "rehearse", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["targets"][0]["phase"] == "Registered"
    assert report["fleetwiseCalls"][REGISTER] == 1

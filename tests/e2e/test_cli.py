# ruff: noqa: E501 - expected messages are compared whole
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
from fleetwise_rehearsal.aws.vclock import VirtualClock
from fleetwise_rehearsal.fleetwise import FleetWiseSimulator
from fleetwise_rehearsal.rehearsal import START

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


MEMBER = "111111111111"


@pytest.mark.parametrize(
    "params",
    [[f"MemberAccountIds={MEMBER}"], ["MemberOrganizationId=o-abcdefghij"]],
    ids=["listed", "organisation"],
)
def test_rehearse_a_spec_in_a_member_account_deploys_its_member_role(
    tmp_path: Path, params: list[str]
) -> None:
    # GIVEN a spec for a target in another account, allowed by the list or the organisation
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"target": f"{MEMBER}:us-east-1"}))
    # WHEN it is rehearsed through the CLI
    report = run_json(["--spec", str(spec), *(f"--param={p}" for p in params)])
    # THEN the member role was there, as the member StackSet would have put it: the target
    # registered in its own account through it
    [target] = report["targets"]  # type: ignore[misc]
    assert (target["target"], target["phase"]) == (f"{MEMBER}:us-east-1", "Registered")
    assert "lastError" not in target
    assert report["fleetwiseCalls"][REGISTER] == 1  # type: ignore[index]


def test_rehearse_deploys_no_member_role_in_an_account_not_allowed(tmp_path: Path) -> None:
    # GIVEN a spec in an account that neither the list nor an organisation allows
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"target": "222222222222:us-east-1"}))
    report = run_json(["--spec", str(spec), f"--param=MemberAccountIds={MEMBER}"])
    # THEN the target is Invalid and nothing was called
    [target] = report["targets"]  # type: ignore[misc]
    assert target["phase"] == "Invalid"
    assert report["fleetwiseCalls"] == {}


def test_rehearse_refuses_a_member_account_that_is_not_an_account_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    argv = ["rehearse", "--json", "--param", "MemberAccountIds=12345"]
    assert cli.main(argv, out=out) == cli.EXIT_BAD_INPUT
    assert out.getvalue() == ""
    assert "member account '12345' is not a 12-digit account id" in capsys.readouterr().err


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


# -- rehearse --scenario ----------------------------------------------------------------------

ABORTED = f"""\
description: a registration aborted while it waits
parameters: {{ManageDefaultTarget: "false"}}
jitter: 0.5
steps:
  - write: {{target: "{TARGET}", mode: cloudwatch}}
  - at: 150
    abort: running
expect:
  targets:
    "{TARGET}": {{phase: Failed, reason: ExecutionAborted, lease: released}}
  calls: {{RegisterAccount: 1, GetRegisterAccountStatus: 1}}
  executions: {{ABORTED: 1, total: 1}}
"""


def scenario_file(tmp_path: Path, text: str, name: str = "aborted.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(argv, out=out)
    return code, out.getvalue()


def test_scenario_json_report_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["rehearse", "--scenario", scenario_file(tmp_path, ABORTED), "--json"])
    assert code == 0
    assert capsys.readouterr().err == ""
    report = json.loads(out)
    assert list(report) == [
        "scenario",
        "targets",
        "fleetwiseCalls",
        "executions",
        "alarms",
        "alarmTargets",
        "notifications",
        "virtualTime",
        "endpoint",
        "skipped",
        "expectations",
    ]
    assert report["scenario"] == {
        "file": "aborted.yaml",
        "description": "a registration aborted while it waits",
        "steps": 2,
        "parameters": {"ManageDefaultTarget": "false"},
    }
    [target] = report["targets"]
    assert (target["target"], target["phase"], target["reason"]) == (
        TARGET,
        "Failed",
        "ExecutionAborted",
    )
    [run] = report["executions"]
    assert [h["at"] for h in target["statusHistory"]] == ["2026-11-26T12:02:30.000Z"]
    assert target["statusHistory"][0]["execution"].endswith(run["name"])
    assert target["phases"] == [
        {
            "at": "2026-11-26T12:02:30Z",
            "phase": "Failed",
            "reason": "ExecutionAborted",
            "specHash": target["specHash"],
        },
    ]
    assert run == {
        "name": run["name"],
        "target": TARGET,
        "status": "ABORTED",
        "trigger": "stream",
        "path": [
            "Init",
            "Acquire",
            "LeaseAcquired",
            "Observe",
            "Decide",
            "Register",
            "AwaitRegistration",
        ],
        "startedAt": "2026-11-26T12:00:00Z",
        "stoppedAt": "2026-11-26T12:02:30Z",
        "error": None,
    }
    assert report["fleetwiseCalls"] == {GET: 1, REGISTER: 1}
    assert report["virtualTime"] == "2026-11-26T12:02:30Z"
    assert (report["endpoint"], report["skipped"]) == ("simulator", [])
    assert report["expectations"] == {"checked": True, "passed": True, "failures": []}


def test_scenario_failed_expectations_exit_1_one_per_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = ABORTED.replace("reason: ExecutionAborted", "reason: Registered").replace(
        "ABORTED: 1", "ABORTED: 0"
    )
    code, out = run_cli(["rehearse", "--scenario", scenario_file(tmp_path, text), "--json"])
    assert code == cli.EXIT_EXPECTATION_FAILED == 1
    failures = [
        f"{TARGET}: reason is 'ExecutionAborted', expected 'Registered'",
        "executions: 1 ABORTED, expected 0",
    ]
    assert capsys.readouterr().err.splitlines() == [
        f"aborted.yaml: expectation failed: {f}" for f in failures
    ]
    assert json.loads(out)["expectations"] == {
        "checked": True,
        "passed": False,
        "failures": failures,
    }


def test_scenario_narration(tmp_path: Path) -> None:
    code, out = run_cli(["rehearse", "--scenario", scenario_file(tmp_path, ABORTED)])
    assert code == 0
    assert "== scenario aborted.yaml ==" in out
    assert "  a registration aborted while it waits" in out
    assert (
        "    path: Init > Acquire > LeaseAcquired > Observe > Decide > Register > "
        "AwaitRegistration" in out
    )
    assert "    phases seen: Failed (ExecutionAborted) at 12:02:30" in out
    assert out.endswith("== expectations ==\n  every expectation held\n")


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        (
            "steps: [frob]",
            [],
            "fleetwise-reconciler: bad.yaml:1: step 1 (frob): unknown step 'frob'; a step is one of write, writeItem, patch, delete, abort, stop, settle, tick, advance, parameters, simulator, deliver",
        ),
        (
            "steps: [",
            [],
            "fleetwise-reconciler: bad.yaml: not valid YAML: line 1: expected the node content, but found '<stream end>'",
        ),
        (
            "steps: []",
            ["--param", "MaxLoops"],
            "fleetwise-reconciler: --param: expected Key=Value, got 'MaxLoops'",
        ),
        (
            "steps: []",
            ["--param", "MaxLoops=-2"],
            "fleetwise-reconciler: bad.yaml: parameters: MaxLoops: -2 is below its MinValue 0",
        ),
    ],
)
def test_a_bad_scenario_exits_2_before_anything_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    extra: list[str],
    message: str,
) -> None:
    def never(self: object) -> None:
        raise AssertionError("the rehearsal was started")

    monkeypatch.setattr(cli.Rehearsal, "__enter__", never)
    path = scenario_file(tmp_path, text, "bad.yaml")
    code, out = run_cli(["rehearse", "--scenario", path, "--json", *extra])
    assert (code, out) == (cli.EXIT_BAD_INPUT, "")
    assert capsys.readouterr().err == message + "\n"


def test_a_step_that_cannot_be_applied_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = 'parameters: {ManageDefaultTarget: "false"}\nsteps:\n  - abort: no-such-run\n'
    code, out = run_cli(["rehearse", "--scenario", scenario_file(tmp_path, text), "--json"])
    assert (code, out) == (cli.EXIT_BAD_INPUT, "")
    assert capsys.readouterr().err == (
        "fleetwise-reconciler: aborted.yaml:3: step 1 (abort): no execution named 'no-such-run'\n"
    )


def test_scenario_and_spec_are_mutually_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["rehearse", "--scenario", "a.yaml", "--spec", "b.json"])
    assert exited.value.code == 2
    assert "argument --spec: not allowed with argument --scenario" in capsys.readouterr().err


def test_scenario_against_an_external_endpoint_skips_the_simulator_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an endpoint the rehearsal did not start (registrations settle at once there)
    text = f"""\
parameters: {{ManageDefaultTarget: "false"}}
steps:
  - simulator: {{register: [{{pending: 400, result: FAILURE}}]}}
  - write: {{target: "{TARGET}"}}
  - at: 600
    simulator: {{status: REGISTRATION_FAILURE}}
  - tick
expect:
  targets: {{"{TARGET}": {{phase: Registered, current: true}}}}
  executions: {{SUCCEEDED: 1, total: 1}}
"""
    clock = VirtualClock(START)
    with FleetWiseSimulator(clock=clock.time, default_pending_seconds=0) as external:
        monkeypatch.setenv("AWS_ENDPOINT_URL_IOTFLEETWISE", external.endpoint_url)
        code, out = run_cli(["rehearse", "--scenario", scenario_file(tmp_path, text), "--json"])
        report = json.loads(out)
        # THEN the simulator lines were skipped (the endpoint registered at once, as it does),
        # everything else ran, and the calls went to the endpoint
        assert code == 0, report["expectations"]
        assert report["endpoint"] == "external"
        assert report["skipped"] == [
            "aborted.yaml:3: step 1 (simulator): register skipped: the external FleetWise "
            "endpoint plays its own part",
            "aborted.yaml:5: step 3 (simulator): status skipped: the external FleetWise "
            "endpoint plays its own part",
        ]
        assert external.count(REGISTER) == 1
        assert report["fleetwiseCalls"] == {GET: external.count(GET), REGISTER: 1}


def test_the_demo_tells_the_story_a_deployed_stack_would() -> None:
    # The newcomer's first command: every section runs, and the alarms it names are the ones a
    # deployed stack would raise (the hour's regular drift check keeps the heartbeat alive).
    out = io.StringIO()
    assert cli.demo(out) == 0
    text = out.getvalue()
    headings = [line for line in text.splitlines() if line.startswith("== ")]
    assert headings == [
        "== 1. deploy from template.yaml ==",
        "== 2. the desired spec, written as `sam deploy` writes it ==",
        "== 3. registration: pending ~5 minutes, then success ==",
        "== 4. an operator edits the item: a new reconcileToken, then a legacy switch ==",
        "== 5. drift injected out of band, caught by a schedule tick and repaired ==",
        "== 6. a failure: access denied on RegisterAccount ==",
        "== final status ==",
    ]
    assert (
        "  alarms in ALARM once the failure's period closed (15:05): RegistrationFailedAlarm"
        " (123456789012:us-east-1)\n" in text
    )
    final = text[text.index("== final status ==") :]
    assert f"  {TARGET}: phase Failed (AccessDeniedException)\n" in final
    assert (
        "  FleetWise calls: GetRegisterAccountStatus x44, ListCampaigns x1, RegisterAccount x5\n"
        in final
    )

"""``fleetwise-reconciler``: the offline rehearsal from the command line.

- ``fleetwise-reconciler demo``: a narrated rehearsal for a newcomer.
- ``fleetwise-reconciler rehearse [--spec FILE] [--json] [--param Key=Value ...]``: deploy,
  write the desired spec, settle, one drift tick, settle, report (one JSON object with
  ``--json``). With ``MemberAccountIds`` (or ``MemberOrganizationId`` and a spec in another
  account) the member role is deployed in those accounts first, as a scenario's ``members:``.
  It exits 0 whenever the rehearsal ran, whatever the registration outcome, and 2 on bad
  input, before anything is started.
- ``fleetwise-reconciler rehearse --scenario FILE [--json] [--param Key=Value ...]``: run a
  scenario file (the README documents the format), narrated or as one JSON object; exit 0
  when every expectation held (or there were none), 1 when one failed (each failure on
  stderr), 2 for a bad file or arguments.

Both use the FleetWise endpoint in ``AWS_ENDPOINT_URL_IOTFLEETWISE`` when it is set (still on
the virtual clock), the embedded simulator otherwise.

May import: ``fleetwise_rehearsal.scenarios``, ``fleetwise_rehearsal.rehearsal``,
``fleetwise_rehearsal.fleetwise``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from fleetwise_rehearsal.fleetwise import FAILURE, Outcome
from fleetwise_rehearsal.rehearsal import DEFAULT_ACCOUNT, Rehearsal
from fleetwise_rehearsal.rehearsal.serve import ExecutionLog, Served, schedule_seconds
from fleetwise_rehearsal.scenarios.format import Scenario, ScenarioError
from fleetwise_rehearsal.scenarios.narrate import Narrator, alarms_line, scenario_story
from fleetwise_rehearsal.scenarios.report import report
from fleetwise_rehearsal.scenarios.runner import run_scenario

EXIT_EXPECTATION_FAILED = 1
EXIT_BAD_INPUT = 2
# rehearse --serve: virtual seconds per wall second (a 300 s registration in 30 s).
SERVE_SPEED = 10.0


class BadInput(ValueError):
    """Input the rehearsal refuses before starting anything."""


# -- rehearse ---------------------------------------------------------------------------------


def load_spec(path: str) -> dict[str, Any]:
    """The spec item's attributes from a JSON file (an object), or BadInput."""
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"--spec: no such file: {path}")
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput(f"--spec: {path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadInput(f"--spec: {path} must hold a JSON object (the spec item's attributes)")
    return value


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"--param: expected Key=Value, got {pair!r}")
        params[key] = value
    return params


def rehearse_scenario(args: argparse.Namespace, out: TextIO) -> int:
    """``rehearse --scenario FILE``: run it, print the report or the story, exit by outcome."""
    params = parse_params(args.param or [])
    scenario = Scenario.from_file(args.scenario)
    result = run_scenario(scenario, parameters=params)
    if args.json:
        out.write(json.dumps(result.report, indent=2) + "\n")
    else:
        scenario_story(Narrator(out), result)
    for failure in result.failures:
        print(f"{scenario.source}: expectation failed: {failure}", file=sys.stderr)
    return EXIT_EXPECTATION_FAILED if result.failures else 0


def member_accounts(params: dict[str, str], spec: dict[str, Any] | None) -> list[str]:
    """The accounts whose member role the rehearsal deploys, as the member StackSet would have
    rolled it out before the hub manages them: each of ``MemberAccountIds``, and with
    ``MemberOrganizationId`` the spec's own account (standing for the organisation's accounts,
    which the rehearsal does not model), the hub's account excepted."""
    accounts = [a.strip() for a in params.get("MemberAccountIds", "").split(",") if a.strip()]
    target = spec.get("target") if spec is not None else None
    if params.get("MemberOrganizationId") and isinstance(target, str) and ":" in target:
        accounts.append(target.split(":", 1)[0])
    for account in accounts:
        if not (len(account) == 12 and account.isdigit()):
            raise BadInput(f"member account {account!r} is not a 12-digit account id")
    return [a for a in dict.fromkeys(accounts) if a != DEFAULT_ACCOUNT]


def rehearse(args: argparse.Namespace, out: TextIO) -> int:
    if args.scenario is not None:
        return rehearse_scenario(args, out)
    spec = load_spec(args.spec) if args.spec is not None else None
    params = parse_params(args.param or [])
    if spec is not None:
        # The operator writes the item: the deploy must not write the default target too.
        params.setdefault("ManageDefaultTarget", "false")
    members: dict[str, dict[str, str]] = {a: {} for a in member_accounts(params, spec)}
    if args.serve:
        return serve(params, spec, args, out, members)
    with Rehearsal(params, member_accounts=members) as rehearsal:
        if spec is None:
            if rehearsal.stack.custom_resources:
                rehearsal.deploy_spec()
        else:
            rehearsal.write_spec(spec)
        rehearsal.settle()
        rehearsal.tick()
        rehearsal.settle()
        result = report(rehearsal)
    if args.json:
        out.write(json.dumps(result, indent=2, sort_keys=False) + "\n")
        return 0
    narrator = Narrator(out)
    narrator.heading("rehearsal")
    for target in result["targets"]:
        narrator.line(f"  {target['target']}: {target['phase']} ({target['reason']})")
        if "lastError" in target:
            narrator.line(f"    lastError: {target['lastError']['code']}: "
                          f"{target['lastError']['message']}")  # fmt: skip
    narrator.calls(result["fleetwiseCalls"])
    for execution in result["executions"]:
        narrator.line(f"  execution {execution['name']}: {execution['status']}")
    narrator.line(
        f"  alarms in ALARM: {alarms_line(result['alarms'], result.get('alarmTargets', {}))}"
    )
    return 0


def serve(
    params: dict[str, str],
    spec: dict[str, Any] | None,
    args: argparse.Namespace,
    out: TextIO,
    members: dict[str, dict[str, str]] | None = None,
) -> int:
    """``rehearse --serve``: deploy, write the spec, then serve the stack until stopped."""
    if args.json:
        raise BadInput("--serve prints the variables to export, not a JSON report: drop --json")
    stop = threading.Event()
    # SIGTERM (a test harness, a process manager) stops the stack as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        with (
            Rehearsal(params, start=now, member_accounts=members) as rehearsal,
            Served(rehearsal, speed=args.speed, port=args.port) as served,
        ):
            if spec is None:
                if rehearsal.stack.custom_resources:
                    rehearsal.deploy_spec()
            else:
                rehearsal.write_spec(spec)
            exports = "".join(
                f"export {name}={shlex.quote(value)}\n"
                for name, value in sorted(served.environment().items())
            )
            if args.env_file:
                Path(args.env_file).write_text(exports, encoding="utf-8")
            period = schedule_seconds(rehearsal)
            out.write(
                f"# stack {rehearsal.stack.name} served on loopback in {rehearsal.region}; "
                f"virtual clock from {now:%Y-%m-%dT%H:%M:%SZ} at {args.speed:g}x"
                + (f", drift check every {period / 60:g} virtual minutes" if period else "")
                + "\n# export these in another shell (or source --env-file), then run "
                "fleetwise-reconciler or aws there; Ctrl-C here stops the stack\n" + exports
            )
            out.flush()

            def log(line: str) -> None:
                out.write(line + "\n")
                out.flush()

            with contextlib.suppress(KeyboardInterrupt):
                served.run(stop, on_step=ExecutionLog(rehearsal, log))
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.env_file:
            with contextlib.suppress(FileNotFoundError):
                Path(args.env_file).unlink()
    out.write("# stopped: the served stack is gone\n")
    return 0


# -- demo -------------------------------------------------------------------------------------


def demo(out: TextIO) -> int:
    """The narrated story of issue "Offline rehearsal" for a newcomer."""
    n = Narrator(out)
    n.line("fleetwise-reconciler: an offline rehearsal of the real stack.")
    n.line("template.yaml, the state machine and the Lambda handlers run unchanged against")
    n.line("embedded AWS (moto) and an IoT FleetWise simulator, on a virtual clock: minutes of")
    n.line("FleetWise time pass in milliseconds. Times below are virtual (UTC).")
    with Rehearsal() as r:
        target = r.default_target
        sim = r.sim
        start = r.clock.now()
        n.heading("1. deploy from template.yaml")
        n.line(f"  {len(r.stack.resources)} resources created from the template "
               f"(stack {r.stack.name})")  # fmt: skip
        n.line(f"  virtual time starts at {start:%Y-%m-%d %H:%M:%S}Z")
        n.line("  the stream trigger receives every change of the spec table (writes, edits, "
               "deletes)")  # fmt: skip

        n.heading("2. the desired spec, written as `sam deploy` writes it")
        n.line("  the custom resource DefaultTargetSpec runs its Lambda with a Create event")
        mark = r.clock.now()
        answer = r.deploy_spec()
        n.line(f"  CloudFormation got: {answer.get('Status')} - {answer.get('Reason')}")
        n.line(f"  spec item: {r.specs()}")

        n.heading("3. registration: pending ~5 minutes, then success")
        n.line("  the stream record starts a run; RegisterAccount is sent with no arguments;")
        n.line("  the workflow waits, then polls with jittered backoff until SUCCESS")
        r.settle()
        n.scene_end(r, mark, [target])
        n.calls(r.fleetwise_calls())
        polls = r.clock.delays_for("retry:Poll:RegistrationPending")
        n.line(f"  backoff delays between polls (virtual s): {[round(d, 1) for d in polls]}")

        n.heading("4. an operator edits the item: a new reconcileToken, then a legacy switch")
        r.advance_to(_next_hour(r))
        mark = r.clock.now()
        n.line("  aws dynamodb update-item ... SET reconcileToken = '2026-11-26T13:05Z'")
        r.update_spec(reconcileToken="2026-11-26T13:05Z")
        r.settle()
        n.line("  (observe first: the account is registered as declared, so no RegisterAccount)")
        r.advance_to(_next_minute(r))
        n.line("  then the operator switches the target to legacy Timestream mode")
        r.update_spec(
            mode="timestream",
            timestream={"databaseName": "fleet", "tableName": "signals"},
            iamRoleArn=f"arn:aws:iam::{r.account_id}:role/FleetWiseTimestream",
        )
        r.settle()
        n.scene_end(r, mark, [target])
        if sim is not None:
            legacy = sim.calls("RegisterAccount")[-1]
            n.line(f"  RegisterAccount request body: {json.dumps(legacy.input, sort_keys=True)}")
        n.line("  and back to the modern mode")
        r.advance_to(_next_minute(r))
        mark = r.clock.now()
        r.update_spec(mode="cloudwatch", timestream=None, iamRoleArn=None)
        r.settle()
        n.scene_end(r, mark, [target])

        n.heading("5. drift injected out of band, caught by a schedule tick and repaired")
        r.advance_to(_next_hour(r))
        mark = r.clock.now()
        if sim is not None:
            n.line("  out of band: the service now reports REGISTRATION_FAILURE (IAM)")
            sim.set_account_status(FAILURE, iam_error="The service-linked role was modified.")
        started = r.tick()
        n.line(f"  the drift schedule ticks: {started}")
        r.settle()
        n.scene_end(r, mark, [target])

        n.heading("6. a failure: access denied on RegisterAccount")
        r.advance_to(_next_hour(r))
        # The schedule's regular check of this hour (the demo skips the quiet ones between
        # sections; without it the heartbeat alarm would rightly say the checks stopped).
        r.tick()
        r.settle()
        mark = r.clock.now()
        if sim is not None:
            sim.forget_registration()
            sim.fail_next(
                "RegisterAccount",
                "AccessDeniedException",
                "User is not authorized to perform: iam:CreateServiceLinkedRole",
            )
            sim.script_registrations([Outcome(pending_seconds=300)])
        n.line("  the account loses its registration and the caller loses iam permissions;")
        n.line("  an operator asks for a reconcile now")
        r.update_spec(reconcileToken="2026-11-26T16:10Z")
        r.settle()
        # Alarms evaluate complete periods: look once the failure's 5-minute period has closed.
        r.advance(300)
        closed_at = r.clock.now().strftime("%H:%M")
        failed_alarms = alarms_line(r.alarms_in_alarm(), r.alarm_targets())
        n.line("  15 minutes later the drift schedule observes again: it reports, not retries")
        r.advance(600)
        r.tick()
        r.settle()
        n.scene_end(r, mark, [target])
        n.line(f"  alarms in ALARM once the failure's period closed ({closed_at}): {failed_alarms}")
        firing = alarms_line(r.alarms_in_alarm(), r.alarm_targets())
        n.line(f"  alarms that would fire now: {firing}")

        n.heading("final status")
        for each in r.targets():
            n.status(each, r.status(each))
        n.calls(r.fleetwise_calls())
        n.line(f"  executions: {len(r.executions())}, metrics emitted: {len(r.metrics())}, "
               f"virtual time now {r.clock.now():%H:%M:%S}")  # fmt: skip
    n.line()
    n.line("Next: `make test` runs the same stack end to end for every error and invariant.")
    return 0


def _next_minute(rehearsal: Rehearsal) -> datetime:
    now = rehearsal.clock.now()
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _next_hour(rehearsal: Rehearsal) -> datetime:
    now = rehearsal.clock.now()
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


# -- entry point ------------------------------------------------------------------------------


REHEARSE_EPILOG = """\
examples:
  fleetwise-reconciler rehearse --json
  fleetwise-reconciler rehearse --spec my-spec.json --param MaxRegistrationAttempts=3
  fleetwise-reconciler rehearse --scenario scenarios/aborted-run.yaml
  fleetwise-reconciler rehearse --scenario scenarios/throttling-storm.yaml --json
  fleetwise-reconciler rehearse --serve --env-file served.env   # then, in another shell:
      . ./served.env && fleetwise-reconciler status

exit codes:
  0  the rehearsal ran (with --scenario: and every expectation held, or there were none;
     with --serve: it was stopped with Ctrl-C or SIGTERM)
  1  --scenario only: an expectation failed (each failure on stderr, one per line)
  2  bad input: a file that cannot be read or is not valid, a bad --param, a scenario step
     that cannot be applied; nothing is started for a file that is not valid

Set AWS_ENDPOINT_URL_IOTFLEETWISE to drive another IoT FleetWise endpoint instead of the
built-in simulator (a scenario's simulator lines are then skipped and listed as skipped).
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < value < math.inf):  # NaN compares False both ways
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetwise-reconciler",
        description="Rehearse the fleetwise-reconciler stack offline (embedded AWS, "
        "FleetWise simulator, virtual clock).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="a narrated rehearsal for a newcomer")
    rehearse_cmd = commands.add_parser(
        "rehearse",
        help="deploy, write the desired spec (or run a scenario), settle, report",
        description="Deploy the stack offline, then either write the desired spec, settle, "
        "tick the drift check once and report, or run a scenario file step by step.",
        epilog=REHEARSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = rehearse_cmd.add_mutually_exclusive_group()
    source.add_argument("--spec", metavar="FILE", help="JSON object: the spec item's attributes")
    source.add_argument(
        "--scenario",
        metavar="FILE",
        help="a scenario file (YAML, or JSON): a timeline of steps and expectations",
    )
    rehearse_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    serve = rehearse_cmd.add_argument_group(
        "serving",
        "--serve keeps the rehearsed stack running on loopback endpoints until Ctrl-C, for the "
        "operator CLI, the AWS CLI or any SDK in other shells (the variables to export are "
        "printed, and written to --env-file)",
    )
    serve.add_argument("--serve", action="store_true", help="serve the stack until stopped")
    serve.add_argument(
        "--speed",
        type=_positive_float,
        default=SERVE_SPEED,
        help=f"virtual seconds per wall second while serving (default {SERVE_SPEED:g})",
    )
    serve.add_argument("--port", type=_port, default=0, help="moto's port (default: any free port)")
    serve.add_argument(
        "--env-file", metavar="FILE", help="also write the variables to export to FILE (sh)"
    )
    rehearse_cmd.add_argument(
        "--param",
        action="append",
        metavar="Key=Value",
        help="a template parameter (repeatable; overrides a scenario's own)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        if args.command == "demo":
            return demo(stream)
        return rehearse(args, stream)
    except (BadInput, ScenarioError) as error:
        print(f"fleetwise-reconciler: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`... | head`): no traceback. Python's documented recipe points
        # stdout at devnull so the interpreter's final flush does not fail again.
        if out is None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

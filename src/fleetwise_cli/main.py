"""``fleetwise-reconciler``: the entry point, its commands, their help and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NoReturn

import boto3
from botocore.exceptions import ProfileNotFound

from fleetwise_cli import read_commands, write_commands
from fleetwise_cli.context import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliError,
    Context,
)
from fleetwise_cli.follow import DEFAULT_INTERVAL, DEFAULT_TIMEOUT

REHEARSAL_COMMANDS = ("demo", "rehearse")

EXIT_CODES = """\
exit codes:
  0  done (plan, --dry-run: nothing to do; --wait: the target ended Registered, Paused or
     Unmanaged)
  1  an error: bad input, an invalid spec (nothing written), a missing stack, target or
     permission, an AWS error
  2  plan, --dry-run: a reconcile would act (call RegisterAccount)
  3  conflict: the item changed after it was read; nothing was written
  4  --wait: the target ended in another phase (Failed, Blocked, Invalid, Drifted)
  5  --wait: no outcome within --timeout
"""

DESCRIPTION = """\
Operate a deployed fleetwise-reconciler stack: read each target's status, plan what a
reconcile would do (with the workflow's own validation and planning code), and edit the spec
table with conditional writes that never overwrite another operator's edit silently.
`demo` and `rehearse` run the offline rehearsal instead (no AWS account needed).

The stack is found by name (--stack, default: samconfig.toml's stack_name) in the Region and
with the credentials found the usual AWS ways (--region, --profile, AWS_REGION, AWS_PROFILE,
...). Colours only on a terminal, never with NO_COLOR set. Errors go to stderr."""

EXAMPLES = {
    "status": "fleetwise-reconciler status\n"
    "  fleetwise-reconciler status 123456789012:us-east-1 --watch",
    "plan": "fleetwise-reconciler plan 123456789012:us-east-1\n"
    "  fleetwise-reconciler plan --spec my-spec.json --json   # no stack needed",
    "apply": "fleetwise-reconciler apply -f targets.yaml --wait",
    "set": "fleetwise-reconciler set 123456789012:us-east-1 --policy observe-only",
    "reconcile": "fleetwise-reconciler reconcile 123456789012:us-east-1 --wait",
    "pause": "fleetwise-reconciler pause 123456789012:us-east-1",
    "resume": "fleetwise-reconciler resume 123456789012:us-east-1 --wait",
    "history": "fleetwise-reconciler history 123456789012:us-east-1 --limit 5",
    "delete": "fleetwise-reconciler delete 123456789012:eu-central-1 --yes",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1, so that exit 2 means only "a reconcile would act"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _common(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    where = parser.add_argument_group("where")
    where.add_argument("--stack", metavar="NAME", help="the stack (default: samconfig.toml's)")
    where.add_argument(
        "--config-env",
        default="default",
        metavar="ENV",
        help="samconfig.toml environment giving the default stack name (default: default)",
    )
    where.add_argument("--region", help="AWS Region (default: the usual AWS configuration)")
    where.add_argument("--profile", help="AWS named profile")
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _following(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the reconcile to a final phase (a live progress line) and exit by outcome",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"--wait: give up after this long (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"how often to read the status (default {DEFAULT_INTERVAL:g})",
    )


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and plan only: write nothing"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fleetwise-reconciler",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=f"example:\n  {EXAMPLES[name]}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    status = command("status", "every target's status, or one target in full")
    status.add_argument("target", nargs="?", metavar="TARGET", help="<account>:<region>")
    status.add_argument("--watch", action="store_true", help="redraw on change (Ctrl-C ends)")
    status.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
        help=f"--watch: how often to read (default {DEFAULT_INTERVAL:g})",
    )  # fmt: skip
    _common(status)

    plan = command("plan", "what a reconcile would do now; writes nothing")
    plan.add_argument("target", nargs="?", metavar="TARGET", help="one target (default: all)")
    plan.add_argument(
        "--spec", metavar="FILE", help="plan this spec item (JSON or YAML) instead: no stack"
    )
    plan.add_argument(
        "--param", action="append", metavar="Key=Value",
        help="--spec: a template parameter (default: the template's defaults)",
    )  # fmt: skip
    plan.add_argument("--template", metavar="FILE", help="--spec: the template (template.yaml)")
    _common(plan)

    apply = command("apply", "write spec items from a file (one item or a list)")
    apply.add_argument("-f", "--file", required=True, metavar="FILE", help="JSON or YAML")
    _dry_run(apply)
    _following(apply)
    _common(apply)

    set_ = command("set", "change a target's mode, policy or legacy Timestream settings")
    set_.add_argument("target", metavar="TARGET")
    set_.add_argument("--mode", choices=("cloudwatch", "timestream"))
    set_.add_argument("--policy", choices=("enforce", "observe-only"))
    set_.add_argument("--timestream-database", metavar="NAME")
    set_.add_argument("--timestream-table", metavar="NAME")
    set_.add_argument("--iam-role-arn", metavar="ARN")
    _dry_run(set_)
    _following(set_)
    _common(set_)

    for name, help_text in (
        ("reconcile", "reconcile a target now (a new reconcileToken)"),
        ("pause", "pause a target: observed and reported, never acted on"),
        ("resume", "resume a paused target"),
    ):
        each = command(name, help_text)
        each.add_argument("target", metavar="TARGET")
        _dry_run(each)
        _following(each)
        _common(each)

    history = command("history", "a target's recorded outcomes, newest first")
    history.add_argument("target", metavar="TARGET")
    history.add_argument("--limit", type=int, default=20, metavar="N", help="at most N entries")
    _common(history)

    delete = command("delete", "delete a target's spec item: management stops")
    delete.add_argument("target", metavar="TARGET")
    delete.add_argument("--yes", action="store_true", help="do not ask first")
    delete.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    _following(delete)
    _common(delete)

    commands.add_parser("demo", help="the offline rehearsal, narrated (no AWS account needed)")
    commands.add_parser(
        "rehearse",
        help="deploy the stack offline and rehearse a spec or a scenario "
        "(fleetwise-reconciler rehearse --help)",
        add_help=False,
    )
    return parser


HANDLERS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "status": read_commands.status,
    "plan": read_commands.plan,
    "history": read_commands.history,
    "apply": write_commands.apply,
    "set": write_commands.set_command,
    "reconcile": write_commands.reconcile,
    "pause": write_commands.pause,
    "resume": write_commands.resume,
    "delete": write_commands.delete,
}


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Run a parsed command; every operator-facing failure becomes a message and an exit code."""
    try:
        return HANDLERS[args.command](ctx, args)
    except CliError as error:
        ctx.warn(error.message)
        return error.code
    except KeyboardInterrupt:
        ctx.err.write("\n")
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None, *, ctx: Context | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in REHEARSAL_COMMANDS:
        # The rehearsal loads moto and the template translator: only when asked for, and only
        # installed with the `rehearsal` extra.
        try:
            from fleetwise_rehearsal import cli as rehearsal_cli  # noqa: PLC0415
        except ModuleNotFoundError as missing:
            sys.stderr.write(
                f"fleetwise-reconciler: {arguments[0]} runs the offline rehearsal, which is not "
                f"installed ({missing.name} is missing): "
                "pip install 'fleetwise-reconciler[rehearsal]'\n"
            )
            return EXIT_ERROR

        return rehearsal_cli.main(arguments, out=ctx.out if ctx is not None else None)
    args = build_parser().parse_args(arguments)
    if ctx is None or args.region or args.profile:
        try:
            session = boto3.Session(
                profile_name=args.profile,
                region_name=args.region or (ctx.session.region_name if ctx else None),
            )
        except ProfileNotFound as error:
            sys.stderr.write(f"fleetwise-reconciler: {error}\n")
            return EXIT_ERROR
        ctx = (
            Context(session=session) if ctx is None else replace(ctx, session=session, _clients={})
        )
    try:
        return run(args, ctx)
    except BrokenPipeError:
        # The reader went away (`... | head`): no traceback (Python's documented recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())

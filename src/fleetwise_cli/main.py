# PYTHON_ARGCOMPLETE_OK
"""``fleetwise-reconciler``: the entry point, its commands, their help and exit codes.

Why one module: it is the command line's table of contents: every command's arguments, help
and example side by side, so ``--help`` and the parser cannot drift apart; what each command
does lives in ``read_commands``, ``write_commands`` and ``lease_commands``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import metadata
from typing import Any, NoReturn

from fleetwise_cli import lease_commands, read_commands, write_commands
from fleetwise_cli.config import resolve, samconfig_for
from fleetwise_cli.context import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliError,
    Context,
)
from fleetwise_cli.follow import DEFAULT_INTERVAL, DEFAULT_TIMEOUT, MIN_INTERVAL
from fleetwise_cli.render import PHASES

PROG = "fleetwise-reconciler"
REHEARSAL_COMMANDS = ("demo", "rehearse")
OUTPUTS = ("table", "json", "yaml")
SHELLS = ("bash", "zsh")
# The rehearsal's exit code for bad input (fleetwise_rehearsal.cli.EXIT_BAD_INPUT).
REHEARSAL_BAD_INPUT = 2

EXIT_CODES = """\
exit codes:
  0  done (plan, diff, --dry-run: nothing to do; --wait: every target ended Registered,
     Paused or Unmanaged)
  1  an error: bad input, an invalid spec (nothing written), a missing stack, target, table
     or permission, an AWS error, a refused confirmation
  2  plan, diff, --dry-run: a reconcile would act (call RegisterAccount), or the file
     differs from the stored items
  3  conflict: an item changed after it was read; it was not written
  4  --wait: a target ended in another phase (Failed, Blocked, Invalid, Drifted)
  5  --wait: no outcome within --timeout
  6  some targets failed (each named on stderr and in the output's "errors"); the
     others were done
  130  interrupted (Ctrl-C); a run already started goes on in AWS
"""

DESCRIPTION = """\
Operate a deployed fleetwise-reconciler stack: read each target's status, plan what a
reconcile would do (with the workflow's own validation and planning code), and edit the spec
table with conditional writes that never overwrite another operator's edit silently.
`demo` and `rehearse` run the offline rehearsal instead (no AWS account needed).

Where: the stack is --stack, else samconfig.toml's stack_name (--config-env ENV,
--config-file FILE), else fleetwise-reconciler. The Region is --region, else the samconfig
environment's region, else AWS_REGION, AWS_DEFAULT_REGION, the profile's region (--profile,
AWS_PROFILE). AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> point the clients elsewhere.
Every command says which stack and Region it used (stderr, or "stack" and "region" in
-o json|yaml). Colours only on a terminal, never with NO_COLOR set. Errors go to stderr."""

EXAMPLES = {
    "status": f"{PROG} status\n"
    f"  {PROG} status --phase Failed --phase Blocked -o json\n"
    f"  {PROG} status 123456789012:us-east-1 --watch",
    "plan": f"{PROG} plan 123456789012:us-east-1\n"
    f"  {PROG} plan --account 210987654321 -o json\n"
    f"  {PROG} plan --spec my-spec.json -o json   # no stack needed",
    "diff": f"{PROG} diff -f targets.yaml        # the file against the stored items\n"
    f"  {PROG} diff 123456789012:us-east-1   # the item against IoT FleetWise",
    "apply": f"{PROG} apply -f targets.yaml --wait --timeout 900\n"
    f"  {PROG} apply -f targets.yaml --dry-run",
    "set": f"{PROG} set 123456789012:us-east-1 --policy observe-only",
    "reconcile": f"{PROG} reconcile 123456789012:us-east-1 --wait",
    "pause": f"{PROG} pause 123456789012:us-east-1\n"
    f"  {PROG} pause --all --yes                  # maintenance: every target",
    "resume": f"{PROG} resume 123456789012:us-east-1 --wait\n"
    f"  {PROG} resume --all --account 210987654321 --yes",
    "adopt": f"{PROG} adopt 123456789012:us-east-1            # take it over as it is\n"
    f"  {PROG} adopt 123456789012:us-east-1 --replace  # register the spec over it",
    "unlock": f"{PROG} unlock 123456789012:us-east-1",
    "history": f"{PROG} history 123456789012:us-east-1 --limit 5",
    "delete": f"{PROG} delete 123456789012:eu-central-1 --yes",
    "completion": f'eval "$({PROG} completion bash)"   # in ~/.bashrc\n'
    f'  eval "$({PROG} completion zsh)"    # in ~/.zshrc',
    "demo": f"{PROG} demo",
    "rehearse": f"{PROG} rehearse --spec my-spec.json --json\n"
    f"  {PROG} rehearse --scenario scenarios/aborted-run.yaml",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1, so that exit 2 means only "a reconcile would act"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


# -- checked numbers ----------------------------------------------------------------------------


def at_least_one(text: str) -> int:
    """A count of 1 or more (``--limit``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def seconds(minimum: float) -> Callable[[str], float]:
    """Seconds, at least ``minimum`` (a timeout of 0 or less, a busy poll, are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not value >= minimum or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g} seconds, got {text}")
        return value

    return parse


positive_seconds = seconds(1e-9)


# -- the options every command shares ---------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, stack: bool = True) -> None:
    if stack:
        where = parser.add_argument_group("where")
        where.add_argument(
            "--stack", metavar="NAME", help="the stack (default: samconfig.toml's stack_name)"
        )
        where.add_argument(
            "--config-env",
            metavar="ENV",
            help="the samconfig.toml environment (as sam deploy --config-env); the file must exist",
        )
        where.add_argument(
            "--config-file",
            metavar="FILE",
            help="the SAM configuration file (default: ./samconfig.toml)",
        )
    aws = parser.add_argument_group("AWS")
    aws.add_argument(
        "--region", help="the stack's AWS Region (default: see fleetwise-reconciler -h)"
    )
    aws.add_argument("--profile", help="AWS named profile (default: AWS_PROFILE)")
    out = parser.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="table",
        help="table for people (default), json or yaml for scripts (shapes: docs/cli.md)",
    )
    out.add_argument(
        "--json", dest="output", action="store_const", const="json", help=argparse.SUPPRESS
    )
    out.add_argument(
        "--debug",
        action="store_true",
        help="log every AWS call (service, operation, Region) and full tracebacks on stderr",
    )


def _selectors(parser: argparse.ArgumentParser) -> None:
    select = parser.add_argument_group("which targets (without TARGET; repeatable, ORed)")
    select.add_argument(
        "--phase", action="append", choices=PHASES, metavar="PHASE",
        help=f"targets whose status is in this phase ({', '.join(PHASES)}; None: no status)",
    )  # fmt: skip
    select.add_argument("--account", action="append", metavar="ID", help="targets of this account")
    # --region is the stack's Region (as in the AWS CLI); the targets' Region is this one.
    select.add_argument(
        "--target-region", action="append", metavar="REGION", help="targets in this Region"
    )


def _following(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the reconciles to a final phase (a live summary) and exit by outcome",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"--wait: give up after this long, for all targets together (default "
        f"{DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--interval",
        type=seconds(MIN_INTERVAL),
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"how often to read the status (default {DEFAULT_INTERVAL:g}, at least "
        f"{MIN_INTERVAL:g})",
    )


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and plan only: write nothing"
    )


def _yes(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help=f"do not ask before {what} (needed without a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=f"example:\n  {EXAMPLES[name]}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    status = command("status", "every target's status, or one target in full")
    status.add_argument("target", nargs="?", metavar="TARGET", help="<account>:<region>")
    status.add_argument("--watch", action="store_true", help="redraw on change (Ctrl-C ends)")
    status.add_argument(
        "--interval", type=seconds(MIN_INTERVAL), default=DEFAULT_INTERVAL, metavar="SECONDS",
        help=f"--watch: how often to read (default {DEFAULT_INTERVAL:g})",
    )  # fmt: skip
    _selectors(status)
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
    _selectors(plan)
    _common(plan)

    diff = command(
        "diff",
        "field by field: a file against the stored items (-f), or the items against IoT "
        "FleetWise; writes nothing",
    )
    diff.add_argument("target", nargs="?", metavar="TARGET", help="one target (default: all)")
    diff.add_argument("-f", "--file", metavar="FILE", help="spec items (JSON or YAML)")
    _selectors(diff)
    _common(diff)

    apply = command("apply", "write spec items from a file (one item or a list)")
    apply.add_argument("-f", "--file", required=True, metavar="FILE", help="JSON or YAML")
    _dry_run(apply)
    _yes(apply, "writing more than one item")
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

    each = command("reconcile", "reconcile a target now (a new reconcileToken)")
    each.add_argument("target", metavar="TARGET")
    _dry_run(each)
    _following(each)
    _common(each)

    for name, help_text in (
        ("pause", "pause targets: observed and reported, never acted on"),
        ("resume", "resume paused targets"),
    ):
        each = command(name, help_text)
        each.add_argument("target", nargs="?", metavar="TARGET")
        each.add_argument(
            "--all", action="store_true", help="every target (narrowed by the selectors)"
        )
        _selectors(each)
        _dry_run(each)
        _yes(each, "editing more than one target")
        _following(each)
        _common(each)

    adopt = command(
        "adopt",
        "take over a registration this stack did not make: write the spec as it is "
        "registered, or with --replace let the stack register its spec over it",
    )
    adopt.add_argument("target", metavar="TARGET")
    adopt.add_argument(
        "--replace",
        action="store_true",
        help="keep the spec and set onExisting: replace (the next run re-registers it)",
    )
    _dry_run(adopt)
    _following(adopt)
    _common(adopt)

    unlock = command(
        "unlock",
        "remove a target's lease left by a run that is no longer running (refused while "
        "the run it names is live)",
    )
    unlock.add_argument("target", metavar="TARGET")
    _common(unlock)

    history = command("history", "a target's recorded outcomes, newest first")
    history.add_argument("target", metavar="TARGET")
    history.add_argument(
        "--limit", type=at_least_one, default=20, metavar="N", help="at most N entries (1 or more)"
    )
    _common(history)

    delete = command("delete", "delete a target's spec item: management stops")
    delete.add_argument("target", metavar="TARGET")
    _yes(delete, "deleting")
    _dry_run(delete)
    _following(delete)
    _common(delete)

    completion = command("completion", "print the shell completion script (argcomplete)")
    completion.add_argument("shell", choices=SHELLS)

    command("demo", "the offline rehearsal, narrated (no AWS account needed)")
    command(
        "rehearse",
        f"deploy the stack offline and rehearse a spec or a scenario ({PROG} rehearse --help)",
        add_help=False,
    )
    return parser


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def version() -> str:
    try:
        return metadata.version("fleetwise-reconciler")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "unknown"


HANDLERS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "status": read_commands.status,
    "plan": read_commands.plan,
    "diff": read_commands.diff,
    "history": read_commands.history,
    "apply": write_commands.apply,
    "set": write_commands.set_command,
    "reconcile": write_commands.reconcile,
    "pause": write_commands.pause,
    "resume": write_commands.resume,
    "adopt": write_commands.adopt,
    "delete": write_commands.delete,
    "unlock": lease_commands.unlock,
}


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Run a parsed command; every operator-facing failure becomes a message and an exit code."""
    try:
        return HANDLERS[args.command](ctx, args)
    except CliError as error:
        if getattr(args, "debug", False):
            traceback.print_exception(error, file=ctx.err)
        ctx.warn(error.message)
        return error.code
    except KeyboardInterrupt:
        ctx.err.write("\n")
        return EXIT_INTERRUPTED


def _debug(ctx: Context) -> None:
    """``--debug``: every AWS call on stderr as it is made, botocore's own log at DEBUG."""

    def announce(model: Any, request_signer: Any = None, **_: Any) -> None:
        region = getattr(request_signer, "region_name", None) or "?"
        service = model.service_model.service_name
        ctx.err.write(f"debug: {service}.{model.name} in {region}\n")

    ctx.session.events.register("before-call", announce)
    logging.basicConfig(stream=ctx.err, level=logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.DEBUG)


def _rehearsal(arguments: list[str], ctx: Context | None) -> int:
    """``demo`` and ``rehearse``: the rehearsal's own command line, loaded only when asked
    for (it loads moto and the template translator). Checked here first: ``demo --help`` and
    ``rehearse --param`` without a scenario (the scenario runner checks its own)."""
    out = ctx.out if ctx is not None else sys.stdout
    if arguments[0] == "demo" and any(a in ("-h", "--help") for a in arguments[1:]):
        out.write(subparser(build_parser(), "demo").format_help())
        return 0
    if arguments[0] == "rehearse":
        problem = _rehearse_params(arguments[1:])
        if problem is not None:
            (ctx.err if ctx is not None else sys.stderr).write(f"{PROG}: {problem}\n")
            return REHEARSAL_BAD_INPUT
    try:
        from fleetwise_rehearsal import cli as rehearsal_cli  # noqa: PLC0415
    except ModuleNotFoundError as missing:
        # Installed without the `rehearsal` extra (moto, the SAM translator, Hypothesis).
        (ctx.err if ctx is not None else sys.stderr).write(
            f"{PROG}: {arguments[0]} runs the offline rehearsal, which is not installed "
            f"({missing.name} is missing): pip install 'fleetwise-reconciler[rehearsal]'\n"
        )
        return EXIT_ERROR
    return rehearsal_cli.main(arguments, out=ctx.out if ctx is not None else None)


def _rehearse_params(arguments: list[str]) -> str | None:
    """Each ``--param`` of ``rehearse`` without ``--scenario`` checked against the template
    as CloudFormation checks a parameter (a typo'd name is refused, not ignored)."""
    from fleetwise_cli.deployment import parameters_with, template_path  # noqa: PLC0415

    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--param", action="append", default=[])
    probe.add_argument("--scenario")
    known, _ = probe.parse_known_args(arguments)
    if known.scenario is not None or not known.param:
        return None
    try:
        parameters_with(template_path(None), known.param)
    except CliError as error:
        return error.message
    return None


def main(argv: Sequence[str] | None = None, *, ctx: Context | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in REHEARSAL_COMMANDS:
        return _rehearsal(arguments, ctx)
    parser = build_parser()
    _autocomplete(parser)
    args = parser.parse_args(arguments)
    err = ctx.err if ctx is not None else sys.stderr
    if args.command == "completion":
        from argcomplete.shell_integration import shellcode  # noqa: PLC0415

        (ctx.out if ctx is not None else sys.stdout).write(shellcode([PROG], shell=args.shell))
        return 0
    try:
        ctx = _context(args, ctx)
    except CliError as error:
        err.write(f"{PROG}: {error.message}\n")
        return error.code
    if args.debug:
        _debug(ctx)
    try:
        return run(args, ctx)
    except BrokenPipeError:
        # The reader went away (`... | head`): no traceback (Python's documented recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (``_ARGCOMPLETE`` set) and exit; otherwise
    nothing (argcomplete is imported only then)."""
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete  # noqa: PLC0415

        argcomplete.autocomplete(parser)


def _context(args: argparse.Namespace, ctx: Context | None) -> Context:
    """The command's context: the resolved stack, Region and session; with -o json|yaml the
    data on stdout and the words for people on stderr."""
    config = (
        samconfig_for(getattr(args, "config_file", None), getattr(args, "config_env", None))
        if hasattr(args, "stack")
        else None
    )
    where, session = resolve(
        stack=getattr(args, "stack", None),
        region=args.region,
        profile=args.profile,
        config=config,
    )
    if ctx is None:
        ctx = Context(session=session)
    elif args.profile or where.profile or where.region != ctx.session.region_name:
        ctx = replace(ctx, session=session, _clients={})
    ctx = replace(ctx, where=where, output=args.output)
    if args.output != "table":
        ctx = replace(ctx, data=ctx.out, out=ctx.err, terminal=ctx.err_terminal)
    return ctx


if __name__ == "__main__":
    raise SystemExit(main())

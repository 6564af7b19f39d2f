"""The commands that edit the spec table: ``apply``, ``set``, ``reconcile``, ``pause``,
``resume`` and ``delete``.

Each reads the item, validates the edited item with the workflow's code (an invalid one is
never written), shows what a reconcile of it would do, and writes it conditionally on the item
as read (``items.Tables``): a writer who changed it meanwhile makes the write fail, and
nothing is written. The table's stream then starts the reconcile; ``--wait`` follows it.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fleetwise_cli.context import (
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_TIMED_OUT,
    EXIT_UNHEALTHY,
    EXIT_WOULD_ACT,
    CliError,
    Context,
)
from fleetwise_cli.follow import fingerprint, wait_for
from fleetwise_cli.items import Conflict, TargetState
from fleetwise_cli.planning import Planned, plan_item, validation_only
from fleetwise_cli.read_commands import dumps, open_stack, report_plan, target_state
from fleetwise_reconciler import wiring
from fleetwise_reconciler.logic.compare import spec_hash

NO_DEREGISTRATION = (
    "IoT FleetWise has no deregistration: the account stays registered as it is, and the "
    "reconciler stops managing the target (no more runs or drift repairs for it)"
)
# Which exit code wins when one command edits several targets.
_PRECEDENCE = (EXIT_ERROR, EXIT_CONFLICT, EXIT_TIMED_OUT, EXIT_UNHEALTHY, EXIT_WOULD_ACT, EXIT_OK)


def worst(codes: list[int]) -> int:
    return min(codes, key=_PRECEDENCE.index, default=EXIT_OK)


def reconcile_token(now: datetime) -> str:
    """Unique per call: a stream record is written only for an update that changes the item,
    so the token must differ even for two reconciles within the same millisecond."""
    stamp = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"{stamp}-{secrets.token_hex(3)}"


class Editor:
    """One command's edits of one deployment's spec items."""

    def __init__(self, ctx: Context, args: argparse.Namespace) -> None:
        # With --json, stdout carries the JSON only: the words for people go to stderr.
        self.json_out = ctx.out
        self.ctx = replace(ctx, out=ctx.err) if args.json else ctx
        ctx = self.ctx
        self.args = args
        self.deployment, self.tables = open_stack(ctx, args)
        self.settings = self.deployment.settings
        self.context = wiring.validation_context(self.settings)

    def plan(self, item: Mapping[str, Any], state: TargetState) -> Planned | None:
        """What a reconcile of ``item`` would do; None (with a warning) when IoT FleetWise
        cannot be asked: the edit does not depend on it."""
        try:
            return plan_item(
                item,
                previous=state.status,
                context=self.context,
                max_attempts=self.settings.max_registration_attempts,
                fleetwise=self.ctx.fleetwise,
            )
        except CliError as error:
            if getattr(self.args, "dry_run", False):
                raise
            self.ctx.warn(f"{state.target}: no plan shown: {error.message}")
            return None

    def refuse_invalid(self, item: Mapping[str, Any], where: str) -> Planned | None:
        invalid = validation_only(item, self.context)
        if invalid is not None:
            for problem in invalid.problems:
                self.ctx.warn(f"{where}: invalid spec: {problem}")
        return invalid

    def edit(
        self,
        state: TargetState,
        new: dict[str, Any] | None,
        write: Callable[[], None],
        *,
        planned: Planned | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Show, write (unless ``--dry-run``) and follow one edit; ``new`` None deletes."""
        ctx, target = self.ctx, state.target
        version = spec_hash(new) if new is not None else None
        result: dict[str, Any] = {
            "target": target,
            "written": False,
            "specHash": version,
            "plan": planned.as_json() if planned is not None else None,
            "outcome": None,
        }
        if new is not None and new == state.spec:
            ctx.print(f"{target}: unchanged (spec version {version}): nothing written")
            return EXIT_OK, result
        if planned is not None:
            report_plan(ctx, planned, where=target, prefix="plan: ")
        if self.args.dry_run:
            ctx.print(f"{target}: dry run: nothing written")
            return (EXIT_WOULD_ACT if planned is not None and planned.acts else EXIT_OK), result
        before = fingerprint(state.status)
        try:
            write()
        except Conflict:
            ctx.warn(
                f"conflict: the spec item of {target} changed after it was read (another "
                f"writer?); nothing was written: see it with 'fleetwise-reconciler status "
                f"{target}', then run the command again"
            )
            return EXIT_CONFLICT, result
        result["written"] = True
        if new is None:
            ctx.print(f"{target}: spec item deleted. {NO_DEREGISTRATION}")
        else:
            ctx.print(f"{target}: written (spec version {version}); a reconcile starts now")
        if not self.args.wait:
            return EXIT_OK, result
        code, outcome = wait_for(
            ctx,
            self.tables,
            target,
            version,
            before=before,
            timeout=self.args.timeout,
            interval=self.args.interval,
            quiet=self.args.json,
        )
        result["outcome"] = outcome or None
        return code, result

    def state(self, target: str) -> TargetState:
        return target_state(self.tables, self.deployment, target)

    def finish(self, code: int, results: list[dict[str, Any]], *, many: bool = False) -> int:
        if self.args.json:
            self.json_out.write(dumps(results if many else results[0]) + "\n")
        return code


def _single(
    editor: Editor,
    change: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]] | None],
) -> int:
    """Edit one existing target: ``change(spec)`` gives the attributes to set and remove,
    or None when the item already is as asked."""
    ctx, args = editor.ctx, editor.args
    state = editor.state(args.target)
    if state.spec is None:
        raise CliError(
            f"{args.target} has no spec item (deleted): create it with "
            "'fleetwise-reconciler apply -f FILE'"
        )
    asked = change(dict(state.spec))
    if asked is None:
        return editor.finish(
            EXIT_OK,
            [{"target": args.target, "written": False, "specHash": spec_hash(state.spec)}],
        )
    sets, removes = asked
    new = {k: v for k, v in {**state.spec, **sets}.items() if k not in removes}
    invalid = editor.refuse_invalid(new, args.target)
    if invalid is not None:
        report_plan(ctx, invalid, where=args.target)
        refused = {"target": args.target, "written": False, "plan": invalid.as_json()}
        return editor.finish(EXIT_ERROR, [refused])
    planned = editor.plan(new, state)
    code, result = editor.edit(
        state,
        new,
        lambda: editor.tables.update(args.target, sets=sets, removes=removes),
        planned=planned,
    )
    return editor.finish(code, [result])


# -- the commands -------------------------------------------------------------------------------


def set_command(ctx: Context, args: argparse.Namespace) -> int:
    editor = Editor(ctx, args)
    ctx = editor.ctx
    wanted: dict[str, Any] = {}
    if args.mode is not None:
        wanted["mode"] = args.mode
    if args.policy is not None:
        wanted["policy"] = args.policy
    if args.timestream_database is not None or args.timestream_table is not None:
        wanted["timestream"] = {
            "databaseName": args.timestream_database,
            "tableName": args.timestream_table,
        }
    if args.iam_role_arn is not None:
        wanted["iamRoleArn"] = args.iam_role_arn
    if not wanted:
        raise CliError(
            "set: nothing to change: give --mode, --policy, --timestream-database and "
            "--timestream-table, or --iam-role-arn"
        )

    def change(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
        sets = dict(wanted)
        if "timestream" in sets:
            merged = {**(spec.get("timestream") or {}), **sets["timestream"]}
            sets["timestream"] = {k: v for k, v in merged.items() if v is not None}
        removes: list[str] = []
        if wanted.get("mode") == "cloudwatch":
            # The legacy fields do not apply to the modern mode (validation refuses them).
            removes = [name for name in ("timestream", "iamRoleArn") if name in spec]
            if removes:
                ctx.print(f"{args.target}: mode cloudwatch: removing {', '.join(removes)}")
        if all(spec.get(k) == v for k, v in sets.items()) and not removes:
            ctx.print(f"{args.target}: already as asked: nothing written")
            return None
        return sets, removes

    return _single(editor, change)


def reconcile(ctx: Context, args: argparse.Namespace) -> int:
    token = reconcile_token(ctx.now())
    return _single(Editor(ctx, args), lambda spec: ({"reconcileToken": token}, []))


def pause(ctx: Context, args: argparse.Namespace) -> int:
    editor = Editor(ctx, args)
    ctx = editor.ctx

    def change(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
        if spec.get("paused") is True:
            ctx.print(f"{args.target}: already paused: nothing written")
            return None
        return {"paused": True}, []

    return _single(editor, change)


def resume(ctx: Context, args: argparse.Namespace) -> int:
    editor = Editor(ctx, args)
    ctx = editor.ctx

    def change(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
        if spec.get("paused") is not True:
            ctx.print(f"{args.target}: not paused: nothing written")
            return None
        return {"paused": False}, []

    return _single(editor, change)


def apply(ctx: Context, args: argparse.Namespace) -> int:
    from fleetwise_cli.specfile import load_items  # noqa: PLC0415 - only apply reads files

    items = [{k: v for k, v in item.items() if v is not None} for item in load_items(args.file)]
    editor = Editor(ctx, args)
    ctx = editor.ctx
    own = f"{editor.deployment.account_id}:{editor.deployment.region}"
    for item in items:
        item.setdefault("target", own)
    targets = [str(item["target"]) for item in items]
    duplicated = sorted({t for t in targets if targets.count(t) > 1})
    if duplicated:
        raise CliError(f"{args.file}: more than one item for {', '.join(duplicated)}")
    # Every item is validated before any is written: a file with one invalid item writes none.
    refused = [
        invalid
        for item in items
        if (invalid := editor.refuse_invalid(item, f"{args.file}: {item['target']}")) is not None
    ]
    if refused:
        if args.json:
            editor.json_out.write(
                dumps(
                    [{"target": p.target, "written": False, "plan": p.as_json()} for p in refused]
                )
                + "\n"
            )
        ctx.warn(f"{args.file}: nothing was written ({len(refused)} invalid item(s))")
        return EXIT_ERROR
    codes, results = [], []
    for item in items:
        state = editor.tables.state(str(item["target"]))
        planned = editor.plan(item, state) if item != state.spec else None
        code, result = editor.edit(state, item, _putter(editor, item), planned=planned)
        codes.append(code)
        results.append(result)
    return editor.finish(worst(codes), results, many=True)


def _putter(editor: Editor, item: dict[str, Any]) -> Callable[[], None]:
    return lambda: editor.tables.put(item)


def delete(ctx: Context, args: argparse.Namespace) -> int:
    editor = Editor(ctx, args)
    ctx = editor.ctx
    state = editor.state(args.target)
    if state.spec is None:
        ctx.print(f"{args.target}: no spec item: the target is not managed already")
        return editor.finish(EXIT_OK, [{"target": args.target, "written": False}])
    if not args.yes:
        if not ctx.stdin_terminal:
            raise CliError(
                f"delete asks before deleting the spec item of {args.target}; with no "
                "terminal to ask on, pass --yes"
            )
        ctx.err.write(f"Delete the spec item of {args.target}? {NO_DEREGISTRATION}. [y/N] ")
        ctx.err.flush()
        answer = ctx.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            ctx.warn(f"{args.target}: not deleted")
            return editor.finish(EXIT_ERROR, [{"target": args.target, "written": False}])
    code, result = editor.edit(state, None, lambda: editor.tables.delete(args.target))
    return editor.finish(code, [result])

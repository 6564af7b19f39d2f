"""The commands that edit the spec table: ``apply``, ``set``, ``reconcile``, ``pause``,
``resume``, ``adopt`` and ``delete``.

Each reads the item, validates the edited item with the workflow's code (an invalid one is
never written), shows what a reconcile of it would do, and writes it conditionally on the item
as read (``items.Tables``): a writer who changed it meanwhile makes the write fail, and
nothing is written. The table's stream then starts the reconcile; ``--wait`` follows it.

A command that edits several targets validates them all first, asks once (``--yes`` to skip;
refused without a terminal), writes them one after the other, going on past a target whose
write fails and saying at the end exactly what was written, then follows every written target
at once under one ``--timeout``.

Why one module: every writing command shares one sequence (read, validate, show the plan,
confirm, write conditionally, report what was written, follow), and each command is a few
lines on top of it; apart, the sequence would be read in one file and its uses in seven.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetwise_cli.context import (
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TIMED_OUT,
    EXIT_UNHEALTHY,
    EXIT_WOULD_ACT,
    CliError,
    Context,
)
from fleetwise_cli.follow import Awaited, fingerprint, wait_all
from fleetwise_cli.items import Conflict, TargetState
from fleetwise_cli.planning import Planned, plan_item, validation_only
from fleetwise_cli.read_commands import (
    chosen,
    envelope,
    no_selectors_with_a_target,
    open_stack,
    report_plan,
    selecting,
    target_state,
)
from fleetwise_reconciler.logic.compare import spec_hash

NO_DEREGISTRATION = (
    "IoT FleetWise has no deregistration: the account stays registered as it is, and the "
    "reconciler stops managing the target (no more runs or drift repairs for it)"
)
# Which exit code wins when one command edits several targets.
_PRECEDENCE = (
    EXIT_INTERRUPTED,
    EXIT_ERROR,
    EXIT_PARTIAL,
    EXIT_CONFLICT,
    EXIT_TIMED_OUT,
    EXIT_UNHEALTHY,
    EXIT_WOULD_ACT,
    EXIT_OK,
)


def worst(codes: list[int]) -> int:
    return min(codes, key=_PRECEDENCE.index, default=EXIT_OK)


def reconcile_token(now: datetime) -> str:
    """Unique per call: a stream record is written only for an update that changes the item,
    so the token must differ even for two reconciles within the same millisecond."""
    stamp = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass
class Edit:
    """One target's edit: the item as read, the item to write (None: delete), how."""

    state: TargetState
    new: dict[str, Any] | None
    write: Callable[[], None]
    planned: Planned | None = None

    @property
    def target(self) -> str:
        return self.state.target

    @property
    def unchanged(self) -> bool:
        return self.new is not None and self.new == self.state.spec


class Editor:
    """One command's edits of one deployment's spec items."""

    def __init__(self, ctx: Context, args: argparse.Namespace) -> None:
        self.ctx = ctx
        self.args = args
        self.deployment, self.tables = open_stack(ctx, args)
        self.settings = self.deployment.settings
        self.context = self.deployment.validation_context(ctx)

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
        """The Invalid plan of ``item`` (each problem said once, on stderr), or None."""
        invalid = validation_only(item, self.context)
        if invalid is not None:
            for problem in invalid.problems:
                self.ctx.warn(f"{where}: invalid spec: {problem}")
        return invalid

    def state(self, target: str) -> TargetState:
        return target_state(self.tables, self.deployment, target)

    def confirm(self, edits: list[Edit], verb: str) -> None:
        """Ask before writing more than one target (``--yes`` skips; no terminal: refused)."""
        if len(edits) < 2 or getattr(self.args, "yes", False) or self.args.dry_run:
            return
        ctx = self.ctx
        names = ", ".join(e.target for e in edits)
        if not ctx.stdin_terminal:
            raise CliError(
                f"{verb} would write {len(edits)} spec items ({names}); with no terminal to "
                "ask on, pass --yes"
            )
        ctx.err.write(f"{verb}: write {len(edits)} spec items ({names})? [y/N] ")
        ctx.err.flush()
        if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError(f"{verb}: nothing written")

    def run(self, edits: list[Edit]) -> int:
        """Show, write (unless ``--dry-run``) and follow ``edits``; exit code and output."""
        ctx, args = self.ctx, self.args
        results: list[dict[str, Any]] = []
        codes: list[int] = []
        awaited: list[tuple[dict[str, Any], Awaited]] = []
        written: list[str] = []
        failed: list[str] = []
        errors: list[dict[str, str]] = []
        for edit in edits:
            version = spec_hash(edit.new) if edit.new is not None else None
            result: dict[str, Any] = {
                "target": edit.target,
                "written": False,
                "specHash": version,
                "plan": edit.planned.as_json() if edit.planned is not None else None,
                "outcome": None,
            }
            results.append(result)
            if edit.unchanged:
                ctx.print(f"{edit.target}: unchanged (spec version {version}): nothing written")
                codes.append(EXIT_OK)
                continue
            if edit.planned is not None:
                report_plan(ctx, edit.planned, where=edit.target, prefix="plan: ")
            if args.dry_run:
                ctx.print(f"{edit.target}: dry run: nothing written")
                acts = edit.planned is not None and edit.planned.acts
                codes.append(EXIT_WOULD_ACT if acts else EXIT_OK)
                continue
            before = fingerprint(edit.state.status)
            try:
                edit.write()
            except Conflict:
                ctx.warn(
                    f"conflict: the spec item of {edit.target} changed after it was read "
                    "(another writer?); nothing was written: see it with 'fleetwise-reconciler "
                    f"status {edit.target}', then run the command again"
                )
                codes.append(EXIT_CONFLICT)
                failed.append(edit.target)
                errors.append({"target": edit.target, "error": "conflict"})
                continue
            except CliError as error:
                if len(edits) == 1:
                    raise
                ctx.warn(f"{edit.target}: not written: {error.message}")
                codes.append(EXIT_ERROR)
                failed.append(edit.target)
                errors.append({"target": edit.target, "error": error.message})
                continue
            result["written"] = True
            written.append(edit.target)
            if edit.new is None:
                ctx.print(f"{edit.target}: spec item deleted. {NO_DEREGISTRATION}")
            else:
                ctx.print(
                    f"{edit.target}: written (spec version {version}); a reconcile starts now"
                )
            if args.wait:
                awaited.append((result, Awaited(edit.target, version, before)))
            else:
                codes.append(EXIT_OK)
        if len(edits) > 1 and failed:
            ctx.warn(f"written: {', '.join(written) or 'none'}; not written: {', '.join(failed)}")
        if awaited:
            done = wait_all(
                ctx,
                self.tables,
                [a for _, a in awaited],
                timeout=args.timeout,
                interval=args.interval,
                quiet=ctx.machine,
            )
            for (result, _), each in zip(awaited, done, strict=True):
                result["outcome"] = each.outcome
                codes.append(int(each.code or EXIT_OK))
        code = worst(codes)
        if len(edits) > 1 and failed and written:
            code = worst(
                [c for c in codes if c not in (EXIT_CONFLICT, EXIT_ERROR)] + [EXIT_PARTIAL]
            )
        if ctx.machine:
            ctx.emit(envelope(ctx, results=results, errors=errors))
        return code

    def nothing(self, target: str, message: str) -> int:
        """An edit that writes nothing (already as asked)."""
        self.ctx.print(f"{target}: {message}")
        if self.ctx.machine:
            spec = self.tables.state(target).spec
            self.ctx.emit(
                envelope(
                    self.ctx,
                    results=[
                        {
                            "target": target,
                            "written": False,
                            "specHash": spec_hash(spec) if spec is not None else None,
                            "plan": None,
                            "outcome": None,
                        }
                    ],
                    errors=[],
                )
            )
        return EXIT_OK


def _single(
    editor: Editor,
    change: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]] | str],
    target: str,
) -> int:
    """Edit one existing target: ``change(spec)`` gives the attributes to set and remove,
    or a message saying why nothing needs writing."""
    state = editor.state(target)
    if state.spec is None:
        raise CliError(
            f"{target} has no spec item (deleted): create it with "
            "'fleetwise-reconciler apply -f FILE'"
        )
    asked = change(dict(state.spec))
    if isinstance(asked, str):
        return editor.nothing(target, asked)
    sets, removes = asked
    new = {k: v for k, v in {**state.spec, **sets}.items() if k not in removes}
    invalid = editor.refuse_invalid(new, target)
    if invalid is not None:
        report_plan(editor.ctx, invalid, where=target, problems=False)
        if editor.ctx.machine:
            refused = {
                "target": target,
                "written": False,
                "specHash": spec_hash(new),
                "plan": invalid.as_json(),
                "outcome": None,
            }
            editor.ctx.emit(envelope(editor.ctx, results=[refused], errors=[]))
        return EXIT_ERROR

    def write() -> None:
        editor.tables.update(target, sets=sets, removes=removes)

    return editor.run([Edit(state, new, write, editor.plan(new, state))])


# -- the commands -------------------------------------------------------------------------------


def set_command(ctx: Context, args: argparse.Namespace) -> int:
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
    editor = Editor(ctx, args)

    def change(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | str:
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
            return "already as asked: nothing written"
        return sets, removes

    return _single(editor, change, args.target)


def reconcile(ctx: Context, args: argparse.Namespace) -> int:
    token = reconcile_token(ctx.now())
    return _single(Editor(ctx, args), lambda spec: ({"reconcileToken": token}, []), args.target)


def pause(ctx: Context, args: argparse.Namespace) -> int:
    return _pausing(ctx, args, paused=True)


def resume(ctx: Context, args: argparse.Namespace) -> int:
    return _pausing(ctx, args, paused=False)


def _pausing(ctx: Context, args: argparse.Namespace, *, paused: bool) -> int:
    verb = "pause" if paused else "resume"
    if args.target is None and not args.all:
        raise CliError(
            f"{verb}: give a TARGET, or --all (narrowed by --phase, --account, --target-region)"
        )
    if args.target is not None and args.all:
        raise CliError(f"{verb}: give a TARGET or --all, not both")
    no_selectors_with_a_target(args)
    editor = Editor(ctx, args)

    def change(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | str:
        if paused and spec.get("paused") is True:
            return "already paused: nothing written"
        if not paused and spec.get("paused") is not True:
            return "not paused: nothing written"
        return {"paused": paused}, []

    if args.target is not None:
        return _single(editor, change, args.target)
    # --all: every target with a spec item that the selectors let through.
    edits: list[Edit] = []
    for listed in chosen(editor.tables, args):
        if listed.spec is None:
            continue
        # Read again, item by item: each write is conditional on the item as read here.
        state = editor.tables.state(listed.target)
        if state.spec is None:
            continue
        asked = change(dict(state.spec))
        if isinstance(asked, str):
            ctx.print(f"{state.target}: {asked}")
            continue
        sets, _ = asked
        new = {**state.spec, **sets}
        edits.append(Edit(state, new, _updater(editor, state.target, sets)))
    if not edits:
        scope = " matching the selectors" if selecting(args) else ""
        ctx.print(f"no target{scope} to {verb}")
        if ctx.machine:
            ctx.emit(envelope(ctx, results=[], errors=[]))
        return EXIT_OK
    editor.confirm(edits, verb)
    for edit in edits:
        edit.planned = editor.plan(edit.new or {}, edit.state)
    return editor.run(edits)


def _updater(editor: Editor, target: str, sets: dict[str, Any]) -> Callable[[], None]:
    return lambda: editor.tables.update(target, sets=sets)


def apply(ctx: Context, args: argparse.Namespace) -> int:
    from fleetwise_cli.specfile import load_items  # noqa: PLC0415 - only apply reads files

    items = [{k: v for k, v in item.items() if v is not None} for item in load_items(args.file)]
    editor = Editor(ctx, args)
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
        if ctx.machine:
            ctx.emit(
                envelope(
                    ctx,
                    results=[
                        {
                            "target": p.target,
                            "written": False,
                            "specHash": p.spec_hash,
                            "plan": p.as_json(),
                            "outcome": None,
                        }
                        for p in refused
                    ],
                    errors=[],
                )
            )
        ctx.warn(f"{args.file}: nothing was written ({len(refused)} invalid item(s))")
        return EXIT_ERROR
    edits = [Edit(editor.tables.state(str(i["target"])), i, _putter(editor, i)) for i in items]
    editor.confirm([e for e in edits if not e.unchanged], "apply")
    for edit in edits:
        if not edit.unchanged:
            edit.planned = editor.plan(edit.new or {}, edit.state)
    return editor.run(edits)


def _putter(editor: Editor, item: dict[str, Any]) -> Callable[[], None]:
    return lambda: editor.tables.put(item)


def delete(ctx: Context, args: argparse.Namespace) -> int:
    editor = Editor(ctx, args)
    state = editor.state(args.target)
    if state.spec is None:
        return editor.nothing(args.target, "no spec item: the target is not managed already")
    if not args.yes and not args.dry_run:
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
            return EXIT_ERROR
    return editor.run([Edit(state, None, lambda: editor.tables.delete(args.target))])


# -- adopt --------------------------------------------------------------------------------------


def adopted_spec(spec: Mapping[str, Any], observation: Mapping[str, Any] | None) -> dict[str, Any]:
    """``spec`` rewritten to what IoT FleetWise holds (Terraform's import: the declared state
    becomes the existing one, so the next run changes nothing): the mode, and in Timestream
    mode its database, table and role; the operator's other fields are kept."""
    observed = observation or {}
    timestream = observed.get("timestream") or {}
    names = {k: timestream.get(k) for k in ("databaseName", "tableName") if timestream.get(k)}
    kept = {
        k: v for k, v in spec.items() if k not in ("mode", "timestream", "iamRoleArn", "onExisting")
    }
    if not names:
        return {**kept, "mode": "cloudwatch"}
    role = (observed.get("iam") or {}).get("roleArn")
    new = {**kept, "mode": "timestream", "timestream": names}
    if role:
        new["iamRoleArn"] = role
    return new


def adopt(ctx: Context, args: argparse.Namespace) -> int:
    """Take over a registration the stack did not make (phase Blocked, reason
    AwaitingAdoption): by default write the spec as it is registered (nothing is
    re-registered); with ``--replace`` keep the spec and set ``onExisting: replace``, so the
    next run registers the spec over the existing registration."""
    editor = Editor(ctx, args)
    state = editor.state(args.target)
    if state.spec is None:
        raise CliError(
            f"{args.target} has no spec item: write one first ('fleetwise-reconciler apply -f "
            "FILE'), then adopt"
        )
    if args.replace:

        def change(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | str:
            if spec.get("onExisting") == "replace":
                return "already onExisting: replace: nothing written"
            return {"onExisting": "replace"}, []

        return _single(editor, change, args.target)
    current = editor.plan(state.spec, state)
    if current is None:
        raise CliError(f"{args.target}: IoT FleetWise could not be asked; nothing written")
    if not (current.observation or {}).get("registered"):
        raise CliError(
            f"{args.target}: the account is not registered with IoT FleetWise: there is "
            "nothing to adopt (the stack registers it as the spec declares)"
        )
    new = adopted_spec(state.spec, current.observation)
    if new == state.spec:
        return editor.nothing(
            args.target, "the spec already matches the registration: nothing written"
        )
    sets = {k: v for k, v in new.items() if state.spec.get(k) != v}
    removes = [k for k in state.spec if k not in new]
    for line in _changes(state.spec, new):
        ctx.print(f"{args.target}: {line}")

    def write() -> None:
        editor.tables.update(args.target, sets=sets, removes=removes)

    invalid = editor.refuse_invalid(new, args.target)
    if invalid is not None:
        raise CliError(
            f"{args.target}: the registration cannot be written as a spec of this stack "
            f"({invalid.message}); take it over with --replace instead, or redeploy with the "
            "parameter the message names"
        )
    return editor.run([Edit(state, new, write, editor.plan(new, state))])


def _replacing(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | str:
    if spec.get("onExisting") == "replace":
        return "already onExisting: replace: nothing written"
    return {"onExisting": "replace"}, []


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    from fleetwise_cli.read_commands import field_changes  # noqa: PLC0415

    return [
        f"spec {c['field']}: {c['from'] if c['from'] is not None else '(absent)'} -> "
        f"{c['to'] if c['to'] is not None else '(absent)'}"
        for c in field_changes(old, new)
    ]

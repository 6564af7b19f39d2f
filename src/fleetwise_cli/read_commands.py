"""The commands that only read: ``status``, ``plan``, ``diff`` and ``history``.

Over several targets, a target that cannot be read or planned (a member account whose role
refuses the operator, a throttled call) is reported on its own, on stderr and in the output's
``errors``, and the others are still shown; the exit code says some failed (6).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from fleetwise_cli.awserrors import translated
from fleetwise_cli.config import where_json
from fleetwise_cli.context import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_WOULD_ACT,
    CliError,
    Context,
)
from fleetwise_cli.deployment import (
    Deployment,
    discover,
    parameters_with,
    settings_for,
    template_path,
)
from fleetwise_cli.detail import detail, history_table
from fleetwise_cli.follow import watch, watch_data
from fleetwise_cli.items import Tables, TargetState, require
from fleetwise_cli.planning import Planned, plan_item, validation_only
from fleetwise_cli.render import selected, summary, summary_table, table
from fleetwise_cli.specfile import load_items
from fleetwise_reconciler import wiring
from fleetwise_reconciler.clock import isoformat
from fleetwise_reconciler.logic.plan import Action


def announce(ctx: Context) -> None:
    """Say which stack and Region the command uses (stderr; -o json|yaml carry them as
    ``stack`` and ``region`` instead)."""
    if ctx.where is not None and not ctx.machine:
        ctx.warn(ctx.where.describe())


def open_stack(ctx: Context, args: argparse.Namespace) -> tuple[Deployment, Tables]:
    announce(ctx)
    name = ctx.where.stack if ctx.where is not None else args.stack
    deployment = discover(ctx, name)
    return deployment, Tables(ctx, deployment)


def envelope(ctx: Context, **data: Any) -> dict[str, Any]:
    """Every command's JSON: the stack and Region it used, then its own fields."""
    return {**where_json(ctx.where), **data}


def target_state(tables: Tables, deployment: Deployment, target: str) -> TargetState:
    state = tables.state(target)
    if state.spec is None and state.status is None:
        require(state, deployment, [s.target for s in tables.states()])
    return state


def chosen(tables: Tables, args: argparse.Namespace) -> list[TargetState]:
    """Every target of the stack that the selectors let through."""
    return [
        state
        for state in tables.states()
        if selected(
            state,
            phases=getattr(args, "phase", None),
            accounts=getattr(args, "account", None),
            regions=getattr(args, "target_region", None),
        )
    ]


def selecting(args: argparse.Namespace) -> bool:
    return bool(
        getattr(args, "phase", None)
        or getattr(args, "account", None)
        or getattr(args, "target_region", None)
    )


def no_selectors_with_a_target(args: argparse.Namespace) -> None:
    if args.target and selecting(args):
        raise CliError(
            "--phase, --account and --target-region choose among all targets: give them "
            "without TARGET"
        )


def failed(ctx: Context, target: str, error: CliError) -> dict[str, str]:
    """One target's failure, reported on its own (stderr, and the output's ``errors``)."""
    ctx.warn(f"{target}: {error.message}")
    return {"target": target, "error": error.message}


def exit_with_errors(code: int, errors: Sequence[Any], done: int) -> int:
    """Some targets failed: 6 when others were done, 1 when none was."""
    if not errors:
        return code
    return EXIT_PARTIAL if done else EXIT_ERROR


# -- status -----------------------------------------------------------------------------------


def last_execution(ctx: Context, state: TargetState) -> dict[str, Any] | None:
    """DescribeExecution of the status's last execution; None when it cannot be read (the
    history of an execution is kept 90 days, and a reader may lack the permission)."""
    arn = (state.status or {}).get("lastExecutionArn")
    if not arn:
        return None
    return describe_execution(ctx, str(arn))


def describe_execution(ctx: Context, arn: str) -> dict[str, Any] | None:
    try:
        described: dict[str, Any] = ctx.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError:
        return None
    found = {
        key: described.get(key)
        for key in ("executionArn", "name", "status", "startDate", "stopDate", "error", "cause")
    }
    for key in ("startDate", "stopDate"):
        moment = found[key]
        if isinstance(moment, datetime):
            found[key] = isoformat(moment)
    return found


def status_row(
    state: TargetState, now: datetime, execution: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One target in ``status -o json``: the summary, the items as stored, the execution."""
    return {
        **summary(state, now),
        "spec": state.spec,
        "status": state.status,
        "lease": state.lease,
        "lastExecution": execution,
    }


def status(ctx: Context, args: argparse.Namespace) -> int:
    no_selectors_with_a_target(args)
    deployment, tables = open_stack(ctx, args)

    def snapshot() -> tuple[Any, list[str]]:
        now = ctx.now()
        if args.target is None:
            states = chosen(tables, args)
            rows = [status_row(s, now, None) for s in states]
            if ctx.machine:
                return rows, []
            if not states:
                why = "none matches the selectors" if selecting(args) else "its spec table is empty"
                return rows, [f"no targets in stack {deployment.name!r} ({why})"]
            return rows, summary_table(states, now, colour=bool(ctx.colour))
        state = target_state(tables, deployment, args.target)
        execution = last_execution(ctx, state)
        if ctx.machine:
            return [status_row(state, now, execution)], []
        key = (state, (execution or {}).get("status"))
        return key, detail(state, now, execution=execution, colour=bool(ctx.colour))

    if args.watch:
        if ctx.machine:
            return watch_data(
                ctx, lambda: envelope(ctx, targets=snapshot()[0]), interval=args.interval
            )
        return watch(ctx, snapshot, interval=args.interval)
    key, lines = snapshot()
    if ctx.machine:
        ctx.emit(envelope(ctx, targets=key))
        return EXIT_OK
    for line in lines:
        ctx.print(line)
    return EXIT_OK


# -- history ----------------------------------------------------------------------------------


def history(ctx: Context, args: argparse.Namespace) -> int:
    deployment, tables = open_stack(ctx, args)
    state = target_state(tables, deployment, args.target)
    entries = list((state.status or {}).get("history") or [])[: args.limit]
    if ctx.machine:
        ctx.emit(envelope(ctx, target=args.target, history=entries))
        return EXIT_OK
    if not entries:
        ctx.print(f"{args.target}: no history recorded yet")
        return EXIT_OK
    for line in history_table(entries):
        ctx.print(line)
    return EXIT_OK


# -- plan -------------------------------------------------------------------------------------


def report_plan(
    ctx: Context, planned: Planned, *, where: str, prefix: str = "", problems: bool = True
) -> None:
    """The plan for people (stdout); an Invalid spec's problems one per line (stderr),
    unless they were already said (``problems=False``)."""
    if problems:
        for problem in planned.problems:
            ctx.warn(f"{where}: invalid spec: {problem}")
    ctx.print(
        f"{planned.target or where}: {prefix}{planned.action} ({planned.reason}): {planned.message}"
    )


def exit_for(plans: Sequence[Planned]) -> int:
    if any(p.invalid for p in plans):
        return EXIT_ERROR
    return EXIT_WOULD_ACT if any(p.acts for p in plans) else EXIT_OK


def plan(ctx: Context, args: argparse.Namespace) -> int:
    if args.spec is not None:
        if selecting(args):
            raise CliError("--spec plans one item: the selectors do not apply")
        return plan_file(ctx, args)
    if args.param:
        raise CliError("--param goes with --spec: a deployed stack's own parameters apply")
    no_selectors_with_a_target(args)
    deployment, tables = open_stack(ctx, args)
    settings = deployment.settings
    context = deployment.validation_context(ctx)
    states = (
        [target_state(tables, deployment, args.target)] if args.target else chosen(tables, args)
    )
    if not states:
        ctx.print(f"no targets in stack {deployment.name!r} to plan")
    plans: list[Planned] = []
    errors: list[dict[str, str]] = []
    for state in states:
        if state.spec is None:
            ctx.warn(f"{state.target}: no spec item (deleted): nothing to plan")
            continue
        try:
            plans.append(
                plan_item(
                    state.spec,
                    previous=state.status,
                    context=context,
                    max_attempts=settings.max_registration_attempts,
                    fleetwise=ctx.fleetwise,
                )
            )
        except CliError as error:
            if args.target:
                raise
            errors.append(failed(ctx, state.target, error))
    return _show(ctx, plans, errors, where=None)


def plan_file(ctx: Context, args: argparse.Namespace) -> int:
    """``plan --spec FILE``: no stack; the limits from ``--param`` and the template's
    defaults, the stack's account taken as the caller's."""
    if not ctx.machine and ctx.where is not None:
        ctx.warn(f"no stack (--spec), Region {ctx.where.region} ({ctx.where.region_source})")
    items = load_items(args.spec)
    if len(items) != 1:
        raise CliError(f"{args.spec}: plan --spec takes one spec item, got {len(items)}")
    item = {k: v for k, v in items[0].items() if v is not None}
    if args.target and item.get("target", args.target) != args.target:
        raise CliError(f"{args.spec}: its target {item['target']} is not {args.target}")
    parameters = parameters_with(template_path(args.template), args.param or [])
    region = ctx.region
    if "target" not in item and args.target:
        item["target"] = args.target
    # First what needs no call: an invalid spec is refused before anything is asked of AWS.
    # Without a target the caller's account is not known yet: any account stands in for it
    # (the target is reported as the file's, never as that stand-in).
    provisional = dict(item)
    provisional.setdefault("target", f"000000000000:{region}")
    account = str(provisional["target"]).split(":", 1)[0]
    early = settings_for(parameters, account_id=account, region=region)
    if not early.allowed_pass_role_arns:
        # The default ("the stack account's roles") needs the caller's account: checked below.
        early = replace(early, allowed_pass_role_arns=("*",))
    invalid = validation_only(provisional, wiring.validation_context(early))
    if invalid is not None:
        if "target" not in item:
            invalid = replace(invalid, target="")
        return _show(ctx, [invalid], [], where=args.spec)
    with translated("finding the caller's account", "sts"):
        caller = str(ctx.client("sts").get_caller_identity()["Account"])
    item.setdefault("target", f"{caller}:{region}")
    settings = settings_for(parameters, account_id=caller, region=region)
    ctx.home_account, ctx.member_role_name = caller, settings.member_role_name
    planned = plan_item(
        item,
        previous=None,
        context=wiring.validation_context(settings),
        max_attempts=settings.max_registration_attempts,
        fleetwise=ctx.fleetwise,
    )
    return _show(ctx, [planned], [], where=args.spec)


def _show(
    ctx: Context,
    plans: Sequence[Planned],
    errors: Sequence[Mapping[str, str]],
    *,
    where: str | None,
) -> int:
    """Print the plans; ``where`` names the file planned (None: each plan's target)."""
    if ctx.machine:
        for planned in plans:
            for problem in planned.problems:
                ctx.warn(f"{where or planned.target}: invalid spec: {problem}")
        stack = where_json(ctx.where)
        if where is not None:
            stack["stack"] = None
        ctx.emit(
            {**stack, "plans": [p.as_json() for p in plans], "errors": [dict(e) for e in errors]}
        )
    else:
        for planned in plans:
            report_plan(ctx, planned, where=where or planned.target)
    return exit_with_errors(exit_for(plans), errors, len(plans))


# -- diff -------------------------------------------------------------------------------------


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Field by field (maps by their keys, ``timestream.tableName``), by field name:
    ``{"field", "from", "to"}``, None for an absent field."""
    changes: list[dict[str, Any]] = []

    def walk(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for key in sorted(set(old) | set(new)):
            name = f"{prefix}{key}"
            a, b = old.get(key), new.get(key)
            maps = isinstance(a, Mapping) or isinstance(b, Mapping)
            if (
                maps
                and not isinstance(a, str | int | float)
                and not isinstance(b, str | int | float)
            ):
                walk(f"{name}.", a or {}, b or {})
                continue
            if a != b:
                changes.append({"field": name, "from": a, "to": b})

    walk("", before or {}, after or {})
    return changes


def registered_fields(observation: Mapping[str, Any] | None, legacy: bool) -> dict[str, Any]:
    """What IoT FleetWise holds, in the spec's own fields (only those a spec sets: a modern
    spec names no role, so the role is compared in legacy mode only)."""
    observed = observation or {}
    if not observed.get("registered"):
        return {"registration": "not registered"}
    timestream = observed.get("timestream") or {}
    names = {k: timestream.get(k) for k in ("databaseName", "tableName") if timestream.get(k)}
    fields: dict[str, Any] = {
        "registration": observed.get("accountStatus"),
        "mode": "timestream" if names else "cloudwatch",
    }
    if names:
        fields["timestream"] = names
    if legacy:
        fields["iamRoleArn"] = (observed.get("iam") or {}).get("roleArn")
    return fields


def declared_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    legacy = spec.get("mode") == "timestream"
    fields: dict[str, Any] = {
        "registration": "REGISTRATION_SUCCESS",
        "mode": spec.get("mode", "cloudwatch"),
    }
    if legacy:
        fields["timestream"] = dict(spec.get("timestream") or {})
        fields["iamRoleArn"] = spec.get("iamRoleArn")
    return fields


def diff(ctx: Context, args: argparse.Namespace) -> int:
    no_selectors_with_a_target(args)
    if args.file is not None:
        return diff_file(ctx, args)
    deployment, tables = open_stack(ctx, args)
    settings = deployment.settings
    context = deployment.validation_context(ctx)
    states = (
        [target_state(tables, deployment, args.target)] if args.target else chosen(tables, args)
    )
    diffs: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    code = EXIT_OK
    for state in states:
        if state.spec is None:
            continue
        try:
            planned = plan_item(
                state.spec,
                previous=state.status,
                context=context,
                max_attempts=settings.max_registration_attempts,
                fleetwise=ctx.fleetwise,
            )
        except CliError as error:
            if args.target:
                raise
            errors.append(failed(ctx, state.target, error))
            continue
        if planned.invalid:
            for problem in planned.problems:
                ctx.warn(f"{state.target}: invalid spec: {problem}")
            code = EXIT_ERROR
            continue
        spec = state.spec
        legacy = spec.get("mode") == "timestream"
        changes = field_changes(
            registered_fields(planned.observation, legacy), declared_fields(spec)
        )
        if planned.action == Action.AWAIT:
            changes = []  # a registration in flight: nothing to compare yet
        diffs.append({"target": state.target, "changes": changes})
    if code != EXIT_ERROR and any(d["changes"] for d in diffs):
        code = EXIT_WOULD_ACT
    return _show_diffs(ctx, "fleetwise", diffs, errors, code, before="IoT FleetWise", after="spec")


def diff_file(ctx: Context, args: argparse.Namespace) -> int:
    """``diff -f FILE``: what ``apply -f FILE`` would change in each stored item."""
    items = [{k: v for k, v in item.items() if v is not None} for item in load_items(args.file)]
    deployment, tables = open_stack(ctx, args)
    own = f"{deployment.account_id}:{deployment.region}"
    diffs = []
    for item in items:
        item.setdefault("target", own)
        target = str(item["target"])
        if args.target and target != args.target:
            continue
        state = tables.state(target)
        diffs.append({"target": target, "changes": field_changes(state.spec, item)})
    code = EXIT_WOULD_ACT if any(d["changes"] for d in diffs) else EXIT_OK
    return _show_diffs(ctx, "file", diffs, [], code, before="stored", after=args.file)


def _show_diffs(
    ctx: Context,
    source: str,
    diffs: list[dict[str, Any]],
    errors: list[dict[str, str]],
    code: int,
    *,
    before: str,
    after: str,
) -> int:
    if ctx.machine:
        ctx.emit(envelope(ctx, source=source, diffs=diffs, errors=errors))
    else:
        rows = [
            (d["target"], c["field"], _shown(c["from"]), _shown(c["to"]))
            for d in diffs
            for c in d["changes"]
        ]
        same = [d["target"] for d in diffs if not d["changes"]]
        if rows:
            for line in table(("TARGET", "FIELD", before.upper(), after.upper()), rows):
                ctx.print(line)
        for target in same:
            ctx.print(f"{target}: no difference")
    return exit_with_errors(code, errors, len(diffs))


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)

"""The commands that only read: ``status``, ``plan`` and ``history``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from fleetwise_cli.awserrors import translated
from fleetwise_cli.context import EXIT_ERROR, EXIT_OK, EXIT_WOULD_ACT, CliError, Context
from fleetwise_cli.deployment import (
    Deployment,
    default_stack_name,
    discover,
    parameters_with,
    settings_for,
    template_path,
)
from fleetwise_cli.detail import detail, history_table
from fleetwise_cli.follow import watch
from fleetwise_cli.items import Tables, TargetState, require
from fleetwise_cli.planning import Planned, plan_item, validation_only
from fleetwise_cli.render import summary, summary_table
from fleetwise_cli.specfile import load_items
from fleetwise_reconciler import wiring
from fleetwise_reconciler.clock import isoformat


def open_stack(ctx: Context, args: argparse.Namespace) -> tuple[Deployment, Tables]:
    name = args.stack or default_stack_name(args.config_env)
    deployment = discover(ctx, name)
    return deployment, Tables(ctx, deployment)


def target_state(tables: Tables, deployment: Deployment, target: str) -> TargetState:
    state = tables.state(target)
    if state.spec is None and state.status is None:
        require(state, deployment, [s.target for s in tables.states()])
    return state


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


# -- status -----------------------------------------------------------------------------------


def last_execution(ctx: Context, state: TargetState) -> dict[str, Any] | None:
    """DescribeExecution of the status's last execution; None when it cannot be read (the
    history of an execution is kept 90 days, and a reader may lack the permission)."""
    arn = (state.status or {}).get("lastExecutionArn")
    if not arn:
        return None
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


def status(ctx: Context, args: argparse.Namespace) -> int:
    deployment, tables = open_stack(ctx, args)

    def snapshot() -> tuple[Any, list[str]]:
        now = ctx.now()
        if args.target is None:
            states = tables.states()
            rows = [summary(s, now) for s in states]
            if args.json:
                return rows, [dumps({"stack": deployment.name, "targets": rows})]
            if not states:
                return rows, [f"no targets in stack {deployment.name!r} (its spec table is empty)"]
            return rows, summary_table(states, now, colour=bool(ctx.colour))
        state = target_state(tables, deployment, args.target)
        execution = last_execution(ctx, state)
        if args.json:
            data = {
                **summary(state, now),
                "spec": state.spec,
                "status": state.status,
                "lease": state.lease,
                "lastExecution": execution,
            }
            return data, [dumps(data)]
        key = (state, (execution or {}).get("status"))
        return key, detail(state, now, execution=execution, colour=bool(ctx.colour))

    if args.watch:
        return watch(ctx, snapshot, interval=args.interval)
    for line in snapshot()[1]:
        ctx.print(line)
    return EXIT_OK


# -- history ----------------------------------------------------------------------------------


def history(ctx: Context, args: argparse.Namespace) -> int:
    deployment, tables = open_stack(ctx, args)
    state = target_state(tables, deployment, args.target)
    entries = list((state.status or {}).get("history") or [])[: args.limit]
    if args.json:
        ctx.print(dumps({"target": args.target, "history": entries}))
        return EXIT_OK
    if not entries:
        ctx.print(f"{args.target}: no history recorded yet")
        return EXIT_OK
    for line in history_table(entries):
        ctx.print(line)
    return EXIT_OK


# -- plan -------------------------------------------------------------------------------------


def report_plan(ctx: Context, planned: Planned, *, where: str, prefix: str = "") -> None:
    """The plan for people (stdout), an Invalid spec's problems one per line (stderr)."""
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
        return plan_file(ctx, args)
    if args.param:
        raise CliError("--param goes with --spec: a deployed stack's own parameters apply")
    deployment, tables = open_stack(ctx, args)
    settings = deployment.settings
    context = wiring.validation_context(settings)
    states = [target_state(tables, deployment, args.target)] if args.target else tables.states()
    if not states:
        ctx.print(f"no targets in stack {deployment.name!r} (its spec table is empty)")
    plans = []
    for state in states:
        if state.spec is None:
            ctx.warn(f"{state.target}: no spec item (deleted): nothing to plan")
            continue
        plans.append(
            plan_item(
                state.spec,
                previous=state.status,
                context=context,
                max_attempts=settings.max_registration_attempts,
                fleetwise=ctx.fleetwise,
            )
        )
    return _show(ctx, args, plans, where=None)


def plan_file(ctx: Context, args: argparse.Namespace) -> int:
    """``plan --spec FILE``: no stack; the limits from ``--param`` and the template's
    defaults, the stack's account taken as the caller's."""
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
    provisional = dict(item)
    provisional.setdefault("target", f"000000000000:{region}")
    account = str(provisional["target"]).split(":", 1)[0]
    early = settings_for(parameters, account_id=account, region=region)
    if not early.allowed_pass_role_arns:
        # The default ("the stack account's roles") needs the caller's account: checked below.
        early = replace(early, allowed_pass_role_arns=("*",))
    invalid = validation_only(provisional, wiring.validation_context(early))
    if invalid is not None:
        return _show(ctx, args, [invalid], where=args.spec)
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
    return _show(ctx, args, [planned], where=args.spec)


def _show(
    ctx: Context, args: argparse.Namespace, plans: Sequence[Planned], *, where: str | None
) -> int:
    """Print the plans; ``where`` names the file planned (None: each plan's target)."""
    single = bool(args.target or args.spec)
    if args.json:
        for planned in plans:
            for problem in planned.problems:
                ctx.warn(f"{where or planned.target}: invalid spec: {problem}")
        data: Any = plans[0].as_json() if single and plans else [p.as_json() for p in plans]
        ctx.print(dumps(data))
    else:
        for planned in plans:
            report_plan(ctx, planned, where=where or planned.target)
    return exit_for(plans)

"""``unlock TARGET``: remove a lease that no live run holds.

A target's lease (the status table's ``LEASE`` item) names the execution that holds it and
lives ``ExecutionTimeoutSeconds`` plus 5 minutes from its last renewal. A run that dies
without the execution-status rule recording it (its event lost: the dead-letter queue's alarm)
leaves the lease until it expires, and drift checks start nothing for the target until then.

Safe by construction:

1. the lease is read, and the execution it names is described (``DescribeExecution``): while
   that execution is ``RUNNING`` the lease is live and nothing is deleted (stop the execution
   first, or wait);
2. the delete is conditional on the lease as read (its holder and its expiry, which every
   renewal moves): a run that took the lease over in between, or renewed it, keeps it.

An execution Step Functions no longer knows (``ExecutionDoesNotExist``: its history is kept
90 days after it ends) is no longer running either.
"""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import ClientError

from fleetwise_cli.awserrors import code_of, translated
from fleetwise_cli.context import EXIT_CONFLICT, EXIT_ERROR, EXIT_OK, Context
from fleetwise_cli.read_commands import envelope, open_stack, target_state
from fleetwise_cli.render import execution_name


def _execution(ctx: Context, arn: str) -> dict[str, Any] | None:
    """The execution the lease names (name, status), or None when Step Functions does not
    know it (any more)."""
    with translated(f"describing execution {execution_name(arn)}", "states"):
        try:
            answer = ctx.client("stepfunctions").describe_execution(executionArn=arn)
        except ClientError as error:
            if code_of(error) == "ExecutionDoesNotExist":
                return None
            raise
    return {"name": answer.get("name"), "status": answer.get("status")}


def unlock(ctx: Context, args: argparse.Namespace) -> int:
    deployment, tables = open_stack(ctx, args)
    state = target_state(tables, deployment, args.target)
    lease = state.lease

    def done(code: int, *, released: bool, execution: dict[str, Any] | None) -> int:
        if ctx.machine:
            ctx.emit(
                envelope(
                    ctx,
                    target=args.target,
                    lease=lease,
                    execution=execution,
                    released=released,
                )
            )
        return code

    if lease is None or not lease.get("holder"):
        ctx.print(f"{args.target}: no lease: nothing to unlock")
        return done(EXIT_OK, released=False, execution=None)
    holder = str(lease["holder"])
    execution = _execution(ctx, holder)
    if execution is not None and execution.get("status") == "RUNNING":
        ctx.warn(
            f"{args.target}: the lease is held by run {execution_name(holder)}, which is "
            "RUNNING: nothing unlocked. Let it finish, or stop it first (aws stepfunctions "
            f"stop-execution --execution-arn {holder}); the execution-status rule then "
            "records it and releases the lease"
        )
        return done(EXIT_ERROR, released=False, execution=execution)
    if not tables.delete_lease(args.target):
        ctx.warn(
            f"{args.target}: the lease changed while it was checked (a run took it over, "
            "renewed or released it): nothing unlocked; look again with 'fleetwise-reconciler "
            f"status {args.target}'"
        )
        return done(EXIT_CONFLICT, released=False, execution=execution)
    why = (
        f"its run {execution_name(holder)} is {execution['status']}"
        if execution is not None
        else f"Step Functions no longer knows its run {execution_name(holder)}"
    )
    ctx.print(
        f"{args.target}: lease released ({why}). Start a run now with "
        f"'fleetwise-reconciler reconcile {args.target}', or let the next drift check do it"
    )
    return done(EXIT_OK, released=True, execution=execution)

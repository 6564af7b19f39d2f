"""The operator's CLI against a rehearsed stack, in process (the ``operator`` fixture of this
folder's conftest starts one).

The CLI talks to AWS through boto3 clients: moto (the rehearsal's ``mock_aws`` is process-wide)
for DynamoDB and Step Functions, the rehearsal's DescribeStacks endpoint for CloudFormation and
the FleetWise simulator for IoT FleetWise, both reached through ``AWS_ENDPOINT_URL_*`` as an
operator's real endpoints would be. Time is the rehearsal's virtual clock: the CLI reads it
(``fleetwise_reconciler.clock``) and its sleeps drive it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from fleetwise_cli import main as cli
from fleetwise_cli.context import Context
from fleetwise_rehearsal.aws.stack_endpoint import StackEndpoint
from fleetwise_rehearsal.fleetwise import FleetWiseSimulator
from fleetwise_rehearsal.rehearsal import Rehearsal

TARGET = "123456789012:us-east-1"
OTHER = "123456789012:eu-central-1"
STACK = "fleetwise-reconciler"
JITTER = 0.5
WHERE = re.compile(r"fleetwise-reconciler: (stack \S+ \(.*\)|no stack \(--spec\)), Region ")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def where(self) -> list[str]:
        """The line saying which stack and Region the command used (stderr, table output)."""
        return [line for line in self.err.splitlines() if WHERE.match(line)]

    @property
    def errors(self) -> list[str]:
        """stderr without that line (its own tests read it from ``where``)."""
        return [line for line in self.err.splitlines() if not WHERE.match(line)]


@dataclass
class Operator:
    """An operator at a terminal-less shell, running ``fleetwise-reconciler`` commands."""

    r: Rehearsal
    stack_endpoint: StackEndpoint

    @property
    def sim(self) -> FleetWiseSimulator:
        assert self.r.sim is not None
        return self.r.sim

    def pass_time(self, seconds: float) -> None:
        """The CLI's sleep: everything started runs to its end, then time moves on."""
        self.r.settle()
        self.r.advance(seconds)

    def context(
        self,
        *,
        stdin: str | None = None,
        sleep: Callable[[float], None] | None = None,
        session: boto3.Session | None = None,
        **terminal: Any,
    ) -> tuple[Context, io.StringIO, io.StringIO]:
        out, err = io.StringIO(), io.StringIO()
        flags = {"colour": False, "terminal": False, "err_terminal": False}
        flags.update(terminal)
        ctx = Context(
            session=session or boto3.Session(region_name="us-east-1"),
            out=out,
            err=err,
            stdin=io.StringIO(stdin or ""),
            stdin_terminal=stdin is not None,
            sleep=sleep or self.pass_time,
            **flags,
        )
        return ctx, out, err

    def run(self, *argv: str, **context: Any) -> Result:
        ctx, out, err = self.context(**context)
        code = cli.main(list(argv), ctx=ctx)
        return Result(code, out.getvalue(), err.getvalue())

"""What every command works with: AWS clients, the streams, the clock, the terminal.

Commands never build clients or read ``sys.stdout`` themselves, so tests run them in process
against the rehearsal (moto and the FleetWise simulator) with a clock and a sleep they drive.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import boto3
import yaml
from botocore.config import Config

from fleetwise_reconciler import clock
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.member import MemberRoles
from fleetwise_reconciler.models.spec import TARGET
from fleetwise_reconciler.settings import DEFAULT_MEMBER_ROLE_NAME

# The "run" an operator's command is, for the member role's session name (CloudTrail in the
# member account shows the operator's reads under it).
MEMBER_SESSION = "fleetwise-reconciler-cli"

USER_AGENT_EXTRA = "fleetwise-reconciler-cli/0.1"

# Exit codes (documented in the README's "Operate" section and in --help).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_WOULD_ACT = 2
EXIT_CONFLICT = 3
EXIT_UNHEALTHY = 4
EXIT_TIMED_OUT = 5
EXIT_PARTIAL = 6
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Where:
    """The resolved stack and Region, and where each came from (for the operator to see)."""

    stack: str
    stack_source: str
    region: str | None
    region_source: str
    profile: str | None

    def describe(self) -> str:
        region = self.region or "no Region"
        return f"stack {self.stack} ({self.stack_source}), Region {region} ({self.region_source})"


class CliError(Exception):
    """A failure the operator can act on: printed on stderr, no traceback."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _client_config() -> Config:
    # An operator's command is not retried by anyone else: the SDK's standard retries
    # (3 attempts, jittered) absorb throttling.
    return Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        user_agent_extra=USER_AGENT_EXTRA,
    )


def colour_wanted(stream: TextIO) -> bool:
    """Colours only on a terminal, never with ``NO_COLOR`` set to anything non-empty
    (the no-color.org convention)."""
    return bool(os.environ.get("NO_COLOR", "") == "" and _isatty(stream))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Context:
    """The command's environment. ``session`` carries the Region and credentials."""

    session: boto3.Session = field(default_factory=boto3.Session)
    # The words for people (stdout; stderr with -o json|yaml, when ``data`` is stdout).
    out: TextIO = field(default_factory=lambda: sys.stdout)
    # Where -o json|yaml writes the command's data (``emit``).
    data: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    now: Callable[[], datetime] = clock.now
    sleep: Callable[[float], None] = time.sleep
    colour: bool | None = None
    terminal: bool | None = None
    err_terminal: bool | None = None
    stdin_terminal: bool | None = None
    # The stack's own account (its functions' roles reach it); another account's targets are
    # reached through the member role of that name (the stack's MemberRoleName).
    home_account: str | None = None
    member_role_name: str = DEFAULT_MEMBER_ROLE_NAME
    # The stack and Region the command resolved (config.resolve), and the output asked for.
    where: Where | None = None
    output: str = "table"
    _clients: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _members: MemberRoles | None = None

    def __post_init__(self) -> None:
        if self.colour is None:
            self.colour = colour_wanted(self.out)
        if self.terminal is None:
            self.terminal = _isatty(self.out)
        if self.err_terminal is None:
            self.err_terminal = _isatty(self.err)
        if self.stdin_terminal is None:
            self.stdin_terminal = _isatty(self.stdin)

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise CliError(
                "no AWS Region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or give "
                "the profile or samconfig.toml's environment a region"
            )
        return str(region)

    @property
    def machine(self) -> bool:
        """-o json or yaml: the data goes to ``data``, the words for people to stderr."""
        return self.output != "table"

    def emit(self, data: Any) -> None:
        """The command's result for scripts, in the asked format (the shapes: docs/cli.md)."""
        if self.output == "yaml":
            self.data.write(yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True))
        else:
            self.data.write(json.dumps(data, indent=2, default=str) + "\n")

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of ``service`` in ``region`` (the session's by default), built once."""
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=key[1], config=_client_config()
            )
        return self._clients[key]

    def fleetwise(self, target: str) -> FleetWise:
        """The IoT FleetWise port for a target, built here and nowhere else: every call is
        made in the target's own Region, and in its own account: the stack's with the
        caller's credentials, another one through its member role, which must trust the
        caller (the member template's OperatorRoleArns)."""
        match = TARGET.fullmatch(target)
        if match is None:
            raise CliError(f"{target!r} is not a target ('<12-digit account id>:<region>')")
        account, region = match.group("account"), match.group("region")
        if self.home_account is None or account == self.home_account:
            return FleetWise(client=self.client("iotfleetwise", region))
        if self._members is None:
            self._members = MemberRoles(
                self.member_role_name,
                session=lambda: self.session._session,
                sts_client=lambda where: self.client("sts", where),
            )
        return self._members.fleetwise(account, region, MEMBER_SESSION)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(f"fleetwise-reconciler: {text}\n")


def _plain(value: Any) -> Any:
    """JSON's view of ``value`` (what ``default=str`` would print), for YAML to dump."""
    return json.loads(json.dumps(value, default=str))

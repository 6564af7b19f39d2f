"""Other accounts through their member role: AssumeRole, credentials reused while they last.

A target in another account is reached through the role that account holds for the hub
(``member/template.yaml``, rolled out with StackSets). Each run assumes it once per account,
with a session name that names the run (CloudTrail in the member account then shows which run
acted), and keeps the credentials, and the IoT FleetWise client of each Region made with them,
in a process-wide cache keyed by account and run until shortly before they expire: every Poll
of a run reuses them (Observe, Register and Poll are separate functions, each in its own
processes: each assumes the role once per run). The drift check, which only reads, names one
session for every tick (``drift_check.DRIFT_SESSION``): the targets of an account share it,
and so do the next ticks of a warm environment. Threads asking at once for one account and
run wait for one AssumeRole.

AWS STS facts relied on (AWS STS API reference, AssumeRole; IAM User Guide, "Manage AWS STS
in an AWS Region"):

- ``RoleSessionName`` is 2-64 characters of ``[\\w+=,.@-]``.
- A role session reached by role chaining (a Lambda function's role assuming another role)
  lasts at most one hour, the default ``DurationSeconds``; the cache refreshes it before then.
- The call is made to the STS endpoint of the target's own Region (botocore's default is the
  Regional endpoint): AWS recommends Regional endpoints over the global one (lower latency,
  redundancy, and session tokens valid in every Region), and a target's calls then share one
  Region's failure domain.
- A role that does not exist and a role whose trust policy does not name the caller are
  refused alike, ``AccessDenied`` ("... is not authorized to perform: sts:AssumeRole on
  resource: ..."): terminal until someone deploys or fixes the member role. ``Throttling`` is
  transient.

Which accounts are members (``AllowedAccounts``): the accounts listed in the StringList
parameters under the stack's path in Parameter Store (``MEMBER_ACCOUNTS_PATH``: the stack
writes one of them from ``MemberAccountIds``, operators add any others), read with
GetParametersByPath on first use and again after ``ALLOWED_ACCOUNTS_TTL``; or, with
``MemberOrganizationId``, any account (IAM then lets the hub assume the member role only in that
organisation's accounts, and only the accounts whose member role trusts the hub answer). AWS
Systems Manager facts relied on ("How Parameter Store authorizes parameter retrieval";
"Managing parameter tiers"): GetParametersByPath is authorised against the path asked for, not
the parameters it returns, and answers at most 10 parameters a page; a standard parameter's
value holds at most 4 KB (4,096 characters), so a list of more than about 315 account ids
spans several parameters.

Errors leave as the FleetWise adapter's domain errors (``FleetWiseTerminalError``,
``FleetWiseTransientError``), whose class names the workflow's Retry and Catch match, with
``operation`` ``AssumeRole``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from fleetwise_reconciler import budget, clock
from fleetwise_reconciler.errors import FleetWiseTerminalError, FleetWiseTransientError
from fleetwise_reconciler.fleetwise import USER_AGENT_EXTRA, FleetWise, client_config
from fleetwise_reconciler.logic.classify import ENDPOINT_UNREACHABLE, ErrorClass, classify

OPERATION = "AssumeRole"
SESSION_NAME_MAX = 64
SESSION_SECONDS = 3600
# Credentials closer to their expiry than this are not handed out: a step that starts with
# them must finish its calls before they lapse.
REFRESH_MARGIN = timedelta(minutes=5)
# Credentials kept per process (an account and run each), the oldest first out past this. The
# drift check's session is one entry per member account and serves every tick of a warm
# environment while it lasts, so the limit holds every member account of the largest fleet
# supported (docs/limits.md: 1,000 member accounts; and 10,000 targets over the 3 Regions
# would be 3,334 accounts, tests/template/test_quotas.py holds both). An entry measured 1.3 KB
# (tracemalloc, CPython 3.11, a session token of 805 characters): 4,096 entries, 5 MB.
CACHE_LIMIT = 4096
# IoT FleetWise clients kept per process (an account, Region and run each), the oldest first
# out past this: a client measured about 196 KB (the same measurement, the botocore session
# shared), so clients are kept for one drift check batch (DriftCheckBatchSize, 500 targets
# by default), about 100 MB, not for every member account (2 GB at 10,000 targets); a
# client made again from cached credentials costs no AssumeRole.
PORT_LIMIT = 512
_NOT_IN_SESSION_NAME = re.compile(r"[^\w+=,.@-]")


def session_name(run: str) -> str:
    """The role session name of a run: its execution's name (the last part of an execution
    ARN), characters STS refuses replaced by ``-``, a long one cut with a digest of the whole
    so that two runs never share a name."""
    name = _NOT_IN_SESSION_NAME.sub("-", run.rpartition(":")[2]) or "run"
    if len(name) < 2:
        name = f"run-{name}"
    if len(name) > SESSION_NAME_MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: SESSION_NAME_MAX - 9]}-{digest}"
    return name


def role_arn(account: str, role_name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


@dataclass
class _Gate:
    """One account's and run's AssumeRole lock, and how many threads hold or await it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


def sts_config() -> Config:
    """One attempt: the step that needs the credentials is retried by Step Functions
    (``budget.STS``)."""
    return budget.STS.config(user_agent_extra=USER_AGENT_EXTRA)


# How long a process trusts its copy of the member accounts: an account added under the
# path is allowed within this long, one removed is refused within this long.
ALLOWED_ACCOUNTS_TTL = timedelta(minutes=5)
OPERATION_ALLOWED = "GetParametersByPath"


class AllowedAccounts:
    """The member accounts listed under ``path`` in Parameter Store, as a container
    (``account in allowed``), read on first use and cached for ``ALLOWED_ACCOUNTS_TTL``
    (thread safe). ``fixed`` accounts are members without a read (tests, the operator's
    ``--param MemberAccountIds``). An empty ``path`` lists no account beyond ``fixed``."""

    def __init__(
        self,
        path: str,
        *,
        fixed: tuple[str, ...] = (),
        ssm_client: Callable[[], Any] | None = None,
    ) -> None:
        self.path = path.rstrip("/")
        self.fixed = frozenset(fixed)
        self._ssm_client = ssm_client
        self._lock = threading.Lock()
        self._listed: frozenset[str] = frozenset()  # pragma: no mutate - set before read
        self._read_at: datetime | None = None
        self.reads = 0  # GetParametersByPath calls made (pages included)

    def __contains__(self, account: object) -> bool:
        return account in self.fixed or account in self.listed()

    def listed(self, ssm_client: Callable[[], Any] | None = None) -> frozenset[str]:
        """The accounts under the path, read now unless the copy is younger than the TTL."""
        client = ssm_client or self._ssm_client
        if not self.path or client is None:
            return frozenset()
        with self._lock:
            now = clock.now()
            if self._read_at is None or now - self._read_at >= ALLOWED_ACCOUNTS_TTL:
                self._listed = self._read(client())
                self._read_at = now
            return self._listed

    def _read(self, client: Any) -> frozenset[str]:
        found: set[str] = set()
        token: str | None = None  # pragma: no mutate - read only as true or false
        # At most one page per 10 parameters: bounded by what the path holds.
        while True:
            arguments: dict[str, Any] = {"Path": self.path, "Recursive": False}
            if token:
                arguments["NextToken"] = token
            self.reads += 1
            try:
                page = client.get_parameters_by_path(**arguments)
            except ClientError as error:
                details = error.response.get("Error", {})
                code = str(details.get("Code") or "Unknown")
                message = f"{details.get('Message') or error} (reading {self.path})"
                if classify(code) in (ErrorClass.TRANSIENT, ErrorClass.CONFLICT):
                    raise FleetWiseTransientError(
                        code, message, operation=OPERATION_ALLOWED
                    ) from error
                raise FleetWiseTerminalError(code, message, operation=OPERATION_ALLOWED) from error
            except (BotocoreConnectionError, HTTPClientError) as error:
                raise FleetWiseTransientError(
                    ENDPOINT_UNREACHABLE, str(error), operation=OPERATION_ALLOWED
                ) from error
            for parameter in page.get("Parameters") or []:
                found.update(_account_ids(str(parameter.get("Value") or "")))
            token = page.get("NextToken")
            if not token:
                return frozenset(found)


def _account_ids(value: str) -> set[str]:
    """The account ids of a StringList's value (commas; blanks and anything that is not an
    account id ignored: a stray entry must not allow anything)."""
    return {part.strip() for part in value.split(",") if ACCOUNT_ID.fullmatch(part.strip())}


ACCOUNT_ID = re.compile(r"[0-9]{12}")


class MemberRoles:
    """AssumeRole of each member account's role, cached per account and run (thread safe).

    ``session`` gives the botocore session of the calling thread (clients are made from it);
    tests pass ``sts_client`` (a function of the Region giving a stubbed STS client).
    """

    def __init__(
        self,
        role_name: str,
        *,
        partition: str = "aws",
        session: Callable[[], botocore.session.Session] = botocore.session.get_session,
        sts_client: Callable[[str], Any] | None = None,
    ) -> None:
        self.role_name = role_name
        self.partition = partition
        self._session = session
        self._sts_client = sts_client
        self._lock = threading.Lock()
        self._sts: dict[str, Any] = {}
        self._cache: OrderedDict[tuple[str, str], Credentials] = OrderedDict()
        # The gate of each account and run some thread is assuming or waiting for, with the
        # number of such threads: a gate lives exactly as long as it is in use, so no thread
        # can drop the gate another one holds (and a third assume the same role again).
        self._gates: dict[tuple[str, str], _Gate] = {}
        self._ports: OrderedDict[tuple[str, str, str], tuple[Credentials, FleetWise]] = (
            OrderedDict()
        )
        self.assumed = 0  # AssumeRole calls made (answered or not)

    def role_arn(self, account: str) -> str:
        return role_arn(account, self.role_name, self.partition)

    def credentials(self, account: str, region: str, run: str) -> Credentials:
        """The run's credentials in ``account``: cached while they last, else assumed now."""
        key = (account, run)
        with self._lock:
            # One AssumeRole at a time per account and run: the drift check's threads for
            # two Regions of one account wait for the first one's credentials.
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = _Gate()
            gate.users += 1
        try:
            with gate.lock:
                return self._cached_or_assumed(key, region)
        finally:
            with self._lock:
                gate.users -= 1
                if gate.users == 0:
                    del self._gates[key]

    def _cached_or_assumed(self, key: tuple[str, str], region: str) -> Credentials:
        """The credentials of ``key`` (account, run), assumed now unless cached and fresh;
        called by one thread at a time per key."""
        now = clock.now()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.expiration - REFRESH_MARGIN > now:
                self._cache.move_to_end(key)
                return cached
        fresh = self._assume(*key, region=region)
        with self._lock:
            self._cache[key] = fresh
            self._cache.move_to_end(key)
            for old in [k for k, c in self._cache.items() if c.expiration <= now]:
                del self._cache[old]
            while len(self._cache) > CACHE_LIMIT:
                self._cache.popitem(last=False)
        return fresh

    def fleetwise(self, account: str, region: str, run: str) -> FleetWise:
        """The IoT FleetWise port of ``account`` in ``region`` for ``run``."""
        credentials = self.credentials(account, region, run)
        key = (account, region, run)
        with self._lock:
            known = self._ports.get(key)
            if known is not None and known[0] == credentials:
                self._ports.move_to_end(key)
                return known[1]
            client = self._session().create_client(
                "iotfleetwise",
                region_name=region,
                config=client_config(),
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            )
            port = FleetWise(client=client)
            live = {k for k in self._cache}
            for stale in [k for k in self._ports if (k[0], k[2]) not in live]:
                del self._ports[stale]
            self._ports[key] = (credentials, port)
            while len(self._ports) > PORT_LIMIT:
                self._ports.popitem(last=False)
            return port

    def _client(self, region: str) -> Any:
        if self._sts_client is not None:
            return self._sts_client(region)
        with self._lock:
            if region not in self._sts:
                self._sts[region] = self._session().create_client(
                    "sts", region_name=region, config=sts_config()
                )
            return self._sts[region]

    def _assume(self, account: str, run: str, *, region: str) -> Credentials:
        arn = self.role_arn(account)
        client = self._client(region)
        with self._lock:
            self.assumed += 1
        try:
            answer = client.assume_role(
                RoleArn=arn, RoleSessionName=session_name(run), DurationSeconds=SESSION_SECONDS
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code") or "Unknown")
            message = str(details.get("Message") or error)
            if classify(code) in (ErrorClass.TRANSIENT, ErrorClass.CONFLICT):
                raise FleetWiseTransientError(
                    code, f"{message} (assuming {arn})", operation=OPERATION
                ) from error
            raise FleetWiseTerminalError(
                code,
                f"could not assume the member role {arn} of account {account}: {message}. "
                f"Check that account {account} holds the role (member/template.yaml, rolled "
                "out with StackSets) and that it trusts this stack's roles",
                operation=OPERATION,
            ) from error
        except (BotocoreConnectionError, HTTPClientError) as error:
            raise FleetWiseTransientError(
                ENDPOINT_UNREACHABLE, str(error), operation=OPERATION
            ) from error
        given = answer["Credentials"]
        return Credentials(
            access_key_id=given["AccessKeyId"],
            secret_access_key=given["SecretAccessKey"],
            session_token=given["SessionToken"],
            expiration=given["Expiration"],
        )

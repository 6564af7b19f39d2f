"""Member accounts in the rehearsal: several accounts, each with its own moto backends.

moto keeps a backend per account and maps a request to one by its access key (moto 5.2:
``moto.core.responses.BaseResponse.get_current_account`` asks IAM's
``get_account_id_from``: the account whose IAM backend issued the key, the default account
for keys it never issued). ``AssumeRole`` issues its temporary key in the IAM backend of the
role's account (``STSBackend._create_access_key``), so a client built from assumed-role
credentials reaches that account's backends, as in AWS.

What the rehearsal adds:

- ``apply``: AssumeRole as strict as AWS, where moto hands out credentials for any role ARN
  to anyone: the role must exist in its account and its trust policy must allow the calling
  principal (``trust.allows``), else ``AccessDenied`` worded as AWS words it; the expiry of
  the credentials follows the virtual clock;
- ``account_for_access_key``: which account an access key belongs to, for the IoT FleetWise
  simulator (it keeps its state per account and Region);
- an index of that answer: moto looks the account of every request's key up by scanning
  every account's IAM backends in every partition (``get_account_id_from``), 2,000 lookups a
  request at 334 accounts (1.4 ms), so a fleet's rehearsal slowed with its number of accounts.
  An access key is a random string made when the key is created and used only after, so its
  account, once found (or found to be none: moto's default account), never changes while the
  key lives; the index remembers it;
- a fast path to an account's backends: moto's ``BackendDict.__getitem__`` takes a lock
  shared by every service and lists every account the service knows on each access (to
  create the account's backends on first use), so each request of each thread waited for the
  others and paid for every account. An account already there is returned as is; only a
  first access (or one after moto's reset, which empties the dictionaries) goes through
  moto's own path, which creates and registers it;
- ``expired_keys``: whether an assumed role's session has ended (the simulator then refuses
  the request, ``ExpiredTokenException``, as AWS does; moto never expires one), the session's
  end found once per key (a scan of every account's STS backends) and then remembered, since
  it never changes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

from fleetwise_rehearsal.aws import trust
from fleetwise_rehearsal.aws.patching import Patcher, resolve_patch_point
from fleetwise_rehearsal.aws.vclock import VirtualClock

_STS = "moto.sts.models"
_IAM = "moto.iam.models"
_WIRING = "fleetwise_reconciler.wiring"
_BASE = "moto.core.base_backend"

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_STS, "STSBackend.assume_role", "method"),
    (_STS, "utcnow", "function"),
    # Read: whose access key a request carries, and when an assumed role's session ends.
    (_IAM, "iam_backends", "value"),
    (_STS, "sts_backends", "value"),
    # Replaced by its indexed equivalent.
    (_IAM, "get_account_id_from", "function"),
    # Given a fast path for accounts already created.
    (_BASE, "BackendDict.__getitem__", "method"),
    # Not moto's: the member roles' credential cache, one per Lambda function (below).
    (_WIRING, "member_roles", "function"),
)

EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "STSBackend.assume_role": (
        "self",
        "region_name",
        "role_session_name",
        "role_arn",
        "policy",
        "duration",
        "external_id",
    ),
    "utcnow": (),
    "member_roles": (),
    "get_account_id_from": ("access_key",),
    "BackendDict.__getitem__": ("self", "account_id"),
}

# The principal calling, as (the role's ARN, the role session's name), or None outside any
# Lambda invocation.
Caller = Callable[[], tuple[str, str] | None]


def apply(patcher: Patcher, clock: VirtualClock, caller: Caller) -> None:
    original = patcher.original(_STS, "STSBackend.assume_role")

    def assume_role(  # noqa: PLR0917 - moto's own signature
        self: Any,
        region_name: str,
        role_session_name: str,
        role_arn: str,
        policy: str,
        duration: int,
        external_id: str,
    ) -> Any:
        principal, user = _principal(caller(), self.account_id)
        refusal = _refusal(role_arn, principal)
        if refusal is not None:
            from moto.core.exceptions import AccessDeniedError  # noqa: PLC0415 - moto's own

            # AWS words it so whether the role is missing or does not trust the caller.
            raise AccessDeniedError(user, f"sts:AssumeRole on resource: {role_arn}")
        return original(
            self, region_name, role_session_name, role_arn, policy, duration, external_id
        )

    patcher.replace(_STS, "STSBackend.assume_role", assume_role)
    patcher.replace(
        _IAM, "get_account_id_from", _indexed(patcher.original(_IAM, "get_account_id_from"))
    )
    getitem = patcher.original(_BASE, "BackendDict.__getitem__")
    patcher.replace(_BASE, "BackendDict.__getitem__", _known_first(getitem))
    _per_function_member_roles(patcher, caller)
    # moto stamps the credentials' expiry with utcnow(): the virtual clock's, naive UTC as
    # moto's own.
    patcher.replace(_STS, "utcnow", lambda: clock.now().replace(tzinfo=None))


def _per_function_member_roles(patcher: Patcher, caller: Caller) -> None:
    """Each Lambda function its own credential cache. In AWS each function runs in its own
    processes, so Register and Poll assume the member role again where Observe did; the
    rehearsal runs every handler in one process, where one cache would hide those calls."""
    build = patcher.original(_WIRING, "member_roles").__wrapped__
    made: dict[str, Any] = {}
    lock = threading.Lock()

    def member_roles() -> Any:
        calling = caller()
        function = calling[1] if calling is not None else ""
        with lock:
            if function not in made:
                made[function] = build()
            return made[function]

    member_roles.cache_clear = made.clear  # type: ignore[attr-defined]
    patcher.replace(_WIRING, "member_roles", member_roles)


def _principal(calling: tuple[str, str] | None, account: str) -> tuple[str, str]:
    """(aws:PrincipalArn, the caller's ARN as an error names it)."""
    if calling is None:
        # The rehearsal's driver: moto's default identity for keys it never issued.
        arn = f"arn:aws:iam::{account}:user/moto"
        return arn, arn
    role_arn, session = calling
    name = role_arn.rsplit("/", 1)[-1]
    return role_arn, f"arn:aws:sts::{trust.account_of(role_arn)}:assumed-role/{name}/{session}"


def _refusal(role_arn: str, principal: str) -> str | None:
    """Why AWS would refuse ``principal`` the role ``role_arn`` (None: it would not)."""
    backends = resolve_patch_point(_IAM, "iam_backends")[2]
    try:
        account = trust.account_of(role_arn)
        role = backends[account][role_arn.split(":")[1]].get_role_by_arn(role_arn)
    except (IndexError, KeyError, LookupError, ValueError):
        return "no such role"
    except Exception as error:
        if type(error).__name__ == "NotFoundException":
            return "no such role"
        raise
    document = json.loads(unquote(str(role.assume_role_policy_document)))
    if not trust.allows(document, principal):
        return "the trust policy does not allow the caller"
    return None


def _known_first(create: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``BackendDict.__getitem__`` that returns an account's backends without moto's lock
    once they exist (a dictionary read is atomic)."""

    def getitem(self: Any, account_id: str) -> Any:
        try:
            return dict.__getitem__(self, account_id)
        except KeyError:
            return create(self, account_id)

    return getitem


def _indexed(scan: Callable[[str], str]) -> Callable[[str], str]:
    """moto's ``get_account_id_from`` (a scan of every account), answered once per key."""
    known: dict[str, str] = {}
    lock = threading.Lock()

    def get_account_id_from(access_key: str) -> str:
        with lock:
            found = known.get(access_key)
        if found is None:
            found = scan(access_key)
            with lock:
                known[access_key] = found
        return found

    return get_account_id_from


def account_for_access_key(default: str) -> Callable[[str], str]:
    """The account an access key belongs to: the one whose IAM backend issued it (assumed-
    role keys included), ``default`` for the rehearsal's own fake credentials (moto's own
    lookup, indexed while the patches are applied)."""

    def lookup(access_key: str) -> str:
        from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415 - moto's own

        account = str(resolve_patch_point(_IAM, "get_account_id_from")[2](access_key))
        if account != DEFAULT_ACCOUNT_ID:
            return account
        # moto answers its default account for a key no backend issued, too.
        backends = resolve_patch_point(_IAM, "iam_backends")[2]
        issued = any(access_key in backend.access_keys for backend in backends[account].values())
        return account if issued else default

    return lookup


def expired_keys(clock: VirtualClock) -> Callable[[str], bool]:
    """Whether an access key belongs to an assumed-role session that has ended on the virtual
    clock (its ``Expiration``: AssumeRole's DurationSeconds after it was issued). Requests
    signed with it are refused (``ExpiredTokenException``), as AWS refuses them; moto accepts
    them for ever."""

    # The session's end of each key looked up (None: not an assumed role's key, never
    # expires). A key is used only after it was issued, and its session's end never changes.
    ends: dict[str, Any] = {}
    lock = threading.Lock()

    def end_of(access_key: str) -> Any:
        backends = resolve_patch_point(_STS, "sts_backends")[2]
        for account in list(backends.values()):
            for backend in list(account.values()):
                role = backend.get_assumed_role_from_access_key(access_key)
                if role is not None:
                    return role.expiration
        return None

    def expired(access_key: str) -> bool:
        with lock:
            known = access_key in ends
            end = ends.get(access_key)
        if not known:
            end = end_of(access_key)
            with lock:
                ends[access_key] = end
        return end is not None and bool(end <= clock.now().replace(tzinfo=None))

    return expired

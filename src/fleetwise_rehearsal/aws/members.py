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
- ``expired_keys``: whether an assumed role's session has ended (the simulator then refuses
  the request, ``ExpiredTokenException``, as AWS does; moto never expires one).
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

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_STS, "STSBackend.assume_role", "method"),
    (_STS, "utcnow", "function"),
    # Read: whose access key a request carries, and when an assumed role's session ends.
    (_IAM, "iam_backends", "value"),
    (_STS, "sts_backends", "value"),
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


def account_for_access_key(default: str) -> Callable[[str], str]:
    """The account an access key belongs to: the one whose IAM backend issued it (assumed-
    role keys included), ``default`` for the rehearsal's own fake credentials."""

    def lookup(access_key: str) -> str:
        backends = resolve_patch_point(_IAM, "iam_backends")[2]
        for account_id, account in list(backends.items()):
            for partition in list(account.keys()):
                if access_key in account[partition].access_keys:
                    return str(account_id)
        return default

    return lookup


def expired_keys(clock: VirtualClock) -> Callable[[str], bool]:
    """Whether an access key belongs to an assumed-role session that has ended on the virtual
    clock (its ``Expiration``: AssumeRole's DurationSeconds after it was issued). Requests
    signed with it are refused (``ExpiredTokenException``), as AWS refuses them; moto accepts
    them for ever."""

    def expired(access_key: str) -> bool:
        backends = resolve_patch_point(_STS, "sts_backends")[2]
        now = clock.now().replace(tzinfo=None)
        for account in list(backends.values()):
            for backend in list(account.values()):
                role = backend.get_assumed_role_from_access_key(access_key)
                if role is not None:
                    return bool(role.expiration <= now)
        return False

    return expired

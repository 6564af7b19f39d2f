"""Member accounts in the rehearsal: the member template deployed into its own account, and
AssumeRole as strict as AWS (moto alone hands out credentials for any role to anyone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fleetwise_rehearsal.aws import clients
from fleetwise_rehearsal.aws.lambda_runtime import Invocation
from fleetwise_rehearsal.aws.members import (
    _indexed,
    _known_first,
    account_for_access_key,
    expired_keys,
)
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

MEMBER = "210987654321"
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/FleetWiseReconcilerMember"


@pytest.fixture(scope="module")
def rehearsal() -> Iterator[Rehearsal]:
    with Rehearsal(
        {"ManageDefaultTarget": "false", "MemberAccountIds": MEMBER},
        member_accounts={MEMBER: {}},
    ) as running:
        yield running


def _as_function(rehearsal: Rehearsal, logical_id: str) -> Invocation:
    """The driver's calls made as if from inside ``logical_id``'s invocation."""
    role = rehearsal.stack.arn(f"{logical_id}Role")
    return Invocation(
        function_name=rehearsal.stack.function_name(logical_id),
        request_id="test",
        event={},
        started_at=rehearsal.clock.now(),
        role_arn=role,
    )


def test_the_member_role_lives_in_the_member_account_only(rehearsal: Rehearsal) -> None:
    member_iam = clients.client("iam", "us-east-1", account=MEMBER)
    role = member_iam.get_role(RoleName="FleetWiseReconcilerMember")["Role"]
    assert role["Arn"] == MEMBER_ROLE
    with pytest.raises(ClientError, match="NoSuchEntity"):
        rehearsal.client("iam").get_role(RoleName="FleetWiseReconcilerMember")
    # the hub's reconciler roles sit under the stack's path, which the member role trusts
    hub_role = rehearsal.stack.arn("ObserveFunctionRole")
    assert hub_role.startswith(
        "arn:aws:iam::123456789012:role/fleetwise-reconciler/fleetwise-reconciler/"
    )


def test_a_hub_reconciler_role_gets_credentials_of_the_member_account(
    rehearsal: Rehearsal,
) -> None:
    sts = rehearsal.client("sts")
    rehearsal.invoker.current = _as_function(rehearsal, "PollFunction")
    try:
        answer = sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="run-1")
    finally:
        rehearsal.invoker.current = None
    credentials = answer["Credentials"]
    # the key reaches the member account's backends, for moto and the simulator alike
    assert account_for_access_key("123456789012")(credentials["AccessKeyId"]) == MEMBER
    assert account_for_access_key("123456789012")("testing") == "123456789012"
    # the expiry follows the virtual clock (one hour, the default DurationSeconds)
    expected = rehearsal.clock.now() + timedelta(hours=1)
    assert abs((credentials["Expiration"] - expected).total_seconds()) < 1


@pytest.mark.parametrize(
    ("caller", "role"),
    [
        (None, MEMBER_ROLE),  # the driver: no hub reconciler role
        ("RecordFunction", MEMBER_ROLE),  # a hub role outside the trusted path
        ("ObserveFunction", "arn:aws:iam::310987654321:role/FleetWiseReconcilerMember"),
    ],
)
def test_an_untrusted_caller_or_a_missing_role_is_refused_as_aws_refuses_it(
    rehearsal: Rehearsal, caller: str | None, role: str
) -> None:
    sts = rehearsal.client("sts")
    invocation = _as_function(rehearsal, caller) if caller else None
    rehearsal.invoker.current = invocation
    try:
        with pytest.raises(ClientError) as raised:
            sts.assume_role(RoleArn=role, RoleSessionName="run-1")
    finally:
        rehearsal.invoker.current = None
    error = raised.value.response["Error"]
    if invocation is None:
        who = "arn:aws:iam::123456789012:user/moto"
    else:
        name = str(invocation.role_arn).rsplit("/", 1)[-1]
        who = f"arn:aws:sts::123456789012:assumed-role/{name}/{invocation.function_name}"
    assert (error["Code"], error["Message"]) == (
        "AccessDenied",
        f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {role}",
    )


def test_a_session_past_its_expiry_is_refused_as_aws_refuses_it(rehearsal: Rehearsal) -> None:
    # GIVEN member credentials of a one-hour session
    sts = rehearsal.client("sts")
    rehearsal.invoker.current = _as_function(rehearsal, "PollFunction")
    try:
        credentials = sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="run-2")["Credentials"]
    finally:
        rehearsal.invoker.current = None
    assert rehearsal.sim is not None
    fleetwise = boto3.client(
        "iotfleetwise",
        region_name="us-east-1",
        endpoint_url=rehearsal.sim.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        fleetwise.get_register_account_status()  # within the hour: the member account answers
    # WHEN the hour has passed on the virtual clock
    rehearsal.advance(3600)
    # THEN IoT FleetWise refuses the request, as every AWS API does ("Common Errors")
    with pytest.raises(ClientError) as refused:
        fleetwise.get_register_account_status()
    assert refused.value.response["Error"]["Code"] == "ExpiredTokenException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_account_lookup_scans_once_per_access_key() -> None:
    # GIVEN moto's lookup (a scan of every account), counted, behind the rehearsal's index
    scans: list[str] = []

    def scan(access_key: str) -> str:
        scans.append(access_key)
        return {"AKIA1": MEMBER}.get(access_key, "123456789012")

    lookup = _indexed(scan)
    # WHEN two keys are each looked up three times
    answers = [lookup(key) for key in ("AKIA1", "testing") * 3]
    # THEN each answer is moto's, and each key was scanned for once
    assert answers == [MEMBER, "123456789012"] * 3
    assert scans == ["AKIA1", "testing"]


def test_an_account_already_created_skips_motos_creation_path() -> None:
    # GIVEN a dictionary of accounts' backends with one account in it, and moto's creation
    created: list[str] = []

    class Accounts(dict[str, str]):
        pass

    def create(self: Accounts, account_id: str) -> str:
        created.append(account_id)
        self[account_id] = f"backends of {account_id}"
        return self[account_id]

    getitem = _known_first(create)
    accounts = Accounts({MEMBER: f"backends of {MEMBER}"})
    # WHEN the known account and a new one are each read twice
    answers = [getitem(accounts, a) for a in (MEMBER, "310987654321") * 2]
    # THEN only the new account's first read went through moto's creation
    assert answers == [f"backends of {MEMBER}", "backends of 310987654321"] * 2
    assert created == ["310987654321"]


def test_a_sessions_end_is_looked_up_once_per_access_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN moto's STS backends of two accounts, one of which issued an assumed-role key whose
    # session ends at noon, every lookup counted
    import moto.sts.models

    looked: list[str] = []
    noon = datetime(2026, 11, 26, 12, 0)

    class Backend:
        def __init__(self, issued: dict[str, datetime]) -> None:
            self.issued = issued

        def get_assumed_role_from_access_key(self, access_key: str) -> Any:
            looked.append(access_key)
            end = self.issued.get(access_key)
            return None if end is None else SimpleNamespace(expiration=end)

    backends = {"123456789012": {"global": Backend({})},
                MEMBER: {"global": Backend({"ASIA1": noon})}}  # fmt: skip
    monkeypatch.setattr(moto.sts.models, "sts_backends", backends)
    now = [noon - timedelta(minutes=1)]
    expired = expired_keys(SimpleNamespace(now=lambda: now[0].replace(tzinfo=UTC)))  # type: ignore[arg-type]
    # WHEN the assumed-role key and a key no role issued are each asked about, before noon
    # and after it
    before = [expired("ASIA1"), expired("testing"), expired("ASIA1")]
    now[0] = noon
    after = [expired("ASIA1"), expired("testing")]
    # THEN the session ended at noon on the clock, the other key never ends, and each key was
    # looked up across the accounts once (the first time it was asked about)
    assert (before, after) == ([False, False, False], [True, False])
    assert sorted(looked) == ["ASIA1", "ASIA1", "testing", "testing"]

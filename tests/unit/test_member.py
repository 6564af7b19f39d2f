"""Member accounts: AssumeRole of the member role, session names, the cache, the errors.

STS is botocore's own client behind a Stubber, so every request is checked against STS's
service model (RoleSessionName's pattern and length included)."""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from fleetwise_reconciler import clock, wiring
from fleetwise_reconciler import member as member_module
from fleetwise_reconciler.errors import FleetWiseTerminalError, FleetWiseTransientError
from fleetwise_reconciler.member import MemberRoles, session_name

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MEMBER = "210987654321"
ROLE = f"arn:aws:iam::{MEMBER}:role/FleetWiseReconcilerMember"
EXECUTION = (
    "arn:aws:states:us-east-1:123456789012:execution:ReconcileStateMachine:"
    "c4ca4238a0b923820dcc509a6f75849b"
)


@pytest.fixture
def frozen() -> Iterator[list[datetime]]:
    moment = [NOW]
    clock.set_source(lambda: moment[0])
    yield moment
    clock.set_source(None)


class StubbedSts:
    """One stubbed STS client per Region, with the Regions asked for recorded."""

    def __init__(self) -> None:
        self.session = botocore.session.get_session()
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def __call__(self, region: str) -> Any:
        if region not in self.clients:
            client = self.session.create_client(
                "sts",
                region_name=region,
                aws_access_key_id="hub",
                aws_secret_access_key="hub",
            )
            self.clients[region] = client
            self.stubbers[region] = Stubber(client)
            self.stubbers[region].activate()
        return self.clients[region]

    def answer(
        self, region: str, session: str, expires: datetime, key: str = "ASIAMEMBER0000001"
    ) -> None:
        self(region)
        self.stubbers[region].add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": key,
                    "SecretAccessKey": "secret",
                    "SessionToken": "token",
                    "Expiration": expires,
                }
            },
            {"RoleArn": ROLE, "RoleSessionName": session, "DurationSeconds": 3600},
        )

    def refuse(self, region: str, code: str, message: str, status: int) -> None:
        self(region)
        self.stubbers[region].add_client_error(
            "assume_role", service_error_code=code, service_message=message, http_status_code=status
        )

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def roles(sts: StubbedSts) -> MemberRoles:
    return MemberRoles("FleetWiseReconcilerMember", sts_client=sts)


# --- session names -------------------------------------------------------------------------


def test_the_session_name_is_the_execution_name() -> None:
    assert session_name(EXECUTION) == "c4ca4238a0b923820dcc509a6f75849b"
    assert session_name("drift-check-20261126T1200Z") == "drift-check-20261126T1200Z"


def test_a_long_or_odd_execution_name_fits_sts_and_stays_distinct() -> None:
    long_a = "x" * 70 + "a"
    long_b = "x" * 70 + "b"
    # STS allows [\w+=,.@-]{2,64}; an execution name may hold other characters (here ':' is
    # the ARN's separator, so the name is only what follows the last one).
    for name in (session_name(long_a), session_name(long_b), session_name("a b/c")):
        assert 2 <= len(name) <= 64
        assert all(c.isalnum() or c in "_+=,.@-" for c in name)
    assert session_name(long_a) != session_name(long_b)
    assert session_name("a b/c") == "a-b-c"
    assert session_name("x") == "run-x"


# --- credentials reused within a run ---------------------------------------------------------


def test_one_assume_role_per_account_and_run_in_the_targets_region(
    frozen: list[datetime],
) -> None:
    sts = StubbedSts()
    sts.answer("eu-central-1", "c4ca4238a0b923820dcc509a6f75849b", NOW + timedelta(hours=1))
    member = roles(sts)
    first = member.credentials(MEMBER, "eu-central-1", EXECUTION)
    # WHEN the run's later steps ask again (another Region of the account included)
    again = member.credentials(MEMBER, "us-east-1", EXECUTION)
    port = member.fleetwise(MEMBER, "eu-central-1", EXECUTION)
    # THEN STS was asked once, in the first target's Region, and the port uses the role
    assert again == first
    assert member.assumed == 1
    assert list(sts.clients) == ["eu-central-1"]
    assert port.client.meta.region_name == "eu-central-1"
    assert port.client._request_signer._credentials.access_key == "ASIAMEMBER0000001"
    assert member.fleetwise(MEMBER, "eu-central-1", EXECUTION) is port
    sts.done()


def test_two_regions_of_one_account_at_once_share_one_assume_role(
    frozen: list[datetime],
) -> None:
    # GIVEN an STS whose first answer waits for a second AssumeRole (it never comes unless
    # two threads assume for the same account and run at once)
    second_call = threading.Event()
    calls: list[str] = []

    class SlowSts:
        def assume_role(self, **request: Any) -> dict[str, Any]:
            calls.append(request["RoleSessionName"])
            if len(calls) == 1:
                second_call.wait(timeout=0.5)
            else:
                second_call.set()
            return {
                "Credentials": {
                    "AccessKeyId": f"ASIA{len(calls)}",
                    "SecretAccessKey": "secret",
                    "SessionToken": "token",
                    "Expiration": NOW + timedelta(hours=1),
                }
            }

    sts = SlowSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    # WHEN two threads (two Regions of one account, one drift tick) ask at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(
            pool.map(
                lambda region: member.credentials(MEMBER, region, "drift-check-1"),
                ["us-east-1", "eu-central-1"],
            )
        )
    # THEN STS was asked once, and both got those credentials
    assert calls == ["drift-check-1"]
    assert member.assumed == 1
    assert got[0] == got[1]
    assert got[0].access_key_id == "ASIA1"


def test_many_accounts_and_regions_at_once_assume_each_account_once(
    frozen: list[datetime],
) -> None:
    # GIVEN an STS that takes a moment to answer, and a drift tick's observations: 120 member
    # accounts in three Regions each, an account's Regions side by side (the targets are
    # sorted), on as many threads as the drift check uses
    accounts = [f"2109876{n:05d}" for n in range(120)]
    lock = threading.Lock()
    calls: Counter[str] = Counter()

    class SlowSts:
        def assume_role(self, **request: Any) -> dict[str, Any]:
            account = request["RoleArn"].split(":")[4]
            with lock:
                calls[account] += 1
            time.sleep(0.002)
            return {
                "Credentials": {
                    "AccessKeyId": f"ASIA{account}",
                    "SecretAccessKey": "secret",
                    "SessionToken": "token",
                    "Expiration": NOW + timedelta(hours=1),
                }
            }

    sts = SlowSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    keys = [(a, r) for a in accounts for r in ("ap-south-1", "eu-central-1", "us-east-1")]
    # WHEN every account and Region asks for the tick's credentials at once
    with ThreadPoolExecutor(max_workers=16) as pool:
        got = list(pool.map(lambda key: member.credentials(*key, "drift-check"), keys))
    # THEN each account was assumed exactly once, and its Regions share the credentials
    assert calls == Counter(dict.fromkeys(accounts, 1))
    assert member.assumed == len(accounts)
    assert [c.access_key_id for c in got] == [f"ASIA{a}" for a, _r in keys]
    # AND no lock is left behind for an account nobody is assuming
    assert member._gates == {}


def test_another_run_assumes_again_with_its_own_session_name(frozen: list[datetime]) -> None:
    sts = StubbedSts()
    sts.answer("us-east-1", "c4ca4238a0b923820dcc509a6f75849b", NOW + timedelta(hours=1))
    sts.answer(
        "us-east-1", "drift-check-20261126T1200Z", NOW + timedelta(hours=1), "ASIATWO000000002"
    )
    member = roles(sts)
    member.credentials(MEMBER, "us-east-1", EXECUTION)
    second = member.credentials(MEMBER, "us-east-1", "drift-check-20261126T1200Z")
    assert second.access_key_id == "ASIATWO000000002"
    assert member.assumed == 2
    sts.done()


def test_credentials_near_their_expiry_are_renewed(frozen: list[datetime]) -> None:
    sts = StubbedSts()
    sts.answer("us-east-1", "c4ca4238a0b923820dcc509a6f75849b", NOW + timedelta(hours=1))
    sts.answer(
        "us-east-1",
        "c4ca4238a0b923820dcc509a6f75849b",
        NOW + timedelta(hours=2),
        "ASIANEW000000003",
    )
    member = roles(sts)
    first = member.credentials(MEMBER, "us-east-1", EXECUTION)
    port = member.fleetwise(MEMBER, "us-east-1", EXECUTION)
    # 54 minutes on: six minutes left, more than the five-minute margin: reused
    frozen[0] = NOW + timedelta(minutes=54)
    assert member.credentials(MEMBER, "us-east-1", EXECUTION) == first
    # 56 minutes on: four minutes left: renewed, and the port with them
    frozen[0] = NOW + timedelta(minutes=56)
    renewed = member.credentials(MEMBER, "us-east-1", EXECUTION)
    assert renewed.access_key_id == "ASIANEW000000003"
    assert member.fleetwise(MEMBER, "us-east-1", EXECUTION) is not port
    assert member.assumed == 2
    sts.done()


def test_threads_waiting_for_one_account_share_its_gate_until_the_last_leaves(
    frozen: list[datetime],
) -> None:
    # GIVEN an STS that answers only when told, and three threads asking for one account
    answer = threading.Event()

    class HeldSts(CountingSts):
        def assume_role(self, **request: Any) -> dict[str, Any]:
            answer.wait(timeout=10)
            return super().assume_role(**request)

    sts = HeldSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    key = (MEMBER, "drift-check")
    with ThreadPoolExecutor(max_workers=3) as pool:
        asked = [
            pool.submit(member.credentials, MEMBER, region, "drift-check")
            for region in ("us-east-1", "eu-central-1", "ap-south-1")
        ]
        # THEN while the first assumes, the gate counts all three (one holds, two wait) ...
        deadline = time.monotonic() + 10
        while (gate := member._gates.get(key)) is None or gate.users < 3:
            assert time.monotonic() < deadline, "the three threads never shared one gate"
            time.sleep(0.001)
        answer.set()
        got = [future.result(timeout=10) for future in asked]
    # ... one AssumeRole served them all, and the gate went with the last of them
    assert sts.accounts == [MEMBER]
    assert {c.access_key_id for c in got} == {"ASIA1"}
    assert member._gates == {}


def test_credentials_are_renewed_once_five_minutes_or_less_are_left(
    frozen: list[datetime],
) -> None:
    sts = CountingSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    first = member.credentials(MEMBER, "us-east-1", "drift-check")
    # exactly five minutes before they expire: no longer handed out
    frozen[0] = NOW + timedelta(minutes=55)
    renewed = member.credentials(MEMBER, "us-east-1", "drift-check")
    assert (first.access_key_id, renewed.access_key_id) == ("ASIA1", "ASIA2")
    assert member.assumed == 2


def test_past_the_cache_limit_the_least_recently_used_credentials_go_first(
    frozen: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN room for two accounts' credentials
    monkeypatch.setattr(member_module, "CACHE_LIMIT", 2)
    sts = CountingSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    first, second, third = "210987654321", "210987654322", "210987654323"
    member.credentials(first, "us-east-1", "drift-check")
    member.credentials(second, "us-east-1", "drift-check")
    # WHEN the first is used again, then a third account's are assumed
    member.credentials(first, "us-east-1", "drift-check")
    member.credentials(third, "us-east-1", "drift-check")
    # THEN the second account's went (used longest ago): the first and third are still cached
    assert list(member._cache) == [(first, "drift-check"), (third, "drift-check")]
    member.credentials(first, "us-east-1", "drift-check")
    member.credentials(third, "us-east-1", "drift-check")
    assert sts.accounts == [first, second, third]
    member.credentials(second, "us-east-1", "drift-check")
    assert sts.accounts == [first, second, third, second]


def test_expired_credentials_leave_the_cache_when_others_are_assumed(
    frozen: list[datetime],
) -> None:
    sts = CountingSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    member.credentials("210987654321", "us-east-1", "run-1")
    frozen[0] = NOW + timedelta(hours=1)
    member.credentials("210987654322", "us-east-1", "run-2")
    assert list(member._cache) == [("210987654322", "run-2")]


class CountingSts:
    """An STS that answers every AssumeRole with new credentials valid for an hour from the
    moment asked, and records the accounts asked for."""

    def __init__(self) -> None:
        self.accounts: list[str] = []

    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.accounts.append(request["RoleArn"].split(":")[4])
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{len(self.accounts)}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": clock.now() + timedelta(hours=1),
            }
        }


# --- errors, classified like FleetWise's ------------------------------------------------


def test_an_untrusted_or_missing_member_role_is_terminal_and_names_role_and_account(
    frozen: list[datetime],
) -> None:
    sts = StubbedSts()
    denial = (
        "User: arn:aws:sts::123456789012:assumed-role/hub-ObserveFunctionRole/c4ca is not "
        f"authorized to perform: sts:AssumeRole on resource: {ROLE}"
    )
    sts.refuse("us-east-1", "AccessDenied", denial, 403)
    with pytest.raises(FleetWiseTerminalError) as raised:
        roles(sts).credentials(MEMBER, "us-east-1", EXECUTION)
    error = raised.value
    assert (error.code, error.operation, error.retryable) == ("AccessDenied", "AssumeRole", False)
    assert error.message == (
        f"could not assume the member role {ROLE} of account {MEMBER}: {denial}. Check that "
        f"account {MEMBER} holds the role (member/template.yaml, rolled out with StackSets) "
        "and that it trusts this stack's roles"
    )


def test_throttling_of_assume_role_is_transient(frozen: list[datetime]) -> None:
    sts = StubbedSts()
    sts.refuse("us-east-1", "Throttling", "Rate exceeded", 400)
    member = roles(sts)
    with pytest.raises(FleetWiseTransientError) as raised:
        member.credentials(MEMBER, "us-east-1", EXECUTION)
    assert type(raised.value) is FleetWiseTransientError
    assert (raised.value.code, raised.value.operation) == ("Throttling", "AssumeRole")
    assert raised.value.message == f"Rate exceeded (assuming {ROLE})"
    # nothing was cached: the retry assumes again
    sts.answer("us-east-1", "c4ca4238a0b923820dcc509a6f75849b", NOW + timedelta(hours=1))
    assert member.credentials(MEMBER, "us-east-1", EXECUTION).access_key_id == "ASIAMEMBER0000001"
    assert member.assumed == 2


# --- wiring: which port a target gets ---------------------------------------------------


def test_a_target_of_this_account_uses_the_functions_own_role(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACCOUNT_ID", "123456789012")
    monkeypatch.setenv("MEMBER_ACCOUNT_IDS", MEMBER)
    wiring.reset()
    try:
        own = wiring.fleetwise_for("123456789012:eu-central-1", EXECUTION)
        assert own is wiring.fleetwise("eu-central-1")
        assert wiring.member_roles().assumed == 0
        assert wiring.member_roles().role_arn(MEMBER) == ROLE
    finally:
        wiring.reset()


def test_a_target_of_a_member_account_goes_through_its_member_role(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACCOUNT_ID", "123456789012")
    monkeypatch.setenv("MEMBER_ROLE_NAME", "OtherName")
    wiring.reset()
    asked: list[tuple[str, str, str]] = []

    class Recording(MemberRoles):
        def fleetwise(self, account: str, region: str, run: str) -> Any:
            asked.append((account, region, run))
            return "member port"

    monkeypatch.setattr(wiring, "member_roles", functools.cache(lambda: Recording("OtherName")))
    try:
        assert wiring.fleetwise_for(f"{MEMBER}:ap-south-1", EXECUTION) == "member port"
        assert asked == [(MEMBER, "ap-south-1", EXECUTION)]
    finally:
        wiring.reset()


# --- the member accounts' list (Parameter Store) ----------------------------------------------

PATH = "/fleetwise-reconciler/hub/member-accounts"


@pytest.fixture
def ssm() -> Iterator[tuple[Any, Stubber]]:
    client = botocore.session.get_session().create_client(
        "ssm", region_name="us-east-1", aws_access_key_id="hub", aws_secret_access_key="hub"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def page(*values: str, token: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "Parameters": [
            {"Name": f"{PATH}/list-{i}", "Type": "StringList", "Value": value, "Version": 1}
            for i, value in enumerate(values)
        ]
    }
    if token:
        answer["NextToken"] = token
    return answer


def test_the_member_accounts_are_every_list_under_the_path_read_page_by_page(
    ssm: tuple[Any, Stubber], frozen: list[datetime]
) -> None:
    # GIVEN two pages of StringList parameters under the path (one of them with a stray entry)
    client, stubber = ssm
    stubber.add_response("get_parameters_by_path", page("210987654321,310987654321",
                         token="next"), {"Path": PATH, "Recursive": False})  # fmt: skip
    stubber.add_response("get_parameters_by_path", page("410987654321, not-an-id ,"),
                         {"Path": PATH, "Recursive": False, "NextToken": "next"})  # fmt: skip
    allowed = member_module.AllowedAccounts(PATH + "/", ssm_client=lambda: client)
    # THEN every account listed is a member, the stray entry allows nothing
    assert "410987654321" in allowed
    assert allowed.listed() == {"210987654321", "310987654321", "410987654321"}
    assert "not-an-id" not in allowed
    # AND the list was read once for all of those questions (two pages)
    assert allowed.reads == 2


def test_the_member_accounts_are_read_again_after_their_ttl(
    ssm: tuple[Any, Stubber], frozen: list[datetime]
) -> None:
    client, stubber = ssm
    asked = {"Path": PATH, "Recursive": False}
    stubber.add_response("get_parameters_by_path", page("210987654321"), asked)
    stubber.add_response("get_parameters_by_path", page("310987654321"), asked)
    allowed = member_module.AllowedAccounts(PATH, ssm_client=lambda: client)
    assert "210987654321" in allowed
    # within the TTL: the copy, no read
    frozen[0] = NOW + member_module.ALLOWED_ACCOUNTS_TTL - timedelta(seconds=1)
    assert "310987654321" not in allowed
    # past it: read again, the removed account refused, the added one allowed
    frozen[0] = NOW + member_module.ALLOWED_ACCOUNTS_TTL
    assert "310987654321" in allowed
    assert "210987654321" not in allowed
    assert allowed.reads == 2


def test_fixed_accounts_need_no_read_and_no_path_lists_nothing(
    ssm: tuple[Any, Stubber], frozen: list[datetime]
) -> None:
    client, _stubber = ssm
    assert "210987654321" in member_module.AllowedAccounts(
        PATH, fixed=("210987654321",), ssm_client=lambda: client
    )
    assert "210987654321" not in member_module.AllowedAccounts("", ssm_client=lambda: client)


@pytest.mark.parametrize(
    ("code", "error"),
    [("ThrottlingException", FleetWiseTransientError), ("AccessDeniedException",
     FleetWiseTerminalError)],
)  # fmt: skip
def test_a_list_that_cannot_be_read_is_a_domain_error_the_steps_retry_or_not(
    ssm: tuple[Any, Stubber], frozen: list[datetime], code: str, error: type[Exception]
) -> None:
    client, stubber = ssm
    stubber.add_client_error("get_parameters_by_path", service_error_code=code,
                             service_message="no", http_status_code=400)  # fmt: skip
    allowed = member_module.AllowedAccounts(PATH, ssm_client=lambda: client)
    with pytest.raises(error) as raised:
        _ = "210987654321" in allowed
    assert raised.value.as_dict() == {  # type: ignore[attr-defined]
        "code": code,
        "message": f"no (reading {PATH})",
        "operation": "GetParametersByPath",
        "retryAfterSeconds": None,
        "retryable": error is FleetWiseTransientError,
    }


def test_past_the_port_limit_the_least_recently_used_clients_go_first(
    frozen: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN room for two IoT FleetWise clients, and credentials for three accounts
    monkeypatch.setattr(member_module, "PORT_LIMIT", 2)
    sts = CountingSts()
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _region: sts)
    first, second, third = "210987654321", "210987654322", "210987654323"
    one = member.fleetwise(first, "us-east-1", "drift-check")
    member.fleetwise(second, "us-east-1", "drift-check")
    # WHEN the first is used again, then a third account's client is made
    assert member.fleetwise(first, "us-east-1", "drift-check") is one
    member.fleetwise(third, "us-east-1", "drift-check")
    # THEN the second account's client went (used longest ago), its credentials did not:
    # its client is made again without an AssumeRole
    assert list(member._ports) == [
        (first, "us-east-1", "drift-check"),
        (third, "us-east-1", "drift-check"),
    ]
    member.fleetwise(second, "us-east-1", "drift-check")
    assert sts.accounts == [first, second, third]
    assert list(member._ports)[-1] == (second, "us-east-1", "drift-check")
    assert len(member._ports) == 2


class Raises:
    """An SSM client whose GetParametersByPath raises ``error`` (what botocore raises when the
    answer has no error document, or the endpoint cannot be reached)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_parameters_by_path(self, **_arguments: Any) -> dict[str, Any]:
        raise self.error


def test_an_error_without_its_document_is_named_unknown_and_terminal(
    frozen: list[datetime],
) -> None:
    # GIVEN an error answer whose body botocore could not parse (no Error document)
    answer = ClientError({"ResponseMetadata": {"HTTPStatusCode": 502}}, "GetParametersByPath")
    allowed = member_module.AllowedAccounts(PATH, ssm_client=lambda: Raises(answer))
    # WHEN the list is read
    with pytest.raises(FleetWiseTerminalError) as raised:
        allowed.listed()
    # THEN it is an error of its own code, saying which list it could not read
    assert raised.value.as_dict() == {
        "code": "Unknown",
        "message": f"{answer} (reading {PATH})",
        "operation": "GetParametersByPath",
        "retryAfterSeconds": None,
        "retryable": False,
    }


def test_an_unreachable_parameter_store_is_transient(frozen: list[datetime]) -> None:
    unreachable = EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com/")
    allowed = member_module.AllowedAccounts(PATH, ssm_client=lambda: Raises(unreachable))

    with pytest.raises(FleetWiseTransientError) as raised:
        _ = "210987654321" in allowed

    assert raised.value.as_dict() == {
        "code": "EndpointUnreachable",
        "message": str(unreachable),
        "operation": "GetParametersByPath",
        "retryAfterSeconds": None,
        "retryable": True,
    }
    assert allowed.reads == 1


def test_no_path_reads_nothing_even_when_asked_for_the_list(
    ssm: tuple[Any, Stubber], frozen: list[datetime]
) -> None:
    # GIVEN no path (a stack whose members are fixed) and a client that answers nothing
    client, _stubber = ssm
    allowed = member_module.AllowedAccounts("", ssm_client=lambda: client)
    # THEN asking for the list reads nothing and lists nothing
    assert allowed.listed() == frozenset()
    assert allowed.listed(lambda: client) == frozenset()
    assert allowed.reads == 0


# --- what the mutation run found untested ----------------------------------------------------


def test_a_session_name_of_two_characters_is_kept_and_an_empty_one_is_named_run() -> None:
    # GIVEN execution names at the edges of STS's 2-64 characters
    # WHEN / THEN two characters are enough, an empty name becomes "run"
    assert session_name("ab") == "ab"
    assert session_name(f"{EXECUTION[:-32]}") == "run"


def test_a_session_name_of_exactly_64_characters_is_kept_and_65_are_cut_to_64() -> None:
    # GIVEN names of exactly STS's limit and one past it
    exact = "y" * 64
    over = "z" * 65
    # WHEN they are named
    # THEN the first is untouched; the second keeps 55 characters, a dash and 8 of its digest
    digest = member_module.hashlib.sha256(over.encode()).hexdigest()[:8]
    assert session_name(exact) == exact
    assert session_name(over) == f"{'z' * 55}-{digest}"
    assert len(session_name(over)) == 64


def test_the_role_arn_names_the_partition_of_the_stack() -> None:
    # GIVEN the default partition and a stack in another partition
    # WHEN / THEN each ARN names its partition
    assert member_module.role_arn(MEMBER, "Member") == f"arn:aws:iam::{MEMBER}:role/Member"
    china = MemberRoles("Member", partition="aws-cn")
    assert china.role_arn(MEMBER) == f"arn:aws-cn:iam::{MEMBER}:role/Member"


class RaisingSts:
    """An STS client whose AssumeRole raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def assume_role(self, **_request: Any) -> dict[str, Any]:
        raise self.error


def test_an_assume_role_error_without_its_document_is_named_unknown_and_terminal(
    frozen: list[datetime],
) -> None:
    # GIVEN an AssumeRole answer whose body botocore could not parse (no Error document)
    answer = ClientError({"ResponseMetadata": {"HTTPStatusCode": 502}}, "AssumeRole")
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _r: RaisingSts(answer))
    # WHEN the credentials are asked for
    with pytest.raises(FleetWiseTerminalError) as raised:
        member.credentials(MEMBER, "us-east-1", EXECUTION)
    # THEN the error is named Unknown and says which role could not be assumed
    assert raised.value.code == "Unknown"
    assert raised.value.operation == "AssumeRole"
    assert raised.value.message.startswith(f"could not assume the member role {ROLE} ")


def test_an_unreachable_sts_is_transient_and_says_why(frozen: list[datetime]) -> None:
    # GIVEN an STS endpoint that cannot be reached
    unreachable = EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com")
    member = MemberRoles("FleetWiseReconcilerMember", sts_client=lambda _r: RaisingSts(unreachable))
    # WHEN the credentials are asked for
    with pytest.raises(FleetWiseTransientError) as raised:
        member.credentials(MEMBER, "us-east-1", EXECUTION)
    # THEN the step is told to retry, with the connection error's text
    assert raised.value.as_dict() == {
        "code": "EndpointUnreachable",
        "message": str(unreachable),
        "operation": "AssumeRole",
        "retryAfterSeconds": None,
        "retryable": True,
    }


class RecordingSession:
    """A botocore session stand-in that records the clients made from it: STS answers like
    ``CountingSts``, IoT FleetWise clients are plain markers."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.sts = CountingSts()

    def create_client(self, service: str, **arguments: Any) -> Any:
        self.made.append((service, arguments))
        return self.sts if service == "sts" else object()


def test_the_member_port_is_made_in_the_targets_region_with_the_assumed_credentials(
    frozen: list[datetime],
) -> None:
    # GIVEN member roles made from a session that records its clients
    session = RecordingSession()
    member = MemberRoles("FleetWiseReconcilerMember", session=lambda: session)
    # WHEN the port of a member target is asked for first
    member.fleetwise(MEMBER, "eu-west-1", EXECUTION)
    # THEN STS was reached in the target's Region with one attempt, and the port with the
    # assumed credentials and the FleetWise budget
    (sts_service, sts_arguments), (fw_service, fw_arguments) = session.made
    assert sts_service == "sts"
    assert sorted(sts_arguments) == ["config", "region_name"]
    assert sts_arguments["region_name"] == "eu-west-1"
    expected_sts = member_module.sts_config()
    assert sts_arguments["config"].retries == expected_sts.retries
    assert sts_arguments["config"].read_timeout == expected_sts.read_timeout
    assert sts_arguments["config"].user_agent_extra == expected_sts.user_agent_extra
    assert fw_service == "iotfleetwise"
    assert sorted(fw_arguments) == [
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "config",
        "region_name",
    ]
    assert fw_arguments["region_name"] == "eu-west-1"
    assert fw_arguments["aws_access_key_id"] == "ASIA1"
    assert fw_arguments["aws_secret_access_key"] == "secret"
    assert fw_arguments["aws_session_token"] == "token"
    expected_fw = member_module.client_config()
    assert fw_arguments["config"].retries == expected_fw.retries
    assert fw_arguments["config"].read_timeout == expected_fw.read_timeout


def test_the_ports_of_two_regions_of_one_run_are_both_kept(frozen: list[datetime]) -> None:
    # GIVEN a run with targets in two Regions of one member account
    session = RecordingSession()
    member = MemberRoles("FleetWiseReconcilerMember", session=lambda: session)
    first = member.fleetwise(MEMBER, "eu-west-1", EXECUTION)
    second = member.fleetwise(MEMBER, "us-east-1", EXECUTION)
    # WHEN the first Region's port is asked for again
    again = member.fleetwise(MEMBER, "eu-west-1", EXECUTION)
    # THEN it is the same port: one STS client, two FleetWise clients, one AssumeRole
    assert again is first
    assert again is not second
    assert [service for service, _ in session.made] == ["sts", "iotfleetwise", "iotfleetwise"]
    assert member.assumed == 1


def test_the_assumed_session_token_is_handed_out(frozen: list[datetime]) -> None:
    # GIVEN an STS that answers the member role
    sts = StubbedSts()
    sts.answer("us-east-1", "c4ca4238a0b923820dcc509a6f75849b", NOW + timedelta(hours=1))
    # WHEN the credentials are asked for
    given = roles(sts).credentials(MEMBER, "us-east-1", EXECUTION)
    # THEN all of them are the ones STS gave
    assert given == member_module.Credentials(
        access_key_id="ASIAMEMBER0000001",
        secret_access_key="secret",
        session_token="token",
        expiration=NOW + timedelta(hours=1),
    )
    sts.done()


def test_only_the_paths_trailing_slashes_are_dropped() -> None:
    # GIVEN paths ending in slashes, and one ending in letters a slash-stripping could take
    assert member_module.AllowedAccounts("/fleet/hub/members//").path == "/fleet/hub/members"
    assert member_module.AllowedAccounts("/fleet/XX/").path == "/fleet/XX"
    assert member_module.AllowedAccounts("/fleet/LISTX").path == "/fleet/LISTX"

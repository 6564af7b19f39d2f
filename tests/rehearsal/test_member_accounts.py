"""Which accounts a stack may manage: its MemberAccountIds (as before), any list an operator
keeps under its path in Parameter Store, or its organisation. No list is bounded by the
template any more: the functions read the lists, their environment names only the path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetwise_reconciler.member import AllowedAccounts
from fleetwise_rehearsal.rehearsal import Rehearsal

pytestmark = pytest.mark.e2e

# The most account ids one parameter value holds: 315 x 12 digits + 314 commas = 4,094 bytes
# (CloudFormation takes at most 4,096 bytes a value).
UPGRADED = [f"{220_000_000_000 + i:012d}" for i in range(315)]
ADDED = [f"{330_000_000_000 + i:012d}" for i in range(700)]


@pytest.fixture(scope="module")
def rehearsal() -> Iterator[Rehearsal]:
    with Rehearsal({"ManageDefaultTarget": "false", "MemberAccountIds": ",".join(UPGRADED)}) as r:
        yield r


def allowed(rehearsal: Rehearsal, function: str = "ObserveFunction") -> AllowedAccounts:
    """The member accounts as ``function``'s process reads them (its environment's path)."""
    env = rehearsal.stack.function_env(function)
    assert "MEMBER_ACCOUNT_IDS" not in env
    ssm = rehearsal.client("ssm")
    return AllowedAccounts(env["MEMBER_ACCOUNTS_PATH"], ssm_client=lambda: ssm)


def test_a_stack_deployed_with_the_old_parameter_allows_the_same_accounts(
    rehearsal: Rehearsal,
) -> None:
    # GIVEN a stack deployed with the largest MemberAccountIds a parameter value holds
    # THEN its functions find exactly those accounts allowed, and no other
    assert len(",".join(UPGRADED).encode()) == 4094
    for function in ("ObserveFunction", "DriftCheckFunction"):
        assert allowed(rehearsal, function).listed() == set(UPGRADED)
    assert "999999999999" not in allowed(rehearsal)


def test_accounts_listed_beside_it_are_allowed_too_however_many(rehearsal: Rehearsal) -> None:
    # GIVEN 700 more accounts an operator lists under the stack's path (standard parameters
    # hold 4 KB each: three lists)
    path = rehearsal.stack.function_env("ObserveFunction")["MEMBER_ACCOUNTS_PATH"]
    outputs = rehearsal.stack.translated.template["Outputs"]
    assert outputs["MemberAccountsPath"]["Value"] == {
        "Fn::Sub": "/fleetwise-reconciler/${AWS::StackName}/member-accounts"
    }
    ssm = rehearsal.client("ssm")
    for number, first in enumerate(range(0, len(ADDED), 300)):
        ssm.put_parameter(Name=f"{path}/operators-{number}", Type="StringList",
                          Value=",".join(ADDED[first : first + 300]))  # fmt: skip
    # THEN the functions allow all 1,015, read in pages
    members = allowed(rehearsal)
    assert members.listed() == set(UPGRADED) | set(ADDED)
    assert members.reads == 1

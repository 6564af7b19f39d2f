"""Spec validation: each constraint of architecture section 4 and the FleetWise API model."""

from __future__ import annotations

import botocore.session
import pytest

from fleetwise_reconciler.logic import validate as validate_module
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.models.spec import ROLE_ARN

ACCOUNT = "123456789012"
TARGET = f"{ACCOUNT}:us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/FleetWiseTimestream"
CONTEXT = ValidationContext(account_id=ACCOUNT)


def legacy(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "target": TARGET,
        "mode": "timestream",
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iamRoleArn": ROLE,
    }
    spec.update(overrides)
    return spec


def problems(raw: dict[str, object], context: ValidationContext = CONTEXT) -> list[str]:
    return [str(p) for p in validate(raw, context).problems]


def test_only_target_is_required_and_defaults_apply() -> None:
    result = validate({"target": TARGET}, CONTEXT)
    assert result.valid
    assert result.spec is not None
    assert result.spec.as_dict() == {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "enforce",
        "paused": False,
    }


def test_the_architecture_examples_are_valid() -> None:
    modern = {
        "target": TARGET,
        "mode": "cloudwatch",
        "policy": "enforce",
        "paused": False,
        "reconcileToken": "2026-11-26T12:00Z",
    }
    assert validate(modern, CONTEXT).valid
    assert validate(legacy(), CONTEXT).valid


def test_missing_target() -> None:
    assert problems({"mode": "cloudwatch"}) == ["target: is required"]


@pytest.mark.parametrize("target", ["12345:us-east-1", "123456789012", "123456789012:USEAST1", ""])
def test_malformed_target(target: str) -> None:
    assert problems({"target": target}) == [
        "target: must be '<12-digit account id>:<region>', e.g. '123456789012:us-east-1'"
    ]


MEMBER = "210987654321"
WITH_MEMBER = ValidationContext(account_id=ACCOUNT, member_account_ids=(MEMBER,))


def test_target_in_an_account_not_allowed_is_invalid_and_names_the_parameter() -> None:
    message = (
        "target: account 999999999999 is neither the account this reconciler runs in "
        "(123456789012) nor one it may manage; redeploy the stack with parameter "
        "MemberAccountIds including it, or with MemberOrganizationId (and roll the member role "
        "out to it)"
    )
    assert problems({"target": "999999999999:us-east-1"}) == [message]
    assert problems({"target": "999999999999:us-east-1"}, WITH_MEMBER) == [message]


def test_a_stack_with_a_member_accounts_path_names_it_in_the_message() -> None:
    context = ValidationContext(
        account_id=ACCOUNT, member_accounts_path="/fleetwise-reconciler/hub/member-accounts"
    )
    assert problems({"target": "999999999999:us-east-1"}, context) == [
        "target: account 999999999999 is neither the account this reconciler runs in "
        "(123456789012) nor one it may manage; list it in a StringList parameter under "
        "/fleetwise-reconciler/hub/member-accounts or redeploy the stack with parameter "
        "MemberAccountIds including it, or with MemberOrganizationId (and roll the member role "
        "out to it)"
    ]


def test_with_an_organisation_any_account_may_be_a_member() -> None:
    # IAM (aws:ResourceOrgID) and the member role's trust decide which accounts answer; a
    # target elsewhere fails its AssumeRole (AccessDenied), it is not Invalid.
    context = ValidationContext(account_id=ACCOUNT, member_organization_id="o-abcdefghij")
    assert problems({"target": "999999999999:us-east-1"}, context) == []


class Listed:
    """A member accounts' container that counts the lookups (the list is read lazily)."""

    def __init__(self, *accounts: str) -> None:
        self.accounts = set(accounts)
        self.asked: list[object] = []

    def __contains__(self, account: object) -> bool:
        self.asked.append(account)
        return account in self.accounts


def test_the_member_accounts_are_consulted_only_for_another_account() -> None:
    listed = Listed(MEMBER)
    context = ValidationContext(account_id=ACCOUNT, member_account_ids=listed)
    assert problems({"target": f"{ACCOUNT}:us-east-1"}, context) == []
    assert listed.asked == []
    assert problems({"target": f"{MEMBER}:us-east-1"}, context) == []
    assert listed.asked == [MEMBER]


def test_target_in_an_allowed_member_account_is_valid() -> None:
    assert problems({"target": f"{MEMBER}:eu-central-1"}) != []
    assert problems({"target": f"{MEMBER}:eu-central-1"}, WITH_MEMBER) == []


def test_a_member_target_may_pass_its_own_accounts_roles_by_default() -> None:
    # GIVEN a legacy spec of a member account's target and no AllowedPassRoleArns
    member_role = f"arn:aws:iam::{MEMBER}:role/FleetWiseTimestream"
    target = f"{MEMBER}:us-east-1"
    # THEN a role of the target's own account may be passed, the hub account's not
    assert problems(legacy(target=target, iamRoleArn=member_role), WITH_MEMBER) == []
    assert problems(legacy(target=target, iamRoleArn=ROLE), WITH_MEMBER) == [
        f"iamRoleArn: {ROLE} is not a role this stack may pass to IoT FleetWise; "
        "redeploy the stack with parameter AllowedPassRoleArns including it"
    ]


def test_target_in_a_region_fleetwise_does_not_serve_is_invalid() -> None:
    assert problems({"target": f"{ACCOUNT}:us-west-2"}) == [
        "target: IoT FleetWise is not offered in us-west-2 "
        "(served: us-east-1, eu-central-1, ap-south-1)"
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "mode",
            "Timestream",
            "mode: must be one of 'cloudwatch' or 'timestream', got 'Timestream'",
        ),
        (
            "policy",
            "enforcing",
            "policy: must be one of 'enforce' or 'observe-only', got 'enforcing'",
        ),
        (
            "paused",
            "false",
            "paused: must be a Boolean (BOOL: true or false), got a String (S) 'false'",
        ),
        ("paused", 0, "paused: must be a Boolean (BOOL: true or false), got a Number (N) 0"),
        ("reconcileToken", "", "reconcileToken: String should have at least 1 character"),
        ("reconcileToken", "x" * 257, "reconcileToken: String should have at most 256 characters"),
    ],
)
def test_bad_values_name_their_field(field: str, value: object, message: str) -> None:
    assert problems({"target": TARGET, field: value}) == [message]


def test_unknown_fields_are_invalid_and_named() -> None:
    assert problems({"target": TARGET, "Mode": "cloudwatch", "pause": True}) == [
        "Mode: unknown field holding a String (S); allowed: target, mode, policy, paused, "
        "reconcileToken, timestream, iamRoleArn, onExisting",
        "pause: unknown field holding a Boolean (BOOL); allowed: target, mode, policy, paused, "
        "reconcileToken, timestream, iamRoleArn, onExisting",
    ]


def test_legacy_fields_do_not_apply_to_modern_mode() -> None:
    raw = legacy(mode="cloudwatch")
    assert problems(raw) == [
        "timestream: applies only to mode 'timestream' (remove it, or set mode to 'timestream')",
        "iamRoleArn: applies only to mode 'timestream' (remove it, or set mode to 'timestream')",
    ]


def test_legacy_mode_requires_both_resources() -> None:
    assert problems({"target": TARGET, "mode": "timestream"}) == [
        "timestream: is required when mode is 'timestream'",
        "iamRoleArn: is required when mode is 'timestream'",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab", "String should have at least 3 characters"),
        ("a" * 256, "String should have at most 255 characters"),
        ("fleet db", "may contain only letters, digits, '_', '.' and '-'"),
        ("fleet/db", "may contain only letters, digits, '_', '.' and '-'"),
    ],
)
@pytest.mark.parametrize("key", ["databaseName", "tableName"])
def test_timestream_names_follow_the_api_constraints(key: str, name: str, message: str) -> None:
    names = {"databaseName": "fleet", "tableName": "signals", key: name}
    assert problems(legacy(timestream=names)) == [f"timestream.{key}: {message}"]


def test_timestream_names_at_the_limits_are_valid() -> None:
    names = {"databaseName": "a.b", "tableName": "A_z-0." + "x" * 249}
    assert validate(legacy(timestream=names), CONTEXT).valid


@pytest.mark.parametrize(
    ("timestream", "expected"),
    [
        # not a map at all (a String where DynamoDB should hold a Map)
        ("fleet", [
            "timestream: must be a Map (M) of databaseName, tableName, got a String (S) 'fleet'"
        ]),
        # each missing name is named, in the model's order, and the rest is still checked
        ({"tableName": "s"}, [
            "timestream.databaseName: is required",
            "timestream.tableName: String should have at least 3 characters",
        ]),
        ({"region": "x"}, [
            "timestream.databaseName: is required",
            "timestream.tableName: is required",
            "timestream.region: unknown field holding a String (S); allowed: databaseName, "
            "tableName",
        ]),
        # a name that is not text (a DynamoDB Number)
        ({"databaseName": 7, "tableName": "signals"}, [
            "timestream.databaseName: must be text (S), got a Number (N) 7",
        ]),
    ],
    ids=["not-a-map", "one-missing", "both-missing", "a-number"],
)  # fmt: skip
def test_a_malformed_timestream_map_names_each_problem(
    timestream: object, expected: list[str]
) -> None:
    assert problems(legacy(timestream=timestream)) == expected


def test_a_target_that_is_not_text_is_named_with_its_value() -> None:
    assert problems({"target": 123456789012}) == [
        "target: must be text (S), got a Number (N) 123456789012"
    ]


def test_timestream_unknown_member_is_invalid() -> None:
    names = {"databaseName": "fleet", "tableName": "signals", "region": "us-east-1"}
    assert problems(legacy(timestream=names)) == [
        "timestream.region: unknown field holding a String (S); allowed: databaseName, tableName"
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/FleetWise",
        "arn:aws:s3:::bucket-name-long-enough",
        "not-an-arn-but-long-enough",
    ],
)
def test_role_arn_must_match_the_api_pattern(arn: str) -> None:
    assert problems(legacy(iamRoleArn=arn)) == [
        "iamRoleArn: is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    ]


def test_role_arn_length_limit() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/" + "r" * 2030
    assert problems(legacy(iamRoleArn=arn)) == [
        "iamRoleArn: String should have at most 2048 characters"
    ]


def test_role_pattern_is_the_service_models() -> None:
    shape = (
        botocore.session.get_session().get_service_model("iotfleetwise").shape_for("IamResources")
    )
    assert shape.members["roleArn"].metadata["pattern"] == ROLE_ARN.pattern
    assert shape.members["roleArn"].metadata["min"] == 20
    assert shape.members["roleArn"].metadata["max"] == 2048


def test_a_role_of_another_account_is_not_passable_by_default() -> None:
    role = "arn:aws:iam::210987654321:role/FleetWiseTimestream"
    assert problems(legacy(iamRoleArn=role)) == [
        f"iamRoleArn: {role} is not a role this stack may pass to IoT FleetWise; "
        "redeploy the stack with parameter AllowedPassRoleArns including it"
    ]


def test_allowed_roles_parameter_narrows_the_roles() -> None:
    context = ValidationContext(
        account_id=ACCOUNT, allowed_role_patterns=(f"arn:aws:iam::{ACCOUNT}:role/fleetwise-*",)
    )
    assert validate(legacy(iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/fleetwise-ts"), context).valid
    assert problems(legacy(), context) == [
        f"iamRoleArn: {ROLE} is not a role this stack may pass to IoT FleetWise; "
        "redeploy the stack with parameter AllowedPassRoleArns including it"
    ]


def test_all_problems_are_reported_at_once() -> None:
    raw = {"target": f"{ACCOUNT}:us-west-2", "policy": "always", "extra": 1}
    assert problems(raw) == [
        "extra: unknown field holding a Number (N); allowed: target, mode, policy, paused, "
        "reconcileToken, timestream, iamRoleArn, onExisting",
        "policy: must be one of 'enforce' or 'observe-only', got 'always'",
        "target: IoT FleetWise is not offered in us-west-2 "
        "(served: us-east-1, eu-central-1, ap-south-1)",
    ]


ALLOWED = (
    "allowed: target, mode, policy, paused, reconcileToken, timestream, iamRoleArn, onExisting"
)


def test_legacy_fields_without_a_mode_are_named() -> None:
    # GIVEN legacy fields but no mode (the default mode is 'cloudwatch')
    raw = legacy()
    del raw["mode"]
    # WHEN validated THEN each misplaced field is named, never an empty message
    result = validate(raw, CONTEXT)
    assert (result.valid, result.message) == (
        False,
        "timestream: applies only to mode 'timestream' (remove it, or set mode to 'timestream'); "
        "iamRoleArn: applies only to mode 'timestream' (remove it, or set mode to 'timestream')",
    )


def test_empty_legacy_fields_count_as_missing() -> None:
    assert problems(legacy(timestream={}, iamRoleArn="")) == [
        "timestream: is required when mode is 'timestream'",
        "iamRoleArn: is required when mode is 'timestream'",
    ]


def test_an_unknown_field_hides_no_other_problem() -> None:
    # GIVEN an unknown field and problems of the mode and of a value
    raw = {"target": TARGET, "colour": "blue", "mode": "timestream", "paused": "yes"}
    # WHEN validated THEN every one of them is reported
    assert problems(raw) == [
        f"colour: unknown field holding a String (S); {ALLOWED}",
        "timestream: is required when mode is 'timestream'",
        "iamRoleArn: is required when mode is 'timestream'",
        "paused: must be a Boolean (BOOL: true or false), got a String (S) 'yes'",
    ]


@pytest.mark.parametrize(
    ("count", "tail"),
    [(10, ""), (11, "; and 1 more problem"), (12, "; and 2 more problems")],
)
def test_the_message_spells_out_ten_problems_and_counts_the_rest(count: int, tail: str) -> None:
    # GIVEN a spec with ``count`` unknown fields WHEN validated
    raw: dict[str, object] = {"target": TARGET, **{f"f{i:02d}": 1 for i in range(count)}}
    result = validate(raw, CONTEXT)
    # THEN the message names the first ten and counts the others
    shown = "; ".join(f"f{i:02d}: unknown field holding a Number (N); {ALLOWED}" for i in range(10))
    assert (len(result.problems), result.message) == (count, shown + tail)


def test_quoted_names_and_values_are_cut_at_80_characters() -> None:
    # GIVEN an unknown field name of 81 characters, one of 80, and an 81-character value
    raw = {"target": TARGET, "x" * 81: 1, "y" * 80: 1, "mode": "m" * 79}
    # WHEN validated THEN what is longer than 80 characters is cut to 77 and "..."
    assert problems(raw) == [
        f"{'x' * 77}...: unknown field holding a Number (N); {ALLOWED}",
        f"{'y' * 80}: unknown field holding a Number (N); {ALLOWED}",
        f"mode: must be one of 'cloudwatch' or 'timestream', got '{'m' * 76}...",
    ]


def test_an_oversized_item_is_one_problem_naming_the_limit() -> None:
    # GIVEN an item past the size limit that is also wrong in other ways
    raw = {"target": TARGET, "reconcileToken": "x" * 5000, "colour": "blue"}
    # WHEN validated THEN only its size is reported (nothing else is read from it)
    assert problems(raw) == [
        "spec: the item is 5,071 bytes as JSON; a spec item may hold at most 4,096 bytes "
        "(remove what does not belong in it)"
    ]


def test_the_default_passable_roles_follow_the_partition() -> None:
    context = ValidationContext(account_id=ACCOUNT, partition="aws-cn")
    assert context.role_patterns() == (f"arn:aws-cn:iam::{ACCOUNT}:role/*",)
    china_role = f"arn:aws-cn:iam::{ACCOUNT}:role/FleetWiseTimestream"
    assert validate(legacy(iamRoleArn=china_role), context).valid
    assert problems(legacy(), context) == [
        f"iamRoleArn: {ROLE} is not a role this stack may pass to IoT FleetWise; "
        "redeploy the stack with parameter AllowedPassRoleArns including it"
    ]


def test_the_size_limit_is_inclusive() -> None:
    # GIVEN items of exactly 4,096 and 4,097 bytes as canonical JSON (an unknown field fills
    # them: {"target":"123456789012:us-east-1","x":"..."} is 42 bytes plus the filler)
    at_limit = {"target": TARGET, "x": "a" * (4096 - 42)}
    past_limit = {"target": TARGET, "x": "a" * (4097 - 42)}
    # WHEN validated THEN the first is read (its unknown field named), the second is not
    assert problems(at_limit) == [f"x: unknown field holding a String (S); {ALLOWED}"]
    assert problems(past_limit) == [
        "spec: the item is 4,097 bytes as JSON; a spec item may hold at most 4,096 bytes "
        "(remove what does not belong in it)"
    ]


@pytest.mark.parametrize("value", ["keep", "replace"])
def test_on_existing_takes_keep_or_replace(value: str) -> None:
    # GIVEN a spec saying what to do with a registration the stack did not make
    result = validate({"target": TARGET, "onExisting": value}, CONTEXT)
    # THEN it is valid, and the normalised spec carries it
    assert result.valid
    assert result.spec is not None
    assert result.spec.as_dict()["onExisting"] == value
    assert result.spec.replaces_existing is (value == "replace")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("adopt", "onExisting: must be one of 'keep' or 'replace', got 'adopt'"),
        (True, "onExisting: must be one of 'keep' or 'replace', got a Boolean (BOOL) True"),
    ],
)
def test_on_existing_refuses_anything_else(value: object, message: str) -> None:
    assert problems({"target": TARGET, "onExisting": value}) == [message]


# -- any item DynamoDB can hold ----------------------------------------------------------------

# One value of each DynamoDB attribute type, as the data layer reads it (PynamoDB: a number as
# int or float, binary as bytes, a set as a Python set), with the words a message uses for it.
EVERY_TYPE = [
    ("S", "blue", "a String (S)"),
    ("N", 7, "a Number (N)"),
    ("N-decimal", 2.5, "a Number (N)"),
    ("B", b"\x00\x01", "a Binary (B)"),
    ("SS", {"red", "blue"}, "a String Set (SS)"),
    ("NS", {1, 2.5}, "a Number Set (NS)"),
    ("BS", {b"\x00", b"\x01"}, "a Binary Set (BS)"),
    ("M", {"a": {"b": [1, {"x"}]}}, "a Map (M)"),
    ("L", [1, "x", {b"\x00"}, None], "a List (L)"),
    ("NULL", None, "a null (NULL)"),
    ("BOOL", True, "a Boolean (BOOL)"),
]
TYPE_IDS = [kind for kind, _, _ in EVERY_TYPE]


@pytest.mark.parametrize(("kind", "value", "words"), EVERY_TYPE, ids=TYPE_IDS)
def test_an_unknown_field_of_any_type_is_named_with_its_type(
    kind: str, value: object, words: str
) -> None:
    assert problems({"target": TARGET, "colour": value}) == [
        f"colour: unknown field holding {words}; {ALLOWED}"
    ]


# What each spec field holds when valid: a value of any other type is Invalid.
FIELD_TYPES = {
    "mode": "S",
    "policy": "S",
    "paused": "BOOL",
    "reconcileToken": "S",
    "iamRoleArn": "S",
    "timestream": "M",
    "onExisting": "S",
}


# Every field with every type it does not take (NULL reads as absent: below).
WRONG_TYPES = [
    pytest.param(field, value, words, id=f"{field}-{kind}")
    for field, own in sorted(FIELD_TYPES.items())
    for kind, value, words in EVERY_TYPE
    if kind.split("-")[0] != own and value is not None
]


@pytest.mark.parametrize(("field", "value", "words"), WRONG_TYPES)
def test_a_spec_field_of_another_type_is_invalid_and_names_field_and_type(
    field: str, value: object, words: str
) -> None:
    # GIVEN a spec field holding a value of a DynamoDB type it does not take
    raw = legacy(**{field: value})
    # WHEN validated THEN it is Invalid, and a problem of that field names the type
    result = validate(raw, CONTEXT)
    assert not result.valid
    named = [str(p) for p in result.problems if p.field.split(".")[0] == field]
    assert any(words in problem for problem in named), named


def test_a_null_optional_field_reads_as_absent() -> None:
    # `aws dynamodb put-item` can write {"NULL": true}: the field holds no value
    assert validate({"target": TARGET, "reconcileToken": None}, CONTEXT).valid


def test_a_message_quotes_a_set_the_same_way_in_every_process() -> None:
    # GIVEN a set in a field that takes text WHEN validated THEN its members are quoted in
    # order (a set's own order depends on the process's hash seed)
    assert problems({"target": TARGET, "mode": {"timestream", "cloudwatch", "b"}}) == [
        "mode: must be one of 'cloudwatch' or 'timestream', got a String Set (SS) "
        '["b", "cloudwatch", "timestream"]'
    ]
    assert problems({"target": TARGET, "mode": b"\xff"}) == [
        "mode: must be one of 'cloudwatch' or 'timestream', got a Binary (B) \"/w==\""
    ]


def test_a_map_is_quoted_with_its_keys_in_order_and_its_text_as_written() -> None:
    assert problems({"target": TARGET, "mode": {"b": 1, "a": "é"}}) == [
        'mode: must be one of \'cloudwatch\' or \'timestream\', got a Map (M) {"a": "é", "b": 1}'
    ]


def test_a_length_of_at_least_two_is_plural() -> None:
    from fleetwise_reconciler.logic.validate import _length_problem

    assert _length_problem("a", (2, 5)) == "String should have at least 2 characters"
    assert _length_problem("", (1, 5)) == "String should have at least 1 character"


def test_unknown_timestream_members_are_named_in_order_whatever_their_key_type() -> None:
    names = {"databaseName": "fleet", "tableName": "signals", "z": "y", 1: "x"}
    assert problems(legacy(timestream=names)) == [
        "timestream.1: unknown field holding a String (S); allowed: databaseName, tableName",
        "timestream.z: unknown field holding a String (S); allowed: databaseName, tableName",
    ]


def test_a_set_of_mixed_members_is_named_a_set() -> None:
    # (DynamoDB's sets hold one type; a Python set may not: it is named plainly)
    assert validate_module.dynamodb_type({1, "one"}) == "a set"


def test_a_value_of_no_dynamodb_type_is_named_by_its_python_type() -> None:
    # (what the data layer never reads from DynamoDB, named plainly)
    assert validate_module.dynamodb_type(1j) == "a complex"
    assert validate_module.dynamodb_type(Ellipsis) == "a ellipsis"

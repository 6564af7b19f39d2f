# ruff: noqa: E501 - the tables hold each refusal's exact, whole message
"""Scenario files: every step kind parsed to its exact arguments, every refusal's exact
message, the round trip through YAML, JSON files and line numbers. Nothing here starts a
rehearsal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleetwise_rehearsal.fleetwise import Campaign, Outcome
from fleetwise_rehearsal.scenarios.format import (
    Expectations,
    Scenario,
    ScenarioError,
    parse_expectations,
    parse_step,
)
from fleetwise_rehearsal.scenarios.simulator_lines import Fault

T = "123456789012:us-east-1"
EU = "123456789012:eu-central-1"
KINDS = "write, writeItem, patch, delete, abort, stop, settle, tick, advance, parameters, simulator, deliver"
VERBS = "register, fail, status, deleteServiceLinkedRole, forget, timestream, campaigns, slow"


def args(raw: Any) -> dict[str, Any]:
    return dict(parse_step(raw, 1).args)


def refusal(raw: Any) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_step(raw, 3, source="s.yaml")
    return str(caught.value)


# -- every step kind ---------------------------------------------------------------------------


def test_write_keeps_the_item_as_written() -> None:
    step = parse_step({"write": {"target": T, "mode": "cloudwatch", "n": 2.5}}, 1)
    assert (step.kind, step.at) == ("write", None)
    assert dict(step.args) == {
        "item": {"target": T, "mode": "cloudwatch", "n": 2.5},
        "stream": "delivered",
    }


def test_write_item_takes_dynamodb_json_of_every_type() -> None:
    # GIVEN an item as `aws dynamodb put-item --item` takes it, with an odd key
    odd = " 123456789012:us-east-1\t{x}"
    raw = {
        "target": {"S": odd},
        "s": {"S": "x"},
        "n": {"N": 2.5},
        "b": {"B": "AAE="},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", 2]},
        "bs": {"BS": ["AA==", "AQ=="]},
        "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}]}}},
    }
    # WHEN parsed THEN binary values are bytes and numbers their text, as boto3 sends them
    assert args({"writeItem": raw}) == {
        "item": {
            "target": {"S": odd},
            "s": {"S": "x"},
            "n": {"N": "2.5"},
            "b": {"B": b"\x00\x01"},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]},
            "bs": {"BS": [b"\x00", b"\x01"]},
            "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}]}}},
        },
        "stream": "delivered",
    }


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"mode": {"S": "x"}}, "the item needs its key, 'target', written {S: text}"),
        ({"target": {"S": ""}}, "'target' must be text of 1 to 2048 bytes, not ''"),
        (
            {"target": {"S": "t"}, "x": "y"},
            "'x' must be one typed value like {S: text}, one of S, N, B, SS, NS, BS, M, L, NULL, BOOL",
        ),
        (
            {"target": {"S": "t"}, "x": {"SN": "1"}},
            "'x': 'SN' is not a DynamoDB type (did you mean 'S'?)",
        ),
        (
            {"target": {"S": "t"}, "x": {None: True}},
            "'x': YAML reads the type NULL as null: quote it (\"NULL\": true)",
        ),
        (
            {"target": {"S": "t"}, "x": {"SS": []}},
            "'x' (SS) must be a non-empty list (DynamoDB has no empty set)",
        ),
        (
            {"target": {"S": "t"}, "x": {"SS": ["a", "a"]}},
            "'x' (SS) holds a value twice, which DynamoDB refuses",
        ),
        (
            {"target": {"S": "t"}, "x": {"B": "not base64!"}},
            "'x' (B) holds 'not base64!', which is not base64",
        ),
        ({"target": {"S": "t"}, "x": {"N": "NaN"}}, "'x' (N) is NaN, which DynamoDB cannot store"),
        (
            {"target": {"S": "t"}, "x": {"M": {"y": {"NULL": False}}}},
            "'x.y' (NULL) must be written {NULL: true}",
        ),
    ],
)
def test_write_item_refuses_what_dynamodb_refuses(item: dict[str, Any], problem: str) -> None:
    assert refusal({"writeItem": item}) == f"s.yaml: step 3 (writeItem): {problem}"


@pytest.mark.parametrize("kind", ["write", "writeItem", "patch", "delete"])
@pytest.mark.parametrize("stream", ["delivered", "lost", "twice"])
def test_an_edit_says_how_the_stream_delivers_its_record(kind: str, stream: str) -> None:
    value = {
        "write": {"target": T},
        "writeItem": {"target": {"S": T}},
        "patch": {"target": T, "paused": True},
        "delete": T,
    }[kind]
    assert args({kind: value, "stream": stream})["stream"] == stream


def test_an_unknown_stream_delivery_is_refused() -> None:
    assert refusal({"write": {"target": T}, "stream": "twise"}) == (
        "s.yaml: step 3 (write): 'stream' is one of delivered, lost, twice, not 'twise' "
        "(did you mean 'twice'?)"
    )


def test_patch_and_delete_take_any_key_the_table_holds() -> None:
    odd = "123456789012:eu-central-1 lab"
    assert args({"patch": {"target": odd, "paused": True}})["target"] == odd
    assert args({"delete": odd})["target"] == odd


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"schedule": "twice"}, {"channel": "schedule", "how": "twice", "seconds": 0.0}),
        ({"async": "twice"}, {"channel": "async", "how": "twice", "seconds": 0.0}),
        ({"rule": "twice"}, {"channel": "rule", "how": "twice", "seconds": 0.0}),
        ({"rule": {"late": 120}}, {"channel": "rule", "how": "late", "seconds": 120.0}),
    ],
)
def test_deliver_says_how_the_next_delivery_of_a_channel_arrives(
    value: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert args({"deliver": value}) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            {"stream": "twice"},
            "'deliver' names one of schedule, async, rule, not {'stream': 'twice'}",
        ),
        ({"schedule": {"late": 5}}, "'deliver': schedule is delivered 'twice', not {'late': 5}"),
        ({"rule": {"late": 0}}, "'late' must be at least 1, not 0"),
    ],
)
def test_deliver_refuses_what_it_cannot_deliver(value: dict[str, Any], problem: str) -> None:
    assert refusal({"deliver": value}) == f"s.yaml: step 3 (deliver): {problem}"


def test_a_slow_answer_is_scripted_per_operation() -> None:
    assert args({"simulator": {"slow": {"operation": "RegisterAccount", "seconds": 150}}}) == {
        "target": None,
        "verb": "slow",
        "operation": "RegisterAccount",
        "seconds": 150.0,
        "times": 1,
    }
    assert refusal({"simulator": {"slow": {"operation": "Frob", "seconds": 1}}}) == (
        "s.yaml: step 3 (simulator): 'slow': 'Frob' is not an IoT FleetWise operation"
    )


def test_patch_separates_the_key_from_the_attributes() -> None:
    assert args({"at": 100, "patch": {"target": T, "paused": True, "iamRoleArn": None}}) == {
        "target": T,
        "attributes": {"paused": True, "iamRoleArn": None},
        "stream": "delivered",
    }
    assert args({"patch": {"reconcileToken": "t1"}}) == {
        "target": None,
        "attributes": {"reconcileToken": "t1"},
        "stream": "delivered",
    }
    assert parse_step({"at": 100, "patch": {"paused": True}}, 1).at == 100.0


def test_delete_abort_stop() -> None:
    assert args({"delete": T}) == {"target": T, "stream": "delivered"}
    assert args({"delete": None}) == {"target": None, "stream": "delivered"}
    assert args({"abort": "running"}) == {
        "execution": "running",
        "target": None,
        "error": None,
        "cause": None,
    }
    assert args({"abort": "running", "target": EU})["target"] == EU
    assert args(
        {
            "stop": "drift-123456789012-us-east-1-20261126T1215Z",
            "error": "Op",
            "cause": "maintenance",
        }
    ) == {
        "execution": "drift-123456789012-us-east-1-20261126T1215Z",
        "target": None,
        "error": "Op",
        "cause": "maintenance",
    }


def test_settle_tick_advance_parameters() -> None:
    assert parse_step("settle", 1).kind == "settle"
    assert parse_step({"at": 60, "tick": None}, 1).at == 60.0
    assert args("tick") == {}
    assert args({"advance": 900}) == {"seconds": 900.0}
    # CloudFormation takes strings: numbers are accepted and written as they read
    assert args({"parameters": {"MaxLoops": 0, "PollBackoffRate": "1.5"}}) == {
        "values": {"MaxLoops": "0", "PollBackoffRate": "1.5"}
    }


def test_every_simulator_verb() -> None:
    assert args(
        {
            "simulator": {
                "target": EU,
                "register": [{"pending": 400, "result": "FAILURE", "iamError": "propagating"}, {}],
            }
        }
    ) == {
        "target": EU,
        "verb": "register",
        "outcomes": [
            Outcome(pending_seconds=400.0, result="FAILURE", iam_error="propagating"),
            Outcome(pending_seconds=300.0),
        ],
    }
    fail = {
        "operation": "RegisterAccount",
        "code": "ThrottlingException",
        "retryAfter": 5,
        "times": 3,
    }
    assert args({"simulator": {"fail": fail}})["fault"] == Fault(
        "RegisterAccount", "ThrottlingException", None, 5, 3
    )
    assert args({"simulator": {"fail": {"code": "InternalServerException"}}})["fault"] == Fault(
        None, "InternalServerException", None, None, 1
    )
    assert args({"simulator": {"status": "REGISTRATION_FAILURE", "iamError": "gone"}}) == {
        "target": None,
        "verb": "status",
        "status": "REGISTRATION_FAILURE",
        "iamError": "gone",
        "timestreamError": None,
    }
    assert (
        args({"simulator": {"deleteServiceLinkedRole": True}})["verb"] == "deleteServiceLinkedRole"
    )
    assert args({"simulator": {"forget": True}}) == {"target": None, "verb": "forget"}
    attach = {"databaseName": "fleet", "tableName": "signals", "roleArn": "arn:aws:iam::1:role/r"}
    assert args({"simulator": {"timestream": attach}})["timestream"] == attach
    destination = {"s3Config": {"bucketArn": "arn:aws:s3:::b"}}
    assert args(
        {
            "simulator": {
                "campaigns": [
                    {"name": "c1"},
                    {"name": "c2", "status": "SUSPENDED", "destinations": [destination]},
                ]
            }
        }
    )["campaigns"] == [
        Campaign("c1"),
        Campaign("c2", status="SUSPENDED", data_destination_configs=(destination,)),
    ]


# -- every refusal, exactly ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "frobnicate",
            f"s.yaml: step 3 (frobnicate): unknown step 'frobnicate'; a step is one of {KINDS}",
        ),
        (
            {"pach": {"paused": True}},
            f"s.yaml: step 3 (pach): unknown step 'pach' (did you mean 'patch'?); a step is one of {KINDS}",
        ),
        ({"at": 5}, f"s.yaml: step 3: names no step; a step is one of {KINDS}"),
        (7, f"s.yaml: step 3 (int): unknown step 'int'; a step is one of {KINDS}"),
        (
            "advance",
            "s.yaml: step 3 (advance): 'advance' needs a value (write it as 'advance: ...')",
        ),
        (
            {"advance": 5, "tick": None},
            "s.yaml: step 3 (advance): one step does one thing, this one has advance and tick",
        ),
        (
            {"tick": None, "target": T},
            "s.yaml: step 3 (tick): tick takes no key 'target' (it takes at, stack)",
        ),
        (
            {"abort": "running", "error": "x"},
            "s.yaml: step 3 (abort): abort takes no key 'error' (it takes at, stack, target)",
        ),
        ({"tick": 1}, "s.yaml: step 3 (tick): takes no value, not 1"),
        ({"at": -1, "tick": None}, "s.yaml: step 3 (tick): 'at' must be at least 0, not -1"),
        (
            {"at": "soon", "tick": None},
            "s.yaml: step 3 (tick): 'at' must be a number of seconds, not 'soon'",
        ),
        (
            {"at": True, "tick": None},
            "s.yaml: step 3 (tick): 'at' must be a number of seconds, not True",
        ),
        (
            {"advance": "1h"},
            "s.yaml: step 3 (advance): 'advance' must be a number of seconds, not '1h'",
        ),
        (
            {"write": ["mode"]},
            "s.yaml: step 3 (write): the item to write must be a mapping, not ['mode']",
        ),
        (
            {"write": {"target": "123:us-east-1"}},
            "s.yaml: step 3 (write): 'target' must be '<12-digit account>:<region>' (like 123456789012:us-east-1), not '123:us-east-1'",
        ),
        (
            {"write": {"target": "123456789012-us-east-1"}},
            "s.yaml: step 3 (write): 'target' must be '<12-digit account>:<region>' (like 123456789012:us-east-1), not '123456789012-us-east-1'",
        ),
        (
            {"write": {"n": float("nan")}},
            "s.yaml: step 3 (write): 'n' is nan, which DynamoDB cannot store",
        ),
        ({"patch": {"target": T}}, "s.yaml: step 3 (patch): names no attribute to set or remove"),
        (
            {"patch": {"reconcileToken": Path("x")}},
            "s.yaml: step 3 (patch): 'reconcileToken' holds a PosixPath (PosixPath('x')), which a DynamoDB item cannot hold; quote it",
        ),
        (
            {"delete": 123456789012},
            "s.yaml: step 3 (delete): the target to delete must be text of 1 to 2048 bytes, not 123456789012",
        ),
        (
            {"abort": ""},
            "s.yaml: step 3 (abort): names no execution ('running' or an execution name)",
        ),
        (
            {"abort": "run-1", "target": T},
            "s.yaml: step 3 (abort): 'target' goes with 'running' only: an execution name is enough",
        ),
        (
            {"stop": "running", "error": "e" * 257},
            "s.yaml: step 3 (stop): 'error' is longer than 256 characters",
        ),
        ({"parameters": {}}, "s.yaml: step 3 (parameters): changes no parameter"),
        (
            {"parameters": {"MaxLoop": "1"}},
            "s.yaml: step 3 (parameters): 'MaxLoop' is not a parameter of template.yaml (did you mean 'MaxLoops'?)",
        ),
        (
            {"parameters": {"MaxLoops": "-1"}},
            "s.yaml: step 3 (parameters): MaxLoops: -1 is below its MinValue 0",
        ),
        (
            {"parameters": {"MaxLoops": "many"}},
            "s.yaml: step 3 (parameters): MaxLoops: 'many' is not a number",
        ),
        (
            {"parameters": {"ManageDefaultTarget": False}},
            's.yaml: step 3 (parameters): ManageDefaultTarget: False is not a string; quote it ("false")',
        ),
        (
            {"parameters": {"TargetMode": "legacy"}},
            "s.yaml: step 3 (parameters): TargetMode: 'legacy' is not one of cloudwatch, timestream",
        ),
        (
            {"simulator": {"frob": True}},
            f"s.yaml: step 3 (simulator): unknown simulator verb 'frob'; it takes one of {VERBS}",
        ),
        (
            {"simulator": {"forget": True, "status": "REGISTRATION_SUCCESS"}},
            "s.yaml: step 3 (simulator): one simulator line does one thing: forget and status",
        ),
        (
            {"simulator": {"target": "eu-central-1", "forget": True}},
            "s.yaml: step 3 (simulator): 'target' must be '<12-digit account>:<region>' (like 123456789012:us-east-1), not 'eu-central-1'",
        ),
        (
            {"simulator": {"forget": "yes"}},
            "s.yaml: step 3 (simulator): write it as 'true', not 'yes'",
        ),
        (
            {"simulator": {"forget": True, "iamError": "x"}},
            "s.yaml: step 3 (simulator): unknown key 'iamError' for the simulator's forget",
        ),
        (
            {"simulator": {"status": "SUCCESS"}},
            "s.yaml: step 3 (simulator): 'status' is one of REGISTRATION_PENDING, REGISTRATION_SUCCESS, REGISTRATION_FAILURE, not 'SUCCESS'",
        ),
        (
            {"simulator": {"register": []}},
            "s.yaml: step 3 (simulator): 'register' is a list of outcomes ({pending, result, iamError, ...})",
        ),
        (
            {"simulator": {"register": [{"result": "OK"}]}},
            "s.yaml: step 3 (simulator): outcome 1: 'result' is SUCCESS or FAILURE, not 'OK'",
        ),
        (
            {"simulator": {"register": [{"pending": -5}]}},
            "s.yaml: step 3 (simulator): outcome 1: 'pending' must be at least 0, not -5",
        ),
        (
            {"simulator": {"register": [{"after": 5}]}},
            "s.yaml: step 3 (simulator): outcome 1: unknown key 'after' (it takes pending, result, iamError, timestreamError)",
        ),
        (
            {"simulator": {"fail": {"operation": "RegisterAccount"}}},
            "s.yaml: step 3 (simulator): 'fail' needs a 'code' (an error the operation declares)",
        ),
        (
            {"simulator": {"fail": {"code": "ThrottlingException", "times": 0}}},
            "s.yaml: step 3 (simulator): 'fail': 'times' is a whole number of at least 1, not 0",
        ),
        (
            {"simulator": {"fail": {"code": "ThrottlingException", "retryAfter": 1.5}}},
            "s.yaml: step 3 (simulator): 'fail': 'retryAfter' is whole seconds, not 1.5",
        ),
        (
            {
                "simulator": {
                    "fail": {"operation": "GetRegisterAccountStatus", "code": "ConflictException"}
                }
            },
            "s.yaml: step 3 (simulator): 'fail': GetRegisterAccountStatus cannot raise ConflictException (model: AccessDeniedException, InternalServerException, ResourceNotFoundException, ThrottlingException, ValidationException)",
        ),
        (
            {
                "simulator": {
                    "fail": {
                        "operation": "RegisterAccount",
                        "code": "AccessDeniedException",
                        "retryAfter": 5,
                    }
                }
            },
            "s.yaml: step 3 (simulator): 'fail': AccessDeniedException has no retryAfterSeconds member",
        ),
        (
            {"simulator": {"fail": {"operation": "DeleteFleet", "code": "ThrottlingException"}}},
            "s.yaml: step 3 (simulator): 'fail': the simulator does not serve 'DeleteFleet'",
        ),
        (
            {"simulator": {"timestream": {"databaseName": "fleet"}}},
            "s.yaml: step 3 (simulator): 'timestream' takes exactly databaseName, tableName, roleArn",
        ),
        (
            {"simulator": {"campaigns": [{"status": "RUNNING"}]}},
            "s.yaml: step 3 (simulator): campaign 1: takes name (required), status, destinations",
        ),
        (
            {"simulator": {"campaigns": [{"name": "c", "status": "ON"}]}},
            "s.yaml: step 3 (simulator): campaign 1: 'status' is one of CREATING, WAITING_FOR_APPROVAL, RUNNING, SUSPENDED, not 'ON'",
        ),
    ],
)
def test_each_bad_step_is_refused_with_its_message(raw: Any, message: str) -> None:
    assert refusal(raw) == message


# -- whole files -------------------------------------------------------------------------------

EXAMPLE = f"""\
description: a pause, then an abort
parameters: {{ManageDefaultTarget: "false"}}
jitter: 0.5
seed: 7
steps:
  - write: {{target: "{T}", mode: cloudwatch}}
  - at: 100
    patch: {{paused: true}}
  - at: 150
    abort: running
  - settle
expect:
  targets:
    "{T}": {{phase: Paused, current: true, lease: released}}
  calls: {{RegisterAccount: 1}}
  executions: {{RUNNING: 0, total: 2}}
  alarms: [ExecutionsAbortedAlarm]
"""


def test_a_file_parses_with_line_numbers_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "pause.yaml"
    path.write_text(EXAMPLE)
    scenario = Scenario.from_file(path)
    assert (scenario.description, scenario.jitter, scenario.seed) == (
        "a pause, then an abort",
        0.5,
        7,
    )
    assert scenario.parameters == {"ManageDefaultTarget": "false"}
    assert [(s.index, s.kind, s.at, s.line) for s in scenario.parsed] == [
        (1, "write", None, 6),
        (2, "patch", 100.0, 7),
        (3, "abort", 150.0, 9),
        (4, "settle", None, 11),
    ]
    assert scenario.expectations == Expectations(
        targets={T: {"phase": "Paused", "current": True, "lease": "released"}},
        calls={"RegisterAccount": 1},
        executions={"RUNNING": 0, "total": 2},
        alarms=("ExecutionsAbortedAlarm",),
    )
    again = Scenario.from_text(scenario.to_yaml())
    assert again == scenario
    assert again.to_yaml() == scenario.to_yaml()


def test_a_scenario_built_in_code_is_validated_and_written() -> None:
    scenario = Scenario(steps=[{"write": {"mode": "cloudwatch"}}, {"at": 60, "tick": None}])
    assert scenario.to_yaml() == "steps:\n- write:\n    mode: cloudwatch\n- at: 60\n  tick: null\n"
    with pytest.raises(ScenarioError) as caught:
        Scenario(steps=[{"at": 60, "tick": None}, {"at": 30, "tick": None}])
    assert str(caught.value) == (
        "scenario: step 2 (tick): 'at' 30 goes back in time: the steps before it already reach 60 s"
    )


def test_at_may_not_go_back_past_an_advance(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - advance: 900\n  - at: 600\n    tick:\n")
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_file(path)
    assert str(caught.value) == (
        "s.yaml:3: step 2 (tick): 'at' 600 goes back in time: the steps before it already "
        "reach 900 s"
    )


def test_a_json_file_is_read_as_json(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"steps": [{"write": {"n": 2.5e3}}, "tick"]}))
    scenario = Scenario.from_file(path)
    assert scenario.parsed[0].args["item"] == {"n": 2500.0}
    path.write_text('{"steps": [')
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_file(path)
    assert str(caught.value) == (
        "s.json: not valid JSON: Expecting value: line 1 column 12 (char 11)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "steps: [",
            "s.yaml: not valid YAML: line 1: expected the node content, but found '<stream end>'",
        ),
        ("- tick", "s.yaml: a scenario is a mapping with 'steps' (and more)"),
        ("description: x", "s.yaml: 'steps' is missing"),
        (
            "step: []",
            "s.yaml: unknown key 'step' (did you mean 'steps'?); a scenario has description, parameters, members, stacks, schedule, jitter, seed, steps, expect",
        ),
        ("steps: tick", "s.yaml: 'steps' must be a list of steps"),
        (
            "jitter: 2\nsteps: []",
            "s.yaml: 'jitter' must be a number from 0 to 1 (the fraction of FULL jitter's range), not 2",
        ),
        ("seed: x\nsteps: []", "s.yaml: 'seed' must be an integer, not 'x'"),
        (
            "parameters: {Nope: x}\nsteps: []",
            "s.yaml: parameters: 'Nope' is not a parameter of template.yaml",
        ),
        (
            "steps:\n  - tick\n  - patch: {paused: 2026-11-26}\n",
            "s.yaml:3: step 2 (patch): 'paused' holds a date (datetime.date(2026, 11, 26)), which a DynamoDB item cannot hold; quote it",
        ),
        (
            "steps: []\nexpect: {target: {}}",
            "s.yaml: expect: unknown key 'target' (did you mean 'targets'?) (it takes targets, calls, executions, alarms, notifications, invariants, stacks)",
        ),
        (
            # any key the spec table can hold may be expected on (an odd key is Invalid)
            "steps: []\nexpect: {targets: {'': {}}}",
            "s.yaml: expect.targets['']: the target must be text of 1 to 2048 bytes, not ''",
        ),
        (
            f"steps: []\nexpect: {{targets: {{'{T}': {{phase: Done}}}}}}",
            "s.yaml: expect.targets['123456789012:us-east-1']: 'phase' is one of Pending, Registering, Registered, Failed, Drifted, Blocked, Paused, Invalid, Unmanaged, not 'Done'",
        ),
        (
            f"steps: []\nexpect: {{targets: {{'{T}': {{leased: true}}}}}}",
            "s.yaml: expect.targets['123456789012:us-east-1']: unknown check 'leased' (did you mean 'lease'?) (it takes phase, reason, current, lease, attempts, lastError, messageContains, calls)",
        ),
        (
            f"steps: []\nexpect: {{targets: {{'{T}': {{lease: free}}}}}}",
            "s.yaml: expect.targets['123456789012:us-east-1']: 'lease' is released or held, not 'free'",
        ),
        (
            f"steps: []\nexpect: {{targets: {{'{T}': {{current: 1}}}}}}",
            "s.yaml: expect.targets['123456789012:us-east-1']: 'current' is true or false, not 1",
        ),
        (
            "steps: []\nexpect: {calls: {Register: 1}}",
            "s.yaml: expect.calls: 'Register' is not an IoT FleetWise operation (did you mean 'RegisterAccount'?)",
        ),
        (
            "steps: []\nexpect: {calls: {RegisterAccount: -1}}",
            "s.yaml: expect.calls: RegisterAccount: a count (a whole number), not -1",
        ),
        (
            "steps: []\nexpect: {executions: {running: 0}}",
            "s.yaml: expect.executions: 'running' is not an execution status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) or total (did you mean 'RUNNING'?)",
        ),
        (
            "steps: []\nexpect: {alarms: [ExecutionsAbortAlarm]}",
            "s.yaml: expect.alarms: 'ExecutionsAbortAlarm' is not an alarm of template.yaml (did you mean 'ExecutionsAbortedAlarm'?)",
        ),
        (
            "steps: []\nexpect: {alarms: none}",
            "s.yaml: expect.alarms: a list of alarm logical ids (empty: none in ALARM), each id"
            " or {id: [targets]}",
        ),
        (
            "steps: []\nexpect: {alarms: [{RegistrationFailedAlarm: 123456789012:us-east-1}]}",
            "s.yaml: expect.alarms.RegistrationFailedAlarm: a list of the targets in ALARM",
        ),
        (
            "steps: []\nexpect: {alarms: [{RegistrationFailedAlarms: []}]}",
            "s.yaml: expect.alarms: 'RegistrationFailedAlarms' is not an alarm of template.yaml"
            " (did you mean 'RegistrationFailedAlarm'?)",
        ),
        (
            "steps: []\nexpect: {invariants: yes-please}",
            "s.yaml: expect.invariants: true or false, not 'yes-please'",
        ),
        (
            "steps: []\nexpect: {targets: {'123456789012:us-east-1': {calls: 3}}}",
            "s.yaml: expect.targets['123456789012:us-east-1']: 'calls' is a mapping of IoT "
            "FleetWise operations to counts, not 3",
        ),
        (
            "steps: []\nexpect: {targets: {'123456789012:us-east-1': {calls: {Register: 1}}}}",
            "s.yaml: expect.targets['123456789012:us-east-1'].calls: 'Register' is not an IoT "
            "FleetWise operation (did you mean 'RegisterAccount'?)",
        ),
        (
            "steps:\n  - write: {reconcileToken: !repeat [x, 2000000]}\n",
            "s.yaml: not valid YAML: line 2: !repeat takes [text, count] building at most "
            "1,000,000 characters",
        ),
        (
            "steps:\n  - write: {reconcileToken: !repeat x}\n",
            "s.yaml: not valid YAML: line 2: !repeat takes [text, count]",
        ),
    ],
)
def test_each_bad_file_is_refused_with_its_message(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_text(text, source="s.yaml")
    assert str(caught.value) == message


def test_a_missing_file() -> None:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_file("no/such/scenario.yaml")
    assert str(caught.value) == "no/such/scenario.yaml: no such file"


def test_expectations_parse_on_their_own() -> None:
    # None for a target: no status may be recorded; alarms are a set, kept sorted
    parsed = parse_expectations(
        {"targets": {T: None}, "alarms": ["RegistrationFailedAlarm", "ExecutionsAbortedAlarm"]}
    )
    assert parsed == Expectations(
        targets={T: None}, alarms=("ExecutionsAbortedAlarm", "RegistrationFailedAlarm")
    )
    assert parse_expectations({}) == Expectations()


def test_repeat_writes_a_long_value_and_expectations_take_invariants_and_calls() -> None:
    scenario = Scenario.from_text(
        "steps:\n  - write: {reconcileToken: !repeat [ab, 3]}\n"
        "expect:\n  invariants: true\n"
        "  targets: {'123456789012:eu-central-1': {calls: {RegisterAccount: 1}}}\n",
        source="s.yaml",
    )
    assert scenario.parsed[0].args == {
        "item": {"reconcileToken": "ababab"},
        "stream": "delivered",
    }
    expectations = scenario.expectations
    assert expectations is not None
    assert expectations.invariants is True
    assert expectations.targets == {"123456789012:eu-central-1": {"calls": {"RegisterAccount": 1}}}


def test_stacks_the_schedule_and_notifications_round_trip() -> None:
    # GIVEN a scenario with a second stack, the schedule on, steps naming the other stack and
    # expectations on the notifications of both
    text = (
        "stacks: {other-stack: {ManageDefaultTarget: 'false'}}\n"
        "schedule: true\n"
        "steps:\n"
        f"  - write: {{target: '{T}'}}\n"
        "    stack: other-stack\n"
        "  - tick: \n"
        "    stack: other-stack\n"
        "  - tick\n"
        "expect:\n"
        "  notifications:\n"
        "    - {alarm: DriftCheckSilentAlarm, state: ALARM}\n"
        "  stacks:\n"
        "    other-stack:\n"
        f"      notifications: [{{alarm: RegistrationFailedAlarm, state: ALARM, target: '{T}'}}]\n"
    )
    scenario = Scenario.from_text(text, source="s.yaml")
    # THEN each part is read as written
    assert scenario.stacks == {"other-stack": {"ManageDefaultTarget": "false"}}
    assert scenario.schedule is True
    assert [(s.kind, s.args.get("stack")) for s in scenario.parsed] == [
        ("write", "other-stack"),
        ("tick", "other-stack"),
        ("tick", None),
    ]
    expectations = scenario.expectations
    assert expectations is not None
    assert expectations.notifications == (("DriftCheckSilentAlarm", "ALARM", None),)
    assert expectations.stacks["other-stack"].notifications == (
        ("RegistrationFailedAlarm", "ALARM", T),
    )
    # AND the scenario writes itself back to an equal one
    again = Scenario.from_text(scenario.to_yaml(), source="s.yaml")
    assert (again.stacks, again.schedule, again.steps) == (
        scenario.stacks,
        scenario.schedule,
        scenario.steps,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "stacks: {1bad: {}}\nsteps: []",
            "s.yaml: stacks: '1bad' is not a stack name (a letter, then letters, digits and "
            "hyphens, at most 128)",
        ),
        (
            "stacks: {fleetwise-reconciler: {}}\nsteps: []",
            "s.yaml: stacks: 'fleetwise-reconciler' is the scenario's own stack",
        ),
        (
            "stacks: {b: {Nope: x}}\nsteps: []",
            "s.yaml: stacks: 'Nope' is not a parameter of template.yaml",
        ),
        ("schedule: yes please\nsteps: []", "s.yaml: 'schedule' must be true or false"),
        (
            "steps:\n  - tick:\n    stack: b\n",
            "s.yaml:2: step 1 (tick): 'stack' 'b' is not one of the scenario's stacks (none)",
        ),
        (
            "steps: []\nexpect: {notifications: [{alarm: Nope, state: ALARM}]}",
            "s.yaml: expect.notifications: 'Nope' is not an alarm of template.yaml",
        ),
        (
            "steps: []\nexpect: {notifications: [{alarm: InvalidSpecAlarm, state: RED}]}",
            "s.yaml: expect.notifications: 'state' is one of ALARM, OK, INSUFFICIENT_DATA, "
            "not 'RED'",
        ),
        (
            "steps: []\nexpect: {notifications: [InvalidSpecAlarm]}",
            "s.yaml: expect.notifications: 'InvalidSpecAlarm': a list of {alarm, state, target} "
            "(target left out for an alarm without contributors)",
        ),
        (
            "steps: []\nexpect: {stacks: {b: {calls: {}}}}",
            "s.yaml: expect.stacks.b: unknown key 'calls' (it takes targets, alarms, "
            "notifications)",
        ),
    ],
)
def test_each_bad_stack_schedule_or_notification_is_refused(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_text(text, source="s.yaml")
    assert str(caught.value).startswith(message), str(caught.value)

"""Generated interleavings: a Hypothesis state machine that drives the rehearsal with scenario
steps and checks the invariants (``fleetwise_rehearsal.invariants``) after every one.

Each example deploys the stack with generated parameters, then applies a generated sequence
of steps through ``ScenarioRunner`` (the same steps a scenario file holds): edits of two
targets in two Regions (valid, invalid, oversized, pause and resume, observe-only, mode
switches, token bumps, deletes and re-creates), items of every DynamoDB attribute type under
those keys and under odd ones (white space, characters no run name takes, 2,048 bytes),
stream records lost or delivered twice, ticks and asynchronous invocations delivered twice,
execution-status events delivered twice or late, virtual time passing with runs in flight,
drift ticks, aborted runs, and the IoT FleetWise simulator scripted to be slow (past a step's
function timeout too), to fail, to throttle, to conflict, to drift and to lose its
service-linked role. After every step the
running invariants must hold; at the end the driver stops editing, lets the service settle
and checks the quiet state. A failure is reported with the shrunk sequence written as a
scenario file, ready to be saved under ``scenarios/`` as a regression test.

``make test`` runs a short profile (``tests/stateful``); ``make soak`` runs at least 1,000
examples (``python -m fleetwise_rehearsal.properties.soak``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fleetwise_rehearsal.invariants import InvariantMonitor, Violation
from fleetwise_rehearsal.rehearsal import Rehearsal
from fleetwise_rehearsal.scenarios.format import Scenario
from fleetwise_rehearsal.scenarios.runner import ScenarioRunner

ACCOUNT = "123456789012"
HOME = f"{ACCOUNT}:us-east-1"
AWAY = f"{ACCOUNT}:eu-central-1"
TARGETS = (HOME, AWAY)
# Keys no run can be named after as they are (white space, a colon in the wrong place,
# characters outside 0-9 A-Z a-z - _, DynamoDB's longest partition key of 2,048 bytes): each
# is an Invalid spec whose runs still need names StartExecution takes.
ODD_KEYS = (
    f"{ACCOUNT}:us-east-1 lab",
    "{x}:*?/日本",
    "k" * 2048,
)
ROLE = f"arn:aws:iam::{ACCOUNT}:role/FleetWiseTimestream"
OTHER_ACCOUNT_ROLE = "arn:aws:iam::210987654321:role/FleetWiseTimestream"
LEGACY = {
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": ROLE,
}

# -- what the steps are made of ---------------------------------------------------------------

parameter_sets = st.fixed_dictionaries(
    {
        "MaxLoops": st.sampled_from(["0", "1", "5"]),
        "MaxRegistrationAttempts": st.sampled_from(["1", "2", "5"]),
        "ExecutionTimeoutSeconds": st.sampled_from(["600", "3600"]),
        # 1: every tick over both targets fans out (the second target is a batch of its own).
        "DriftCheckBatchSize": st.sampled_from(["1", "500"]),
    }
)

tokens = st.sampled_from(["t1", "t2", "t3"])
valid_items = st.one_of(
    st.just({}),
    st.fixed_dictionaries({}, optional={"reconcileToken": tokens}),
    st.just({"policy": "observe-only"}),
    st.just({"paused": True}),
    st.just({"paused": False, "reconcileToken": "resumed"}),
    st.just(dict(LEGACY)),
    st.builds(lambda t: {**LEGACY, "reconcileToken": t}, tokens),
)
invalid_items = st.sampled_from(
    [
        {"colour": "blue"},
        {"mode": "kafka"},
        {"paused": "true"},
        {**LEGACY, "iamRoleArn": OTHER_ACCOUNT_ROLE},
        {"mode": "timestream"},
        # past the spec size limit: Invalid, and nothing of it rides in the workflow
        {"notes": "x" * 6000},
    ]
)
patches = st.sampled_from(
    [
        {"paused": True},
        {"paused": False},
        {"policy": "observe-only"},
        {"policy": "enforce"},
        {"reconcileToken": "bumped"},
        {"reconcileToken": "bumped-again"},
        {"mode": "timestream", "timestream": LEGACY["timestream"], "iamRoleArn": ROLE},
        {"mode": "cloudwatch", "timestream": None, "iamRoleArn": None},
    ]
)
durations = st.sampled_from([1, 5, 30, 100, 210, 300, 600, 900, 1800])
outcomes = st.lists(
    st.fixed_dictionaries(
        {
            "pending": st.sampled_from([0, 60, 300, 600, 900]),
            "result": st.sampled_from(["SUCCESS", "SUCCESS", "FAILURE"]),
        }
    ),
    min_size=1,
    max_size=4,
)
faults = st.one_of(
    st.fixed_dictionaries(
        {
            "operation": st.sampled_from(["RegisterAccount", "GetRegisterAccountStatus"]),
            "code": st.just("ThrottlingException"),
            "times": st.integers(1, 8),
        },
        optional={"retryAfter": st.sampled_from([1, 30, 120])},
    ),
    st.fixed_dictionaries(
        {
            "operation": st.sampled_from(["RegisterAccount", "GetRegisterAccountStatus"]),
            "code": st.sampled_from(["InternalServerException", "AccessDeniedException"]),
            "times": st.integers(1, 3),
        }
    ),
    st.just({"operation": "RegisterAccount", "code": "ConflictException", "times": 1}),
)


# -- what AWS delivers, and how ---------------------------------------------------------------

# Any DynamoDB attribute value, in DynamoDB JSON (writeItem): every type, nested.
_scalars = st.one_of(
    st.builds(lambda t: {"S": t}, st.text(max_size=20)),
    st.builds(lambda n: {"N": n}, st.sampled_from(["0", "7", "-3", "2.5", "1E+2", "0.001"])),
    st.builds(lambda b: {"B": b}, st.sampled_from(["AA==", "AQI=", "/w=="])),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(
        lambda v: {"SS": v}, st.lists(st.text(max_size=8), min_size=1, max_size=4, unique=True)
    ),
    st.builds(
        lambda v: {"NS": v},
        st.lists(st.sampled_from(["1", "2", "10", "-1.5"]), min_size=1, max_size=4, unique=True),
    ),
    st.builds(
        lambda v: {"BS": v},
        st.lists(st.sampled_from(["AA==", "AQ==", "Ag=="]), min_size=1, max_size=3, unique=True),
    ),
)
attribute_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
        st.builds(
            lambda v: {"M": v}, st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
        ),
    ),
    max_leaves=6,
)
attribute_names = st.one_of(
    st.sampled_from(["mode", "paused", "policy", "reconcileToken", "timestream", "iamRoleArn"]),
    st.text(min_size=1, max_size=12),
    st.just("n" * 255),
)
any_items = st.dictionaries(
    attribute_names.filter(lambda name: name != "target"), attribute_values, max_size=4
)
# How the stream delivers a write's record: mostly as usual, sometimes lost, sometimes twice.
streams = st.sampled_from(["delivered", "delivered", "delivered", "lost", "twice"])
deliveries = st.sampled_from(
    [
        {"schedule": "twice"},
        {"async": "twice"},
        {"rule": "twice"},
        {"rule": {"late": 120}},
        {"rule": {"late": 1800}},
    ]
)
# Answers that take long: past a step's function timeout (120 s) the step did its work and
# times out; past the drift check's (180 s) the check does.
slow_answers = st.fixed_dictionaries(
    {
        "operation": st.sampled_from(["RegisterAccount", "GetRegisterAccountStatus"]),
        "seconds": st.sampled_from([5, 100, 150, 200]),
        "times": st.integers(1, 2),
    }
)


class ReconcilerMachine(RuleBasedStateMachine):
    """One deployed stack per example; every rule is one scenario step."""

    # Filled by the soak driver; the tests leave them alone.
    examples: ClassVar[int] = 0
    steps_run: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.rehearsal: Rehearsal | None = None
        self.runner: ScenarioRunner | None = None
        self.monitor: InvariantMonitor | None = None
        self.parameters: dict[str, str] = {}
        self.steps: list[dict[str, Any] | str] = []
        self.failed = False

    # -- lifecycle ------------------------------------------------------------------------

    @initialize(parameters=parameter_sets)
    def deploy(self, parameters: dict[str, str]) -> None:
        type(self).examples += 1
        self.parameters = {"ManageDefaultTarget": "false", **parameters}
        rehearsal = Rehearsal(self.parameters, jitter_fraction=0.5)
        rehearsal.__enter__()
        self.rehearsal = rehearsal
        self.runner = ScenarioRunner(rehearsal)
        self.monitor = InvariantMonitor(rehearsal)

    def teardown(self) -> None:
        rehearsal, monitor, runner = self.rehearsal, self.monitor, self.runner
        if rehearsal is None or monitor is None or runner is None:
            return
        try:
            if not self.failed:
                self._assert_none(
                    monitor.settle_and_check(runner.apply), "once the service settled"
                )
        finally:
            rehearsal.__exit__(None, None, None)
            self.rehearsal = None

    # -- the steps ------------------------------------------------------------------------

    def _apply(self, step: dict[str, Any] | str, *, wrote: str | None = None) -> None:
        if self.runner is None or self.monitor is None:
            raise RuntimeError("the stack is not deployed (the initialize rule did not run)")
        self.steps.append(step)
        type(self).steps_run += 1
        try:
            self.runner.apply(step)
        except BaseException:
            self.failed = True  # the teardown leaves this example as it failed
            raise
        if wrote is not None:
            self.monitor.wrote(wrote)

    @rule(who=st.sampled_from(TARGETS), item=st.one_of(valid_items, invalid_items), stream=streams)
    def write(self, who: str, item: dict[str, Any], stream: str) -> None:
        self._apply({"write": {"target": who, **item}, "stream": stream}, wrote=who)

    @rule(who=st.sampled_from((*TARGETS, *ODD_KEYS)), item=any_items, stream=streams)
    def write_item(self, who: str, item: dict[str, Any], stream: str) -> None:
        self._apply({"writeItem": {"target": {"S": who}, **item}, "stream": stream}, wrote=who)

    @rule(who=st.sampled_from(TARGETS), attributes=patches, stream=streams)
    def patch(self, who: str, attributes: dict[str, Any], stream: str) -> None:
        self._apply({"patch": {"target": who, **attributes}, "stream": stream}, wrote=who)

    @rule(who=st.sampled_from((*TARGETS, *ODD_KEYS)), stream=streams)
    def delete(self, who: str, stream: str) -> None:
        self._apply({"delete": who, "stream": stream}, wrote=who)

    @rule(how=deliveries)
    def deliver(self, how: dict[str, Any]) -> None:
        self._apply({"deliver": how})

    @rule(who=st.sampled_from(TARGETS), slow=slow_answers)
    def slow(self, who: str, slow: dict[str, Any]) -> None:
        self._apply({"simulator": {"target": who, "slow": slow}})

    @rule(seconds=durations)
    def advance(self, seconds: int) -> None:
        self._apply({"advance": seconds})

    @rule()
    def tick(self) -> None:
        self._apply("tick")

    @precondition(lambda self: self._running())
    @rule(who=st.sampled_from(TARGETS))
    def abort(self, who: str) -> None:
        self._apply({"abort": "running", "target": who})

    @rule(who=st.sampled_from(TARGETS), script=outcomes)
    def registrations(self, who: str, script: list[dict[str, Any]]) -> None:
        self._apply({"simulator": {"target": who, "register": script}})

    @rule(who=st.sampled_from(TARGETS), fault=faults)
    def fault(self, who: str, fault: dict[str, Any]) -> None:
        self._apply({"simulator": {"target": who, "fail": fault}})

    @precondition(lambda self: self._registered(HOME) or self._registered(AWAY))
    @rule(who=st.sampled_from(TARGETS))
    def delete_service_linked_role(self, who: str) -> None:
        if self._registered(who):
            self._apply({"simulator": {"target": who, "deleteServiceLinkedRole": True}})

    @rule(
        who=st.sampled_from(TARGETS),
        change=st.sampled_from(
            [
                {"status": "REGISTRATION_FAILURE"},
                {"status": "REGISTRATION_SUCCESS"},
                {"forget": True},
                {
                    "timestream": {
                        "databaseName": "fleet",
                        "tableName": "signals",
                        "roleArn": ROLE,
                    }
                },
            ]
        ),
    )
    def out_of_band(self, who: str, change: dict[str, Any]) -> None:
        self._apply({"simulator": {"target": who, **change}})

    # -- the invariants -------------------------------------------------------------------

    @invariant()
    def running_invariants_hold(self) -> None:
        if self.monitor is not None:
            self._assert_none(self.monitor.check(), "after the last step")

    def _registered(self, target: str) -> bool:
        rehearsal = self.rehearsal
        if rehearsal is None or rehearsal.sim is None:
            return False
        account, _, region = target.partition(":")
        return rehearsal.sim.account_status(account=account, region=region) is not None

    def _running(self) -> bool:
        rehearsal = self.rehearsal
        return rehearsal is not None and any(e.status == "RUNNING" for e in rehearsal.executions())

    def _assert_none(self, violations: list[Violation], when: str) -> None:
        if not violations:
            return
        self.failed = True
        raise AssertionError(
            f"{len(violations)} invariant(s) broken {when}:\n"
            + "\n".join(f"  - {v}" for v in violations)
            + "\nAs a scenario file:\n"
            + self.scenario_yaml()
        )

    def scenario_yaml(self) -> str:
        """The steps so far as a scenario file (the shrunk failure's reproduction)."""
        scenario = Scenario.from_dict(
            {
                "description": "Found by the generated interleavings.",
                "parameters": self.parameters,
                "jitter": 0.5,
                "steps": self.steps,
            }
        )
        return scenario.to_yaml() if scenario.steps else yaml.safe_dump(self.parameters)

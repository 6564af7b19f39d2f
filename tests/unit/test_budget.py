"""Invariant 18: every client's timeouts and retries fit inside its function's timeout.

Each function's worst case is added up from ``budget.CALLS`` (and one iteration of a guarded
loop) and compared with its Timeout in template.yaml; the clients are checked to be built from
the budget, so the sum is the one the code runs with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetwise_reconciler import budget, wiring
from fleetwise_reconciler.dal.models import spec_model
from fleetwise_reconciler.dal.repository import StatusRepository
from fleetwise_reconciler.fleetwise import client_config
from fleetwise_reconciler.member import sts_config

ROOT = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    """YAML's safe loader that reads CloudFormation's short tags as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def functions() -> dict[str, int]:
    """Each function of template.yaml and its Timeout (the Globals' when it sets none)."""
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506
    default = int(template["Globals"]["Function"]["Timeout"])
    return {
        name: int(resource["Properties"].get("Timeout", default))
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_function_of_the_template_has_a_budget() -> None:
    assert set(budget.CALLS) == set(functions())


@pytest.mark.parametrize("function", sorted(functions()))
def test_the_worst_case_of_each_function_fits_its_timeout(function: str) -> None:
    # GIVEN the requests the function makes at most, each timing out on every attempt
    worst = budget.worst_case(function)
    # THEN it ends before Lambda would kill it
    assert worst < functions()[function], (
        f"{function}: its clients may take {worst:g} s, its Timeout is {functions()[function]} s"
    )


def test_a_request_worst_case_counts_every_attempt_and_backoff() -> None:
    # 3 attempts of 2 + 5 s, a backoff of at most 1 s then 2 s, each up to 5 s more when the
    # answer asks for it (x-amz-retry-after)
    assert budget.CONTROL.worst_seconds == 3 * 7 + (1 + 5) + (2 + 5)
    assert budget.FLEETWISE.worst_seconds == 12
    assert (
        budget.ClientBudget("x", 1, 1, 7).worst_seconds == 7 * 2 + (1 + 2 + 4 + 8 + 16 + 20) + 6 * 5
    )


def _retries(config: Any) -> int:
    return int(config.retries["total_max_attempts"])


def test_the_clients_are_built_from_the_budget() -> None:
    for config, expected in (
        (client_config(), budget.FLEETWISE),
        (sts_config(), budget.STS),
    ):
        assert (config.connect_timeout, config.read_timeout, _retries(config)) == (
            expected.connect_timeout,
            expected.read_timeout,
            expected.attempts,
        )
        assert config.user_agent_extra == "fleetwise-reconciler/0.1"


def test_the_data_layer_is_built_from_the_budget() -> None:
    meta = spec_model("a-table", "us-east-1").Meta
    assert (
        meta.connect_timeout_seconds,
        meta.read_timeout_seconds,
        meta.max_retry_attempts + 1,
    ) == (budget.DYNAMODB.connect_timeout, budget.DYNAMODB.read_timeout, budget.DYNAMODB.attempts)
    connection = StatusRepository("a-table", region="us-east-1").connection()
    assert (
        connection._connect_timeout_seconds,
        connection._read_timeout_seconds,
        connection._max_retry_attempts_exception + 1,
    ) == (budget.DYNAMODB.connect_timeout, budget.DYNAMODB.read_timeout, budget.DYNAMODB.attempts)


def test_the_control_clients_are_built_from_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    called: list[tuple[str, str]] = []

    class Session:
        def create_client(self, service: str, **kwargs: Any) -> str:
            made.append(kwargs["config"])
            called.append((service, kwargs["region_name"]))
            return service

    monkeypatch.setattr(wiring, "botocore_session", Session)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    wiring.reset()
    try:
        wiring.stepfunctions()
        wiring.lambda_client()
    finally:
        wiring.reset()
    for config in made:
        assert (config.connect_timeout, config.read_timeout, _retries(config)) == (
            budget.CONTROL.connect_timeout,
            budget.CONTROL.read_timeout,
            budget.CONTROL.attempts,
        )
    # each in the stack's own Region
    assert called == [("stepfunctions", "eu-central-1"), ("lambda", "eu-central-1")]


class Clock:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_a_deadline_lets_a_call_start_only_while_its_worst_case_fits() -> None:
    one = ((budget.FLEETWISE, 1),)
    assert budget.Deadline.of(Clock(12_000)).allows(one)
    assert not budget.Deadline.of(Clock(11_999)).allows(one)
    assert not budget.Deadline.of(Clock(20_000)).allows(one, after=8.5)
    # a context without Lambda's clock (a test's) puts no limit
    assert budget.Deadline.of(object()).allows(one)


# --- what the mutation run found untested ----------------------------------------------------


def test_requests_made_one_after_another_add_up_each_times_its_count() -> None:
    # GIVEN two kinds of request, one made three times
    calls = ((budget.FLEETWISE, 3), (budget.STS, 1))
    # WHEN / THEN their worst case is each worst case times its count, added
    assert budget.seconds(calls) == 3 * budget.FLEETWISE.worst_seconds + budget.STS.worst_seconds


def test_a_functions_worst_case_adds_one_loop_iteration_to_its_fixed_requests() -> None:
    # GIVEN a function with a guarded loop
    fixed = budget.seconds(budget.CALLS["DriftCheckFunction"])
    loop = budget.seconds(budget.LOOPS["DriftCheckFunction"])
    # WHEN / THEN its worst case is both, added
    assert loop > 0
    assert budget.worst_case("DriftCheckFunction") == fixed + loop


def test_a_context_whose_clock_is_not_callable_sets_no_deadline() -> None:
    # GIVEN a context whose remaining-time attribute is a plain value, not Lambda's method
    class Odd:
        get_remaining_time_in_millis = 0

    # WHEN its deadline is read
    deadline = budget.Deadline.of(Odd())
    # THEN there is none: every call is allowed
    assert deadline.allows(((budget.FLEETWISE, 1),)) is True

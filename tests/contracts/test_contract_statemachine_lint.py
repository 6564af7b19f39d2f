"""statelint (a maintained Python port of awslabs/statelint, AWS's own ASL validator) on the
definition as Step Functions receives it, DefinitionSubstitutions applied, for every
combination of the conditions; and on broken copies, where it must object.

FLOAT is ignored: statelint wants BackoffRate written as a float (2.0), Step Functions
accepts any JSON number (the definition's BackoffRate 2 deploys and runs).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from stack_values import PARAMETER_SETS, definition, deployed
from statelint.config import Config
from statelint.linter import Linter
from statelint.problem import ProblemType

CONFIG = Config({ProblemType.FLOAT}, False, False)


def problems(asl: str) -> list[str]:
    found: list[str] = Linter.validate(asl, CONFIG)
    return found


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_statelint_accepts_the_substituted_definition(parameter_set: str) -> None:
    assert problems(definition(deployed(parameter_set))) == []


def _broken(change: str) -> str:
    asl: dict[str, Any] = json.loads(definition(deployed("default")))
    states = asl["States"]
    if change == "dangling next":
        states["Poll"]["Next"] = "Nowhere"
    elif change == "catch without next":
        del states["Observe"]["Catch"][0]["Next"]
    elif change == "unknown type":
        states["Reset"]["Type"] = "Pause"
    elif change == "negative attempts":
        states["Acquire"]["Retry"][0]["MaxAttempts"] = -1
    return json.dumps(asl)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "dangling next",
            [
                'No state found named "Nowhere", referenced at State Machine.States.Poll.Next',
                "No transition found to state State Machine.AfterPoll",
            ],
        ),
        (
            "catch without next",
            [
                'State Machine.States.Observe.Catch[0] does not have required field "Next"',
                "No transition found to state State Machine.ThrottledInObserve",
            ],
        ),
        (
            "unknown type",
            [
                'State Machine.States.Reset.Type is "Pause", not one of the allowed values '
                '["Pass", "Succeed", "Fail", "Task", "Choice", "Wait", "Parallel", "Map"]',
                'Field "Parameters" not allowed in State Machine.States.Reset',
            ],
        ),
        (
            "negative attempts",
            ["State Machine.States.Acquire.Retry[0].MaxAttempts is -1 but allowed floor is -1"],
        ),
    ],
)
def test_statelint_rejects_a_broken_copy(change: str, expected: list[str]) -> None:
    assert problems(_broken(change)) == expected

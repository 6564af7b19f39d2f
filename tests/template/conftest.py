"""Session fixtures of the template tests (helpers live in template_support.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from template_support import (
    DEFINITION_PATH,
    load_template,
    substitute,
    substitution_values,
    translate,
)


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)


@pytest.fixture(scope="session")
def definition_text() -> str:
    return DEFINITION_PATH.read_text()


@pytest.fixture(scope="session")
def definition(sam_template: dict[str, Any], definition_text: str) -> dict[str, Any]:
    """The ASL as Step Functions receives it with the template's default parameters."""
    parsed: dict[str, Any] = json.loads(
        substitute(definition_text, substitution_values(sam_template))
    )
    return parsed

"""Fixtures of the documentation tests: the template, and a rehearsed stack per test (the real
template, workflow and handlers; FULL jitter pinned to half of each interval)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from doc_support import JITTER, ROOT

from fleetwise_rehearsal.aws.template import load_template
from fleetwise_rehearsal.rehearsal import Rehearsal


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture
def rehearse() -> Iterator[Callable[..., Rehearsal]]:
    """Start a rehearsal (template parameters as a mapping); closed after the test. The spec
    item is the test's to write (ManageDefaultTarget false) unless the parameters say so."""
    with contextlib.ExitStack() as stack:

        def start(parameters: dict[str, str] | None = None, **kwargs: Any) -> Rehearsal:
            values = {"ManageDefaultTarget": "false", **(parameters or {})}
            kwargs.setdefault("jitter_fraction", JITTER)
            running = stack.enter_context(Rehearsal(values, **kwargs))
            assert running.sim is not None
            return running

        yield start

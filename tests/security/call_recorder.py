"""A pytest plugin that records which AWS API calls each Lambda handler makes.

Loaded on demand (``make iam-calls`` and ``.ci/run``)::

    PYTHONPATH=tests/security pytest -p call_recorder --record-aws-calls=PATH ...

Every botocore API call (boto3 clients, PynamoDB, clients behind botocore's Stubber) is
attributed to the handler module whose frame is on the stack when it is made, and written as
IAM actions: ``{"fleetwise_reconciler.handlers.observe": ["dynamodb:GetItem", ...]}``.
Calls made outside any handler (fixtures arranging data, the rehearsal's own plumbing) are
not a function's and are left out. Under pytest-xdist each worker writes its share and the
controller merges them. ``test_iam.py`` compares the committed ledger with the template's
grants; CI checks that the ledger is what the tests observe today.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

HANDLER_PACKAGE = "fleetwise_reconciler.handlers."

_calls: dict[str, set[str]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-aws-calls",
        metavar="PATH",
        default=None,
        help="write the AWS API calls each Lambda handler made, as IAM actions, to PATH (JSON)",
    )


def _running_handler() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith(HANDLER_PACKAGE):
            return str(module)
        frame = frame.f_back  # type: ignore[assignment]
    return None


# DynamoDB authorises a transaction as the item actions inside it: there is no
# TransactWriteItems or TransactGetItems action to grant.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


# Operations authorised as an action of another name (Lambda's Service Authorization
# Reference: Invoke is the action lambda:InvokeFunction).
_RENAMED_ACTIONS = {"Invoke": "InvokeFunction"}


def iam_actions(operation_name: str, api_params: Any) -> set[str]:
    """The IAM actions (without prefix) an API call is authorised as."""
    if operation_name in _RENAMED_ACTIONS:
        return {_RENAMED_ACTIONS[operation_name]}
    if operation_name in ("TransactWriteItems", "TransactGetItems"):
        return {
            _TRANSACT_ITEM_ACTIONS[kind]
            for item in api_params.get("TransactItems", [])
            for kind in item
        }
    return {operation_name}


def _recording(original: Callable[..., Any]) -> Callable[..., Any]:
    def make_api_call(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        handler = _running_handler()
        if handler is not None:
            # The IAM prefix is the service's signing name (states for Step Functions).
            prefix = self.meta.service_model.signing_name
            _calls.setdefault(handler, set()).update(
                f"{prefix}:{action}" for action in iam_actions(operation_name, api_params)
            )
        return original(self, operation_name, api_params)

    return make_api_call


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--record-aws-calls"):
        BaseClient._make_api_call = _recording(BaseClient._make_api_call)  # type: ignore[method-assign]


def _part_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.part-{os.getpid()}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("--record-aws-calls")
    if target:
        part = {handler: sorted(actions) for handler, actions in _calls.items()}
        _part_path(Path(target)).write_text(json.dumps(part))


def pytest_unconfigure(config: pytest.Config) -> None:
    target = config.getoption("--record-aws-calls")
    if not target or hasattr(config, "workerinput"):  # an xdist worker: the controller merges
        return
    path = Path(target)
    merged: dict[str, set[str]] = {}
    for part in sorted(path.parent.glob(f"{path.name}.part-*")):
        for handler, actions in json.loads(part.read_text()).items():
            merged.setdefault(handler, set()).update(actions)
        part.unlink()
    ledger = {handler: sorted(merged[handler]) for handler in sorted(merged)}
    path.write_text(json.dumps(ledger, indent=2) + "\n")

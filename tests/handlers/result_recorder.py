"""A pytest plugin that records the shape of every result each Lambda handler returns, and of
every error it raises, during the handler tests.

Loaded on demand (``make result-shapes`` and ``.ci/run``)::

    PYTHONPATH=tests/handlers pytest -p result_recorder --record-results=PATH tests/handlers

Each module of ``fleetwise_reconciler.handlers`` has its ``handle`` wrapped; a call made while
a test under ``tests/handlers/`` runs is recorded as a *shape*: the JSON value with every leaf
replaced by its type (``"<str>"``, ``"<number>"``, ``"<bool>"``, ``"<null>"``; a string that
holds a JSON object or array becomes ``{"<json>": shape}``), so the ledger holds no data and
does not change with timestamps. An exception is recorded as the Python runtime's error
payload: ``errorType`` (kept as is: it is the class name Step Functions matches on) and the
shape of ``errorMessage``. Per handler, each distinct
shape is kept once, with the first test (by node id) that produced it. Under pytest-xdist each
worker writes its share and the controller merges them.
``tests/contracts/test_contract_statemachine_flow.py`` reads the ledger; CI checks it is fresh.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HANDLERS = "fleetwise_reconciler.handlers"
RECORDED_TESTS = "tests/handlers/"

_current: list[str] = []
_shapes: dict[str, dict[str, str]] = {}  # handler -> canonical shape -> first node id


def shape(value: Any) -> Any:
    """``value`` (JSON-serialisable, as Lambda would serialise it) with types for leaves."""
    if isinstance(value, dict):
        return {str(key): shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = {json.dumps(shape(item), sort_keys=True) for item in value}
        return [json.loads(item) for item in sorted(items)]
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, int | float):
        return "<number>"
    if value is None:
        return "<null>"
    text = str(value)
    if text.startswith(("{", "[")):
        try:
            return {"<json>": shape(json.loads(text))}
        except ValueError:
            pass
    return "<str>"


def _record(handler: str, outcome: dict[str, Any]) -> None:
    if not _current or not _current[0].startswith(RECORDED_TESTS):
        return
    key = json.dumps(outcome, sort_keys=True)
    seen = _shapes.setdefault(handler, {})
    if key not in seen or _current[0] < seen[key]:
        seen[key] = _current[0]


def _wrap(handler: str, handle: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handle)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            result = handle(*args, **kwargs)
        except Exception as error:
            # The Python runtime's error payload; the message is str(error).
            _record(
                handler,
                {"error": {"errorType": type(error).__name__, "errorMessage": shape(str(error))}},
            )
            raise
        # Lambda serialises the result as JSON: what cannot be serialised fails here too.
        _record(handler, {"result": shape(json.loads(json.dumps(result)))})
        return result

    return recorded


def _handler_modules() -> Iterator[Any]:
    package = importlib.import_module(HANDLERS)
    for info in pkgutil.iter_modules(package.__path__):
        yield importlib.import_module(f"{HANDLERS}.{info.name}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-results",
        metavar="PATH",
        default=None,
        help="write the shapes of what each Lambda handler returned or raised to PATH (JSON)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--record-results"):
        return
    for module in _handler_modules():
        if hasattr(module, "handle"):
            module.handle = _wrap(module.__name__, module.handle)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _current[:] = [item.nodeid]
    yield
    _current.clear()


def _part_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.part-{os.getpid()}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("--record-results")
    if target:
        _part_path(Path(target)).write_text(json.dumps(_shapes))


def pytest_unconfigure(config: pytest.Config) -> None:
    target = config.getoption("--record-results")
    if not target or hasattr(config, "workerinput"):  # an xdist worker: the controller merges
        return
    path = Path(target)
    merged: dict[str, dict[str, str]] = {}
    for part in sorted(path.parent.glob(f"{path.name}.part-*")):
        for handler, shapes in json.loads(part.read_text()).items():
            seen = merged.setdefault(handler, {})
            for key, case in shapes.items():
                if key not in seen or case < seen[key]:
                    seen[key] = case
        part.unlink()
    ledger = {
        handler: [
            {"case": case, **json.loads(key)}
            for key, case in sorted(merged[handler].items(), key=lambda kv: (kv[1], kv[0]))
        ]
        for handler in sorted(merged)
    }
    path.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")

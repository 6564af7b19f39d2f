"""Fails loudly, naming the attribute, when a moto internal the rehearsal patches moves."""

from __future__ import annotations

import importlib.metadata
import inspect
import types

import pytest

from fleetwise_rehearsal.aws import moto_patches
from fleetwise_rehearsal.aws.moto_patches import (
    EXPECTED_SIGNATURES,
    PATCH_POINTS,
    MotoInternalsChanged,
    check_patch_points,
    resolve_patch_point,
)


def test_moto_is_the_pinned_version() -> None:
    assert importlib.metadata.version("moto") == "5.2.5", "the patches are written for 5.2.5"


@pytest.mark.parametrize(("module", "path", "kind"), PATCH_POINTS, ids=[p[1] for p in PATCH_POINTS])
def test_patch_point_exists_with_the_expected_shape(module: str, path: str, kind: str) -> None:
    _owner, _name, value = resolve_patch_point(module, path)
    if kind == "module":
        assert isinstance(value, types.ModuleType), f"{module}.{path} is not a module reference"
        return
    if kind == "class":
        assert isinstance(value, type), f"{module}.{path} is not a class"
        return
    if kind == "value":
        return  # a plain attribute: that it exists is all the patch needs
    func = value.__func__ if isinstance(value, staticmethod) else value
    assert kind != "staticmethod" or isinstance(value, staticmethod), f"{module}.{path}"
    assert tuple(inspect.signature(func).parameters) == EXPECTED_SIGNATURES[path], (
        f"{module}.{path} changed signature"
    )


def test_every_module_that_patches_moto_lists_its_points_here() -> None:
    from fleetwise_rehearsal.aws import (
        fast_queries,
        fast_transactions,
        lambda_runtime,
        members,
        stepfunctions,
        streams,
        strict,
        timeouts,
        warm,
    )

    modules = (
        lambda_runtime,
        stepfunctions,
        streams,
        strict,
        timeouts,
        warm,
        members,
        fast_transactions,
        fast_queries,
    )
    for points in (m.PATCH_POINTS for m in modules):
        assert set(points) <= set(PATCH_POINTS)
    for signatures in (m.EXPECTED_SIGNATURES for m in modules):
        assert signatures.items() <= EXPECTED_SIGNATURES.items()
    kinds = {kind for _module, _path, kind in PATCH_POINTS}
    assert kinds <= {"module", "method", "staticmethod", "function", "class", "value"}


def test_check_patch_points_passes_on_the_pinned_moto() -> None:
    check_patch_points()


def test_a_missing_attribute_is_named() -> None:
    with pytest.raises(
        MotoInternalsChanged, match=r"moto\.awslambda\.models\.LambdaFunction\.nope"
    ):
        resolve_patch_point("moto.awslambda.models", "LambdaFunction.nope")


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        moto_patches,
        "EXPECTED_SIGNATURES",
        {**EXPECTED_SIGNATURES, "LambdaFunction.invoke": ("self", "event")},
    )
    with pytest.raises(MotoInternalsChanged, match=r"LambdaFunction\.invoke changed signature"):
        check_patch_points()


def test_internals_read_but_not_patched_are_still_there() -> None:
    """Read by the rehearsal: the retrier's error name on the stack, the jitter draw, the
    stream's hook into Lambda, and the Lambda attributes the in-process invoke reads."""
    from moto.awslambda.models import LambdaFunction
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

    assert "random.uniform(0, interval_seconds)" in inspect.getsource(
        jitter_strategy_decl.JitterStrategyDecl._eval_body
    )
    assert "lambda_event_source_mappings" in inspect.getsource(StreamShard.add)
    assert "self.lambda_event_source_mappings" in inspect.getsource(Table.__init__)
    init = inspect.getsource(LambdaFunction.__init__)
    for attribute in (
        "self.handler",
        "self.environment_vars",
        "self.timeout",
        "self.memory_size",
        "self.function_arn",
        "self.region",
    ):
        assert attribute in init or attribute in inspect.getsource(LambdaFunction), attribute


def test_invocation_environment_never_removes_a_key_while_executions_run() -> None:
    # A worker thread iterating os.environ while a key is deleted fails with KeyError, so an
    # invocation restores earlier values but leaves the keys it added until the patches end.
    import os

    from fleetwise_rehearsal.aws import lambda_runtime

    name = "FLEETWISE_REHEARSAL_PROBE"
    os.environ.pop(name, None)
    os.environ["FLEETWISE_REHEARSAL_KEPT"] = "before"
    try:
        with lambda_runtime._environment({name: "inside", "FLEETWISE_REHEARSAL_KEPT": "inside"}):
            assert os.environ[name] == "inside"
        assert os.environ[name] == "inside"
        assert os.environ["FLEETWISE_REHEARSAL_KEPT"] == "before"
    finally:
        os.environ.pop(name, None)
        os.environ.pop("FLEETWISE_REHEARSAL_KEPT", None)

"""The build: src/Makefile (what `sam build` runs), the artifact check, and samconfig.toml."""

from __future__ import annotations

import _imp
import importlib.util
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from template_support import ROOT


def _load_check_artifact() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_artifact", ROOT / "scripts" / "check_artifact.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_artifact = _load_check_artifact()
MAKE = shutil.which("make") or "make"


def _make_dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    """What make would run for src/Makefile (-n: nothing runs, no network)."""
    return subprocess.run(  # noqa: S603 (fixed arguments, our own makefile)
        [MAKE, "-n", "--no-print-directory", "-C", str(ROOT / "src"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


# CPython 3.13's .pyc magic number, and PEP 552's flags (bit 0 hash-based, bit 1 checked).
MAGIC_313 = b"\xf3\x0d\r\n"
UNCHECKED, CHECKED, TIMESTAMP = 0b01, 0b11, 0b00


def _write_pyc(
    source: Path,
    *,
    tag: str = "cpython-313",
    magic: bytes = MAGIC_313,
    flags: int = UNCHECKED,
    compiled_from: bytes | None = None,
) -> Path:
    """A .pyc header as CPython writes it for ``source`` (PEP 552: magic, flags, then the
    source's SipHash keyed with the magic number, or mtime and size), and a body."""
    key = int.from_bytes(magic, "little")
    text = source.read_bytes() if compiled_from is None else compiled_from
    pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    pyc.parent.mkdir(exist_ok=True)
    tail = _imp.source_hash(key, text) if flags & 1 else bytes(8)
    pyc.write_bytes(magic + flags.to_bytes(4, "little") + tail + b"code")
    return pyc


def _fake_artifact(root: Path, *entries: str, bytecode: bool = True) -> Path:
    for entry in entries:
        (root / entry).mkdir(parents=True)
        (root / entry / "__init__.py").write_text(f"NAME = {entry!r}\n")
        if bytecode:
            _write_pyc(root / entry / "__init__.py")
    return root


DEPENDENCIES = (
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "pynamodb",
)


# --- src/Makefile -------------------------------------------------------------------------


def test_the_layer_gets_lambda_wheels_under_python(tmp_path: Path) -> None:
    # GIVEN the artifact directory SAM gives the layer
    artifacts = tmp_path / "build" / "DependenciesLayer"
    # WHEN make shows what it would run (a dry run: no network, nothing written)
    shown = _make_dry_run("build-DependenciesLayer", f"ARTIFACTS_DIR={artifacts}")
    assert shown.returncode == 0, shown.stderr
    commands = [shlex.split(line) for line in shown.stdout.splitlines() if line.strip()]
    # THEN the dependencies are wheels for CPython 3.13 on arm64, under python/ (where the
    # Lambda Python runtime looks in a layer), and nothing else is copied in
    [pip] = [c for c in commands if c[1:4] == ["-m", "pip", "install"]]
    assert pip[pip.index("--platform") + 1] == "manylinux2014_aarch64"
    assert pip[pip.index("--implementation") + 1] == "cp"
    assert pip[pip.index("--python-version") + 1] == "3.13"
    assert "--only-binary=:all:" in pip
    assert pip[pip.index("-r") + 1] == "requirements.txt"
    assert Path(pip[pip.index("--target") + 1]) == artifacts / "python"
    assert [c for c in commands if c[0] == "cp"] == []
    # AND botocore's models are trimmed to the services the functions use, after the install
    [trim] = [c for c in commands if c[1:2] == ["lean_botocore.py"]]
    assert trim[2:] == [str(artifacts / "python")]
    assert commands.index(trim) > commands.index(pip)
    # AND, last, everything is compiled by CPython 3.13 into unchecked hash-based .pyc with
    # the paths Lambda extracts the layer to
    [compile_] = [c for c in commands if "compileall" in c]
    assert commands[-1] == compile_
    assert compile_[compile_.index("--invalidation-mode") + 1] == "unchecked-hash"
    assert compile_[compile_.index("-o") + 1] == "0"
    assert compile_[compile_.index("-s") + 1 :] == [str(artifacts), "-p", "/opt",
                                                    str(artifacts / "python")]  # fmt: skip
    assert _runs_python_313(compile_[0])


def test_a_function_gets_the_package_only(tmp_path: Path) -> None:
    artifacts = tmp_path / "build" / "AcquireFunction"
    shown = _make_dry_run("build-AcquireFunction", f"ARTIFACTS_DIR={artifacts}")
    assert shown.returncode == 0, shown.stderr
    commands = [shlex.split(line) for line in shown.stdout.splitlines() if line.strip()]
    assert [c for c in commands if "pip" in c] == []
    assert [c for c in commands if c[:2] == ["cp", "-R"]] == [
        ["cp", "-R", "fleetwise_reconciler", f"{artifacts}/"],
    ]
    [compile_] = [c for c in commands if "compileall" in c]
    assert commands[-1] == compile_
    assert compile_[compile_.index("--invalidation-mode") + 1] == "unchecked-hash"
    package = f"{artifacts}/fleetwise_reconciler"
    assert compile_[compile_.index("-s") + 1 :] == [str(artifacts), "-p", "/var/task", package]
    assert _runs_python_313(compile_[0])


def _runs_python_313(interpreter: str) -> bool:
    version = subprocess.run(  # noqa: S603 - the interpreter the makefile chose
        [interpreter, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return version.strip() == "(3, 13)"


def test_without_python_313_the_build_stops_and_says_why(tmp_path: Path) -> None:
    # GIVEN no CPython 3.13 (PYTHON313 set empty), WHEN a function is built for real
    result = subprocess.run(  # noqa: S603 (fixed arguments, our own makefile)
        [MAKE, "-C", str(ROOT / "src"), "build-AcquireFunction", f"ARTIFACTS_DIR={tmp_path}",
         "PYTHON313="],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # THEN it fails before copying anything, naming what is missing and how to get it
    assert result.returncode != 0
    assert "CPython 3.13 (the Lambda runtime's version) is needed" in result.stderr
    assert "PYTHON313=/path/to/python3.13" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_makefile_refuses_to_run_outside_sam_build() -> None:
    result = _make_dry_run("build-AcquireFunction")
    assert result.returncode != 0
    assert "ARTIFACTS_DIR is not set" in result.stderr


def test_requirements_pin_what_pyproject_pins() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = {
        line.strip()
        for line in (ROOT / "src" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert pinned
    assert pinned <= set(pyproject["project"]["dependencies"])


# --- the artifact check -------------------------------------------------------------------


KEPT_MODELS = ("dynamodb", "iotfleetwise", "lambda", "ssm", "stepfunctions", "sts")


def _fake_layer(root: Path, *entries: str, models: tuple[str, ...] = KEPT_MODELS) -> Path:
    _fake_artifact(root / "python", *entries)
    if "botocore" in entries:
        for name in models:
            (root / "python" / "botocore" / "data" / name).mkdir(parents=True)
    return root


def _build(tmp_path: Path, layer: tuple[str, ...], function: tuple[str, ...]) -> tuple[Path, Path]:
    return (
        _fake_layer(tmp_path / "DependenciesLayer", *layer),
        _fake_artifact(tmp_path / "AcquireFunction", *function),
    )


def test_a_clean_build_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layer, function = _build(tmp_path, DEPENDENCIES, ("fleetwise_reconciler",))
    assert check_artifact.layer_problems(layer) == []
    assert check_artifact.function_problems(function) == []
    assert check_artifact.main(["check_artifact.py", str(layer), str(function)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(",")[:2] for line in shown] == [
        ["ok", " layer"],
        ["ok", " function"],
    ]


@pytest.mark.parametrize(
    "intruder",
    [
        "fleetwise_rehearsal",
        "fleetwise_cli",
        "tests",
        "moto",
        "pytest",
        "fleetwise_reconciler.egg-info",
    ],
)
def test_development_code_in_the_layer_fails(tmp_path: Path, intruder: str) -> None:
    layer, function = _build(tmp_path, (*DEPENDENCIES, intruder), ("fleetwise_reconciler",))
    assert check_artifact.layer_problems(layer) == [f"must not ship {intruder}"]
    assert check_artifact.main(["check_artifact.py", str(layer), str(function)]) == 1


def test_the_package_in_the_layer_fails(tmp_path: Path) -> None:
    layer = _fake_layer(tmp_path, *DEPENDENCIES, "fleetwise_reconciler")
    assert check_artifact.layer_problems(layer) == [
        "must not ship fleetwise_reconciler (the functions carry it)"
    ]


def test_a_dependency_in_a_function_fails(tmp_path: Path) -> None:
    function = _fake_artifact(tmp_path, "fleetwise_reconciler", "boto3")
    assert check_artifact.function_problems(function) == [
        "must not ship boto3 (dependencies belong in the layer)"
    ]


def test_a_missing_dependency_fails(tmp_path: Path) -> None:
    layer = _fake_layer(tmp_path, *(e for e in DEPENDENCIES if e != "pynamodb"))
    assert check_artifact.layer_problems(layer) == ["missing pynamodb"]


def test_a_layer_with_every_botocore_model_fails(tmp_path: Path) -> None:
    layer = _fake_layer(tmp_path, *DEPENDENCIES, models=(*KEPT_MODELS, "ec2", "s3"))
    assert check_artifact.layer_problems(layer) == [
        "ships 2 botocore models the functions never use (ec2, ...):"
        " src/lean_botocore.py trims them"
    ]


def test_a_layer_without_a_model_the_functions_use_fails(tmp_path: Path) -> None:
    layer = _fake_layer(
        tmp_path, *DEPENDENCIES, models=("dynamodb", "iotfleetwise", "lambda", "ssm", "sts")
    )
    assert check_artifact.layer_problems(layer) == ["lacks the botocore model of stepfunctions"]


def test_a_module_without_its_bytecode_fails(tmp_path: Path) -> None:
    function = _fake_artifact(tmp_path, "fleetwise_reconciler")
    (function / "fleetwise_reconciler" / "logic.py").write_text("X = 1\n")
    assert check_artifact.function_problems(function) == [
        "fleetwise_reconciler/logic.py has no cpython-313 bytecode"
    ]
    layer = _fake_layer(tmp_path / "layer", *DEPENDENCIES)
    (layer / "python" / "six.py").write_text("X = 1\n")
    assert check_artifact.layer_problems(layer) == ["python/six.py has no cpython-313 bytecode"]


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ({"flags": TIMESTAMP}, "is not unchecked hash-based (flags 0)"),
        ({"flags": CHECKED}, "is not unchecked hash-based (flags 3)"),
        ({"magic": (3495).to_bytes(2, "little") + b"\r\n"}, "is not CPython 3.13's bytecode"),
        ({"compiled_from": b"NAME = 'old'\n"}, "is stale (compiled from another "
         "fleetwise_reconciler/__init__.py)"),
    ],
)  # fmt: skip
def test_bytecode_the_runtime_would_not_use_as_it_is_fails(
    tmp_path: Path, how: dict[str, Any], problem: str
) -> None:
    # GIVEN the package's .pyc written otherwise than src/Makefile compiles it
    function = _fake_artifact(tmp_path, "fleetwise_reconciler", bytecode=False)
    pyc = _write_pyc(function / "fleetwise_reconciler" / "__init__.py", **how)
    # THEN the check names it
    assert check_artifact.function_problems(function) == [f"{pyc.relative_to(function)} {problem}"]


@pytest.mark.parametrize(
    "stray",
    [
        "__pycache__/__init__.cpython-311.pyc",
        "__pycache__/__init__.cpython-313.opt-1.pyc",
        "__pycache__/gone.cpython-313.pyc",
        "__init__.pyc",
    ],
)
def test_bytecode_of_another_python_or_without_its_source_fails(tmp_path: Path, stray: str) -> None:
    function = _fake_artifact(tmp_path, "fleetwise_reconciler")
    (function / "fleetwise_reconciler" / stray).write_bytes(b"x")
    assert check_artifact.function_problems(function) == [
        f"must not ship fleetwise_reconciler/{stray} (no source of this name, or another Python)"
    ]


def test_bytecode_compiled_by_python_313_as_the_makefile_does_passes(tmp_path: Path) -> None:
    # GIVEN a package compiled by the interpreter and flags src/Makefile uses
    shown = _make_dry_run("build-AcquireFunction", f"ARTIFACTS_DIR={tmp_path}")
    [compile_] = [shlex.split(c) for c in shown.stdout.splitlines() if "compileall" in c]
    package = tmp_path / "fleetwise_reconciler"
    (package / "logic").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "logic" / "plan.py").write_text("def plan() -> int:\n    return 1\n")
    subprocess.run(compile_, check=True)  # noqa: S603 - the makefile's own command
    # THEN the check finds every module's bytecode as the runtime will use it
    assert check_artifact.function_problems(tmp_path) == []
    assert check_artifact.bytecode_problems(package, tmp_path) == ([], 2)


# --- samconfig.toml -----------------------------------------------------------------------


def test_samconfig_default_and_prod() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["global"]["parameters"]["stack_name"] == "fleetwise-reconciler"
    assert config["default"]["build"]["parameters"] == {"cached": True, "parallel": False}
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is False
    assert deploy["resolve_s3"] is True
    prod = config["prod"]["deploy"]["parameters"]
    assert config["prod"]["global"]["parameters"]["stack_name"] != "fleetwise-reconciler"
    assert prod["confirm_changeset"] is True
    overrides = dict(pair.split("=", 1) for pair in prod["parameter_overrides"].split())
    assert overrides == {
        "TableDeletionProtection": "true",
        "LogLevel": "INFO",
        "LogRetentionDays": "365",
        # Stricter alarms: checks every 5 minutes, alarms after fewer periods.
        "DriftCheckRateMinutes": "5",
        "DriftCheckWindowMinutes": "2",
        "HealthAlarmPeriodSeconds": "900",
        "UnhealthyEvaluationPeriods": "2",
        "DriftAlarmPeriods": "2",
        "FailureAlarmPeriodSeconds": "60",
        "IteratorAgeAlarmMilliseconds": "60000",
    }


def test_prod_overrides_are_valid_parameter_values(sam_template: dict[str, object]) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["prod"]["deploy"]["parameters"]["parameter_overrides"].split()
    parameters = sam_template["Parameters"]
    assert isinstance(parameters, dict)
    for name, value in (pair.split("=", 1) for pair in overrides):
        parameter = parameters[name]
        if "AllowedValues" in parameter:
            assert value in [str(v) for v in parameter["AllowedValues"]], name
        else:
            assert parameter["Type"] == "Number", name
            assert float(parameter.get("MinValue", "-inf")) <= float(value), name
            assert float(value) <= float(parameter.get("MaxValue", "inf")), name

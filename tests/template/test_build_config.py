"""The build: src/Makefile (what `sam build` runs), the artifact check, and samconfig.toml."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

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
        [MAKE, "-n", "-C", str(ROOT / "src"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _fake_artifact(root: Path, *entries: str) -> Path:
    for entry in entries:
        (root / entry).mkdir(parents=True)
        (root / entry / "__init__.py").write_text("")
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


def test_a_function_gets_the_package_only(tmp_path: Path) -> None:
    artifacts = tmp_path / "build" / "AcquireFunction"
    shown = _make_dry_run("build-AcquireFunction", f"ARTIFACTS_DIR={artifacts}")
    assert shown.returncode == 0, shown.stderr
    commands = [shlex.split(line) for line in shown.stdout.splitlines() if line.strip()]
    assert [c for c in commands if "pip" in c] == []
    assert [c for c in commands if c[:2] == ["cp", "-R"]] == [
        ["cp", "-R", "fleetwise_reconciler", f"{artifacts}/"],
    ]


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


KEPT_MODELS = ("dynamodb", "iotfleetwise", "lambda", "stepfunctions", "sts")


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
        tmp_path, *DEPENDENCIES, models=("dynamodb", "iotfleetwise", "lambda", "sts")
    )
    assert check_artifact.layer_problems(layer) == ["lacks the botocore model of stepfunctions"]


def test_a_bytecode_cache_in_the_package_fails(tmp_path: Path) -> None:
    function = _fake_artifact(tmp_path, "fleetwise_reconciler/logic/__pycache__")
    assert check_artifact.function_problems(function) == [
        "must not ship fleetwise_reconciler/logic/__pycache__"
    ]


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

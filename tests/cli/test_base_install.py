"""The base install is the operator CLI: it runs without the rehearsal's dependencies.

GIVEN a Python in which moto, Hypothesis and the SAM translator cannot be imported (an import
hook refuses them, as a base install without the ``rehearsal`` extra would), WHEN the CLI runs
its help, THEN it answers, and ``demo``/``rehearse`` say which extra to install. The declared
dependencies are held to the same split: what the CLI and the Lambda package import is in the
base dependencies; what only the rehearsal needs is in the extra. (`.ci/run` also installs the
base package into an empty venv and runs the help there: `make base-install`.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fleetwise_cli.main import EXIT_ERROR

ROOT = Path(__file__).resolve().parents[2]
REHEARSAL_ONLY = ("moto", "hypothesis", "samtranslator")

# Runs argv[1:] through the CLI with the rehearsal's dependencies made unimportable, then
# prints which of them were imported anyway (none, when the base install is enough).
BLOCKED_RUN = f"""
import importlib.abc, sys
BLOCKED = {REHEARSAL_ONLY!r}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Refuse())
from fleetwise_cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as done:
    code = done.code
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
print("LOADED:" + ",".join(loaded))
sys.exit(code)
"""


def run_blocked(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", BLOCKED_RUN, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "NO_COLOR": "1"},
    )


@pytest.mark.parametrize("command", ["status", "plan"])
def test_help_runs_without_the_rehearsal(command: str) -> None:
    done = run_blocked(command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: fleetwise-reconciler {command}" in done.stdout
    assert done.stdout.rstrip().endswith("LOADED:")


@pytest.mark.parametrize("command", ["demo", "rehearse"])
def test_the_rehearsal_commands_name_the_extra(command: str) -> None:
    done = run_blocked(command)
    assert done.returncode == EXIT_ERROR
    assert "pip install 'fleetwise-reconciler[rehearsal]'" in done.stderr
    assert "Traceback" not in done.stderr


def _third_party_imports(package: str) -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    found: set[str] = set()
    for path in (ROOT / "src" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and not top.startswith("fleetwise_"):
                    found.add(top)
    return found


def _distributions(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split("=")[0].split(">")[0].strip().lower() for r in requirements}


# Import name -> distribution, where they differ.
DISTRIBUTION = {
    "yaml": "pyyaml",
    "aws_lambda_powertools": "aws-lambda-powertools",
    "samtranslator": "aws-sam-translator",
}


def test_the_base_dependencies_are_what_the_cli_and_the_lambda_package_import() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _distributions(project["dependencies"])
    rehearsal = _distributions(project["optional-dependencies"]["rehearsal"])
    imported = _third_party_imports("fleetwise_cli") | _third_party_imports("fleetwise_reconciler")
    assert {DISTRIBUTION.get(name, name) for name in imported} == base
    assert {"moto", "hypothesis", "aws-sam-translator"} == rehearsal
    assert not base & rehearsal

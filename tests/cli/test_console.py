"""The installed ``fleetwise-reconciler`` command, as an operator's shell runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Operator

pytestmark = pytest.mark.e2e

COMMANDS = ("status", "plan", "diff", "apply", "set", "reconcile", "pause", "resume", "adopt",
            "unlock", "history", "delete", "completion", "demo", "rehearse")  # fmt: skip


def console(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = shutil.which("fleetwise-reconciler", path=str(Path(sys.executable).parent))
    assert script is not None
    return subprocess.run(  # noqa: S603 - the project's own console script
        [script, *argv],
        capture_output=True,
        text=True,
        env=env if env is not None else dict(os.environ),
        timeout=120,
        check=False,
    )


def test_help_lists_every_command_and_the_exit_codes() -> None:
    done = console("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"    {command}" in done.stdout
    assert "  3  conflict: an item changed after it was read; it was not written" in done.stdout
    # AND every command's own help has an example (demo's too: the rehearsal's is its own)
    for command in [c for c in COMMANDS if c not in ("rehearse", "completion")]:
        helped = console(command, "--help")
        assert helped.returncode == 0, command
        assert f"example:\n  fleetwise-reconciler {command}" in helped.stdout, command
    completion = console("completion", "--help")
    assert 'example:\n  eval "$(fleetwise-reconciler completion bash)"' in completion.stdout
    rehearse = console("rehearse", "--help")
    assert "examples:\n  fleetwise-reconciler rehearse" in rehearse.stdout


def test_a_usage_error_exits_1_so_that_2_means_would_act() -> None:
    done = console("set")
    assert done.returncode == 1
    assert done.stderr.endswith(
        "fleetwise-reconciler set: error: the following arguments are required: TARGET\n"
    )


def test_a_missing_stack_through_the_installed_command(
    operator: Callable[..., Operator],
) -> None:
    op = operator()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["AWS_ENDPOINT_URL_CLOUDFORMATION"] = op.stack_endpoint.endpoint_url
    done = console("status", "--stack", "fleetwise-reconciler-prod", env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "fleetwise-reconciler: stack fleetwise-reconciler-prod (--stack), Region us-east-1 "
        "(AWS_REGION)\n"
        "fleetwise-reconciler: stack 'fleetwise-reconciler-prod' not found in us-east-1: "
        "deploy it with 'sam deploy', or name another with --stack (and --region)\n"
    )


def test_the_operator_commands_do_not_load_the_rehearsal() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, fleetwise_cli.main; "
            "print(sorted(m for m in ('moto', 'samtranslator', 'fleetwise_rehearsal') "
            "if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout == "[]\n"

"""The operator's day against a served rehearsal: two processes, as an operator tries it.

GIVEN ``fleetwise-reconciler rehearse --serve`` running as its own process (the real
template, workflow and handlers behind loopback endpoints, the virtual clock paced at 600
times the wall clock), WHEN the installed CLI runs as another process with the variables the
server wrote to its ``--env-file``, THEN what the CLI writes reaches the stack through its
stream, the workflow registers it, and the CLI reads the outcome back; SIGTERM stops the
server and removes the file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
PROG = shutil.which("fleetwise-reconciler", path=str(BIN))
DEFAULT_TARGET = "123456789012:us-east-1"
OTHER_TARGET = "123456789012:eu-central-1"
SPEED = "600"
START_TIMEOUT = 90.0


@dataclass
class Server:
    process: subprocess.Popen[str]
    env_file: Path
    env: dict[str, str]

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert PROG is not None
        return subprocess.run(  # noqa: S603 - the installed command, fixed arguments
            [PROG, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env,
        )

    def json(self, *args: str) -> Any:
        done = self.cli(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _exports(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value.strip("'")
    return values


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    assert PROG is not None, "the fleetwise-reconciler command is installed beside pytest"
    folder = tmp_path_factory.mktemp("served")
    env_file = folder / "served.env"
    process = subprocess.Popen(  # noqa: S603 - the installed command, fixed arguments
        [PROG, "rehearse", "--serve", "--speed", SPEED, "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=folder,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[0]
            pytest.fail(f"rehearse --serve did not start:\n{output}")
        time.sleep(0.1)
    time.sleep(0.2)  # the file is written whole before the stack is announced
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(_exports(env_file.read_text(encoding="utf-8")), NO_COLOR="1")
    # Run from the folder without samconfig.toml: the default stack name.
    served = Server(process, env_file, env)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _until(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _target(server: Server, target: str) -> dict[str, Any]:
    answer = server.json("status", target)
    (entry,) = answer["targets"]
    return dict(entry)


def test_the_server_announces_every_variable_a_client_needs(server: Server) -> None:
    assert set(_exports(server.env_file.read_text(encoding="utf-8"))) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDFORMATION",
        "AWS_ENDPOINT_URL_IOTFLEETWISE",
    }
    assert server.env["AWS_REGION"] == "us-east-1"


def test_the_deployed_target_registers_and_the_cli_reads_it(server: Server) -> None:
    entry = _until(
        lambda: (e := _target(server, DEFAULT_TARGET))["phase"] == "Registered" and e,
        "the deploy's target to register",
    )
    assert entry["reason"] == "Registered"
    assert entry["fleetwise"] == "REGISTRATION_SUCCESS"
    assert entry["specHash"] == entry["statusSpecHash"]


def test_apply_writes_a_new_target_and_waits_for_its_registration(
    server: Server, tmp_path: Path
) -> None:
    spec = tmp_path / "targets.json"
    spec.write_text(json.dumps([{"target": OTHER_TARGET, "mode": "cloudwatch"}]))
    done = server.cli("apply", "-f", str(spec), "--yes", "--wait", "--timeout", "90", "-o", "json")
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["target"] == OTHER_TARGET
    assert result["written"] is True
    assert result["outcome"]["phase"] == "Registered"
    assert result["outcome"]["specHash"] == result["specHash"]
    history = server.json("history", OTHER_TARGET)
    assert [entry["phase"] for entry in history["history"]] == ["Registered"]


def test_sigterm_stops_the_server_and_removes_its_file(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    output, _ = server.process.communicate(timeout=60)
    assert server.process.returncode == 0
    assert output.rstrip().endswith("# stopped: the served stack is gone")
    assert not server.env_file.exists()
    down = server.cli("status", timeout=60)
    assert down.returncode != 0


def test_serve_refuses_json(tmp_path: Path) -> None:
    assert PROG is not None
    done = subprocess.run(  # noqa: S603 - the installed command, fixed arguments
        [PROG, "rehearse", "--serve", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "--serve prints the variables to export" in done.stderr

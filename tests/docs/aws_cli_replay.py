"""Run the documents' ``aws`` shell commands as written, and replay each call on a rehearsed
stack with boto3.

The shell blocks run in bash with an ``aws`` executable of our own first on ``PATH``: it writes
its arguments to a log and, for ``cloudformation describe-stacks``, prints what the AWS CLI
would (``--query`` applied with JMESPath, ``--output text``) to an answer the rehearsal gave.
Every logged call is then turned into the boto3 call the AWS CLI makes: the operation and each
``--option`` found in botocore's model of the service (an unknown option fails the test), a
``file://`` value read from the file, as the AWS CLI does, and a JSON value parsed where the
model expects a structure, a map or a list. The parameters are validated against the model;
calls the rehearsal serves are then made on it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import jmespath
from botocore import xform_name
from botocore.model import OperationModel
from botocore.validate import validate_parameters

# Options of the AWS CLI itself, not of the operation.
GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile", "--no-cli-pager"}

STUB = """\
import json, os, sys
import jmespath

args = sys.argv[1:]
with open(os.environ["AWS_STUB_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    answer = json.loads(open(os.environ["AWS_STUB_STACKS"], encoding="utf-8").read())
    query = args[args.index("--query") + 1] if "--query" in args else None
    found = jmespath.search(query, answer) if query else answer
    if isinstance(found, list):
        found = "\\t".join(str(value) for value in found)
    print(found)
"""


@dataclass(frozen=True)
class Call:
    """One ``aws SERVICE COMMAND --option value ...`` as the shell passed it."""

    argv: tuple[str, ...]

    @property
    def service(self) -> str:
        return self.argv[0]

    @property
    def command(self) -> str:
        return self.argv[1]

    def options(self) -> dict[str, list[str]]:
        """Each ``--option`` and the words after it (none for a flag, several for a list)."""
        found: dict[str, list[str]] = {}
        current: list[str] | None = None
        for word in self.argv[2:]:
            if word.startswith("--"):
                current = found.setdefault(word, [])
            elif current is None:
                raise ValueError(f"aws {self.service} {self.command}: stray argument {word!r}")
            else:
                current.append(word)
        return found


FENCE = re.compile(r"^( *)```sh\n(.*?)\n\1```$", re.M | re.S)


def shell_blocks(markdown: str) -> list[str]:
    """The fenced ``sh`` blocks of a Markdown text that call ``aws`` (indented ones, inside a
    list item, dedented)."""
    blocks = []
    for indent, body in FENCE.findall(markdown):
        text = textwrap.dedent(body) if indent else body
        if any(line.lstrip().startswith("aws ") or "$(aws " in line for line in text.split("\n")):
            blocks.append(text)
    return blocks


def run_block(
    block: str,
    workdir: Path,
    *,
    substitutions: Mapping[str, str],
    describe_stacks: Mapping[str, Any],
    cwd: Path,
) -> list[Call]:
    """Run ``block`` in bash, in ``cwd``, with the stub ``aws``; returns the calls it made."""
    for placeholder, value in substitutions.items():
        block = block.replace(placeholder, value)
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "aws"
    stub.write_text(f"#!{sys.executable}\n{STUB}", encoding="utf-8")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    log = workdir / "aws-calls.jsonl"
    log.write_text("", encoding="utf-8")
    stacks = workdir / "describe-stacks.json"
    stacks.write_text(json.dumps(describe_stacks, default=str), encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AWS_STUB_LOG": str(log),
        "AWS_STUB_STACKS": str(stacks),
        "HOME": str(workdir),
    }
    subprocess.run(  # noqa: S603 - our own documents, run by our own bash
        ["/bin/bash", "-euo", "pipefail", "-c", block],
        check=True,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    lines = log.read_text(encoding="utf-8").splitlines()
    return [Call(tuple(json.loads(line))) for line in lines]


def operation_model(call: Call) -> OperationModel:
    model = botocore.session.get_session().get_service_model(call.service)
    by_cli_name = {xform_name(name, "-"): name for name in model.operation_names}
    if call.command not in by_cli_name:
        raise ValueError(f"aws {call.service} has no command {call.command!r}")
    return model.operation_model(by_cli_name[call.command])


def boto3_request(
    call: Call, cwd: Path | None = None
) -> tuple[str, dict[str, Any], dict[str, str | None]]:
    """(boto3 method name, its parameters, the AWS CLI's own options) of one call; ``file://``
    paths are read relative to ``cwd``. Raises when the parameters do not fit the model."""
    operation = operation_model(call)
    members = operation.input_shape.members if operation.input_shape else {}
    by_option = {"--" + xform_name(name, "-"): name for name in members}
    params: dict[str, Any] = {}
    own: dict[str, str | None] = {}
    for option, values in call.options().items():
        if option in GLOBAL_OPTIONS:
            own[option] = values[0] if values else None
            continue
        if option not in by_option:
            raise ValueError(f"aws {call.service} {call.command} has no option {option}")
        name = by_option[option]
        shape = members[name]
        if not values:
            raise ValueError(f"{option} needs a value")
        if shape.type_name == "list" and not values[0].startswith("["):
            params[name] = values  # the AWS CLI's space-separated list of strings
            continue
        if len(values) > 1:
            raise ValueError(f"{option} takes one value, got {values}")
        value = values[0]
        if value.startswith("file://"):
            value = ((cwd or Path.cwd()) / value.removeprefix("file://")).read_text("utf-8")
        if shape.type_name in ("structure", "map", "list"):
            params[name] = json.loads(value)
        elif shape.type_name in ("integer", "long"):
            params[name] = int(value)
        else:
            params[name] = value
    if operation.input_shape is not None:
        validate_parameters(params, operation.input_shape)
    return xform_name(operation.name), params, own


def replay(call: Call, client_for: Callable[[str], Any], cwd: Path | None = None) -> Any:
    """Make the call with boto3 (``client_for(service)`` gives the client); the answer, with
    ``--query`` applied when given."""
    method, params, own = boto3_request(call, cwd)
    answer = getattr(client_for(call.service), method)(**params)
    answer.pop("ResponseMetadata", None)
    query = own.get("--query")
    return jmespath.search(query, answer) if query else answer


def each_block(paths: list[Path]) -> Iterator[tuple[str, str]]:
    """(file name, block) for every ``aws`` shell block of the given Markdown files."""
    for path in paths:
        for block in shell_blocks(path.read_text(encoding="utf-8")):
            yield path.name, block


def words(block: str) -> list[list[str]]:
    """The commands of a shell block as words (for tests that inspect one)."""
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line]

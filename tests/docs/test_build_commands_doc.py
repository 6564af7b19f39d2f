"""The commands of the documents that cannot run here (`make`, `sam`) name what exists: every
`make X` a Makefile target, every SAM CLI path the venv the Makefile installs it in, every
`--config-env` an environment of samconfig.toml, every `--parameter-overrides` a parameter
with an allowed value."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from doc_support import ROOT, read

DOCUMENTS = [
    "README.md",
    "SECURITY.md",
    *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")),
]
MAKEFILE = read("Makefile")
# what a word after `make` in prose may be ("make the", "make it")
PROSE = {"the", "it", "a", "sure"}


def code(text: str) -> str:
    """The code of a Markdown text: fenced blocks and inline code spans."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```\w*\n.*?```", "", text, flags=re.S))
    return "\n".join(blocks + spans)


def phony_targets() -> set[str]:
    (line,) = [line for line in MAKEFILE.splitlines() if line.startswith(".PHONY:")]
    return set(line.split(":", 1)[1].split())


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_make_target_named_exists(document: str) -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", code(read(document)))) - PROSE
    assert named <= phony_targets(), sorted(named - phony_targets())


def test_the_sam_cli_path_is_the_makefiles_venv() -> None:
    (venv,) = re.findall(r"^SAM_VENV := (\S+)$", MAKEFILE, re.M)
    for document in DOCUMENTS:
        for path in re.findall(r"([\w.-]+)/bin/sam\b", read(document)):
            assert path == venv, (document, path)
    assert f"{venv}/bin/sam deploy --guided" in read("docs/deploy.md")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_config_env_and_override_is_real(document: str, template: dict[str, Any]) -> None:
    environments = set(tomllib.loads(read("samconfig.toml"))) - {"version"}
    text = code(read(document))
    for environment in re.findall(r"--config-env ([\w-]+)", text):
        assert environment in environments, (document, environment)
    for overrides in re.findall(r"--parameter-overrides ((?:\w+=\S+ ?)+)", text):
        for pair in overrides.split():
            name, value = pair.split("=", 1)
            if (name, value) == ("Name", "Value"):
                continue  # the syntax, as docs/parameters.md gives it
            parameter = template["Parameters"][name]
            assert value in [str(v).lower() for v in parameter.get("AllowedValues", [value])]

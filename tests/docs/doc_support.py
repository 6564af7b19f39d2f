"""Helpers of the documentation tests: the repository's files and their Markdown."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = "123456789012:us-east-1"
JITTER = 0.5


def read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def flat(text: str) -> str:
    """``text`` with every run of whitespace (line breaks of a wrapped paragraph) one space."""
    return re.sub(r"\s+", " ", text).strip()


def section(text: str, heading: str) -> str:
    """The Markdown section under ``heading`` (a whole heading line), up to the next heading of
    the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    ends = [m.start() for m in re.finditer(rf"^#{{1,{level}}} ", rest, re.M)]
    return rest[: ends[0]] if ends else rest


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text``: the header row, then the data rows
    (the rule row under the header is left out)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]

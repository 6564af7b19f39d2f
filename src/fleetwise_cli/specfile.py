"""Spec items from a file: JSON, or YAML (which JSON also is), one item or a list of them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from fleetwise_cli.context import CliError


def load_items(path: str) -> list[dict[str, Any]]:
    """The items of ``path``, each a mapping of attribute names to values DynamoDB can hold."""
    file = Path(path)
    if not file.is_file():
        raise CliError(f"{path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: cannot be read: {error}") from None
    name = file.name
    if file.suffix == ".json":
        try:
            value = json.loads(text)
        except ValueError as error:
            raise CliError(f"{name}: not valid JSON: {error}") from None
    else:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f"line {where.line + 1}: " if where is not None else ""
            problem = getattr(error, "problem", None) or str(error)
            raise CliError(f"{name}: not valid YAML: {line}{problem}") from None
    items = value if isinstance(value, list) else [value]
    if not items:
        raise CliError(f"{name}: holds no spec item")
    for index, item in enumerate(items, start=1):
        where = f"{name}: item {index}" if isinstance(value, list) else name
        if not isinstance(item, dict):
            raise CliError(
                f"{where}: a spec item is an object of attributes (target, mode, policy, ...), "
                f"got {type(item).__name__}"
            )
        for key, attribute in item.items():
            _check_value(attribute, f"{where}: {key}")
    return items


def _check_value(value: Any, where: str) -> None:
    """Refuse what a DynamoDB item cannot hold or what YAML turned into something else."""
    if isinstance(value, dt.date | dt.datetime):
        raise CliError(
            f"{where}: holds a date ({value}), which a DynamoDB item cannot hold; quote it"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise CliError(f"{where}: {type(value).__name__} values cannot be stored")

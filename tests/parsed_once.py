"""What the tests parse once per process: template.yaml and botocore's data files.

Not in a conftest: pytest imports each conftest again for every session it starts in a
process, so caches held there start empty each time. ``make mutation`` starts one session per
mutant, in a process forked from one that already ran the tests; a plain module stays
imported, so every mutant's run starts with these parsed.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import botocore.loaders
import yaml

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when PyYAML has it


class _TemplateLoader(_YamlLoader):  # type: ignore[misc, valid-type]
    """Reads template.yaml's short intrinsic tags (!If, !Ref, ...) as plain values."""


def _any_intrinsic(loader: Any, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_TemplateLoader.add_multi_constructor("!", _any_intrinsic)


@functools.cache
def template() -> dict[str, Any]:
    """template.yaml with its intrinsic functions read as plain values (share, do not change)."""
    parsed: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)  # noqa: S506
    return parsed


# Every botocore session parses its JSON data (endpoints, partitions, each service's model)
# afresh, and the tests make sessions by the thousand (a fresh wiring per test, PynamoDB's
# connections, moto's clients): about a third of a handler test's time went to parsing the
# same files again. One loader per data path for the process shares what a loader already
# shares between the clients of one session (its cache hands every caller the same objects,
# so none may change them).
_LOADERS: dict[str | None, botocore.loaders.Loader] = {}


def botocore_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """The process's loader for a data path (``botocore.loaders.create_loader``'s signature)."""
    if search_path_string not in _LOADERS:
        _LOADERS[search_path_string] = botocore.loaders.create_loader(search_path_string)
    return _LOADERS[search_path_string]

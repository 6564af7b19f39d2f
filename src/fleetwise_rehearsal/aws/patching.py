"""Replacing moto internals by name, and putting them back: shared by the rehearsal's patches.

A patch point is ``(module, attribute path, kind)``; ``resolve_patch_point`` finds it or raises
``MotoInternalsChanged`` naming what moved, so a moto upgrade fails loudly instead of leaving
the rehearsal silently unpatched.
"""

from __future__ import annotations

import importlib
from typing import Any


class MotoInternalsChanged(RuntimeError):
    """A moto internal the rehearsal patches is missing or has another shape."""


def resolve_patch_point(module_name: str, path: str) -> tuple[Any, str, Any]:
    """(owner, attribute name, current value) of a patch point, or MotoInternalsChanged."""
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise MotoInternalsChanged(f"moto module {module_name} is gone: {exc}") from exc
    *parents, name = path.split(".")
    for parent in parents:
        if not hasattr(owner, parent):
            raise MotoInternalsChanged(f"{module_name}.{parent} is gone (needed for {path})")
        owner = getattr(owner, parent)
    if name not in vars(owner):
        raise MotoInternalsChanged(f"{module_name}.{path} is gone")
    return owner, name, vars(owner)[name]


class Patcher:
    """Replaces patch points and remembers the originals; ``undo`` restores them all."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def original(self, module_name: str, path: str) -> Any:
        """The value a patch point has now (before this patcher replaces it)."""
        return resolve_patch_point(module_name, path)[2]

    def replace(self, module_name: str, path: str, value: Any) -> Any:
        owner, name, original = resolve_patch_point(module_name, path)
        self._undo.append((owner, name, original))
        setattr(owner, name, value)
        return original

    def undo(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)

"""The RegisterAccount calls counted for one spec version: the bound MaxRegistrationAttempts
puts on them (docs/workflow.md, "The attempts bound").

Every call that reaches IoT FleetWise counts, whatever it answered and however it was retried:
``count`` the calls that may have acted (answered, failed in a way that leaves it unknown, or
never answered) and ``refused`` those the service refused without acting (throttled, another
operation in flight, validation, access denied). Each is bounded by MaxRegistrationAttempts
on its own, until the version is Registered (both restart at 0 then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Attempts:
    count: int = 0
    refused: int = 0
    allowed: bool = True
    """False when the bound stopped a call (nothing was counted for it)."""

    @classmethod
    def of(cls, status: Mapping[str, Any] | None, spec_hash: str | None) -> Attempts:
        """The counts a status holds for ``spec_hash`` (none for another version)."""
        counted = (status or {}).get("attempts") or {}
        if spec_hash is None or counted.get("specHash") != spec_hash:
            return cls()
        return cls(int(counted.get("count") or 0), int(counted.get("refused") or 0))

    def spent(self, limit: int) -> bool:
        """Whether the version may not be registered again (either count at the bound)."""
        return self.count >= limit or self.refused >= limit

    def as_status(self, spec_hash: str) -> dict[str, Any]:
        """The status's ``attempts``."""
        return {"specHash": spec_hash, "count": self.count, "refused": self.refused}

    def describe(self, limit: int) -> str:
        """The counts against the bound, in words."""
        return (
            f"{self.count} RegisterAccount call{'s' if self.count != 1 else ''} that may have "
            f"acted and {self.refused} refused without acting for this spec version "
            f"(MaxRegistrationAttempts {limit} of each)"
        )

"""The one notion of "now" the handlers use.

In AWS it is the system clock. The offline rehearsal replaces the source with its virtual
clock (``set_source``) so budgets, durations and recorded timestamps follow virtual time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return _source()


def set_source(source: Callable[[], datetime] | None) -> None:
    """Use ``source`` as the clock (None restores the system clock)."""
    global _source  # noqa: PLW0603 - the single, documented seam for the rehearsal's clock
    _source = source or _system_now


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    """Inverse of ``isoformat`` (accepts any ISO 8601 with an offset or ``Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)

"""TODO"""

from fleetwise_rehearsal.rehearsal.core import (
    ENDPOINT_VARIABLE,
    START,
    Event,
    Execution,
    plain,
    template_path,
)
from fleetwise_rehearsal.rehearsal.stage import Rehearsal, rehearsal

__all__ = [
    "ENDPOINT_VARIABLE",
    "START",
    "Event",
    "Execution",
    "Rehearsal",
    "plain",
    "rehearsal",
    "template_path",
]

"""``Rehearsal``: the deployed stack, driven and observed offline on a virtual clock.

``core`` starts the emulated services and deploys the template, ``drive`` acts on the stack
as the world would (deploys, edits, the stream, the schedule, StopExecution, time), ``observe``
reads what happened (tables, executions, calls, metrics, alarms, the timeline); ``stage``
composes them into ``Rehearsal``.

May import: ``fleetwise_rehearsal.aws``, ``fleetwise_rehearsal.fleetwise``,
``fleetwise_reconciler``.
"""

from fleetwise_rehearsal.aws.stack import DEFAULT_ACCOUNT
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
    "DEFAULT_ACCOUNT",
    "ENDPOINT_VARIABLE",
    "START",
    "Event",
    "Execution",
    "Rehearsal",
    "plain",
    "rehearsal",
    "template_path",
]

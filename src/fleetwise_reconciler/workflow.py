"""The port to the reconcile workflow: starting a run with a deterministic name.

A run's name says what asked for it (a stream record's eventID, a drift tick's minute), so a
request delivered twice starts one run: ``ExecutionAlreadyExists`` counts as success. (While
a run with the same name and input is still going, Step Functions itself answers the second
StartExecution idempotently.)
"""

from __future__ import annotations

import json
from typing import Any


def start_reconcile(
    client: Any, state_machine_arn: str, *, name: str, target: str, trigger: str
) -> bool:
    """Start the run ``name`` for ``target``; False when a run of that name already exists."""
    payload = {"target": target, "trigger": trigger, "eventId": name}
    try:
        client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except client.exceptions.ExecutionAlreadyExists:
        return False
    return True

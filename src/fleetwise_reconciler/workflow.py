"""The port to the reconcile workflow: starting a run with a deterministic name.

A run's name says what asked for it (a stream record's eventID, a drift tick's minute), so a
request delivered twice starts one run: ``ExecutionAlreadyExists`` counts as success. (While
a run with the same name and input is still going, Step Functions itself answers the second
StartExecution idempotently.) A name is always one Step Functions takes, whatever the key
(``hashed_name``): a key it cannot take as it is never fails a StartExecution.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

# What StartExecution takes as a name (Step Functions API reference, StartExecution, "name"):
# 1 to 80 characters and none of: white space, brackets < > { } [ ], wildcard characters ? *,
# special characters " # % \ ^ | ~ ` $ & , ; : /, control characters (U+0000-001F,
# U+007F-009F, U+FFFE-FFFF), surrogates; and "to enable logging with CloudWatch Logs, the
# name should only contain 0-9, A-Z, a-z, - and _". The reconciler's names keep to that last,
# narrower set (the workflow logs to CloudWatch Logs).
NAME_MAX = 80
_NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")
_NOT_IN_NAME = re.compile(r"[^0-9A-Za-z_-]+")
# Hex digits of the key's SHA-256 a made-up name carries: two keys never share a name.
DIGEST = 12


def is_execution_name(name: str) -> bool:
    """Whether ``name`` is one the reconciler gives a run as it is."""
    return _NAME.fullmatch(name) is not None


def hashed_name(prefix: str, key: str, suffix: str = "") -> str:
    """A name for the run ``key`` asks for when ``key`` cannot be read in the name as it is:
    ``prefix``, the key's other characters each run as one ``-``, cut to fit, a digest of the
    whole key, ``suffix``. The same key always gives the same name (a request delivered twice
    starts one run); two keys never share one."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST]
    room = NAME_MAX - len(prefix) - len(suffix) - DIGEST - 1
    head = _NOT_IN_NAME.sub("-", key)[: max(room, 0)].strip("-")
    return f"{prefix}{head}-{digest}{suffix}" if head else f"{prefix}{digest}{suffix}"


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

"""The offline rehearsal: the real template, workflow and handlers, on embedded AWS.

``Rehearsal`` starts moto, a virtual clock, the FleetWise simulator (or uses the endpoint in
``AWS_ENDPOINT_URL_IOTFLEETWISE``), patches moto and deploys ``template.yaml`` into it::

    with Rehearsal() as r:
        r.deploy_spec()          # the custom resource, as `sam deploy` runs it
        r.settle()               # every execution to its end, virtual time jumping ahead
        r.status("123456789012:us-east-1")["phase"]   # "Registered"

What moto leaves inert the rehearsal applies from the template's own definitions: the stream's
event source mapping (``StreamDelivery``: filter, batching, partial failures, bisection,
on-failure queue), the custom resource (its ``ResponseURL`` is served on loopback and the
answer kept), the execution-status EventBridge rule (its pattern evaluated against the
status-change event of every execution that ended FAILED, TIMED_OUT or ABORTED, its target
invoked), the drift schedule (``tick``) and the alarms (``alarms_in_alarm``).

Scenarios drive the clock in its manual mode instead: ``run_until`` lets time run to a moment
with executions running, ``stop_execution`` and ``update_parameters`` act as an operator and a
stack update would (``scenario.ScenarioRunner`` builds on them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fleetwise_rehearsal.rehearsal.drive import Driving


class Rehearsal(Driving):
    """The deployed stack, rehearsed offline on a virtual clock (see the module docstring).

    ``parameters`` are template parameters (strings, as CloudFormation takes them).
    ``jitter_fraction`` pins Step Functions' FULL jitter (``None``: seeded random).
    ``endpoint_url`` (or ``AWS_ENDPOINT_URL_IOTFLEETWISE`` when set) replaces the simulator.
    ``member_accounts`` maps each member account to the parameters of ``member/template.yaml``
    deployed there after the stack (``{}``: trusting this stack, as StackSets would roll it
    out); see ``deploy_member``.
    """


@contextlib.contextmanager
def rehearsal(**kwargs: Any) -> Iterator[Rehearsal]:
    """``with rehearsal(...) as r:`` — the same as ``with Rehearsal(...) as r:``."""
    with Rehearsal(**kwargs) as running:
        yield running

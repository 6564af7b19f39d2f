"""The IoT FleetWise simulator: the registration API as the service answers it, offline.

A loopback endpoint speaking the service's wire protocol (``wire``), checked request by
request against botocore's model of the service, with the state the service keeps per account
and Region (``state``) and scripting for what a test or scenario needs the service to do
(``simulator``): how long a registration stays pending, failures, throttling, access denied,
out-of-band changes. Its clock is whatever it is given (the rehearsal's virtual clock).

May import: ``fleetwise_rehearsal.aws``. Only its model checking, which the simulator shares
with the AWS emulation; the simulator runs alone too (``FleetWiseSimulator()`` is an endpoint
for any client).
"""

from fleetwise_rehearsal.fleetwise.simulator import FleetWiseSimulator
from fleetwise_rehearsal.fleetwise.state import (
    FAILURE,
    PENDING,
    SERVICE_LINKED_ROLE_NAME,
    SUCCESS,
    Call,
    Campaign,
    ModelViolationError,
    Outcome,
    RegistrationStatus,
    SimulatorUsageError,
    service_linked_role_arn,
)

__all__ = [
    "FAILURE",
    "PENDING",
    "SERVICE_LINKED_ROLE_NAME",
    "SUCCESS",
    "Call",
    "Campaign",
    "FleetWiseSimulator",
    "ModelViolationError",
    "Outcome",
    "RegistrationStatus",
    "SimulatorUsageError",
    "service_linked_role_arn",
]

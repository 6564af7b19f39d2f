"""What the IoT FleetWise simulator keeps and reports: registrations, scripted outcomes and
faults, campaigns, and the log of calls. Plain data; the behaviour is in ``simulator``."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

SERVICE_LINKED_ROLE_NAME: Final = "AWSServiceRoleForIoTFleetWise"

PENDING: Final = "REGISTRATION_PENDING"
SUCCESS: Final = "REGISTRATION_SUCCESS"
FAILURE: Final = "REGISTRATION_FAILURE"
RegistrationStatus = Literal["REGISTRATION_PENDING", "REGISTRATION_SUCCESS", "REGISTRATION_FAILURE"]


class ModelViolationError(AssertionError):
    """The simulator answered with something the service model forbids: a simulator bug."""


class SimulatorUsageError(RuntimeError):
    """A scripting call that makes no sense in the simulator's current state."""


@dataclass(frozen=True)
class Outcome:
    """How one RegisterAccount call plays out.

    ``pending_seconds`` of virtual time in REGISTRATION_PENDING, then ``result``. A FAILURE
    puts ``iam_error`` on the IAM sub-status (a default message when neither error is given)
    and ``timestream_error`` on the Timestream one (legacy registrations only).
    """

    pending_seconds: float = 300.0
    result: Literal["SUCCESS", "FAILURE"] = "SUCCESS"
    iam_error: str | None = None
    timestream_error: str | None = None

    def __post_init__(self) -> None:
        if self.result not in ("SUCCESS", "FAILURE"):
            raise ValueError(f"result must be SUCCESS or FAILURE, not {self.result!r}")
        if self.pending_seconds < 0:
            raise ValueError("pending_seconds must not be negative")


@dataclass(frozen=True)
class Campaign:
    """A campaign as ListCampaigns and GetCampaign report it.

    ``data_destination_configs`` holds wire-shaped items (``{"s3Config": {...}}``,
    ``{"timestreamConfig": {...}}``, ``{"mqttTopicConfig": {...}}``); empty means the campaign
    sends its data to the Timestream table stored with the account's registration.
    ``arn`` defaults to the campaign's ARN in the simulator's account and Region; times default
    to the clock at ``set_campaigns``.
    """

    name: str
    status: Literal["CREATING", "WAITING_FOR_APPROVAL", "RUNNING", "SUSPENDED"] = "RUNNING"
    data_destination_configs: tuple[Mapping[str, Any], ...] = ()
    arn: str | None = None
    description: str | None = None
    signal_catalog_arn: str | None = None
    target_arn: str | None = None
    creation_time: float | None = None
    last_modification_time: float | None = None


@dataclass(frozen=True)
class Call:
    """One request the simulator received and what it answered.

    ``region`` is the Region the request was signed for (its SigV4 credential scope) and
    ``account`` the account its credentials belong to; ``tag`` is what the simulator's
    ``tagger`` said was running when it arrived (in the rehearsal: the Lambda invocation,
    "<function name> <execution ARN>")."""

    operation: str
    input: dict[str, Any]
    at: float
    status: int
    error_type: str | None
    output: dict[str, Any]
    region: str = ""
    account: str = ""
    tag: str | None = None


@dataclass
class Fault:
    code: str
    message: str
    retry_after: int | None
    remaining: int


@dataclass
class Slow:
    """Answer the next ``remaining`` calls ``seconds`` of virtual time late."""

    seconds: float
    remaining: int


@dataclass
class Registration:
    created: float
    modified: float
    settles_at: float
    outcome: Outcome
    role_arn: str
    timestream: tuple[str, str] | None
    # An out-of-band status (set_account_status, delete_service_linked_role) replacing what the
    # outcome would report: (account, iam, iam error, timestream, timestream error).
    forced: tuple[str, str, str | None, str, str | None] | None = None
    role_deleted: bool = False


@dataclass
class AccountState:
    """Everything the service keeps for one account in one Region."""

    registration: Registration | None = None
    script: deque[Outcome] = field(default_factory=deque)
    faults: dict[str | None, deque[Fault]] = field(default_factory=dict)
    slow: dict[str | None, deque[Slow]] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)


@dataclass(frozen=True)
class View:
    """A registration as GetRegisterAccountStatus reports it at one moment."""

    account: str
    iam: str
    iam_error: str | None
    timestream: str
    timestream_error: str | None
    modified: float


def service_linked_role_arn(account: str) -> str:
    """``AWSServiceRoleForIoTFleetWise`` in ``account``."""
    return (
        f"arn:aws:iam::{account}:role/aws-service-role/"
        f"iotfleetwise.amazonaws.com/{SERVICE_LINKED_ROLE_NAME}"
    )

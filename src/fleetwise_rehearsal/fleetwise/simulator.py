"""An IoT FleetWise endpoint for the offline rehearsal.

A standard-library HTTP server on 127.0.0.1 that speaks the service's real wire protocol
(awsJson 1.0: ``POST /``, ``X-Amz-Target: IoTAutobahnControlPlane.<Operation>``), so the
product's unchanged boto3 code reaches it through ``AWS_ENDPOINT_URL_IOTFLEETWISE``::

    with FleetWiseSimulator(clock=virtual_clock) as sim:
        os.environ["AWS_ENDPOINT_URL_IOTFLEETWISE"] = sim.endpoint_url
        ...
        assert sim.count("RegisterAccount") == 1

It serves ``RegisterAccount``, ``GetRegisterAccountStatus``, ``ListCampaigns`` and
``GetCampaign``; any other operation gets ``UnknownOperationException``.

State follows the ``clock`` it is given (epoch seconds), read on every request: a registration
is PENDING until the clock reaches its scripted settle time, whatever the wall clock says.

Every request and every response is checked against botocore's service model. A request the
model rejects gets a ``ValidationException``; a response the model rejects is a simulator bug:
the client gets HTTP 500, the violation is kept in ``model_violations``, and leaving the
``with`` block raises ``ModelViolationError`` (unless ``strict=False``).

Behaviour the public documentation does not settle is marked ``ASSUMPTION:`` in the code.

Why one module: the four operations and the scripting methods read and write the same
per-account state under one lock, and each scripted behaviour is best read beside the
operation it changes; the state (``state``) and the wire (``wire``) are already apart.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from email.message import Message
from types import TracebackType
from typing import Any, Final, Self

import botocore.session
from botocore.model import OperationModel, ServiceModel

from fleetwise_rehearsal.aws.model_check import ModelChecker
from fleetwise_rehearsal.fleetwise.state import (
    FAILURE,
    PENDING,
    SERVICE_LINKED_ROLE_NAME,
    SUCCESS,
    AccountState,
    Call,
    Campaign,
    Fault,
    ModelViolationError,
    Outcome,
    Registration,
    RegistrationStatus,
    SimulatorUsageError,
    Slow,
    View,
    service_linked_role_arn,
)
from fleetwise_rehearsal.fleetwise.wire import (
    CREDENTIAL_SCOPE,
    ERROR_STATUS,
    SIGNING_NAME,
    TARGET_PREFIX,
    ApiError,
    Reply,
    RequestHandler,
    Server,
    decode_token,
    describe,
    encode_token,
    parse_json,
    put,
    reject_transport,
    required_filler,
    validation_reply,
    wire_time,
)

# Handler method per operation; looked up by name on every request so a test can replace one
# on the instance (monkeypatch.setattr(sim, "handle_get_campaign", ...)).
_HANDLERS: Final = {
    "RegisterAccount": "handle_register_account",
    "GetRegisterAccountStatus": "handle_get_register_account_status",
    "ListCampaigns": "handle_list_campaigns",
    "GetCampaign": "handle_get_campaign",
}


_DEFAULT_PAGE_SIZE: Final = 100
_DEFAULT_FAILURE_MESSAGE: Final = (
    "IoT FleetWise could not assume the service-linked role "
    f"{SERVICE_LINKED_ROLE_NAME}. IAM changes can take time to propagate; try again later."
)
# ASSUMPTION: with the service-linked role deleted, GetRegisterAccountStatus still answers
# (the registration record outlives the role) but reports the account and its IAM part as
# REGISTRATION_FAILURE with this message; RegisterAccount re-creates the role and cures it.
_ROLE_DELETED_MESSAGE: Final = (
    f"The service-linked role {SERVICE_LINKED_ROLE_NAME} does not exist. "
    "Register the account again to re-create it."
)


class FleetWiseSimulator:
    """A scriptable, model-checked IoT FleetWise endpoint (see the module docstring).

    State is kept per account and Region, as the service keeps it: the Region a request is
    signed for and the account of its credentials select it (``account_for_access_key`` maps
    an access key to its account; without it every caller is ``account_id``). Scripting
    methods take ``region=``/``account=`` (default: ``region`` and ``account_id``).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        default_pending_seconds: float = 300.0,
        default_outcome: Outcome | None = None,
        port: int = 0,
        strict: bool = True,
        service_model: ServiceModel | None = None,
        account_for_access_key: Callable[[str], str] | None = None,
        tagger: Callable[[], str | None] | None = None,
        wait: Callable[[float], None] | None = None,
        expired: Callable[[str], bool] | None = None,
    ) -> None:
        self.clock = clock
        # How the caller spends the virtual time a slow answer takes (the rehearsal: the
        # running Lambda invocation waits it, ``LambdaInvoker.wait``); and whether an access
        # key's session has expired (the rehearsal: an assumed role's, on the virtual clock).
        self.wait = wait
        self.expired = expired
        self.account_id = account_id
        self.region = region
        self.account_for_access_key = account_for_access_key
        self.tagger = tagger
        self.default_outcome = default_outcome or Outcome(pending_seconds=default_pending_seconds)
        self.strict = strict
        self._port = port
        self._model = service_model or botocore.session.get_session().get_service_model(
            SIGNING_NAME
        )
        self._checker = ModelChecker(self._model)
        self._operations: dict[str, OperationModel] = {
            name: self._model.operation_model(name) for name in _HANDLERS
        }
        self._lock = threading.RLock()
        self._accounts: dict[tuple[str, str], AccountState] = {}
        # (account, Region) of the request being answered (set under the lock).
        self._here: tuple[str, str] = (account_id, region)
        self._calls: list[Call] = []
        self._violations: list[str] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on 127.0.0.1 in a background thread (idempotent)."""
        if self._server is not None:
            return
        server = Server(("127.0.0.1", self._port), RequestHandler)
        server.dispatch = self._dispatch
        self._server = server
        # A short poll interval keeps shutdown (and so every test using the simulator) quick.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fleetwise-simulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if self.strict and exc_type is None and self._violations:
            raise ModelViolationError(
                "the simulator broke the service model:\n" + "\n".join(self._violations)
            )

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; the value for ``AWS_ENDPOINT_URL_IOTFLEETWISE``."""
        if self._server is None:
            raise SimulatorUsageError("the simulator is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def service_linked_role_arn(self) -> str:
        """The service-linked role's ARN in the home account."""
        return service_linked_role_arn(self.account_id)

    def forget(self) -> None:
        """Back to a fresh simulator: no account state, no scripts, no calls, no violations."""
        with self._lock:
            self._accounts.clear()
            self._calls.clear()
            self._violations.clear()

    # -- the call log and model violations -----------------------------------------------------

    def calls(
        self,
        operation: str | None = None,
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> list[Call]:
        """Every request received, in order; only ``operation``'s (in ``region``, from
        ``account``) when given."""
        with self._lock:
            return [
                c
                for c in self._calls
                if (operation is None or c.operation == operation)
                and (region is None or c.region == region)
                and (account is None or c.account == account)
            ]

    def count(
        self, operation: str, *, region: str | None = None, account: str | None = None
    ) -> int:
        """How many ``operation`` requests were received (answered with an error or not)."""
        return len(self.calls(operation, region=region, account=account))

    def _state(self, region: str | None, account: str | None) -> AccountState:
        """The state of one account in one Region (call with the lock held)."""
        key = (account or self.account_id, region or self.region)
        return self._accounts.setdefault(key, AccountState())

    @property
    def model_violations(self) -> list[str]:
        """Responses the service model rejected (a copy). Empty in a healthy simulator."""
        with self._lock:
            return list(self._violations)

    def clear_model_violations(self) -> list[str]:
        """Forget the recorded violations (a test that provokes one on purpose), return them."""
        with self._lock:
            taken, self._violations = self._violations, []
            return taken

    # -- scripting -----------------------------------------------------------------------------

    def fail_next(
        self,
        operation: str | None,
        code: str,
        message: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (None: of any operation) with ``code``.

        ``code`` must be an error the operation (every operation, for None) declares in the
        model, and ``retry_after``
        (sent as ``retryAfterSeconds``) is allowed only for errors that carry it (throttling,
        internal errors). Faults are served before the request is validated or acted on.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        targets = [operation] if operation is not None else list(_HANDLERS)
        for name in targets:
            if name not in self._operations:
                raise ValueError(f"the simulator does not serve {name!r}")
            shapes = {shape.name: shape for shape in self._operations[name].error_shapes}
            if code not in shapes:
                raise ValueError(f"{name} cannot raise {code} (model: {', '.join(sorted(shapes))})")
            if retry_after is not None and "retryAfterSeconds" not in shapes[code].members:
                raise ValueError(f"{code} has no retryAfterSeconds member")
        fault = Fault(code, message or f"Simulated {code}.", retry_after, times)
        with self._lock:
            self._state(region, account).faults.setdefault(operation, deque()).append(fault)

    def slow_next(
        self,
        operation: str | None,
        seconds: float,
        times: int = 1,
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (None: of any) ``seconds`` of
        virtual time late. The call is served when it arrives (it acts then); the caller
        waits for its answer, so a Lambda function that waits past its timeout has done its
        work and then times out."""
        if times < 1 or seconds < 0:
            raise ValueError("times must be at least 1 and seconds at least 0")
        if operation is not None and operation not in self._operations:
            raise ValueError(f"the simulator does not serve {operation!r}")
        with self._lock:
            state = self._state(region, account)
            state.slow.setdefault(operation, deque()).append(Slow(seconds, times))

    def clear_faults(self, *, region: str | None = None, account: str | None = None) -> None:
        """Forget every fault still queued for the account and Region (an outage that ends)."""
        with self._lock:
            self._state(region, account).faults.clear()

    def script_registrations(
        self,
        outcomes: Iterable[Outcome],
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> None:
        """Queue outcomes for the next RegisterAccount calls, in order (then the default)."""
        with self._lock:
            self._state(region, account).script.extend(outcomes)

    def set_account_status(
        self,
        status: RegistrationStatus,
        *,
        iam_error: str | None = None,
        timestream_error: str | None = None,
        region: str | None = None,
        account: str | None = None,
    ) -> None:
        """Change the registration's status out of band, effective now.

        The IAM and Timestream sub-statuses follow the account status (FAILURE carries the
        given errors, ``iam_error`` defaulting to a propagation message when neither is given).
        An account that was never registered becomes registered, as if someone had registered
        it outside the reconciler, in modern mode.
        """
        if status not in (PENDING, SUCCESS, FAILURE):
            raise ValueError(f"unknown registration status {status!r}")
        with self._lock:
            now = self.clock()
            state = self._state(region, account)
            registration = state.registration or self._settled_registration(now, account)
            iam_status = ts_status = status
            if status == FAILURE:
                if iam_error is None and timestream_error is None:
                    iam_error = _DEFAULT_FAILURE_MESSAGE
                # ASSUMPTION: a failed account reports FAILURE only on the part that failed.
                iam_status = FAILURE if iam_error is not None else SUCCESS
                ts_status = FAILURE if timestream_error is not None else SUCCESS
            registration.forced = (status, iam_status, iam_error, ts_status, timestream_error)
            registration.settles_at = min(registration.settles_at, now)
            registration.modified = now
            state.registration = registration

    def attach_timestream(
        self,
        database: str,
        table: str,
        role_arn: str,
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> None:
        """Store Timestream metadata on the registration out of band (legacy drift).

        The registration then reports the Timestream part as registered and ``role_arn`` as
        its IAM role. An account that was never registered becomes registered this way.
        """
        with self._lock:
            now = self.clock()
            state = self._state(region, account)
            registration = state.registration or self._settled_registration(now, account)
            registration.timestream = (database, table)
            registration.role_arn = role_arn
            registration.modified = now
            state.registration = registration

    def copy_registration(self, source: tuple[str, str], to: Iterable[tuple[str, str]]) -> None:
        """Give each ``(account, region)`` of ``to`` the registration of ``source`` (one too)
        with its own service-linked role: what the same RegisterAccount would leave there."""
        with self._lock:
            if (original := self._state(source[1], source[0]).registration) is None:
                raise ValueError(f"{source[0]} has no registration in {source[1]} to copy")
            for account, region in to:
                self._state(region, account).registration = replace(
                    original, role_arn=service_linked_role_arn(account)
                )

    def forget_registration(self, *, region: str | None = None, account: str | None = None) -> None:
        """Back to a never-registered account (GetRegisterAccountStatus: not found)."""
        with self._lock:
            self._state(region, account).registration = None

    def delete_service_linked_role(
        self, *, region: str | None = None, account: str | None = None
    ) -> None:
        """Delete ``AWSServiceRoleForIoTFleetWise`` out of band.

        A settled registration turns to REGISTRATION_FAILURE at once; a pending one fails when
        it settles. The next RegisterAccount re-creates the role.
        """
        with self._lock:
            registration = self._state(region, account).registration
            if registration is None:
                raise SimulatorUsageError("the account was never registered: there is no role")
            now = self.clock()
            registration.role_deleted = True
            if registration.forced is None and now < registration.settles_at:
                return
            _, _, _, ts_status, ts_error = registration.forced or (
                "",
                "",
                None,
                SUCCESS,
                None,
            )
            registration.forced = (FAILURE, FAILURE, _ROLE_DELETED_MESSAGE, ts_status, ts_error)
            registration.modified = now

    def set_campaigns(
        self,
        campaigns: Iterable[Campaign],
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> None:
        """Replace the account's campaigns (ListCampaigns returns them in this order)."""
        with self._lock:
            now = self.clock()
            owner, where = account or self.account_id, region or self.region
            self._state(region, account).campaigns = [
                replace(
                    campaign,
                    arn=campaign.arn
                    or f"arn:aws:iotfleetwise:{where}:{owner}:campaign/{campaign.name}",
                    creation_time=now if campaign.creation_time is None else campaign.creation_time,
                    last_modification_time=campaign.last_modification_time
                    if campaign.last_modification_time is not None
                    else (now if campaign.creation_time is None else campaign.creation_time),
                )
                for campaign in campaigns
            ]

    def account_status(
        self, *, region: str | None = None, account: str | None = None
    ) -> str | None:
        """The account status GetRegisterAccountStatus would report now (None: never
        registered), read without a request: nothing is logged and no fault is consumed."""
        with self._lock:
            registration = self._state(region, account).registration
            if registration is None:
                return None
            return self._view(registration, self.clock()).account

    def _settled_registration(self, now: float, account: str | None) -> Registration:
        return Registration(
            created=now,
            modified=now,
            settles_at=now,
            outcome=Outcome(pending_seconds=0),
            role_arn=service_linked_role_arn(account or self.account_id),
            timestream=None,
        )

    # -- the registration's state --------------------------------------------------------------

    def _view(self, registration: Registration, now: float) -> View:
        if registration.forced is not None:
            account, iam, iam_error, ts, ts_error = registration.forced
            return View(account, iam, iam_error, ts, ts_error, registration.modified)
        if now < registration.settles_at:
            return View(PENDING, PENDING, None, PENDING, None, registration.modified)
        # ASSUMPTION: the service stamps lastModificationTime when the registration settles.
        modified = max(registration.modified, registration.settles_at)
        outcome = registration.outcome
        if registration.role_deleted:
            return View(FAILURE, FAILURE, _ROLE_DELETED_MESSAGE, SUCCESS, None, modified)
        if outcome.result == "SUCCESS":
            return View(SUCCESS, SUCCESS, None, SUCCESS, None, modified)
        iam_error = outcome.iam_error
        if iam_error is None and outcome.timestream_error is None:
            iam_error = _DEFAULT_FAILURE_MESSAGE
        # ASSUMPTION: a failed registration reports FAILURE only on the part that failed.
        return View(
            FAILURE,
            FAILURE if iam_error is not None else SUCCESS,
            iam_error,
            FAILURE if outcome.timestream_error is not None else SUCCESS,
            outcome.timestream_error,
            modified,
        )

    # -- operations ----------------------------------------------------------------------------

    def handle_register_account(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        account, region = self._here
        state = self._state(region, account)
        registration = state.registration
        if registration is not None and self._view(registration, now).account == PENDING:
            # ASSUMPTION: a registration in flight makes a second one a conflict (the model
            # lists ConflictException for RegisterAccount only; the documentation is silent).
            raise ApiError(
                "ConflictException",
                "A registration is already in progress for this account. Wait until "
                "GetRegisterAccountStatus no longer reports REGISTRATION_PENDING.",
                resource=account,
                resourceType="Account",
            )
        timestream = body.get("timestreamResources")
        iam = body.get("iamResources")
        if (timestream is None) != (iam is None):
            # ASSUMPTION: the legacy parameters only make sense together (the role is what
            # lets the service write to the table); the model makes each optional.
            raise ApiError(
                "ValidationException",
                "timestreamResources and iamResources must be given together.",
                reason="other",
            )
        if timestream is None and registration is not None and registration.timestream:
            blockers = [c.name for c in state.campaigns if not c.data_destination_configs]
            if blockers:
                # ASSUMPTION: the documentation says these campaigns must be deleted before
                # Timestream metadata can be removed; the service refusing the registration
                # and naming them is our reading of it.
                raise ApiError(
                    "ValidationException",
                    "Cannot remove the registered Timestream resources while campaigns send "
                    "data to them. Delete these campaigns first: " + ", ".join(blockers) + ".",
                    reason="other",
                )
        outcome = state.script.popleft() if state.script else self.default_outcome
        role_arn = iam["roleArn"] if iam is not None else service_linked_role_arn(account)
        # ASSUMPTION: re-registering keeps the account's first creationTime.
        created = registration.created if registration is not None else now
        state.registration = Registration(
            created=created,
            modified=now,
            settles_at=now + outcome.pending_seconds,
            outcome=outcome,
            role_arn=role_arn,
            timestream=(
                (timestream["timestreamDatabaseName"], timestream["timestreamTableName"])
                if timestream is not None
                else None
            ),
        )
        # ASSUMPTION: the output model requires iamResources; with no legacy role given, the
        # service answers with its service-linked role.
        response: dict[str, Any] = {
            "registerAccountStatus": PENDING,
            "iamResources": {"roleArn": role_arn},
            "creationTime": wire_time(created),
            "lastModificationTime": wire_time(now),
        }
        if timestream is not None:
            response["timestreamResources"] = dict(timestream)
        return response

    def handle_get_register_account_status(self, body: dict[str, Any]) -> dict[str, Any]:
        account, region = self._here
        registration = self._state(region, account).registration
        if registration is None:
            # ASSUMPTION: resourceId is the account ID and resourceType "Account"; the model
            # requires both and the documentation does not show them.
            raise ApiError(
                "ResourceNotFoundException",
                f"Account {account} is not registered with AWS IoT FleetWise.",
                resourceId=account,
                resourceType="Account",
            )
        view = self._view(registration, self.clock())
        iam: dict[str, Any] = {"roleArn": registration.role_arn, "registrationStatus": view.iam}
        if view.iam_error is not None:
            iam["errorMessage"] = view.iam_error
        response: dict[str, Any] = {
            "customerAccountId": account,
            "accountStatus": view.account,
            "iamRegistrationResponse": iam,
            "creationTime": wire_time(registration.created),
            "lastModificationTime": wire_time(view.modified),
        }
        if registration.timestream is not None:
            database, table = registration.timestream
            database_arn = f"arn:aws:timestream:{region}:{account}:database/{database}"
            timestream: dict[str, Any] = {
                "timestreamDatabaseName": database,
                "timestreamTableName": table,
                "timestreamDatabaseArn": database_arn,
                "timestreamTableArn": f"{database_arn}/table/{table}",
                "registrationStatus": view.timestream,
            }
            if view.timestream_error is not None:
                timestream["errorMessage"] = view.timestream_error
            response["timestreamRegistrationResponse"] = timestream
        return response

    def handle_list_campaigns(self, body: dict[str, Any]) -> dict[str, Any]:
        # ASSUMPTION: a status filter that names no known status matches nothing (the model
        # types it as a free string); the default page holds the model's maximum of 100.
        account, region = self._here
        campaigns = [
            c
            for c in self._state(region, account).campaigns
            if body.get("status") in (None, c.status)
        ]
        start = decode_token(body.get("nextToken"), len(campaigns))
        size = int(body.get("maxResults", _DEFAULT_PAGE_SIZE))
        page = campaigns[start : start + size]
        metadata_only = body.get("listResponseScope") == "METADATA_ONLY"
        summaries = []
        for campaign in page:
            summary: dict[str, Any] = {
                "arn": campaign.arn,
                "name": campaign.name,
                "creationTime": wire_time(campaign.creation_time or 0.0),
                "lastModificationTime": wire_time(campaign.last_modification_time or 0.0),
            }
            if not metadata_only:
                summary["status"] = campaign.status
                put(summary, "description", campaign.description)
                put(summary, "signalCatalogArn", campaign.signal_catalog_arn)
                put(summary, "targetArn", campaign.target_arn)
            summaries.append(summary)
        response: dict[str, Any] = {"campaignSummaries": summaries}
        if start + size < len(campaigns):
            response["nextToken"] = encode_token(start + size)
        return response

    def handle_get_campaign(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["name"]
        account, region = self._here
        campaign = next((c for c in self._state(region, account).campaigns if c.name == name), None)
        if campaign is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"Campaign {name} not found.",
                resourceId=name,
                resourceType="Campaign",
            )
        response: dict[str, Any] = {
            "name": campaign.name,
            "arn": campaign.arn,
            "status": campaign.status,
            "creationTime": wire_time(campaign.creation_time or 0.0),
            "lastModificationTime": wire_time(campaign.last_modification_time or 0.0),
        }
        put(response, "description", campaign.description)
        put(response, "signalCatalogArn", campaign.signal_catalog_arn)
        put(response, "targetArn", campaign.target_arn)
        if campaign.data_destination_configs:
            # ASSUMPTION: a campaign without destinations omits the member (the model forbids
            # an empty list: DataDestinationConfigs has min 1).
            response["dataDestinationConfigs"] = [
                dict(config) for config in campaign.data_destination_configs
            ]
        return response

    # -- the wire ------------------------------------------------------------------------------

    def _dispatch(self, path: str, headers: Message, raw: bytes) -> Reply:
        """Answer one HTTP request (already read) and record it."""
        target = headers.get("X-Amz-Target") or ""
        operation = target.removeprefix(f"{TARGET_PREFIX}.") if target else ""
        # Parsed outside the lock; an unparseable body is logged as {} and refused below.
        parsed = parse_json(raw)
        body: dict[str, Any] = parsed if parsed is not None else {}
        tag = self.tagger() if self.tagger is not None else None
        with self._lock:
            now = self.clock()
            self._here = self._caller(headers)
            reply = reject_transport(
                path, headers, target, operations=self._operations, expired=self.expired
            )
            if reply is None and parsed is None:
                reply = self._error(
                    "ValidationException",
                    "The request body is not a JSON object.",
                    reason="cannotParse",
                )
            if reply is None:
                reply = self._answer(self._operations[operation], body)
            self._calls.append(
                Call(
                    operation=operation or target,
                    input=body,
                    at=now,
                    status=reply.status,
                    error_type=reply.body.get("__type") if reply.status >= 300 else None,
                    output=reply.body,
                    account=self._here[0],
                    region=self._here[1],
                    tag=tag,
                )
            )
            late = self._take_slow(operation) if operation in self._operations else 0.0
        if late and self.wait is not None:
            self.wait(late)
        return reply

    def _caller(self, headers: Message) -> tuple[str, str]:
        """(account, Region) of a request: its credentials' account, its signing Region."""
        scope = CREDENTIAL_SCOPE.search(headers.get("Authorization") or "")
        if scope is None:
            return (self.account_id, self.region)
        access_key, region = scope.group(1), scope.group(2)
        hook = self.account_for_access_key
        return (hook(access_key) if hook is not None else self.account_id, region)

    def _answer(self, operation: OperationModel, body: dict[str, Any]) -> Reply:
        # ASSUMPTION: scripted faults (throttling, access denied...) come from the service's
        # front door, before the input is validated.
        fault = self._take_fault(operation.name)
        if fault is not None:
            members = {} if fault.retry_after is None else {"retryAfterSeconds": fault.retry_after}
            reply = self._error(
                fault.code, fault.message, **required_filler(fault.code, self._here[0])
            )
            reply.body.update(members)
            return self._checked_error(operation, reply)
        problems = self._checker.check_request(operation, body)
        if problems:
            # ASSUMPTION: AWS documents no wire-level case; a request the model rejects gets
            # the modelled ValidationException with the fields at fault.
            return self._checked_error(operation, validation_reply(problems))
        try:
            output = getattr(self, _HANDLERS[operation.name])(body)
        except ApiError as error:
            return self._checked_error(operation, Reply(ERROR_STATUS[error.code], error.body))
        except Exception as error:  # noqa: BLE001 - any crash in a handler is a simulator bug
            return self._violation(operation.name, f"handler crashed: {error!r}")
        problems = self._checker.check_output(operation, output)
        if problems:
            return self._violation(operation.name, describe(problems))
        return Reply(200, output)

    def _checked_error(self, operation: OperationModel, reply: Reply) -> Reply:
        problems = self._checker.check_error(operation, reply.body)
        if problems:
            return self._violation(operation.name, describe(problems))
        return reply

    def _violation(self, operation: str, description: str) -> Reply:
        message = f"{operation}: {description}"
        self._violations.append(message)
        # The client sees a server fault, so nothing downstream mistakes the bug for an answer.
        return Reply(
            500,
            {"__type": "InternalServerException", "message": f"Simulator bug: {message}"},
        )

    def _take_slow(self, operation: str) -> float:
        """How late this call's answer is (call with the lock held)."""
        account, region = self._here
        slow = self._state(region, account).slow
        for key in (operation, None):
            queue = slow.get(key)
            if queue:
                first = queue[0]
                first.remaining -= 1
                if first.remaining == 0:
                    queue.popleft()
                return first.seconds
        return 0.0

    def _take_fault(self, operation: str) -> Fault | None:
        account, region = self._here
        faults = self._state(region, account).faults
        for key in (operation, None):
            queue = faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining == 0:
                    queue.popleft()
                return fault
        return None

    @staticmethod
    def _error(code: str, message: str, **members: Any) -> Reply:
        return Reply(ERROR_STATUS[code], {"__type": code, "message": message, **members})

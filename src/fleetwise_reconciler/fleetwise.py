"""The IoT FleetWise port: boto3 in, typed results and domain errors out.

Every ``ClientError`` is classified here, once (``logic.classify``), and leaves as a
``FleetWiseTransientError`` or ``FleetWiseTerminalError`` (whose class names Step Functions
matches on) or, for RegisterAccount only, as ``FleetWiseConflict``. The client makes exactly
one attempt per call: the workflow's Retry owns retries, so attempts never multiply.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from fleetwise_reconciler import budget
from fleetwise_reconciler.clock import isoformat
from fleetwise_reconciler.errors import (
    FleetWiseTerminalError,
    FleetWiseThrottled,
    FleetWiseTransientError,
)
from fleetwise_reconciler.logic.classify import ENDPOINT_UNREACHABLE, ErrorClass, classify

USER_AGENT_EXTRA = "fleetwise-reconciler/0.1"


def client_config() -> Config:
    """One attempt, timeouts from the budget: a step's Lambda fails fast, within its own
    timeout, and lets Step Functions retry (``budget.FLEETWISE``)."""
    return budget.FLEETWISE.config(user_agent_extra=USER_AGENT_EXTRA)


class FleetWiseConflict(Exception):
    """RegisterAccount answered ConflictException: another operation is in flight.

    It never crosses into Step Functions: the Register handler turns it into
    ``{"conflict": true}`` and the workflow re-observes.
    """

    def __init__(self, code: str, message: str, *, operation: str) -> None:
        self.code = code
        self.message = message
        self.operation = operation
        super().__init__(f"{operation}: {code}: {message}")


def _time(value: Any) -> str | None:
    # Equivalent mutant (always format): the model requires both times, so botocore always
    # gives datetimes; the check guards a client that does not.
    return isoformat(value) if isinstance(value, datetime) else None  # pragma: no mutate


def _iam(response: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not response:
        return None
    return {
        "roleArn": response.get("roleArn"),
        "registrationStatus": response.get("registrationStatus"),
        "errorMessage": response.get("errorMessage"),
    }


def _timestream(response: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not response:
        return None
    return {
        "databaseName": response.get("timestreamDatabaseName"),
        "tableName": response.get("timestreamTableName"),
        "databaseArn": response.get("timestreamDatabaseArn"),
        "tableArn": response.get("timestreamTableArn"),
        "registrationStatus": response.get("registrationStatus"),
        "errorMessage": response.get("errorMessage"),
    }


def _retry_after(error: ClientError) -> int | None:
    # For awsJson services botocore merges an error's modelled members into the top level of
    # the parsed response, next to "Error" (not inside it).
    value = error.response.get("retryAfterSeconds")
    if value is None:
        value = error.response.get("Error", {}).get("retryAfterSeconds")
    try:
        return int(value) if value is not None else None  # pragma: no mutate - int(None) is caught
    except (TypeError, ValueError):
        return None


class FleetWise:
    """The calls the reconciler makes to IoT FleetWise.

    ``client`` is for tests (a stubbed client); without it a client is built on first use,
    from ``session`` (the process's shared botocore session) or a new one, so importing or
    constructing this class does no I/O and a mock started later still applies.
    """

    def __init__(
        self,
        client: Any | None = None,
        *,
        region: str | None = None,
        session: botocore.session.Session | None = None,
    ) -> None:
        self._client = client
        self._region = region
        self._session = session
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    session = self._session or botocore.session.get_session()
                    self._client = session.create_client(
                        "iotfleetwise", region_name=self._region, config=client_config()
                    )
        return self._client

    # -- registration ---------------------------------------------------------------------

    def get_status(self) -> dict[str, Any]:
        """GetRegisterAccountStatus in the status's ``observed`` shape.

        ``{"registered": False}`` when the account was never registered; otherwise every key
        is present (``None`` when the service did not send it) and times are ISO 8601 UTC.
        """
        operation = "GetRegisterAccountStatus"
        try:
            response = self.client.get_register_account_status()
        except ClientError as error:
            if classify(_code(error)) is ErrorClass.NOT_FOUND:
                return {"registered": False}
            self._raise(error, operation)
        except (BotocoreConnectionError, HTTPClientError) as error:
            self._raise_unreachable(error, operation)
        return {
            "registered": True,
            "accountStatus": response.get("accountStatus"),
            "customerAccountId": response.get("customerAccountId"),
            "iam": _iam(response.get("iamRegistrationResponse")),
            "timestream": _timestream(response.get("timestreamRegistrationResponse")),
            "creationTime": _time(response.get("creationTime")),
            "lastModificationTime": _time(response.get("lastModificationTime")),
        }

    def register(
        self, *, timestream: Mapping[str, str] | None = None, iam_role_arn: str | None = None
    ) -> dict[str, Any]:
        """RegisterAccount.

        Modern (the default): no argument at all, because both inputs are deprecated. Legacy
        (``timestream`` ``{"databaseName", "tableName"}`` and ``iam_role_arn``, both given):
        ``timestreamResources`` and ``iamResources``. Raises ``FleetWiseConflict`` on
        ConflictException.
        """
        operation = "RegisterAccount"
        if (timestream is None) != (iam_role_arn is None):
            # The service needs both for the legacy mode; half a legacy request is a bug in
            # the caller (validation rejects such specs), not something to send.
            raise ValueError("legacy registration needs both timestream and iam_role_arn")
        kwargs: dict[str, Any] = {}
        # Equivalent mutant (or): the check above leaves both arguments or neither.
        if timestream is not None and iam_role_arn is not None:  # pragma: no mutate
            kwargs = {
                "timestreamResources": {
                    "timestreamDatabaseName": timestream["databaseName"],
                    "timestreamTableName": timestream["tableName"],
                },
                "iamResources": {"roleArn": iam_role_arn},
            }
        try:
            response = self.client.register_account(**kwargs)
        except ClientError as error:
            if classify(_code(error)) is ErrorClass.CONFLICT:
                raise FleetWiseConflict(
                    _code(error), _message(error), operation=operation
                ) from error
            self._raise(error, operation)
        except (BotocoreConnectionError, HTTPClientError) as error:
            self._raise_unreachable(error, operation)
        return {
            "accountStatus": response.get("registerAccountStatus"),
            "creationTime": _time(response.get("creationTime")),
            "lastModificationTime": _time(response.get("lastModificationTime")),
        }

    # -- campaigns (explaining blockers of a switch back from Timestream) -------------------

    def list_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign summary, one attempt per page (no boto3 paginator: it would hide
        which page failed and how often it was tried)."""
        operation = "ListCampaigns"
        summaries: list[dict[str, Any]] = []
        token: str | None = None  # pragma: no mutate - "" asks for the first page too
        while True:
            kwargs: dict[str, Any] = {"nextToken": token} if token else {}
            try:
                page = self.client.list_campaigns(**kwargs)
            except ClientError as error:
                self._raise(error, operation)
            except (BotocoreConnectionError, HTTPClientError) as error:
                self._raise_unreachable(error, operation)
            summaries.extend(_plain(summary) for summary in page.get("campaignSummaries", []))
            token = page.get("nextToken")
            if not token:
                return summaries

    def get_campaign(self, name: str) -> dict[str, Any]:
        operation = "GetCampaign"
        try:
            response = self.client.get_campaign(name=name)
        except ClientError as error:
            self._raise(error, operation)
        except (BotocoreConnectionError, HTTPClientError) as error:
            self._raise_unreachable(error, operation)
        response.pop("ResponseMetadata", None)
        campaign: dict[str, Any] = _plain(response)
        return campaign

    # -- errors -----------------------------------------------------------------------------

    @staticmethod
    def _raise(error: ClientError, operation: str) -> NoReturn:
        code = _code(error)
        kind = classify(code)
        # A conflict or a NotFound outside the places that give them a meaning is reported
        # by its class: a conflict passes with time, a missing resource does not.
        error_type: type[FleetWiseTransientError | FleetWiseTerminalError] = (
            FleetWiseTransientError
            if kind in (ErrorClass.TRANSIENT, ErrorClass.CONFLICT)
            else FleetWiseTerminalError
        )
        retry_after = _retry_after(error)
        if error_type is FleetWiseTransientError and retry_after is not None:
            error_type = FleetWiseThrottled
            retry_after = max(1, min(retry_after, FleetWiseThrottled.MAX_WAIT_SECONDS))
        raise error_type(
            code,
            _message(error),
            operation=operation,
            retry_after_seconds=retry_after,
        ) from error

    @staticmethod
    def _raise_unreachable(error: Exception, operation: str) -> NoReturn:
        raise FleetWiseTransientError(
            ENDPOINT_UNREACHABLE, str(error), operation=operation
        ) from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")


def _message(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return str(details.get("Message") or details.get("message") or error)


def _plain(value: Any) -> Any:
    """A boto3 response as JSON-ready values: datetimes become ISO 8601 UTC strings."""
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value

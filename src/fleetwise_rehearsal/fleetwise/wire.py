"""IoT FleetWise's wire protocol as the simulator serves it: awsJson 1.0 over HTTP on loopback.

``POST /`` with ``X-Amz-Target: IoTAutobahnControlPlane.<Operation>``, SigV4-scoped to
``iotfleetwise``; errors as ``{"__type": code, "message": ...}`` with the HTTP status of the
service's Smithy model. ``Server`` hands each request to the simulator's dispatch function.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from fleetwise_rehearsal.aws.model_check import FieldError

TARGET_PREFIX: Final = "IoTAutobahnControlPlane"
CONTENT_TYPE: Final = "application/x-amz-json-1.0"
SIGNING_NAME: Final = "iotfleetwise"

# HTTP status per error, from the httpError traits of the service's public Smithy model
# (botocore's JSON copy drops them; botocore reads the code from __type, whatever the status).
ERROR_STATUS: Final = {
    "AccessDeniedException": 403,
    "ConflictException": 409,
    "InternalServerException": 500,
    "LimitExceededException": 400,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ValidationException": 400,
}

# SigV4: Credential=<access key>/<date>/<region>/<service>/aws4_request
CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


class ApiError(Exception):
    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.body: dict[str, Any] = {"__type": code, "message": message, **members}


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def required_filler(code: str, account: str) -> dict[str, str]:
    """Members some errors require, for a scripted fault that names only a code."""
    if code in ("ResourceNotFoundException", "LimitExceededException"):
        return {"resourceId": account, "resourceType": "Account"}
    if code == "ConflictException":
        return {"resource": account, "resourceType": "Account"}
    if code == "ValidationException":
        return {"reason": "other"}
    return {}


def validation_reply(problems: list[FieldError]) -> Reply:
    return Reply(
        400,
        {
            "__type": "ValidationException",
            "message": "1 validation error detected: " + describe(problems[:1])
            if len(problems) == 1
            else f"{len(problems)} validation errors detected: " + describe(problems),
            "reason": "fieldValidationFailed",
            "fieldList": [
                {"name": problem.path or "(body)", "message": problem.message}
                for problem in problems
            ],
        },
    )


def describe(problems: list[FieldError]) -> str:
    return "; ".join(f"{p.path or '(body)'}: {p.message}" for p in problems)


def parse_json(raw: bytes) -> dict[str, Any] | None:
    # botocore sends "{}" for an operation without input; an empty body is read the same way.
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def wire_time(epoch_seconds: float) -> float:
    # awsJson timestamps are epoch seconds; the service reports milliseconds.
    return round(epoch_seconds, 3)


def put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def encode_token(offset: int) -> str:
    # ASSUMPTION: page tokens are opaque; ours encodes the offset of the next page.
    return base64.urlsafe_b64encode(f"campaigns:{offset}".encode()).decode()


def decode_token(token: str | None, total: int) -> int:
    if token is None:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        start = int(offset) if prefix == "campaigns" else -1
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        start = -1
    if not 0 <= start <= total:
        raise ApiError("ValidationException", "The nextToken is not valid.", reason="other")
    return start


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog (socketserver's default is 5): a fanned-out drift tick opens a
    # connection per account and Region from 16 threads at once, and connections past the
    # backlog wait for the kernel's SYN retransmission (a second or more): on a loaded machine
    # past the clients' 5 s connect timeout. A service endpoint queues far more.
    request_queue_size = 128
    # Answers one request already read: (path, headers, body) -> Reply.
    dispatch: Callable[[str, Message, bytes], Reply]

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._open_lock:
            if open_:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def close_connections(self) -> None:
        # Keep-alive handler threads outlive shutdown(); without this a client holding a
        # pooled connection would still be answered by a stopped simulator.
        with self._open_lock:
            connections, self._open = self._open, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    # Keep-alive (HTTP/1.1) and no Nagle: botocore reuses its connection, and the small
    # header and body writes would otherwise wait on delayed ACKs, tens of ms per call.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.dispatch(self.path, self.headers, raw)
        payload = json.dumps(reply.body, separators=(",", ":")).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; the call log is the record."""


def reject_transport(
    path: str,
    headers: Message,
    target: str,
    *,
    operations: Collection[str],
    expired: Callable[[str], bool] | None = None,
) -> Reply | None:
    """Refuse what never reaches the service itself: no or expired credentials, a bad signing
    scope, route or operation, a body that is not awsJson."""
    authorization = headers.get("Authorization")
    if not authorization:
        return Reply(
            403,
            {
                "__type": "MissingAuthenticationTokenException",
                "message": "Missing Authentication Token",
            },
        )
    scope = CREDENTIAL_SCOPE.search(authorization)
    if scope is not None and expired is not None and expired(scope.group(1)):
        # A common error of every AWS API ("Common Errors": ExpiredTokenException, "The
        # security token included in the request is expired", HTTP 403).
        return Reply(
            403,
            {
                "__type": "ExpiredTokenException",
                "message": "The security token included in the request is expired",
            },
        )
    if scope is None or scope.group(3) != SIGNING_NAME:
        # Signatures are not checked (any credentials work), only that the request was
        # signed for this service, which is what a wrong endpoint override would break.
        return Reply(
            403,
            {
                "__type": "InvalidSignatureException",
                "message": f"Credential should be scoped to correct service: '{SIGNING_NAME}'.",
            },
        )
    operation = target.removeprefix(f"{TARGET_PREFIX}.")
    if path != "/" or not target.startswith(f"{TARGET_PREFIX}.") or operation not in operations:
        return Reply(
            400,
            {"__type": "UnknownOperationException", "message": f"Unknown operation {target}"},
        )
    content_type = headers.get("Content-Type", "").split(";")[0].strip()
    if content_type != CONTENT_TYPE:
        return Reply(
            ERROR_STATUS["ValidationException"],
            {
                "__type": "ValidationException",
                "message": f"Content-Type must be {CONTENT_TYPE}.",
                "reason": "cannotParse",
            },
        )
    return None

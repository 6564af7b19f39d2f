"""CloudFormation's ``DescribeStacks`` for the rehearsed stack, served on loopback.

Operator tools find a stack's tables the way the AWS CLI does: ``DescribeStacks`` and its
``Outputs``. moto's own CloudFormation cannot hold the rehearsed stack (``stack`` says why)
and loading it pulls every moto backend and extras the project does not install, so the
rehearsal answers that one operation itself, in CloudFormation's wire protocol (awsQuery: a
form-encoded POST, an XML answer), from the deployed template's ``Outputs`` and parameter
values. Point a client at it with ``AWS_ENDPOINT_URL_CLOUDFORMATION``::

    with Rehearsal() as r, StackEndpoint(r.stack) as cfn:
        os.environ["AWS_ENDPOINT_URL_CLOUDFORMATION"] = cfn.endpoint_url

Every answer is checked against botocore's model of the operation before it is sent (a
violation is a bug here: HTTP 500 and ``model_violations``). As in AWS, the stack is found
only in its own Region (the request's SigV4 credential scope) and by its name or stack id;
any other name gets ``ValidationError: Stack with id NAME does not exist``. ``deny`` makes
every request answer ``AccessDenied`` (HTTP 403), as for a caller without
``cloudformation:DescribeStacks``.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ListShape, OperationModel, Shape, StructureShape

from fleetwise_rehearsal.aws.model_check import ModelChecker
from fleetwise_rehearsal.aws.stack import Stack
from fleetwise_rehearsal.aws.template import Resolver, UnsupportedIntrinsic

API_VERSION = "2010-05-15"
XMLNS = f"http://cloudformation.amazonaws.com/doc/{API_VERSION}/"
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/[^/,\s]+/aws4_request")


def stack_outputs(stack: Stack) -> dict[str, dict[str, str]]:
    """The template's ``Outputs`` resolved against the deployed resources:
    ``{OutputKey: {"OutputValue", "Description"}}``, in template order (conditional outputs
    whose condition is false are left out, as CloudFormation does)."""
    cfn = stack.translated.template
    resolver = Resolver(
        parameters=_parameter_values(stack),
        conditions=cfn.get("Conditions") or {},
        mappings=cfn.get("Mappings") or {},
        account_id=stack.account_id,
        region=stack.region,
        stack_name=stack.name,
    )
    for resource in stack.resources.values():
        if resource.physical_id is not None:
            resolver.refs[resource.logical_id] = resource.physical_id
        for name, value in resource.attributes.items():
            resolver.attributes[(resource.logical_id, name)] = value
    outputs: dict[str, dict[str, str]] = {}
    for key, output in (cfn.get("Outputs") or {}).items():
        condition = output.get("Condition")
        if condition is not None and not resolver.condition(condition):
            continue
        value = resolver.resolve(output["Value"])
        if not isinstance(value, str | int | float):
            raise UnsupportedIntrinsic(f"output {key} does not resolve to a string: {value!r}")
        outputs[key] = {"OutputValue": str(value), "Description": str(output.get("Description"))}
    return outputs


def _parameter_values(stack: Stack) -> dict[str, Any]:
    cfn = stack.translated.template
    values: dict[str, Any] = {}
    for name, spec in (cfn.get("Parameters") or {}).items():
        value = stack.translated.parameters.get(name, "")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [] if value == "" else [part.strip() for part in value.split(",")]
        values[name] = value
    return values


def _parameter_strings(stack: Stack) -> list[dict[str, str]]:
    """What DescribeStacks reports as ``Parameters``: every template parameter and its value
    as a string (a list parameter comma-joined)."""
    declared = stack.translated.template.get("Parameters") or {}
    found = []
    for name in declared:
        value = stack.translated.parameters.get(name, "")
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        found.append({"ParameterKey": name, "ParameterValue": text})
    return found


class StackEndpoint:
    """A loopback CloudFormation endpoint that knows one stack (see the module docstring)."""

    def __init__(self, stack: Stack, *, deny: bool = False) -> None:
        self.stack = stack
        self.deny = deny
        self.stack_id = (
            f"arn:aws:cloudformation:{stack.region}:{stack.account_id}:stack/{stack.name}/"
            f"{uuid.UUID(int=0)}"
        )
        self.created = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
        model = botocore.session.get_session().get_service_model("cloudformation")
        self._operation: OperationModel = model.operation_model("DescribeStacks")
        self._checker = ModelChecker(model)
        self.requests: list[dict[str, str]] = []
        self.model_violations: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                region = _CREDENTIAL_SCOPE.search(self.headers.get("Authorization") or "")
                status, body = endpoint.answer(
                    {k: v[0] for k, v in form.items()}, region.group(1) if region else None
                )
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="cloudformation-endpoint",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the endpoint is not running (use it as a context manager)")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- the protocol --------------------------------------------------------------------------

    def answer(self, form: dict[str, str], region: str | None) -> tuple[int, str]:
        """HTTP status and XML body for one request (its form fields, its SigV4 Region)."""
        self.requests.append(dict(form))
        action = form.get("Action")
        if action != "DescribeStacks" or form.get("Version") != API_VERSION:
            return _error(400, "InvalidAction", f"{action} is not served by the rehearsal")
        if self.deny:
            return _error(
                403,
                "AccessDenied",
                f"User: arn:aws:iam::{self.stack.account_id}:user/operator is not authorized "
                f"to perform: cloudformation:DescribeStacks on resource: {self.stack_id} "
                "because no identity-based policy allows the cloudformation:DescribeStacks "
                "action",
            )
        name = form.get("StackName")
        if region != self.stack.region or (name and name not in (self.stack.name, self.stack_id)):
            return _error(400, "ValidationError", f"Stack with id {name} does not exist")
        result = {
            "Stacks": [
                {
                    "StackId": self.stack_id,
                    "StackName": self.stack.name,
                    "CreationTime": self.created.timestamp(),
                    "StackStatus": "CREATE_COMPLETE",
                    "Parameters": _parameter_strings(self.stack),
                    "Outputs": [
                        {"OutputKey": key, **value}
                        for key, value in stack_outputs(self.stack).items()
                    ],
                }
            ]
        }
        problems = self._checker.check_output(self._operation, result)
        if problems:
            self.model_violations.extend(f"{p.path}: {p.message}" for p in problems)
            return _error(500, "InternalFailure", "the rehearsal broke the DescribeStacks model")
        shape = cast(StructureShape, self._operation.output_shape)
        return 200, (
            f'<DescribeStacksResponse xmlns="{XMLNS}"><DescribeStacksResult>'
            f"{_xml(shape, result)}</DescribeStacksResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</DescribeStacksResponse>"
        )


def _xml(shape: Shape, value: Any) -> str:
    """The awsQuery XML of ``value`` (the members' text, without the enclosing element)."""
    if shape.type_name == "structure":
        members = cast(StructureShape, shape).members
        return "".join(
            f"<{name}>{_xml(members[name], item)}</{name}>"
            for name, item in value.items()
            if item is not None
        )
    if shape.type_name == "list":
        member = cast(ListShape, shape).member
        return "".join(f"<member>{_xml(member, item)}</member>" for item in value)
    if shape.type_name == "timestamp":
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def _error(status: int, code: str, message: str) -> tuple[int, str]:
    kind = "Receiver" if status >= 500 else "Sender"
    return status, (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )

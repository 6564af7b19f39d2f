"""Where AWS Step Functions fails an execution and moto 5.2.5's interpreter does not, and the
sizes AWS refuses that moto stores.

Why one module: it is the one list of where AWS is stricter than moto, read against AWS's
pages case by case; its patch points are checked together (tests/rehearsal/test_moto_internals).

Applied by ``moto_patches.patched`` with the other patches; ``PATCH_POINTS`` and
``EXPECTED_SIGNATURES`` name every moto internal touched here (the moto-internals test checks
them). docs/rehearsal.md lists what AWS documents for each case and what stays lenient.

- A Choice rule whose ``Variable`` selects nothing fails the execution with ``States.Runtime``
  unless the rule is ``IsPresent``. AWS documents it on the Choice state ("If the state input
  doesn't contain the `$.type` field, the execution fails and an error is displayed in the
  execution history") and guards comparisons with ``IsPresent`` in its examples; the cause
  text is the one Step Functions reports. moto treats the rule as not matching.
- ``ResultPath`` creates the fields it names ("If the `ResultPath` doesn't match an item in
  the state's input, an item is added"), but cannot write below a value that is not an
  object: that fails with ``States.ResultPathMatchFailure`` ("Step Functions failed to apply
  a state's ResultPath field to the input the state received"). moto fails with a Python
  ``TypeError`` as ``States.Runtime``, or silently replaces a list.
- Lambda: a synchronous invocation's request and response are limited to 6 MB each; Invoke
  refuses a larger request (``RequestTooLargeException``) and turns a larger response into
  the function error ``Function.ResponseSizeTooLarge`` (moto_patches' in-process invoke
  applies both; the stream delivery cuts batches to fit, as Lambda's event source mapping
  does).
- StartExecution's name: 1 to 80 characters, none of white space, brackets, wildcards, the
  listed special characters, control characters or surrogates (``check_execution_name``);
  moto 5.2.5's parser backend starts any name.
- Payload quotas: "Maximum input or output size for a task, state, or execution: 256 KiB of
  data as a UTF-8 encoded string", checked for a task's input after ``Parameters``
  ("input data when scheduling a task"), a task's result, a state's output and the
  execution input. A value of exactly 262,144 bytes is within it; moto refuses it (``<``
  instead of ``<=``) and does not check a task's input nor the execution input.

- A ``States.ALL`` retrier or catcher matches neither ``States.Runtime`` nor
  ``States.DataLimitExceeded`` ("States.ALL ... cannot catch the States.DataLimitExceeded
  terminal error or Runtime error types"); moto's matches both.

- Sizes moto never checks: a function's environment (Lambda: "4 KB, for all environment
  variables ... in aggregate"; CreateFunction and UpdateFunctionConfiguration refuse more
  with ``InvalidParameterValueException``), a role's inline policies together (IAM: "Role
  policy size cannot exceed 10,240 characters", white space not counted; PutRolePolicy
  refuses more with ``LimitExceeded``, HTTP 409), a role's trust policy (2,048 characters by
  default; CreateRole and UpdateAssumeRolePolicy refuse more with ``LimitExceeded``), and a
  template parameter's value (CloudFormation: "Maximum size of a parameter value: 4,096
  bytes"; ``check_parameter_values``, which the rehearsal's deploy calls).

What moto 5.2.5 already fails like AWS (a ``Parameters``/``ResultSelector`` path, an
``InputPath``/``OutputPath``, ``SecondsPath``, ``States.StringToJson`` of text that is not
JSON) is pinned by tests/rehearsal/test_strict.py, so an upgrade that loosens it is noticed.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn, cast

from botocore.exceptions import ClientError
from jsonpath_ng.jsonpath import Child, Fields, Root
from jsonpath_ng.parser import parse
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.core.exceptions import JsonRESTError
from moto.iam.exceptions import LimitExceededException
from moto.stepfunctions.exceptions import InvalidName, ValidationException
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (  # noqa: E501
    ComparisonOperatorType,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import (
    NoSuchVariable,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

from fleetwise_rehearsal.aws.patching import Patcher

# The Step Functions quota on state, task and execution data, in UTF-8 bytes.
PAYLOAD_LIMIT_BYTES: Final = 256 * 1024

# CloudFormation: "Maximum size of a parameter value: 4,096 bytes" (its quotas page).
CFN_PARAMETER_VALUE_BYTES: Final = 4096
# Lambda: "Function environment variables: 4 KB, for all environment variables associated
# with the function, in aggregate" (Lambda quotas).
LAMBDA_ENVIRONMENT_BYTES: Final = 4096
# IAM: "Role policy size cannot exceed 10,240 characters" (every inline policy of a role
# together) and "Role trust policy length: 2,048 characters" (the default; adjustable), with
# "IAM doesn't count white space when calculating the size of a policy" (IAM and AWS STS
# quotas).
IAM_ROLE_POLICY_CHARS: Final = 10240
IAM_TRUST_POLICY_CHARS: Final = 2048


def environment_size(variables: Mapping[str, Any]) -> int:
    """A function's environment as Lambda measures it against its 4 KB: the variables as one
    JSON object (its refusal quotes that object after "String measured:")."""
    return len(json.dumps(dict(variables), separators=(",", ":")).encode("utf-8"))


def policy_size(document: Any) -> int:
    """A policy document's length as IAM counts it: its characters, white space not counted."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len(re.sub(r"\s", "", text))


# Lambda's quota on a synchronous invocation's request and response: "6 MB each", taken as
# 6 MiB. (Lambda's own message names 6,291,556 bytes for responses; moto 5.2.5 refuses any
# response whose Python object exceeds 6,000,000 bytes, stricter than both.)
LAMBDA_PAYLOAD_LIMIT_BYTES: Final = 6 * 1024 * 1024
# Invoke's request quota for an asynchronous invocation (InvocationType Event), per the
# Invoke API reference.
LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES: Final = 1024 * 1024

# What Invoke answers (a function error) when a handler returns more than that; the text is
# Lambda's, which moto answers too.
RESPONSE_TOO_LARGE: Final[dict[str, str]] = {
    "errorMessage": (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    ),
    "errorType": "Function.ResponseSizeTooLarge",
}


class LambdaRequestTooLarge(JsonRESTError):
    """Invoke's answer to a request body past the quota of its invocation type (HTTP 413)."""

    code = 413

    def __init__(self, limit: int = LAMBDA_PAYLOAD_LIMIT_BYTES) -> None:
        super().__init__(
            "RequestTooLargeException",
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
        )


_CHOICE = "moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable"
_RESULT_PATH = "moto.stepfunctions.parser.asl.component.common.path.result_path"
_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task"
_TASK_LAMBDA = "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda"
_TASK_SERVICE = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
)
_STATE = "moto.stepfunctions.parser.asl.component.state.state"
_BINDING = (
    "moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadbinding"
    ".payload_binding"
)
_BACKEND = "moto.stepfunctions.parser.models"
_ERROR_EQUALS = "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl"
_SERVICE_LAMBDA = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_lambda"
)
_LAMBDA_EVAL = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
# "Unhandled errors in Lambda are reported as Lambda.Unknown in the error output. These
# include out-of-memory errors and function timeouts." (Step Functions Developer Guide,
# "Handle Lambda service exceptions"). A function that timed out answers an error without an
# errorType; moto names it "Exception".
LAMBDA_UNKNOWN: Final = "Lambda.Unknown"
_IAM = "moto.iam.models"
_LAMBDA = "moto.awslambda.models"

# "States.ALL ... cannot catch the States.DataLimitExceeded terminal error or Runtime error
# types"; "A States.Runtime error isn't retriable" (AWS, error handling).
_NOT_MATCHED_BY_ALL: Final = frozenset({"States.Runtime", "States.DataLimitExceeded"})

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_ERROR_EQUALS, "ErrorEqualsDecl._eval_body", "method"),
    (_BINDING, "PayloadBindingStringExpressionSimple._eval_val", "method"),
    (_CHOICE, "ComparisonVariable._eval_body", "method"),
    (_RESULT_PATH, "ResultPath._eval_body", "method"),
    (_TASK, "StateTask._eval_parameters", "method"),
    (_TASK_LAMBDA, "StateTaskLambda._eval_parameters", "method"),
    # The quota check each of these modules imported by name.
    (_STATE, "is_within_size_quota", "function"),
    (_TASK_LAMBDA, "is_within_size_quota", "function"),
    (_TASK_SERVICE, "is_within_size_quota", "function"),
    (_BACKEND, "StepFunctionsParserBackend.start_execution", "method"),
    (_SERVICE_LAMBDA, "StateTaskServiceLambda._from_error", "method"),
    (_IAM, "IAMBackend.put_role_policy", "method"),
    (_IAM, "IAMBackend.create_role", "method"),
    (_IAM, "IAMBackend.update_assume_role_policy", "method"),
    (_LAMBDA, "LambdaBackend.create_function", "method"),
    (_LAMBDA, "LambdaBackend.update_function_configuration", "method"),
)

EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "ErrorEqualsDecl._eval_body": ("self", "env"),
    "PayloadBindingStringExpressionSimple._eval_val": ("self", "env"),
    "ComparisonVariable._eval_body": ("self", "env"),
    "ResultPath._eval_body": ("self", "env"),
    "StateTask._eval_parameters": ("self", "env"),
    "StateTaskLambda._eval_parameters": ("self", "env"),
    "is_within_size_quota": ("value",),
    "StepFunctionsParserBackend.start_execution": (
        "self",
        "state_machine_arn",
        "name",
        "execution_input",
        "trace_header",
    ),
    "StateTaskServiceLambda._from_error": ("self", "env", "ex"),
    "IAMBackend.put_role_policy": ("self", "role_name", "policy_name", "policy_json"),
    "IAMBackend.create_role": (
        "self",
        "role_name",
        "assume_role_policy_document",
        "path",
        "permissions_boundary",
        "description",
        "tags",
        "max_session_duration",
        "linked_service",
    ),
    "IAMBackend.update_assume_role_policy": ("self", "role_name", "policy_document"),
    "LambdaBackend.create_function": ("self", "spec"),
    "LambdaBackend.update_function_configuration": (
        "self",
        "function_name",
        "qualifier",
        "body",
    ),
}


def payload_size(value: Any) -> int:
    """UTF-8 bytes of a value as Step Functions counts them: a string (the execution input) as
    given, anything else as compact JSON, the form the execution history shows it in."""
    text = value if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
    return len(text.encode("utf-8"))


def within_payload_limit(value: Any) -> bool:
    return payload_size(value) <= PAYLOAD_LIMIT_BYTES


def apply(patcher: Patcher) -> None:
    """Apply every strictness patch through ``patcher``."""
    _named_binding_failures(patcher)
    _terminal_errors(patcher)
    _strict_choice(patcher)
    _strict_result_path(patcher)
    _payload_limits(patcher)
    _unhandled_lambda_errors(patcher)
    _policy_sizes(patcher)
    _environment_size(patcher)


# -- failing like Step Functions --------------------------------------------------------------


def _fail(env: Any, error: str, cause: str) -> NoReturn:
    """Raise the failure the interpreter turns into a state error (and, uncaught, the
    execution's ``error``/``cause``; for ``States.Runtime`` moto adds Step Functions' prefix
    naming the state and its entered event)."""
    typ = next((t for t in StatesErrorNameType if t.to_name() == error), None)
    error_name = StatesErrorName(typ=typ) if typ is not None else CustomErrorName(error)
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=cast(
                EventDetails,
                {"taskFailedEventDetails": TaskFailedEventDetails(error=error, cause=cause)},
            ),
        )
    )


def _unhandled_lambda_errors(patcher: Patcher) -> None:
    """A Lambda error without an ``errorType`` (a function that timed out or ran out of
    memory) is ``Lambda.Unknown``, as Step Functions reports it, not moto's ``Exception``."""
    original: Callable[[Any, Any, Any], Any] = patcher.original(
        _SERVICE_LAMBDA, "StateTaskServiceLambda._from_error"
    )
    function_error = cast(type, importlib.import_module(_LAMBDA_EVAL).LambdaFunctionErrorException)

    def from_error(self: Any, env: Any, ex: Any) -> Any:
        if isinstance(ex, function_error):
            payload = str(getattr(ex, "payload", ""))
            try:
                typed = "errorType" in json.loads(payload)
            except (TypeError, ValueError):
                typed = False
            if not typed:
                return FailureEvent(
                    env=env,
                    error_name=CustomErrorName(LAMBDA_UNKNOWN),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=cast(
                        EventDetails,
                        {
                            "taskFailedEventDetails": TaskFailedEventDetails(
                                error=LAMBDA_UNKNOWN,
                                cause=payload,
                                resource="invoke",
                                resourceType="lambda",
                            )
                        },
                    ),
                )
        return original(self, env, ex)

    patcher.replace(_SERVICE_LAMBDA, "StateTaskServiceLambda._from_error", from_error)


def _named_binding_failures(patcher: Patcher) -> None:
    """A ``"field.$"`` path of ``Parameters`` or ``ResultSelector`` that selects nothing fails
    with ``States.Runtime`` in moto too, but without naming the field for a Task; Step
    Functions' cause names it: "The JSONPath '$.Payload.rawSpec' specified for the field
    'rawSpec.$' could not be found in the input '...'"."""
    original: Callable[[Any, Any], Any] = patcher.original(
        _BINDING, "PayloadBindingStringExpressionSimple._eval_val"
    )

    def eval_val(self: Any, env: Any) -> Any:
        try:
            return original(self, env)
        except NoSuchJsonPathError as missing:
            _fail(
                env,
                "States.Runtime",
                f"The JSONPath '{missing.json_path}' specified for the field '{self.field}.$' "
                f"could not be found in the input '{to_json_str(missing.data)}'",
            )

    patcher.replace(_BINDING, "PayloadBindingStringExpressionSimple._eval_val", eval_val)


def _terminal_errors(patcher: Patcher) -> None:
    """A ``States.ALL`` retrier or catcher does not match ``States.Runtime`` nor
    ``States.DataLimitExceeded``; moto's does."""
    original: Callable[[Any, Any], None] = patcher.original(
        _ERROR_EQUALS, "ErrorEqualsDecl._eval_body"
    )

    def eval_body(self: Any, env: Any) -> None:
        error = env.stack[-1]
        name = getattr(error, "error_name", None)
        listed = {getattr(n, "error_name", None) for n in self.error_names}
        if name in _NOT_MATCHED_BY_ALL and "States.ALL" in listed and name not in listed:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    patcher.replace(_ERROR_EQUALS, "ErrorEqualsDecl._eval_body", eval_body)


def _strict_choice(patcher: Patcher) -> None:
    original: Callable[[Any, Any], None] = patcher.original(
        _CHOICE, "ComparisonVariable._eval_body"
    )

    def eval_body(self: Any, env: Any) -> None:
        operator = getattr(self.comparison_function, "operator_type", None)
        if operator != ComparisonOperatorType.IsPresent:
            self.variable.eval(env)
            value = env.stack.pop()
            if isinstance(value, NoSuchVariable):
                path = self.variable.string_sampler.literal_value
                _fail(
                    env,
                    "States.Runtime",
                    f"Invalid path '{path}': The choice state's condition path references "
                    "an invalid value.",
                )
        original(self, env)

    patcher.replace(_CHOICE, "ComparisonVariable._eval_body", eval_body)


def _strict_result_path(patcher: Patcher) -> None:
    original: Callable[[Any, Any], None] = patcher.original(_RESULT_PATH, "ResultPath._eval_body")

    def eval_body(self: Any, env: Any) -> None:
        path = self.result_path_src
        if path is not None and path != "$":
            # Walk the reference path's parents: each must be an object or absent (created).
            node: Any = env.states.get_input()
            fields = [str(part) for part in _fields(parse(path))]
            for depth, name in enumerate(fields[:-1]):
                if not isinstance(node, dict):
                    break
                node = node.get(name)
                if node is not None and not isinstance(node, dict):
                    shown = "$." + ".".join(fields[: depth + 1])
                    _fail(
                        env,
                        "States.ResultPathMatchFailure",
                        f"Unable to apply ResultPath '{path}': '{shown}' is not a JSON object.",
                    )
            if fields and not isinstance(env.states.get_input(), dict):
                _fail(
                    env,
                    "States.ResultPathMatchFailure",
                    f"Unable to apply ResultPath '{path}': the state input is not a JSON object.",
                )
        original(self, env)

    patcher.replace(_RESULT_PATH, "ResultPath._eval_body", eval_body)


def _fields(expression: Any) -> list[Any]:
    """The field names of a reference path parsed by jsonpath_ng (``$.a.b`` -> a, b)."""
    if isinstance(expression, Root):
        return []
    if isinstance(expression, Child):
        return _fields(expression.left) + _fields(expression.right)
    if isinstance(expression, Fields):
        return list(expression.fields)
    # An index or another operator: reference paths allow only fields, so leave it to moto.
    return [repr(expression)]


def _payload_limits(patcher: Patcher) -> None:
    for module in (_STATE, _TASK_LAMBDA, _TASK_SERVICE):
        patcher.replace(module, "is_within_size_quota", within_payload_limit)

    for module, path in (
        (_TASK, "StateTask._eval_parameters"),
        (_TASK_LAMBDA, "StateTaskLambda._eval_parameters"),
    ):
        patcher.replace(module, path, _checked_parameters(patcher.original(module, path)))

    original_start: Callable[..., Any] = patcher.original(
        _BACKEND, "StepFunctionsParserBackend.start_execution"
    )

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: Any = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        if name is not None:
            check_execution_name(str(name))
        if execution_input is not None and payload_size(execution_input) > PAYLOAD_LIMIT_BYTES:
            # StartExecution's model caps `input` at 262144; the quota counts UTF-8 bytes.
            raise ValidationException(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {PAYLOAD_LIMIT_BYTES}"
            )
        return original_start(self, state_machine_arn, name, execution_input, trace_header)

    patcher.replace(_BACKEND, "StepFunctionsParserBackend.start_execution", start_execution)


# StartExecution's name (Step Functions API reference, StartExecution, "name"): 1 to 80
# characters; it "must not contain: white space, brackets < > { } [ ], wildcard characters
# ? *, special characters " # % \ ^ | ~ ` $ & , ; : /, control characters (U+0000-001F,
# U+007F-009F, U+FFFE-FFFF), surrogates (U+D800-DFFF)". moto 5.2.5's parser backend checks
# none of it (its older backend checked part of it).
NAME_MAX: Final = 80
_NOT_IN_A_NAME: Final = frozenset('<>{}[]?*"#%\\^|~`$&,;:/')


def name_problem(name: str) -> str | None:
    """Why StartExecution refuses ``name`` (None: it takes it)."""
    if not 1 <= len(name) <= NAME_MAX:
        return f"Member must have length between 1 and {NAME_MAX}"
    for character in name:
        point = ord(character)
        if (
            character.isspace()
            or character in _NOT_IN_A_NAME
            or point <= 0x1F
            or 0x7F <= point <= 0x9F
            or 0xD800 <= point <= 0xDFFF
            or point in (0xFFFE, 0xFFFF)
        ):
            return f"it contains {character!r}"
    return None


def check_execution_name(name: str) -> None:
    """Refuse a name as StartExecution does: ``InvalidName`` (HTTP 400), or a
    ``ValidationException`` for its length (the API's model bounds it to 1-80)."""
    problem = name_problem(name)
    if problem is None:
        return
    if problem.startswith("Member"):
        raise ValidationException(
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy "
            f"constraint: {problem}"
        )
    raise InvalidName(f"Invalid Name: '{name}' ({problem})")


def _checked_parameters(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def eval_parameters(self: Any, env: Any) -> Any:
        parameters = original(self, env)
        # The Lambda integrations send only the payload; other services the parameters.
        sent = parameters.get("Payload", parameters) if isinstance(parameters, dict) else parameters
        if not within_payload_limit(sent):
            _fail(
                env,
                "States.DataLimitExceeded",
                f"The state/task '{self.name}' has an input with a size exceeding the maximum "
                "number of bytes service limit.",
            )
        return parameters

    return eval_parameters


# -- sizes moto never checks ------------------------------------------------------------------


def check_parameter_values(parameters: Mapping[str, Any]) -> None:
    """Refuse a stack's parameter value past CloudFormation's 4,096 bytes, as the deploy would
    (``ValidationError``, CloudFormation's code for a parameter it refuses; AWS documents no
    wording for this one). A list parameter's value is its items joined with commas, as
    ``--parameter-overrides`` sends it."""
    for name, value in parameters.items():
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        size = len(text.encode("utf-8"))
        if size > CFN_PARAMETER_VALUE_BYTES:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": (
                            f"Parameter '{name}' value is {size} bytes: a parameter value "
                            f"is at most {CFN_PARAMETER_VALUE_BYTES} bytes"
                        ),
                    }
                },
                "CreateChangeSet",
            )


def _policy_sizes(patcher: Patcher) -> None:
    """PutRolePolicy refuses a policy that takes the role's inline policies past 10,240
    characters ("Maximum policy size of 10240 bytes exceeded for role <name>", LimitExceeded,
    409, as IAM answers it); CreateRole and UpdateAssumeRolePolicy a trust policy past 2,048
    ("Cannot exceed quota for ACLSizePerRole: 2048")."""
    put: Callable[..., None] = patcher.original(_IAM, "IAMBackend.put_role_policy")
    create: Callable[..., Any] = patcher.original(_IAM, "IAMBackend.create_role")
    update: Callable[..., None] = patcher.original(_IAM, "IAMBackend.update_assume_role_policy")

    def put_role_policy(self: Any, role_name: str, policy_name: str, policy_json: str) -> None:
        role = self.get_role(role_name)
        others = sum(policy_size(doc) for name, doc in role.policies.items() if name != policy_name)
        if others + policy_size(policy_json) > IAM_ROLE_POLICY_CHARS:
            raise LimitExceededException(
                f"Maximum policy size of {IAM_ROLE_POLICY_CHARS} bytes exceeded for role "
                f"{role_name}"
            )
        put(self, role_name, policy_name, policy_json)

    def check_trust(document: str) -> None:
        if policy_size(document) > IAM_TRUST_POLICY_CHARS:
            raise LimitExceededException(
                f"Cannot exceed quota for ACLSizePerRole: {IAM_TRUST_POLICY_CHARS}"
            )

    def create_role(self: Any, role_name: str, assume_role_policy_document: str, *args: Any,
                    **kwargs: Any) -> Any:  # fmt: skip
        check_trust(assume_role_policy_document)
        return create(self, role_name, assume_role_policy_document, *args, **kwargs)

    def update_assume_role_policy(self: Any, role_name: str, policy_document: str) -> None:
        check_trust(policy_document)
        update(self, role_name, policy_document)

    patcher.replace(_IAM, "IAMBackend.put_role_policy", put_role_policy)
    patcher.replace(_IAM, "IAMBackend.create_role", create_role)
    patcher.replace(_IAM, "IAMBackend.update_assume_role_policy", update_assume_role_policy)


def _environment_size(patcher: Patcher) -> None:
    """CreateFunction and UpdateFunctionConfiguration refuse an environment past 4 KB with
    Lambda's words (``InvalidParameterValueException``)."""
    create: Callable[[Any, Any], Any] = patcher.original(_LAMBDA, "LambdaBackend.create_function")
    update: Callable[..., Any] = patcher.original(
        _LAMBDA, "LambdaBackend.update_function_configuration"
    )

    def check(request: Mapping[str, Any]) -> None:
        variables = (request.get("Environment") or {}).get("Variables") or {}
        if environment_size(variables) > LAMBDA_ENVIRONMENT_BYTES:
            measured = json.dumps(dict(variables), separators=(",", ":"))
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the "
                "environment variables you have provided exceeded the 4KB limit. "
                f"String measured: {measured}"
            )

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        check(spec)
        return create(self, spec)

    def update_function_configuration(
        self: Any, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> Any:
        check(body)
        return update(self, function_name, qualifier, body)

    patcher.replace(_LAMBDA, "LambdaBackend.create_function", create_function)
    patcher.replace(
        _LAMBDA, "LambdaBackend.update_function_configuration", update_function_configuration
    )

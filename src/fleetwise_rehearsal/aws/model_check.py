"""Checks awsJson 1.0 payloads against botocore's service model for IoT FleetWise.

The simulator runs every request and every response through here, so a rehearsal can only pass
if both sides of the conversation are something the real service could have sent or accepted.

Two checkers work together:

- botocore's own ``ParamValidator`` (what the SDK runs client-side) on requests, after turning
  wire values back into the Python types it expects (awsJson timestamps are epoch-second
  numbers, blobs are base64 strings);
- a small recursive walker over botocore shapes for everything ``ParamValidator`` leaves out
  (maximum lengths and values, patterns, enums) and for responses, which botocore never
  validates.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator


@dataclass(frozen=True)
class FieldError:
    """One constraint a payload breaks: where (a dotted path) and why."""

    path: str
    message: str


class ModelChecker:
    """Validates wire payloads (parsed JSON) of one service against its botocore model."""

    def __init__(self, service_model: ServiceModel) -> None:
        self.service_model = service_model
        self._param_validator = ParamValidator()
        self._patterns: dict[str, re.Pattern[str]] = {}

    # -- requests ------------------------------------------------------------------------------

    def check_request(self, operation: OperationModel, body: dict[str, Any]) -> list[FieldError]:
        """The constraints the request body breaks (empty when it is valid)."""
        shape = operation.input_shape
        if shape is None:
            return [] if not body else [FieldError("", "the operation takes no input")]
        errors = self._walk(shape, body, "")
        report = self._param_validator.validate(self._to_python(shape, body), shape)
        if report.has_errors() and not errors:
            # The walker covers every check ParamValidator makes; if botocore ever adds one,
            # the request is still refused, with botocore's own wording.
            errors.append(FieldError("", report.generate_report()))
        return errors

    # -- responses -----------------------------------------------------------------------------

    def check_output(self, operation: OperationModel, body: dict[str, Any]) -> list[FieldError]:
        """The constraints a successful response body breaks."""
        shape = operation.output_shape
        if shape is None:
            return [] if not body else [FieldError("", "the operation has no output")]
        return self._walk(shape, body, "")

    def check_error(self, operation: OperationModel, body: dict[str, Any]) -> list[FieldError]:
        """The constraints an error body (``__type`` plus the exception's members) breaks.

        The ``__type`` must name one of the operation's modelled errors.
        """
        error_type = body.get("__type")
        shapes = {shape.name: shape for shape in operation.error_shapes}
        if error_type not in shapes:
            return [
                FieldError(
                    "__type",
                    f"{error_type!r} is not an error {operation.name} declares "
                    f"(declared: {', '.join(sorted(shapes))})",
                )
            ]
        members = {key: value for key, value in body.items() if key != "__type"}
        return self._walk(shapes[str(error_type)], members, "")

    # -- the walker ----------------------------------------------------------------------------

    def _walk(self, shape: Shape, value: Any, path: str) -> list[FieldError]:
        errors: list[FieldError] = []
        self._check(shape, value, path, errors)
        return errors

    def _check(self, shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
        kind = shape.type_name
        if kind == "structure":
            self._check_structure(cast(StructureShape, shape), value, path, errors)
        elif kind == "list":
            if not isinstance(value, list):
                errors.append(FieldError(path, f"expected a list, got {type(value).__name__}"))
                return
            self._check_length(shape, len(value), path, errors)
            member = cast(ListShape, shape).member
            for index, item in enumerate(value):
                self._check(member, item, f"{path}[{index}]", errors)
        elif kind == "map":
            if not isinstance(value, dict):
                errors.append(FieldError(path, f"expected an object, got {type(value).__name__}"))
                return
            self._check_length(shape, len(value), path, errors)
            map_shape = cast(MapShape, shape)
            for key, item in value.items():
                self._check(map_shape.key, key, f"{path}.<key>", errors)
                self._check(map_shape.value, item, f"{path}.{key}", errors)
        elif kind == "string":
            self._check_string(shape, value, path, errors)
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(FieldError(path, f"expected an integer, got {value!r}"))
                return
            self._check_range(shape, value, path, errors)
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(FieldError(path, f"expected a number, got {value!r}"))
                return
            self._check_range(shape, value, path, errors)
        elif kind == "boolean":
            if not isinstance(value, bool):
                errors.append(FieldError(path, f"expected a boolean, got {value!r}"))
        elif kind == "timestamp":
            # awsJson's default timestamp format is epoch seconds as a JSON number.
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(FieldError(path, f"expected epoch seconds, got {value!r}"))
        elif kind == "blob" and not (isinstance(value, str) and _is_base64(value)):
            errors.append(FieldError(path, "expected a base64 string"))
        # "document" members are free-form JSON by definition: nothing to check.

    def _check_structure(
        self, shape: StructureShape, value: Any, path: str, errors: list[FieldError]
    ) -> None:
        if not isinstance(value, dict):
            errors.append(FieldError(path, f"expected an object, got {type(value).__name__}"))
            return
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(FieldError(_join(path, name), "required member is missing"))
        members = shape.members
        for name, item in value.items():
            if name not in members:
                errors.append(FieldError(_join(path, name), "unknown member"))
            elif item is not None:
                self._check(members[name], item, _join(path, name), errors)
        if shape.is_tagged_union:
            present = [name for name, item in value.items() if item is not None]
            if len(present) != 1:
                errors.append(
                    FieldError(path, f"a union takes exactly one member, got {len(present)}")
                )

    def _check_string(self, shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, str):
            errors.append(FieldError(path, f"expected a string, got {value!r}"))
            return
        enum: list[str] = shape.metadata.get("enum", [])
        if enum and value not in enum:
            errors.append(FieldError(path, f"{value!r} is not one of {', '.join(enum)}"))
        self._check_length(shape, len(value), path, errors)
        pattern = shape.metadata.get("pattern")
        if pattern is not None and self._compiled(pattern).fullmatch(value) is None:
            errors.append(FieldError(path, f"{value!r} does not match {pattern}"))

    def _compiled(self, pattern: str) -> re.Pattern[str]:
        compiled = self._patterns.get(pattern)
        if compiled is None:
            # ASSUMPTION: the service anchors its patterns. The public Smithy model writes them
            # as ^...$; botocore's copy drops the anchors, so match the whole value.
            compiled = self._patterns[pattern] = re.compile(pattern)
        return compiled

    @staticmethod
    def _check_length(shape: Shape, length: int, path: str, errors: list[FieldError]) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and length < low:
            errors.append(FieldError(path, f"length {length} is below the minimum {low}"))
        if high is not None and length > high:
            errors.append(FieldError(path, f"length {length} is above the maximum {high}"))

    @staticmethod
    def _check_range(shape: Shape, number: float, path: str, errors: list[FieldError]) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and number < low:
            errors.append(FieldError(path, f"{number} is below the minimum {low}"))
        if high is not None and number > high:
            errors.append(FieldError(path, f"{number} is above the maximum {high}"))

    # -- wire to Python, for ParamValidator ----------------------------------------------------

    def _to_python(self, shape: Shape, value: Any) -> Any:
        """Wire values as the SDK's caller would have given them (invalid ones left alone)."""
        kind = shape.type_name
        if kind == "structure" and isinstance(value, dict):
            members = cast(StructureShape, shape).members
            return {
                name: self._to_python(members[name], item) if name in members else item
                for name, item in value.items()
            }
        if kind == "list" and isinstance(value, list):
            member = cast(ListShape, shape).member
            return [self._to_python(member, item) for item in value]
        if kind == "map" and isinstance(value, dict):
            value_shape = cast(MapShape, shape).value
            return {key: self._to_python(value_shape, item) for key, item in value.items()}
        if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if kind == "blob" and isinstance(value, str) and _is_base64(value):
            return base64.b64decode(value)
        return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True

"""Simulator lines of a scenario: what each verb takes, how it scripts the simulator, and
how it reads on the timeline."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import ServiceModel

from fleetwise_rehearsal.fleetwise import (
    FAILURE,
    PENDING,
    SUCCESS,
    Campaign,
    FleetWiseSimulator,
    Outcome,
)
from fleetwise_rehearsal.scenarios.values import (
    Problem,
    check_mapping,
    check_number,
    check_target,
    check_text,
    optional_text,
    suggest,
)

SIMULATOR_VERBS = (
    "register",
    "fail",
    "status",
    "deleteServiceLinkedRole",
    "forget",
    "timestream",
    "campaigns",
    "slow",
)
_CAMPAIGN_STATUSES = ("CREATING", "WAITING_FOR_APPROVAL", "RUNNING", "SUSPENDED")
ONE_REGION = (
    "the simulator keeps one registration, for the stack's own account and Region: it "
    "cannot script another target"
)


def parse_simulator(value: Any) -> dict[str, Any]:
    """Validate a simulator line's value: ``target``, ``verb`` and the verb's own."""
    body = dict(check_mapping(value, "'simulator'"))
    target = check_target(body.pop("target")) if "target" in body else None
    verbs = [k for k in body if k in SIMULATOR_VERBS]
    if len(verbs) != 1:
        unknown = [k for k in body if k not in SIMULATOR_VERBS]
        if unknown and not verbs:
            word = str(unknown[0])
            raise Problem(
                f"unknown simulator verb {word!r}{suggest(word, SIMULATOR_VERBS)}; it takes "
                f"one of {', '.join(SIMULATOR_VERBS)}"
            )
        raise Problem(
            "one simulator line does one thing: "
            + (" and ".join(verbs) if verbs else f"choose one of {', '.join(SIMULATOR_VERBS)}")
        )
    verb = verbs[0]
    extra = [k for k in body if k != verb and not (verb == "status" and k in _STATUS_SIBLINGS)]
    if extra:
        raise Problem(f"unknown key {extra[0]!r} for the simulator's {verb}")
    args = {"target": target, "verb": verb, **_SIMULATOR_PARSERS[verb](body[verb], body)}
    return args


_STATUS_SIBLINGS = ("iamError", "timestreamError")


def _parse_register(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, list) or not value:
        raise Problem("'register' is a list of outcomes ({pending, result, iamError, ...})")
    outcomes = []
    for i, written in enumerate(value, start=1):
        entry = check_mapping(written, f"outcome {i}")
        unknown = [
            k for k in entry if k not in ("pending", "result", "iamError", "timestreamError")
        ]
        if unknown:
            raise Problem(
                f"outcome {i}: unknown key {unknown[0]!r} (it takes pending, result, "
                "iamError, timestreamError)"
            )
        result = entry.get("result", "SUCCESS")
        if result not in ("SUCCESS", "FAILURE"):
            raise Problem(f"outcome {i}: 'result' is SUCCESS or FAILURE, not {result!r}")
        outcomes.append(
            Outcome(
                pending_seconds=check_number(
                    entry.get("pending", 300), f"outcome {i}: 'pending'", minimum=0.0
                ),
                result=result,
                iam_error=optional_text(entry, "iamError", f"outcome {i}: 'iamError'"),
                timestream_error=optional_text(
                    entry, "timestreamError", f"outcome {i}: 'timestreamError'"
                ),
            )
        )
    return {"outcomes": outcomes}


_FAULT_KEYS = ("operation", "code", "message", "retryAfter", "times")


@dataclass(frozen=True)
class Fault:
    """A simulator ``fail`` line: answer the next ``times`` calls of ``operation`` (None: of
    any) with the error ``code``, carrying ``retryAfterSeconds`` when ``retry_after`` is set."""

    operation: str | None
    code: str
    message: str | None
    retry_after: int | None
    times: int


def _parse_fail(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    fault = check_mapping(value, "'fail'")
    unknown = [k for k in fault if k not in _FAULT_KEYS]
    if unknown:
        raise Problem(f"'fail': unknown key {unknown[0]!r} (it takes {', '.join(_FAULT_KEYS)})")
    if "code" not in fault:
        raise Problem("'fail' needs a 'code' (an error the operation declares)")
    operation = fault.get("operation")
    if operation is not None:
        operation = check_text(operation, "'fail': 'operation'")
    retry_after = fault.get("retryAfter")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
    ):
        raise Problem(f"'fail': 'retryAfter' is whole seconds, not {retry_after!r}")
    times = fault.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise Problem(f"'fail': 'times' is a whole number of at least 1, not {times!r}")
    checked = Fault(
        operation=operation,
        code=check_text(fault["code"], "'fail': 'code'"),
        message=optional_text(fault, "message", "'fail': 'message'"),
        retry_after=retry_after,
        times=times,
    )
    # The simulator refuses what the service model forbids (an error the operation does not
    # declare, retryAfterSeconds on an error without it): ask a simulator that never serves.
    try:
        FleetWiseSimulator(service_model=fleetwise_model()).fail_next(
            checked.operation, checked.code, checked.message, checked.retry_after, checked.times
        )
    except ValueError as error:
        raise Problem(f"'fail': {error}") from None
    return {"fault": checked}


_SLOW_KEYS = ("operation", "seconds", "times")


def _parse_slow(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    slow = check_mapping(value, "'slow'")
    unknown = [k for k in slow if k not in _SLOW_KEYS]
    if unknown or "seconds" not in slow:
        raise Problem(f"'slow' takes seconds (required), operation, times; not {unknown or slow}")
    operation = slow.get("operation")
    if operation is not None and operation not in fleetwise_model().operation_names:
        raise Problem(f"'slow': {operation!r} is not an IoT FleetWise operation")
    times = slow.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise Problem(f"'slow': 'times' is a whole number of at least 1, not {times!r}")
    return {
        "operation": operation,
        "seconds": check_number(slow["seconds"], "'slow': 'seconds'", minimum=0.0),
        "times": times,
    }


def _parse_status(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if value not in (PENDING, SUCCESS, FAILURE):
        raise Problem(f"'status' is one of {PENDING}, {SUCCESS}, {FAILURE}, not {value!r}")
    return {
        "status": value,
        "iamError": optional_text(body, "iamError", "'iamError'"),
        "timestreamError": optional_text(body, "timestreamError", "'timestreamError'"),
    }


def _parse_flag(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if value is not True:
        raise Problem(f"write it as 'true', not {value!r}")
    return {}


def _parse_timestream(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    attach = check_mapping(value, "'timestream'")
    keys = ("databaseName", "tableName", "roleArn")
    unknown = [k for k in attach if k not in keys]
    missing = [k for k in keys if k not in attach]
    if unknown or missing:
        raise Problem(f"'timestream' takes exactly {', '.join(keys)}")
    return {"timestream": {k: check_text(attach[k], f"'timestream': '{k}'") for k in keys}}


def _parse_campaigns(value: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, list):
        raise Problem("'campaigns' is a list of {name, status, destinations}")
    campaigns = []
    for i, written in enumerate(value, start=1):
        entry = check_mapping(written, f"campaign {i}")
        unknown = [k for k in entry if k not in ("name", "status", "destinations")]
        if unknown or "name" not in entry:
            raise Problem(f"campaign {i}: takes name (required), status, destinations")
        status = entry.get("status", "RUNNING")
        if status not in _CAMPAIGN_STATUSES:
            raise Problem(
                f"campaign {i}: 'status' is one of {', '.join(_CAMPAIGN_STATUSES)}, not {status!r}"
            )
        destinations = entry.get("destinations") or []
        if not isinstance(destinations, list) or not all(isinstance(d, dict) for d in destinations):
            raise Problem(
                f"campaign {i}: 'destinations' is a list of data destination configs "
                "(like {s3Config: {...}}); empty means the registered Timestream table"
            )
        campaigns.append(
            Campaign(
                name=check_text(entry["name"], f"campaign {i}: 'name'"),
                status=status,
                data_destination_configs=tuple(destinations),
            )
        )
    return {"campaigns": campaigns}


@functools.cache
def fleetwise_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("iotfleetwise")


def simulator_keeps_regions() -> bool:
    """Whether the simulator's scripting methods take ``region``/``account`` (state kept per
    account and Region)."""
    return "region" in inspect.signature(FleetWiseSimulator.fail_next).parameters


_SIMULATOR_PARSERS = {
    "register": _parse_register,
    "fail": _parse_fail,
    "status": _parse_status,
    "deleteServiceLinkedRole": _parse_flag,
    "forget": _parse_flag,
    "timestream": _parse_timestream,
    "campaigns": _parse_campaigns,
    "slow": _parse_slow,
}


# -- applying and describing ---------------------------------------------------------------


def apply_simulator_line(sim: FleetWiseSimulator, args: Mapping[str, Any], **where: str) -> None:
    """Script ``sim`` as a validated simulator line says. ``where`` (``account``, ``region``)
    is passed on to the simulator's scripting methods, which take it once the simulator keeps
    state per account and Region: give it only for another target than the stack's own."""
    verb = args["verb"]
    scripting: Any = sim  # the keyword arguments above are not in every simulator's signature
    if verb == "register":
        scripting.script_registrations(args["outcomes"], **where)
    elif verb == "fail":
        fault = args["fault"]
        scripting.fail_next(
            fault.operation, fault.code, fault.message, fault.retry_after, fault.times, **where
        )
    elif verb == "status":
        scripting.set_account_status(
            args["status"],
            iam_error=args["iamError"],
            timestream_error=args["timestreamError"],
            **where,
        )
    elif verb == "deleteServiceLinkedRole":
        scripting.delete_service_linked_role(**where)
    elif verb == "forget":
        scripting.forget_registration(**where)
    elif verb == "timestream":
        attach = args["timestream"]
        scripting.attach_timestream(
            attach["databaseName"], attach["tableName"], attach["roleArn"], **where
        )
    elif verb == "campaigns":
        scripting.set_campaigns(args["campaigns"], **where)
    elif verb == "slow":
        scripting.slow_next(args["operation"], args["seconds"], args["times"], **where)
    else:
        raise ValueError(f"unknown simulator verb {verb!r}")


def describe(args: Mapping[str, Any]) -> str:
    """A simulator line in words, for the timeline."""
    verb = args["verb"]
    if verb == "register":
        outcomes = ", ".join(f"{o.result} after {o.pending_seconds:g} s" for o in args["outcomes"])
        return f"next RegisterAccount outcomes: {outcomes}"
    if verb == "fail":
        fault = args["fault"]
        after = "" if fault.retry_after is None else f" (retryAfterSeconds {fault.retry_after})"
        calls = f"{fault.operation} call(s)" if fault.operation else "call(s) of any operation"
        return f"the next {fault.times} {calls} answer {fault.code}{after}"
    if verb == "status":
        errors = [e for e in (args["iamError"], args["timestreamError"]) if e]
        return f"the account now reports {args['status']}" + (
            f" ({'; '.join(errors)})" if errors else ""
        )
    if verb == "timestream":
        attach = args["timestream"]
        return f"Timestream metadata {attach['databaseName']}/{attach['tableName']} attached"
    if verb == "slow":
        calls = f"{args['operation']} call(s)" if args["operation"] else "call(s)"
        return f"the next {args['times']} {calls} answer {args['seconds']:g} s late"
    if verb == "campaigns":
        names = [
            c.name + ("" if c.data_destination_configs else " (no destination)")
            for c in args["campaigns"]
        ]
        return "campaigns: " + (", ".join(names) or "none")
    return {
        "deleteServiceLinkedRole": "the service-linked role was deleted",
        "forget": "the account is back to never registered",
    }[str(verb)]

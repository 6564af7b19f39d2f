"""What a warm process keeps between rehearsals, so each rehearsal costs little wall time.

Measured (py-spy, every thread) before these: most of a rehearsed registration went to the
SDK loading its service models again (moto resets boto3's default session; PynamoDB makes a
botocore session per connection and thread; moto built a Lambda client for every Task) and
to the ANTLR parse of the definition at every create and execution start. None of these
changes what a run does: the parsed program keeps no execution state (that lives in each
execution's Environment), and the sessions hold only loaded models and the rehearsal's fake
credentials. Applied by ``moto_patches.patched``; the points are checked with the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from fleetwise_rehearsal.aws import clients
from fleetwise_rehearsal.aws.patching import Patcher

_PARSER = "moto.stepfunctions.parser.asl.parse.asl_parser"
_LAMBDA_EVAL = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"

PATCH_POINTS: Final[tuple[tuple[str, str, str], ...]] = (
    (_PARSER, "AmazonStateLanguageParser.parse", "staticmethod"),
    (_LAMBDA_EVAL, "boto_client_for", "function"),
    # Not moto's, but replaced the same way: the handlers' SDK sessions (see ``clients``).
    ("boto3", "DEFAULT_SESSION", "value"),
    ("fleetwise_reconciler.wiring", "botocore_session", "function"),
    # The handlers point PynamoDB at their session themselves (``dal.models``); the rehearsal
    # only puts back, when it ends, what PynamoDB had when it began.
    ("pynamodb.connection.base", "get_session", "value"),
)

EXPECTED_SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "AmazonStateLanguageParser.parse": ("definition",),
    "boto_client_for": ("region", "service", "state_credentials"),
    "botocore_session": (),
}

# Parsed definitions, for every rehearsal of the process.
_parsed: dict[str, Any] = {}
_parsed_lock = threading.Lock()


def apply(patcher: Patcher) -> None:
    _parse_each_definition_once(patcher)
    _one_lambda_client_per_region(patcher)
    _share_handler_sessions(patcher)


def _parse_each_definition_once(patcher: Patcher) -> None:
    original_parse: Callable[[str], Any] = patcher.original(
        _PARSER, "AmazonStateLanguageParser.parse"
    ).__func__

    def parse(definition: str) -> Any:
        with _parsed_lock:
            known = _parsed.get(definition)
        if known is None:
            known = original_parse(definition)  # a definition that fails is not kept
            with _parsed_lock:
                _parsed[definition] = known
        return known

    patcher.replace(_PARSER, "AmazonStateLanguageParser.parse", staticmethod(parse))


def _one_lambda_client_per_region(patcher: Patcher) -> None:
    """moto builds a boto3 client (tens of ms) for every Task's Invoke; its arguments never
    vary but for the Region, so one client per Region and service serves them all."""
    original: Callable[..., Any] = patcher.original(_LAMBDA_EVAL, "boto_client_for")
    made: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in made:
                made[(region, service)] = original(region, service, state_credentials)
            return made[(region, service)]

    patcher.replace(_LAMBDA_EVAL, "boto_client_for", boto_client_for)


def _share_handler_sessions(patcher: Patcher) -> None:
    """The handlers' botocore session (``wiring.botocore_session``, one per thread in Lambda,
    which the handlers also give PynamoDB) becomes one process-wide session
    (``clients.handler_session``): the invoker runs one handler at a time, and a session kept
    across rehearsals keeps its loaded models."""
    shared = clients.handler_session()
    patcher.replace("boto3", "DEFAULT_SESSION", shared)
    patcher.replace("fleetwise_reconciler.wiring", "botocore_session", lambda: shared._session)
    patcher.replace(
        "pynamodb.connection.base",
        "get_session",
        patcher.original("pynamodb.connection.base", "get_session"),
    )

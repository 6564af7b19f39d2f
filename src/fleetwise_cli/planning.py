"""What a reconcile would do now, decided by the workflow's own code.

The steps are the Observe step's (``handlers/observe.py``), without its lease and its
writes: validate the item (``logic.validate``), and only when it is valid ask IoT FleetWise
(``GetRegisterAccountStatus`` in the target's account and Region), plan (``logic.plan``) and,
when that plan would re-register a modern spec over Timestream metadata, read the campaigns
that could block it. Nothing here calls RegisterAccount or writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetwise_cli.context import CliError
from fleetwise_reconciler.errors import ReconcileError
from fleetwise_reconciler.fleetwise import FleetWise
from fleetwise_reconciler.logic import plan as planning
from fleetwise_reconciler.logic.compare import spec_hash
from fleetwise_reconciler.logic.validate import Problem, ValidationContext, validate

# Only the drift schedule's trigger plans differently (it does not retry a terminal error of
# the same spec version); an operator's reconcile is an edit of the item, like this one.
TRIGGER = "manual"
# Exit 2 ("it would act"): the plan calls RegisterAccount.
ACTING = frozenset({planning.Action.REGISTER})


@dataclass(frozen=True)
class Planned:
    target: str
    action: str
    phase: str
    reason: str
    message: str
    drift: tuple[str, ...]
    spec_hash: str
    problems: tuple[Problem, ...] = ()
    observation: dict[str, Any] | None = None

    @property
    def acts(self) -> bool:
        return self.action in ACTING

    @property
    def invalid(self) -> bool:
        return self.action == planning.Action.INVALID

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target or None,
            "action": self.action,
            "phase": self.phase,
            "reason": self.reason,
            "message": self.message,
            "drift": list(self.drift),
            "specHash": self.spec_hash,
        }


def validation_only(raw: Mapping[str, Any], context: ValidationContext) -> Planned | None:
    """The Invalid plan when the item fails validation (no call made), else None."""
    validation = validate(raw, context)
    if validation.valid:
        return None
    decided = planning.plan(
        validation, None, spec_hash=spec_hash(raw), previous=None, trigger=TRIGGER, max_attempts=1
    )
    return _planned(str(raw.get("target", "")), decided, spec_hash(raw), validation.problems, None)


def plan_item(
    raw: Mapping[str, Any],
    *,
    previous: dict[str, Any] | None,
    context: ValidationContext,
    max_attempts: int,
    fleetwise: Callable[[str], FleetWise],
) -> Planned:
    """Validate, observe and plan one spec item as the Observe step would."""
    target = str(raw.get("target", ""))
    version = spec_hash(raw)
    validation = validate(raw, context)
    observation = None
    port = None
    try:
        if validation.valid and validation.spec is not None:
            port = fleetwise(validation.spec.target)
            observation = port.get_status()
        decided = planning.plan(
            validation,
            observation,
            spec_hash=version,
            previous=previous,
            trigger=TRIGGER,
            max_attempts=max_attempts,
        )
        if port is not None and planning.needs_campaign_check(
            decided, validation.spec, observation
        ):
            campaigns = [port.get_campaign(c["name"]) for c in port.list_campaigns()]
            decided = planning.blocked_by_campaigns(decided, planning.blocking_campaigns(campaigns))
    except ReconcileError as error:
        if error.operation == "AssumeRole":
            # The member's own hint ("it trusts this stack's roles") is the workflow's; an
            # operator is trusted through the member stack's OperatorPrincipalArns.
            said = error.message.split(". Check that", 1)[0]
            raise CliError(
                f"planning {target}: {said}. The member role trusts the hub's reconciler roles "
                "and, of the operators, only the principals in the member stack's "
                "OperatorPrincipalArns parameter (member/template.yaml): add your role's ARN "
                "there (update the StackSet's instances), or run the command as a principal "
                "it lists"
            ) from None
        if error.code == "AccessDeniedException":
            raise CliError(
                f"permission denied: planning {target} needs iotfleetwise:{error.operation}: "
                f"{error.message}"
            ) from None
        raise CliError(
            f"planning {target}: IoT FleetWise {error.operation} failed: {error.code}: "
            f"{error.message}"
        ) from None
    return _planned(target, decided, version, validation.problems, observation)


def _planned(
    target: str,
    decided: planning.Plan,
    version: str,
    problems: tuple[Problem, ...],
    observation: dict[str, Any] | None,
) -> Planned:
    return Planned(
        target=target,
        action=str(decided.action),
        phase=str(decided.phase),
        reason=decided.reason,
        message=decided.message,
        drift=decided.drift,
        spec_hash=version,
        problems=problems,
        observation=observation,
    )

"""Powertools objects shared by the handlers, and the product's metric vocabulary.

The module-level Logger and Metrics read POWERTOOLS_* variables and do no I/O (the
accepted Powertools idiom). Every metric goes through ``publish`` so names, units and
dimensions stay in one place: the alarms in template.yaml must match them exactly
(Powertools adds the ``service`` dimension to the first dimension set).

There is no Powertools Tracer: Lambda's active tracing records each invocation, and the X-Ray
SDK would add its import time to every cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from fleetwise_reconciler import clock

logger = Logger()
metrics = Metrics()

DEFAULT_NAMESPACE = "FleetWiseReconciler"
DEFAULT_SERVICE = "fleetwise-reconciler"
COUNT = MetricUnit.Count
SECONDS = MetricUnit.Seconds

# Metric names (PascalCase nouns). The ``service`` dimension, which Powertools adds to the
# first dimension set, is the stack's name (template.yaml sets POWERTOOLS_SERVICE_NAME to it), so
# two stacks in one account and Region never share a series, an alarm or a dashboard widget.
# Per target: [service, target]; RegistrationFailed also [service, target, reason].
REGISTRATION_SUCCEEDED = "RegistrationSucceeded"
REGISTRATION_FAILED = "RegistrationFailed"
RECONCILE_DURATION = "ReconcileDuration"
REGISTER_ACCOUNT_CALLS = "RegisterAccountCalls"
STATUS_POLLS = "StatusPolls"
TRIGGER_FAILED_RECORDS = "TriggerFailedRecords"
# 1 while a target is in the trouble its ``state`` names, 0 once when it no longer is
# (logic/health.py); dimensions [service, state, target]. The per-target alarms watch it.
TARGET_IN_TROUBLE = "TargetInTrouble"
# One per drift check that ran (dimension: service only): the heartbeat its alarm watches.
DRIFT_CHECKS = "DriftChecks"
# Per drift check, how many targets are in each state (dimensions: service, state).
TARGETS = "Targets"


def _resolve() -> None:
    # Read at every metric, not once: in Lambda the variables never change in a process, but a
    # process that runs several stacks' functions (tests, the offline rehearsal) must not stamp
    # one stack's metrics with another's namespace or service.
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
    metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME", DEFAULT_SERVICE)


def service() -> str:
    """The ``service`` dimension this process stamps its metrics with (the stack's name)."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME", DEFAULT_SERVICE)


def publish_counts(
    name: str, dimension: str, counts: Mapping[str, float], *, at: datetime | None = None
) -> None:
    """Emit ``name`` once per entry of ``counts``, under dimensions [service, ``dimension``],
    stamped ``at`` (the reconciler's clock by default)."""
    for value, count in counts.items():
        _resolve()
        metrics.add_dimension(dimension, value)
        metrics.add_metric(name=name, unit=COUNT, value=count)
        metrics.set_timestamp(at or clock.now())
        metrics.flush_metrics()


def publish(
    target: str | None,
    values: Mapping[str, tuple[MetricUnit, float]],
    *,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Emit ``values`` as one EMF record stamped ``at`` (the reconciler's clock by default)."""
    if not values:
        return
    _resolve()
    if target is not None:
        metrics.add_dimension("target", target)
    for name, (unit, value) in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    if reason is not None and target is not None:
        metrics.add_dimensions(service=service(), target=target, reason=reason)
    metrics.set_timestamp(at or clock.now())
    metrics.flush_metrics()


def publish_trouble(
    target: str, values: Mapping[Any, float], *, at: datetime | None = None
) -> None:
    """Emit ``TargetInTrouble`` for ``target`` once per entry of ``values`` (state: 1 or 0),
    under dimensions [service, state, target], stamped ``at`` (the reconciler's clock by
    default)."""
    for state, value in values.items():
        _resolve()
        metrics.add_dimension("state", str(state))
        metrics.add_dimension("target", target)
        metrics.add_metric(name=TARGET_IN_TROUBLE, unit=COUNT, value=value)
        metrics.set_timestamp(at or clock.now())
        metrics.flush_metrics()

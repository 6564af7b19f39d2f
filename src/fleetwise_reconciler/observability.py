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

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from fleetwise_reconciler import clock

logger = Logger()
metrics = Metrics()

DEFAULT_NAMESPACE = "FleetWiseReconciler"
DEFAULT_SERVICE = "fleetwise-reconciler"
COUNT = MetricUnit.Count
SECONDS = MetricUnit.Seconds

# Metric names (PascalCase nouns); dimensions: [service, target], plus [target, reason] for
# RegistrationFailed. A target's own series exist only while it needs attention (the health
# gauge is reported, 0, only while unhealthy: logic/health.py); Targets counts the fleet.
REGISTRATION_HEALTHY = "RegistrationHealthy"
REGISTRATION_SUCCEEDED = "RegistrationSucceeded"
REGISTRATION_FAILED = "RegistrationFailed"
DRIFT_DETECTED = "DriftDetected"
RECONCILE_DURATION = "ReconcileDuration"
REGISTER_ACCOUNT_CALLS = "RegisterAccountCalls"
STATUS_POLLS = "StatusPolls"
TARGET_PAUSED = "TargetPaused"
INVALID_SPEC = "InvalidSpec"
TRIGGER_FAILED_RECORDS = "TriggerFailedRecords"
# One per drift check that ran (dimension: service only): the heartbeat its alarm watches.
DRIFT_CHECKS = "DriftChecks"
# Per drift check, how many targets are in each state (dimensions: service, state).
TARGETS = "Targets"


def _resolve() -> None:
    if not metrics.namespace:
        # Lambda sets POWERTOOLS_* before import; a process that imported this module first
        # (tests, the offline rehearsal) gets them resolved here, at the first metric.
        metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
        metrics.service = metrics.service or os.environ.get(
            "POWERTOOLS_SERVICE_NAME", DEFAULT_SERVICE
        )


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
        metrics.add_dimensions(target=target, reason=reason)
    metrics.set_timestamp(at or clock.now())
    metrics.flush_metrics()

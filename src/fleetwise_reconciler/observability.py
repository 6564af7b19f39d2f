"""Powertools objects shared by the handlers (they read POWERTOOLS_* variables; no I/O here)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()

"""The spec item: the operator's declared registration for one target.

The item's attributes are a public interface (README, "Operate"); ``logic.validate`` checks a
raw item against the constraints below, field by field, and builds a ``Spec`` only from an
item with no problem. Plain frozen dataclasses: the spec has seven fields, and a validation
library's import and model build cost more cold-start time (``make bench``) than the few
checks it would write for us.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The IoT FleetWise API's own constraints (botocore service model, iotfleetwise 2021-06-17).
TIMESTREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
TIMESTREAM_NAME_LENGTH = (3, 255)
ROLE_ARN = re.compile(
    r"arn:(aws[a-zA-Z0-9-]*):iam::(\d{12})?:(role((\u002F)|(\u002F[\u0021-\u007F]+\u002F))[\w+=,.@-]+)"
)
ROLE_ARN_LENGTH = (20, 2048)
TARGET = re.compile(r"(?P<account>\d{12}):(?P<region>[a-z]{2}(-[a-z]+)+-\d+)")
RECONCILE_TOKEN_LENGTH = (1, 256)

MODES = ("cloudwatch", "timestream")
POLICIES = ("enforce", "observe-only")
# What to do with a registration that exists, differs from the spec, and that this stack
# never made nor saw as declared: keep it until an operator says otherwise (the default), or
# replace it with the spec's (Terraform's import and ACK's adoption both ask first).
ON_EXISTING = ("keep", "replace")
SPEC_FIELDS = (
    "target",
    "mode",
    "policy",
    "paused",
    "reconcileToken",
    "timestream",
    "iamRoleArn",
    "onExisting",
)
TIMESTREAM_FIELDS = ("databaseName", "tableName")


@dataclass(frozen=True)
class TimestreamSpec:
    databaseName: str
    tableName: str


@dataclass(frozen=True)
class Spec:
    """A validated spec with defaults applied."""

    target: str
    mode: str = "cloudwatch"
    policy: str = "enforce"
    paused: bool = False
    reconcileToken: str | None = None
    timestream: TimestreamSpec | None = None
    iamRoleArn: str | None = None
    onExisting: str | None = None

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> Spec:
        """A spec from fields already validated (``validate``'s, or its ``as_dict``)."""
        names = fields.get("timestream")
        return cls(
            **{k: v for k, v in fields.items() if k != "timestream"},
            timestream=TimestreamSpec(**names) if names else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The normalised spec (defaults applied, unset fields left out): what Observe hands
        the later steps of the workflow."""
        out: dict[str, Any] = {
            "target": self.target,
            "mode": self.mode,
            "policy": self.policy,
            "paused": self.paused,
        }
        if self.reconcileToken is not None:
            out["reconcileToken"] = self.reconcileToken
        if self.timestream is not None:
            out["timestream"] = {
                "databaseName": self.timestream.databaseName,
                "tableName": self.timestream.tableName,
            }
        if self.iamRoleArn is not None:
            out["iamRoleArn"] = self.iamRoleArn
        if self.onExisting is not None:
            out["onExisting"] = self.onExisting
        return out

    @property
    def account_id(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def region(self) -> str:
        return self.target.split(":", 1)[1]

    @property
    def legacy(self) -> bool:
        return self.mode == "timestream"

    @property
    def replaces_existing(self) -> bool:
        """The operator allowed registering over a registration this stack did not make."""
        return self.onExisting == "replace"

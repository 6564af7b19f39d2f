"""The spec item: the operator's declared registration for one target (architecture section 4).

The item's attributes are a public interface; unknown attributes are rejected (``extra="forbid"``)
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

# The IoT FleetWise API's own constraints (botocore service model, iotfleetwise 2021-06-17).
TIMESTREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
ROLE_ARN = re.compile(
    r"arn:(aws[a-zA-Z0-9-]*):iam::(\d{12})?:(role((\u002F)|(\u002F[\u0021-\u007F]+\u002F))[\w+=,.@-]+)"
)
TARGET = re.compile(r"(?P<account>\d{12}):(?P<region>[a-z]{2}(-[a-z]+)+-\d+)")

Mode = Literal["cloudwatch", "timestream"]
Policy = Literal["enforce", "observe-only"]

SPEC_FIELDS = ("target", "mode", "policy", "paused", "reconcileToken", "timestream", "iamRoleArn")


class TimestreamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    databaseName: str = Field(min_length=3, max_length=255)
    tableName: str = Field(min_length=3, max_length=255)

    @field_validator("databaseName", "tableName")
    @classmethod
    def _name_charset(cls, value: str) -> str:
        if not TIMESTREAM_NAME.fullmatch(value):
            raise ValueError("may contain only letters, digits, '_', '.' and '-'")
        return value


class Spec(BaseModel):
    """A validated spec with defaults applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    mode: Mode = "cloudwatch"
    policy: Policy = "enforce"
    paused: StrictBool = False
    reconcileToken: str | None = Field(default=None, min_length=1, max_length=256)
    timestream: TimestreamSpec | None = None
    iamRoleArn: str | None = Field(default=None, min_length=20, max_length=2048)

    @field_validator("target")
    @classmethod
    def _target_shape(cls, value: str) -> str:
        if not TARGET.fullmatch(value):
            raise ValueError(
                "must be '<12-digit account id>:<region>', e.g. '123456789012:us-east-1'"
            )
        return value

    @field_validator("iamRoleArn")
    @classmethod
    def _role_arn_shape(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN.fullmatch(value):
            raise ValueError("is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @model_validator(mode="after")
    def _fields_fit_mode(self) -> Spec:
        if self.mode == "timestream":
            missing = [name for name in ("timestream", "iamRoleArn") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"mode 'timestream' requires {' and '.join(missing)}")
        else:
            present = [name for name in ("timestream", "iamRoleArn") if getattr(self, name)]
            if present:
                raise ValueError(
                    f"{' and '.join(present)} apply only to mode 'timestream' "
                    "(remove them, or set mode to 'timestream')"
                )
        return self

    @property
    def account_id(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def region(self) -> str:
        return self.target.split(":", 1)[1]

    @property
    def legacy(self) -> bool:
        return self.mode == "timestream"

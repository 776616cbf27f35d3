"""Deployment guardrails: blue/green or rolling updates that roll back when an alarm fires."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from endpoint_configs import limits
from endpoint_configs.common import StrictModel


class TrafficShift(StrictModel):
    """How a blue/green deployment moves traffic to the new fleet.

    ALL_AT_ONCE moves everything then bakes; CANARY moves ``size_percent`` (1-50), bakes, then the
    rest; LINEAR moves ``size_percent`` (10-50) per step with a bake after each.
    """

    type: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = Field(description="Shift mode.")
    size_percent: int | None = Field(
        default=None, description="CANARY 1-50, LINEAR 10-50, none for ALL_AT_ONCE."
    )
    wait_interval_seconds: int = Field(
        default=300,
        ge=limits.WAIT_INTERVAL_SECONDS.low,
        le=limits.WAIT_INTERVAL_SECONDS.high,
        description="Bake time, 0-3600. Default: 300.",
    )

    @property
    def steps(self) -> int:
        """Number of baking periods the shift goes through."""
        if self.type == "LINEAR" and self.size_percent:
            return math.ceil(100 / self.size_percent)
        return 1

    @model_validator(mode="after")
    def _size(self) -> TrafficShift:
        allowed = {"CANARY": limits.CANARY_SIZE_PERCENT, "LINEAR": limits.LINEAR_STEP_PERCENT}
        if self.type == "ALL_AT_ONCE":
            if self.size_percent is not None:
                raise ValueError("size_percent is not used with ALL_AT_ONCE; remove it")
            return self
        bounds = allowed[self.type]
        if self.size_percent is None or self.size_percent not in bounds:
            raise ValueError(
                f"size_percent {self.size_percent} is not allowed for {self.type}; "
                f"allowed: {bounds.describe()} (percent of the fleet)"
            )
        return self


class BlueGreenUpdate(StrictModel):
    """Blue/green deployment: the new fleet takes traffic step by step; old fleet kept until done."""

    traffic_shift: TrafficShift = Field(default_factory=lambda: TrafficShift(type="ALL_AT_ONCE"))
    termination_wait_seconds: int = Field(
        default=0,
        ge=limits.TERMINATION_WAIT_SECONDS.low,
        le=limits.TERMINATION_WAIT_SECONDS.high,
        description="0-3600. Default: 0.",
    )
    maximum_execution_timeout_seconds: int = Field(
        default=3600,
        ge=limits.MAXIMUM_EXECUTION_TIMEOUT_SECONDS.low,
        le=limits.MAXIMUM_EXECUTION_TIMEOUT_SECONDS.high,
        description="600-28800, longer than all waits. Default: 3600.",
    )

    @model_validator(mode="after")
    def _timeout_covers_waits(self) -> BlueGreenUpdate:
        waits = (
            self.termination_wait_seconds
            + self.traffic_shift.wait_interval_seconds * self.traffic_shift.steps
        )
        if self.maximum_execution_timeout_seconds <= waits:
            raise ValueError(
                f"maximum_execution_timeout_seconds {self.maximum_execution_timeout_seconds} must be "
                f"longer than the waits ({waits} s: termination_wait_seconds + "
                f"{self.traffic_shift.steps} x wait_interval_seconds)"
            )
        return self


class RollingUpdate(StrictModel):
    """Rolling deployment: replaces instances in batches (single-variant endpoints only)."""

    maximum_batch_percent: int = Field(
        default=20,
        ge=limits.ROLLING_BATCH_PERCENT.low,
        le=limits.ROLLING_BATCH_PERCENT.high,
        description="5-50. Default: 20.",
    )
    wait_interval_seconds: int = Field(
        default=300,
        ge=limits.WAIT_INTERVAL_SECONDS.low,
        le=limits.WAIT_INTERVAL_SECONDS.high,
        description="0-3600. Default: 300.",
    )
    rollback_maximum_batch_percent: int | None = Field(
        default=None, ge=5, le=100, description="5-100. Default: roll back all at once."
    )
    maximum_execution_timeout_seconds: int = Field(
        default=3600,
        ge=limits.MAXIMUM_EXECUTION_TIMEOUT_SECONDS.low,
        le=limits.MAXIMUM_EXECUTION_TIMEOUT_SECONDS.high,
        description="600-28800, longer than the wait. Default: 3600.",
    )

    @model_validator(mode="after")
    def _timeout_covers_wait(self) -> RollingUpdate:
        if self.maximum_execution_timeout_seconds <= self.wait_interval_seconds:
            raise ValueError(
                f"maximum_execution_timeout_seconds {self.maximum_execution_timeout_seconds} must be "
                f"longer than wait_interval_seconds {self.wait_interval_seconds}"
            )
        return self


RollbackAlarmName = Literal["errors", "latency"]
ROLLBACK_ALARM_NAMES: tuple[RollbackAlarmName, ...] = ("errors", "latency")
MOVED_TO_ALARMS = {
    "max_5xx_errors_per_minute": "alarms.max_5xx_errors_per_minute",
    "max_p90_model_latency_ms": "alarms.latency (statistic: p90, max_ms: ...)",
    "evaluation_periods": "alarms.evaluation_minutes",
}
"""Keys of ``rollback_alarms`` that became the endpoint's own alarms, and where they went."""


class RollbackAlarms(StrictModel):
    """Which alarms roll a deployment back: the endpoint's own error and latency alarms (its
    ``alarms:`` block; the same alarms, not copies), plus existing alarms by name. 1-10 in all."""

    endpoint_alarms: list[RollbackAlarmName] = Field(
        default_factory=lambda: list(ROLLBACK_ALARM_NAMES),
        description="The endpoint's alarms that roll back: errors, latency. Default: both.",
    )
    additional_alarm_names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, description="Existing alarms that also roll back. Default: none."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: object) -> object:
        if isinstance(data, dict):
            moved = [f"{key} moved to {MOVED_TO_ALARMS[key]}" for key in data if key in MOVED_TO_ALARMS]
            if moved:
                raise ValueError("; ".join(moved) + " of the endpoint block")
        return data

    @property
    def count(self) -> int:
        return len(set(self.endpoint_alarms)) + len(self.additional_alarm_names)

    @model_validator(mode="after")
    def _count(self) -> RollbackAlarms:
        if self.count not in limits.ROLLBACK_ALARMS:
            raise ValueError(f"{self.count} rollback alarms; allowed: {limits.ROLLBACK_ALARMS.describe()}")
        return self


class DeploymentGuardrails(StrictModel):
    """How updates roll out: exactly one of ``blue_green`` or ``rolling``, with rollback alarms."""

    blue_green: BlueGreenUpdate | None = Field(default=None, description="Default: none.")
    rolling: RollingUpdate | None = Field(default=None, description="Default: none.")
    rollback_alarms: RollbackAlarms = Field(default_factory=RollbackAlarms)

    @model_validator(mode="after")
    def _one_policy(self) -> DeploymentGuardrails:
        if (self.blue_green is None) == (self.rolling is None):
            raise ValueError("give exactly one update policy: 'blue_green' or 'rolling'")
        return self

"""Capacity scaling shared by every autoscaled workload: bounds, cooldowns and scheduled changes of
the bounds. Each workload module subclasses ``CapacityScaling`` with its own floor and target."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from endpoint_configs import limits
from endpoint_configs.common import CronExpression, SageMakerName, StrictModel, TimeZoneName


def check_autoscalable(instance_type: str) -> None:
    """Application Auto Scaling does not scale SageMaker variants on burstable instances.
    https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-prerequisites.html"""
    if limits.is_burstable(instance_type):
        raise ValueError(
            f"autoscaling is not supported on burstable instance {instance_type}; "
            "allowed: a non-burstable family such as ml.m5 or ml.c6i, or no autoscaling"
        )


class ScheduledCapacity(StrictModel):
    """A scheduled change of the capacity bounds, e.g. a smaller fleet off-hours."""

    name: SageMakerName = Field(description="Unique per variant; SageMaker name rules.")
    cron: CronExpression = Field(description="Six-field cron, e.g. '0 20 ? * MON-FRI *' (20:00 on weekdays).")
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone. Default: UTC.")
    min_capacity: int = Field(
        ge=0,
        description="Capacity at least while the schedule holds; not below the block's floor "
        "(0 only where the workload scales to zero).",
    )
    max_capacity: int = Field(ge=1, description="Capacity at most (>= min_capacity).")

    @model_validator(mode="after")
    def _bounds(self) -> ScheduledCapacity:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity {self.min_capacity} > max_capacity {self.max_capacity}; "
                "allowed: min_capacity <= max_capacity"
            )
        return self


class CapacityScaling(StrictModel):
    """What every autoscaling block has: bounds, cooldowns and scheduled bound changes.

    ``min_capacity`` may not go below ``MIN_CAPACITY_FLOOR`` (for the reason in ``FLOOR_REASON``);
    ``min_capacity <= max_capacity``; schedule names are unique.
    """

    MIN_CAPACITY_FLOOR: ClassVar[int] = 1
    FLOOR_REASON: ClassVar[str] = "at least 1"

    min_capacity: int = Field(ge=0, description="Capacity at least.")
    max_capacity: int = Field(ge=1, description="Capacity at most, >= min_capacity.")
    scale_in_cooldown_seconds: int = Field(
        default=300,
        ge=limits.SCALING_COOLDOWN_SECONDS.low,
        le=limits.SCALING_COOLDOWN_SECONDS.high,
        description="0-3600. Default: 300.",
    )
    scale_out_cooldown_seconds: int = Field(
        default=60,
        ge=limits.SCALING_COOLDOWN_SECONDS.low,
        le=limits.SCALING_COOLDOWN_SECONDS.high,
        description="0-3600. Default: 60.",
    )
    schedules: list[ScheduledCapacity] = Field(
        default_factory=list, description="Scheduled capacity changes. Default: none."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        floor = self.MIN_CAPACITY_FLOOR
        if self.min_capacity < floor:
            raise ValueError(f"min_capacity {self.min_capacity}: {self.FLOOR_REASON}")
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity {self.min_capacity} > max_capacity {self.max_capacity}; "
                f"allowed: {floor} <= min_capacity <= max_capacity"
            )
        for schedule in self.schedules:
            if schedule.min_capacity < floor:
                raise ValueError(
                    f"schedule '{schedule.name}': min_capacity {schedule.min_capacity}: {self.FLOOR_REASON}"
                )
        names = [s.name for s in self.schedules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"schedule names must be unique; repeated: {', '.join(duplicates)}")
        return self

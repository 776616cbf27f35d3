"""The real-time workload: instance variants (A/B by weight), data capture, invocation-based
autoscaling. Payload up to 6 MB, 60 s per request."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from endpoint_configs import limits
from endpoint_configs.common import InstanceType, S3KeyPrefix, SageMakerName, StrictModel
from endpoint_configs.scaling import CapacityScaling, check_autoscalable
from endpoint_configs.workload import EndpointSettings


class VariantAutoscaling(CapacityScaling):
    """Target tracking on invocations per instance, plus scheduled capacity changes.

    The target (invocations per instance per minute) is
    ``max_requests_per_second_per_instance * 60 * target_utilization``: the measured peak an
    instance serves, times the share of it the fleet should run at (the safety factor).
    Instances at least 1; cooldowns default to 300 s in and 60 s out.
    """

    FLOOR_REASON = "real-time endpoints need at least 1 instance; only async endpoints may scale to zero"

    max_requests_per_second_per_instance: float = Field(
        gt=0, description="Peak requests/s one instance serves within its latency goal (load test)."
    )
    target_utilization: float = Field(
        default=0.7, gt=0, le=1, description="Safety factor in (0, 1]. Default: 0.7."
    )

    @property
    def target_invocations_per_instance(self) -> float:
        """The target-tracking value, in invocations per instance per minute."""
        return round(self.max_requests_per_second_per_instance * 60 * self.target_utilization, 2)


class InstanceVariant(StrictModel):
    """One production variant on dedicated instances."""

    name: SageMakerName = Field(default="AllTraffic", description="Default: AllTraffic.")
    instance_type: InstanceType = Field(description="ml.<family>.<size> from the hosting list.")
    initial_instance_count: int = Field(default=1, ge=1, description=">= 1. Default: 1.")
    initial_weight: float = Field(
        default=1.0, ge=0, description="Traffic weight relative to the other variants. Default: 1."
    )
    volume_size_gb: int | None = Field(
        default=None,
        ge=limits.VOLUME_SIZE_GB.low,
        le=limits.VOLUME_SIZE_GB.high,
        description="Storage volume, 1-512 GB. Default: the service's.",
    )
    model_data_download_timeout_seconds: int | None = Field(
        default=None,
        ge=limits.MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS.low,
        le=limits.MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS.high,
        description="60-3600.",
    )
    container_startup_health_check_timeout_seconds: int | None = Field(
        default=None,
        ge=limits.CONTAINER_STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS.low,
        le=limits.CONTAINER_STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS.high,
        description="60-3600.",
    )
    autoscaling: VariantAutoscaling | None = Field(default=None, description="Default: none.")

    @model_validator(mode="after")
    def _scaling_fits(self) -> InstanceVariant:
        scaling = self.autoscaling
        if scaling is None:
            return self
        check_autoscalable(self.instance_type)
        if not scaling.min_capacity <= self.initial_instance_count <= scaling.max_capacity:
            raise ValueError(
                f"initial_instance_count {self.initial_instance_count} is outside autoscaling "
                f"bounds {scaling.min_capacity}-{scaling.max_capacity}"
            )
        return self


class DataCapture(StrictModel):
    """Capture requests and responses to the environment's KMS-encrypted bucket."""

    sampling_percentage: int = Field(
        default=20,
        ge=limits.DATA_CAPTURE_SAMPLING_PERCENTAGE.low,
        le=limits.DATA_CAPTURE_SAMPLING_PERCENTAGE.high,
        description="0-100. Default: 20.",
    )
    capture_input: bool = Field(default=True, description="Default: true.")
    capture_output: bool = Field(default=True, description="Default: true.")
    s3_prefix: S3KeyPrefix = Field(default="data-capture", description="Default: data-capture.")
    json_content_types: list[str] = Field(
        default_factory=lambda: ["application/json"],
        max_length=10,
        description="Content types captured as JSON text. Default: [application/json].",
    )

    @model_validator(mode="after")
    def _captures_something(self) -> DataCapture:
        if not (self.capture_input or self.capture_output):
            raise ValueError("capture_input and capture_output are both false; enable at least one")
        return self


class RealtimeEndpoint(EndpointSettings):
    """A real-time endpoint: steady traffic, low latency; payload up to 6 MB, 60 s per request."""

    MAX_PAYLOAD_MB = limits.REALTIME_MAX_PAYLOAD_MB

    type: Literal["realtime"]
    variants: list[InstanceVariant] = Field(
        min_length=int(limits.PRODUCTION_VARIANTS.low),
        max_length=int(limits.PRODUCTION_VARIANTS.high),
        description="1-10 production variants (A/B by weight).",
    )
    data_capture: DataCapture | None = Field(default=None, description="Default: off.")

    @model_validator(mode="after")
    def _variants(self) -> RealtimeEndpoint:
        names = [v.name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        if sum(v.initial_weight for v in self.variants) <= 0:
            raise ValueError("the variants' initial_weight values add up to 0; no variant gets traffic")
        if self.deployment and self.deployment.rolling and len(self.variants) > 1:
            # https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html
            raise ValueError(
                "rolling updates are not supported on multi-variant endpoints; "
                "allowed: blue_green, or a single variant"
            )
        return self

    def instance_type_fields(self) -> dict[str, str]:
        return {f"variants[{index}].instance_type": v.instance_type for index, v in enumerate(self.variants)}

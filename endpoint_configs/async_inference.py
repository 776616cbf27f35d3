"""The asynchronous workload: requests queue in S3 (payload up to 1 GB, up to 1 h each), results
land in S3 with SNS notifications, and the fleet can scale to zero when idle."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from endpoint_configs import limits
from endpoint_configs.common import InstanceType, S3PrefixUri, SageMakerName, SnsTopicArn
from endpoint_configs.monitoring import EndpointAlarms
from endpoint_configs.scaling import CapacityScaling, check_autoscalable
from endpoint_configs.workload import EndpointSettings


class AsyncAutoscaling(CapacityScaling):
    """Scale to zero: target tracking on the backlog per instance, plus a step policy that adds
    the first instance when requests wait and no instance runs (``HasBacklogWithoutCapacity``).

    Without that step policy, scaling out from zero waits until the backlog per instance passes the
    target, which at zero instances it never reaches in a useful time.
    https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html
    """

    MIN_CAPACITY_FLOOR = 0

    min_capacity: int = Field(
        default=0, ge=0, description="Instances at least; 0 scales to zero. Default: 0."
    )
    target_backlog_per_instance: float = Field(
        default=5, gt=0, description="Queued requests per instance to hold. Default: 5."
    )
    scale_in_cooldown_seconds: int = Field(
        default=600,
        ge=limits.SCALING_COOLDOWN_SECONDS.low,
        le=limits.SCALING_COOLDOWN_SECONDS.high,
        description="0-3600. Default: 600 (instances take minutes to start; do not flap).",
    )
    scale_out_cooldown_seconds: int = Field(
        default=120,
        ge=limits.SCALING_COOLDOWN_SECONDS.low,
        le=limits.SCALING_COOLDOWN_SECONDS.high,
        description="0-3600. Default: 120.",
    )


class AsyncAlarms(EndpointAlarms):
    """The endpoint's error, latency and waste alarms, plus alarms on the queue, all sent to the
    environment's alarm topic."""

    max_backlog_size: int = Field(default=100, ge=1, description="Queued requests. Default: 100.")
    max_oldest_request_age_seconds: int = Field(
        default=1800, ge=60, description="Age of the oldest queued request. Default: 1800."
    )
    max_invocation_failures_per_5_minutes: int = Field(
        default=0, ge=0, description="Failed invocations in 5 minutes. Default: 0 (any failure)."
    )


class AsyncEndpoint(EndpointSettings):
    """An asynchronous endpoint: requests queue in S3 (payload up to 1 GB, up to 1 h each),
    results land in S3 with SNS notifications, and the fleet can scale to zero when idle."""

    MAX_PAYLOAD_MB = limits.ASYNC_MAX_PAYLOAD_MB

    type: Literal["async"]
    variant_name: SageMakerName = Field(default="AllTraffic", description="Default: AllTraffic.")
    instance_type: InstanceType = Field(description="ml.<family>.<size> from the hosting list.")
    initial_instance_count: int = Field(default=1, ge=1, description=">= 1 at creation. Default: 1.")
    volume_size_gb: int | None = Field(
        default=None, ge=limits.VOLUME_SIZE_GB.low, le=limits.VOLUME_SIZE_GB.high, description="1-512."
    )
    max_concurrent_invocations_per_instance: int = Field(
        default=4,
        ge=limits.ASYNC_MAX_CONCURRENT_INVOCATIONS.low,
        le=limits.ASYNC_MAX_CONCURRENT_INVOCATIONS.high,
        description="Requests one instance works on at once, 1-1000. Default: 4.",
    )
    invocation_timeout_seconds: int = Field(
        default=900,
        ge=limits.ASYNC_INVOCATION_TIMEOUT_SECONDS.low,
        le=limits.ASYNC_INVOCATION_TIMEOUT_SECONDS.high,
        description="Per request, 1-3600; clients pass it to InvokeEndpointAsync (a stack output). "
        "Default: 900.",
    )
    input_path: S3PrefixUri | None = Field(
        default=None, description="Where clients put requests. Default: <env bucket>/async/input/."
    )
    output_path: S3PrefixUri | None = Field(
        default=None, description="Results. Default: <env bucket>/async/output/."
    )
    failure_path: S3PrefixUri | None = Field(
        default=None, description="Failures. Default: <env bucket>/async/failure/."
    )
    success_topic_arn: SnsTopicArn | None = Field(
        default=None, description="Notify success here. Default: a topic created (KMS, TLS only)."
    )
    error_topic_arn: SnsTopicArn | None = Field(
        default=None, description="Notify errors here. Default: a topic created (KMS, TLS only)."
    )
    autoscaling: AsyncAutoscaling | None = Field(default=None, description="Default: none (fixed count).")
    alarms: AsyncAlarms = Field(
        default_factory=AsyncAlarms,
        description="Error, latency, waste and queue alarms; the deployment rolls back on the error "
        "and latency ones. Default: 5xx above 0 a minute, p99 above 1000 ms, the queue defaults.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AsyncEndpoint:
        scaling = self.autoscaling
        if scaling is not None:
            check_autoscalable(self.instance_type)
            if self.initial_instance_count > scaling.max_capacity:
                raise ValueError(
                    f"initial_instance_count {self.initial_instance_count} > autoscaling.max_capacity "
                    f"{scaling.max_capacity}"
                )
        return self

    def instance_type_fields(self) -> dict[str, str]:
        return {"instance_type": self.instance_type}

"""The serverless workload: pay per request for intermittent traffic; CPU only, payload up to
4 MB and 60 s per request; provisioned concurrency (optionally autoscaled) against cold starts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from endpoint_configs import limits
from endpoint_configs.common import SageMakerName
from endpoint_configs.errors import Problem
from endpoint_configs.scaling import CapacityScaling
from endpoint_configs.workload import EndpointSettings

EXCLUSIONS_DOC = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"
    "#serverless-endpoints-how-it-works-exclusions"
)
SERVERLESS_IMAGE_INSTANCE_TYPE = "ml.m5.large"
"""Serverless endpoints run CPU builds; any CPU instance type selects that build."""

SERVERLESS_UNSUPPORTED_KEYS = {
    "variants": "serverless endpoints have one variant and no instances; set memory_size_mb, max_concurrency",
    "instance_type": "serverless endpoints have no instances; set memory_size_mb and max_concurrency",
    "initial_instance_count": "serverless endpoints have no instances; concurrency scales instead",
    "data_capture": "serverless endpoints do not support data capture",
    "vpc": "serverless endpoints cannot run in a VPC",
}
"""Keys people carry over from real-time blocks, with why serverless rejects them.
https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions"""


class ProvisionedConcurrencyScaling(CapacityScaling):
    """Target tracking on ``SageMakerVariantProvisionedConcurrencyUtilization``, plus schedules.

    Provisioned concurrency is billed while idle, so schedules typically lower it off-hours.
    Capacity 1-200; cooldowns default to 300 s in and 60 s out.
    """

    FLOOR_REASON = "provisioned concurrency is at least 1"

    min_capacity: int = Field(ge=0, le=200, description="Provisioned concurrency at least, 1-200.")
    max_capacity: int = Field(ge=1, le=200, description="Provisioned concurrency at most, 1-200.")
    target_utilization: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Used share of provisioned concurrency to hold, (0, 1]. Default: 0.7.",
    )


class ServerlessEndpoint(EndpointSettings):
    """A serverless endpoint: pay per request for intermittent traffic; CPU only, payload up to
    4 MB and 60 s per request, cold starts after idle unless concurrency is provisioned."""

    VPC_UNSUPPORTED = f"Serverless endpoints cannot run in a VPC: {EXCLUSIONS_DOC}"
    NETWORK_ISOLATION_UNSUPPORTED = f"Serverless endpoints do not support network isolation: {EXCLUSIONS_DOC}"

    MAX_PAYLOAD_MB = limits.SERVERLESS_MAX_PAYLOAD_MB

    type: Literal["serverless"]
    variant_name: SageMakerName = Field(default="AllTraffic", description="Default: AllTraffic.")
    memory_size_mb: int = Field(description="1024-6144 in steps of 1024.")
    max_concurrency: int = Field(
        default=10,
        ge=limits.SERVERLESS_MAX_CONCURRENCY.low,
        le=limits.SERVERLESS_MAX_CONCURRENCY.high,
        description="Concurrent invocations at most, 1-200. Default: 10.",
    )
    provisioned_concurrency: int | None = Field(
        default=None,
        ge=limits.SERVERLESS_MAX_CONCURRENCY.low,
        le=limits.SERVERLESS_MAX_CONCURRENCY.high,
        description="Warm concurrency (no cold starts, billed while idle), 1-200 and <= max_concurrency. "
        "Default: none.",
    )
    provisioned_concurrency_scaling: ProvisionedConcurrencyScaling | None = Field(
        default=None, description="Needs provisioned_concurrency. Default: none."
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_instance_features(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, reason in SERVERLESS_UNSUPPORTED_KEYS.items():
                if key in data:
                    raise ValueError(f"'{key}' is not allowed: {reason}")
        return data

    @model_validator(mode="after")
    def _limits(self) -> ServerlessEndpoint:
        if self.memory_size_mb not in limits.SERVERLESS_MEMORY_SIZES_MB:
            sizes = ", ".join(str(m) for m in limits.SERVERLESS_MEMORY_SIZES_MB)
            raise ValueError(f"memory_size_mb {self.memory_size_mb} is not allowed; allowed: {sizes}")
        provisioned = self.provisioned_concurrency
        if provisioned is not None and provisioned > self.max_concurrency:
            raise ValueError(
                f"provisioned_concurrency {provisioned} > max_concurrency {self.max_concurrency}; "
                "allowed: provisioned_concurrency <= max_concurrency"
            )
        scaling = self.provisioned_concurrency_scaling
        if scaling is not None:
            if provisioned is None:
                raise ValueError("provisioned_concurrency_scaling needs provisioned_concurrency")
            if not scaling.min_capacity <= provisioned <= scaling.max_capacity:
                raise ValueError(
                    f"provisioned_concurrency {provisioned} is outside its scaling bounds "
                    f"{scaling.min_capacity}-{scaling.max_capacity}"
                )
            if scaling.max_capacity > self.max_concurrency:
                raise ValueError(
                    f"provisioned_concurrency_scaling.max_capacity {scaling.max_capacity} > max_concurrency "
                    f"{self.max_concurrency}; provisioned concurrency cannot exceed max_concurrency"
                )
        if self.alarms.waste is not None:
            raise ValueError(
                "alarms.waste watches idle instances; serverless bills per request and has none "
                "(remove alarms.waste)"
            )
        if self.deployment is not None and self.deployment.rolling is not None:
            # https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html
            raise ValueError("rolling updates do not support serverless endpoints; allowed: blue_green")
        if self.network_isolation:
            raise ValueError(
                "serverless endpoints do not support network isolation; set network_isolation: false"
            )
        return self

    def image_instance_types(self) -> list[str]:
        return [SERVERLESS_IMAGE_INSTANCE_TYPE]

    def memory_problems(self, required_mb: int, *, path: str) -> list[Problem]:
        """A memory size below what the model needs to serve would fail at the first invocation."""
        if self.memory_size_mb >= required_mb:
            return []
        enough = [m for m in limits.SERVERLESS_MEMORY_SIZES_MB if m >= required_mb]
        allowed = f"at least {enough[0]}" if enough else "none: the model needs more than serverless offers"
        return [
            Problem(
                f"{path}.memory_size_mb",
                f"the packaged model needs about {required_mb} MB to serve (manifest estimate); "
                f"allowed: {allowed}",
                self.memory_size_mb,
            )
        ]

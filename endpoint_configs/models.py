"""Typed deployment configuration: one ``EnvironmentConfig`` per ``endpoint_configs/<env>.yaml``.

Pydantic v2 models with ``extra="forbid"``; endpoint blocks form a union discriminated on ``type``.
Every field states its range and default; the ranges come from ``endpoint_configs.limits``.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from endpoint_configs import limits

ENDPOINT_TYPES: tuple[str, ...] = ("realtime", "serverless", "async")
"""Endpoint types this package can deploy (batch transform follows)."""

REQUIRED_TAGS: tuple[str, ...] = ("cost-center",)


def _check_sagemaker_name(value: str) -> str:
    if not limits.NAME_PATTERN.match(value):
        raise ValueError(
            f"must match {limits.NAME_PATTERN.pattern}: letters, digits and hyphens, starting and "
            "ending with a letter or digit"
        )
    if len(value) > limits.NAME_MAX_LENGTH:
        raise ValueError(f"is {len(value)} characters; allowed: at most {limits.NAME_MAX_LENGTH}")
    return value


def _check_s3_uri(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+", value):
        raise ValueError("must be an s3:// URI with a key, e.g. s3://my-bucket/models/model.tar.gz")
    return value


def _check_s3_prefix_uri(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S*/", value):
        raise ValueError("must be an s3:// prefix ending in '/', e.g. s3://my-bucket/models/<sha256>/")
    return value


def _check_instance_type(value: str) -> str:
    if not re.fullmatch(r"ml\.[a-z0-9-]+\.[a-z0-9]+", value):
        raise ValueError("must look like ml.<family>.<size>, e.g. ml.m5.large")
    known = limits.hosting_instance_types()
    if value not in known:
        family = limits.instance_family(value)
        same_family = [t for t in known if limits.instance_family(t) == family]
        hint = (
            f"sizes of ml.{family}: {', '.join(same_family)}"
            if same_family
            else "families: " + ", ".join(sorted({limits.instance_family(t) for t in known}))
        )
        raise ValueError(f"is not a SageMaker hosting instance type; known {hint}")
    return value


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name, e.g. UTC or Europe/Berlin") from None
    return value


def _check_cron(value: str) -> str:
    # Application Auto Scaling takes the six-field EventBridge form: minutes hours
    # day-of-month month day-of-week year, with '?' in one of the two day fields.
    # https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html
    fields = value.split()
    if len(fields) != 6:
        raise ValueError(
            "must have 6 fields 'minutes hours day-of-month month day-of-week year', "
            "e.g. '0 20 ? * MON-FRI *'"
        )
    if "?" not in (fields[2], fields[4]):
        raise ValueError("needs '?' in day-of-month or day-of-week, e.g. '0 20 ? * MON-FRI *'")
    return value


SageMakerName = Annotated[str, AfterValidator(_check_sagemaker_name)]
InstanceType = Annotated[str, AfterValidator(_check_instance_type)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
CronExpression = Annotated[str, AfterValidator(_check_cron)]
S3Uri = Annotated[str, AfterValidator(_check_s3_uri)]
S3PrefixUri = Annotated[str, AfterValidator(_check_s3_prefix_uri)]
S3KeyPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ContainerImage(StrictModel):
    """The inference container: an ECR image URI, or a framework resolved offline.

    Give either ``uri`` or ``framework`` with ``framework_version``. A framework image is resolved
    per variant instance type (CPU or GPU build) with ``sagemaker.core.image_uris``.
    """

    uri: str | None = Field(
        default=None,
        pattern=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$",
        description="ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>. Default: none.",
    )
    framework: Literal["pytorch", "huggingface", "tensorflow", "sklearn", "xgboost"] | None = Field(
        default=None, description="Deep learning container framework. Default: none."
    )
    framework_version: str | None = Field(
        default=None, description="Framework version, e.g. '2.6' for pytorch. Default: none."
    )
    py_version: str | None = Field(
        default=None, pattern=r"^py3\d+$", description="Python version tag, e.g. py312. Default: none."
    )
    base_framework_version: str | None = Field(
        default=None,
        description="huggingface only: the underlying framework, e.g. 'pytorch2.6.0'. Default: none.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ContainerImage:
        if (self.uri is None) == (self.framework is None):
            raise ValueError("give exactly one of 'uri' or 'framework' (with 'framework_version')")
        if self.framework is not None and self.framework_version is None:
            raise ValueError("'framework' needs 'framework_version'")
        return self


class VpcConfig(StrictModel):
    """Private subnets and security groups for the model containers (no internet by default)."""

    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=1, max_length=16, description="1-16 subnet IDs."
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]] = Field(
        min_length=1, max_length=5, description="1-5 security group IDs."
    )


class ArtifactBuild(StrictModel):
    """Build ``model.tar.gz`` at synth time with ``model_packaging`` and deploy it as a CDK asset.

    Paths are relative to the project root, or ``pkg://<package>/<folder>`` inside an installed
    Python package. The build is reproducible and cached by content, so synth stays deterministic.
    """

    model_dir: str = Field(min_length=1, description="Model files (weights, config, tokenizer).")
    code_dir: str = Field(min_length=1, description="Holds inference.py (and requirements.txt).")


class ArtifactSource(StrictModel):
    """Where the model artifact comes from: exactly one of ``s3_uri``, ``s3_prefix`` or ``build``."""

    s3_uri: S3Uri | None = Field(default=None, description="A model.tar.gz already in S3.")
    s3_prefix: S3PrefixUri | None = Field(
        default=None,
        description="An uncompressed artifact in S3 (large models; ModelDataSource, CompressionType None), "
        "as 'python -m model_packaging upload' prints it.",
    )
    build: ArtifactBuild | None = Field(default=None, description="Build here, deploy as a CDK asset.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ArtifactSource:
        given = [name for name in ("s3_uri", "s3_prefix", "build") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of s3_uri, s3_prefix or build (got {', '.join(given) or 'none'})"
            )
        return self


class ModelConfig(StrictModel):
    """The model served by every endpoint type of an environment."""

    image: ContainerImage
    artifact: ArtifactSource = Field(description="Where the model artifact comes from. Required.")
    environment: dict[Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")], str] = Field(
        default_factory=dict,
        max_length=100,
        description="Container environment variables (at most 100). Default: none.",
    )
    network_isolation: bool = Field(
        default=True, description="No network access from the container. Default: true."
    )
    vpc: VpcConfig | None = Field(default=None, description="Run in a VPC. Default: none.")


class ScheduledCapacity(StrictModel):
    """A scheduled change of the capacity bounds, e.g. a smaller fleet off-hours."""

    name: SageMakerName = Field(description="Unique per variant; SageMaker name rules.")
    cron: CronExpression = Field(description="Six-field cron, e.g. '0 20 ? * MON-FRI *' (20:00 on weekdays).")
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone. Default: UTC.")
    min_capacity: int = Field(ge=1, description="Instances at least (>= 1 for real-time).")
    max_capacity: int = Field(ge=1, description="Instances at most (>= min_capacity).")

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
        names = [s.name for s in self.schedules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"schedule names must be unique; repeated: {', '.join(duplicates)}")
        return self


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
        if limits.is_burstable(self.instance_type):
            raise ValueError(
                f"autoscaling is not supported on burstable instance {self.instance_type}; "
                "allowed: a non-burstable family such as ml.m5 or ml.c6i, or no autoscaling"
            )
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


class RollbackAlarms(StrictModel):
    """CloudWatch alarms that roll a deployment back: built-in 5xx and latency, plus your own.

    Both built-in alarms watch every variant of the endpoint (metric math over the variants).
    Together with ``additional_alarm_names`` there must be 1-10 alarms.
    """

    max_5xx_errors_per_minute: int | None = Field(
        default=0, ge=0, description="Alarm above this many 5xx per minute; null: off. Default: 0."
    )
    max_p90_model_latency_ms: float | None = Field(
        default=1000, gt=0, description="Alarm above this p90 model latency; null: off. Default: 1000."
    )
    evaluation_periods: int = Field(default=2, ge=1, le=60, description="Minutes, 1-60. Default: 2.")
    additional_alarm_names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, description="Existing alarms that also roll back. Default: none."
    )

    @property
    def count(self) -> int:
        built_in = [self.max_5xx_errors_per_minute, self.max_p90_model_latency_ms]
        return sum(x is not None for x in built_in) + len(self.additional_alarm_names)

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


class EndpointSettings(StrictModel):
    """What every endpoint block has: its name, how updates roll out, and network isolation."""

    endpoint_name: SageMakerName | None = Field(
        default=None,
        description="Default: <project>-<env>-<type> (clients call the endpoint by name).",
    )
    deployment: DeploymentGuardrails | None = Field(
        default=None,
        description="Update guardrails (serverless: blue/green only). Default: the service's "
        "blue/green, all at once, no alarms.",
    )
    network_isolation: bool | None = Field(
        default=None,
        description="Overrides model.network_isolation (serverless: must be false). Default: the model's.",
    )


class RealtimeEndpoint(EndpointSettings):
    """A real-time endpoint: steady traffic, low latency; payload up to 6 MB, 60 s per request."""

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
        if self.deployment is not None and self.deployment.rolling is not None:
            # https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html
            raise ValueError("rolling updates do not support serverless endpoints; allowed: blue_green")
        if self.network_isolation:
            raise ValueError(
                "serverless endpoints do not support network isolation; set network_isolation: false"
            )
        return self


SnsTopicArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")]


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


class AsyncAlarms(StrictModel):
    """Operational alarms on the queue, sent to the environment's alarm topic."""

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
    alarms: AsyncAlarms = Field(default_factory=AsyncAlarms)

    @model_validator(mode="after")
    def _consistent(self) -> AsyncEndpoint:
        scaling = self.autoscaling
        if scaling is not None:
            if limits.is_burstable(self.instance_type):
                raise ValueError(
                    f"autoscaling is not supported on burstable instance {self.instance_type}; "
                    "allowed: a non-burstable family such as ml.m5 or ml.c6i, or no autoscaling"
                )
            if self.initial_instance_count > scaling.max_capacity:
                raise ValueError(
                    f"initial_instance_count {self.initial_instance_count} > autoscaling.max_capacity "
                    f"{scaling.max_capacity}"
                )
        return self


EndpointBlock = Annotated[
    Union[RealtimeEndpoint, ServerlessEndpoint, AsyncEndpoint],  # noqa: UP007
    Field(discriminator="type"),
]
AnyEndpoint = RealtimeEndpoint | ServerlessEndpoint | AsyncEndpoint
Block = TypeVar("Block", RealtimeEndpoint, ServerlessEndpoint, AsyncEndpoint)


class StatefulConfig(StrictModel):
    """Resources that outlive endpoint replacement: KMS key, buckets, alarm topic."""

    retain_on_delete: bool = Field(
        default=True, description="Keep key, buckets and topic when the stack is deleted. Default: true."
    )
    noncurrent_version_expiration_days: int = Field(
        default=30, ge=1, le=3650, description="Delete old object versions after, 1-3650. Default: 30."
    )
    access_log_expiration_days: int = Field(
        default=90, ge=1, le=3650, description="Delete access logs after, 1-3650. Default: 90."
    )
    alarm_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list, max_length=10, description="Subscribed to the alarm topic. Default: none."
    )


class EnvironmentConfig(StrictModel):
    """One deployment environment (dev, staging, prod): model, stateful resources, endpoints, tags."""

    project: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$",
        description="Lowercase name, 3-32 characters; stacks are <project>-<env>-<purpose>.",
    )
    environment: Literal["dev", "staging", "prod"] = Field(description="Must match the file name.")
    account: str | None = Field(
        default=None, pattern=r"^\d{12}$", description="12-digit account. Default: the CLI's."
    )
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region, e.g. us-east-1.")
    tags: dict[
        Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:/=+@ -]+$")],
        Annotated[str, Field(max_length=256, pattern=r"^[\w.:/=+@ -]*$")],
    ] = Field(description="Tags on every resource; must include cost-center.")
    model: ModelConfig
    stateful: StatefulConfig = Field(default_factory=StatefulConfig)
    default_endpoint_type: str = Field(description="Used when -c endpoint_type is not given.")
    endpoints: list[EndpointBlock] = Field(
        min_length=1, description="One block per endpoint type this environment offers."
    )

    @model_validator(mode="after")
    def _consistent(self) -> EnvironmentConfig:
        missing = [t for t in REQUIRED_TAGS if t not in self.tags]
        if missing:
            raise ValueError(f"tags must include {', '.join(missing)} (cost allocation)")
        types = [e.type for e in self.endpoints]
        duplicates = sorted({t for t in types if types.count(t) > 1})
        if duplicates:
            raise ValueError(f"one block per endpoint type; repeated: {', '.join(duplicates)}")
        if self.default_endpoint_type not in types:
            raise ValueError(
                f"default_endpoint_type '{self.default_endpoint_type}' has no block in 'endpoints'; "
                f"allowed: {', '.join(types)}"
            )
        if "serverless" in types:
            if self.model.vpc is not None:
                raise ValueError("model.vpc is set, but serverless endpoints cannot run in a VPC")
            if self.network_isolation("serverless"):
                raise ValueError(
                    "serverless endpoints do not support network isolation: set network_isolation: false "
                    "in the serverless block (model.network_isolation is true)"
                )
        return self

    def network_isolation(self, endpoint_type: str) -> bool:
        """The endpoint block's setting, or the model's."""
        own = self.endpoint(endpoint_type).network_isolation
        return self.model.network_isolation if own is None else own

    @property
    def offered_endpoint_types(self) -> tuple[str, ...]:
        return tuple(e.type for e in self.endpoints)

    def endpoint(self, endpoint_type: str) -> AnyEndpoint:
        """The block for ``endpoint_type`` (``KeyError`` when the environment does not offer it)."""
        for block in self.endpoints:
            if block.type == endpoint_type:
                return block
        raise KeyError(endpoint_type)

    def block(self, kind: type[Block]) -> Block:
        """The environment's block of class ``kind`` (``KeyError`` when it offers none)."""
        for block in self.endpoints:
            if isinstance(block, kind):
                return block
        raise KeyError(kind.__name__)

    def endpoint_name(self, endpoint_type: str) -> str:
        """The configured endpoint name, or ``<project>-<env>-<type>`` (at most 51 characters,
        so always a valid SageMaker name)."""
        block = self.endpoint(endpoint_type)
        return block.endpoint_name or f"{self.project}-{self.environment}-{endpoint_type}"

    def stack_name(self, purpose: str) -> str:
        return f"{self.project}-{self.environment}-{purpose}"

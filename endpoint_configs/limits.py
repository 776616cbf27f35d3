"""SageMaker service limits, kept once as data.

The configuration models and the tests both read these values, so a limit changes in one place.
Each group links the AWS page it comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from endpoint_configs import service_catalog


@dataclass(frozen=True)
class Range:
    """An inclusive integer or float range, as the service documents it."""

    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def describe(self) -> str:
        low = int(self.low) if float(self.low).is_integer() else self.low
        high = int(self.high) if float(self.high).is_integer() else self.high
        return f"{low}-{high}"


# Names of models, endpoints, endpoint configs and variants.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html
# The pattern alone admits longer strings, so the length is checked too.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
NAME_MAX_LENGTH = 63

# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html
PRODUCTION_VARIANTS = Range(1, 10)
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html
VOLUME_SIZE_GB = Range(1, 512)
MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS = Range(60, 3600)
CONTAINER_STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS = Range(60, 3600)
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html
DATA_CAPTURE_SAMPLING_PERCENTAGE = Range(0, 100)

# Real-time payload and time limits (documentation only; the service enforces them).
# https://docs.aws.amazon.com/sagemaker/latest/dg/realtime-endpoints.html
REALTIME_MAX_PAYLOAD_MB = 6
REALTIME_MAX_INVOCATION_SECONDS = 60

# Serverless inference.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html
SERVERLESS_MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = Range(1, 200)
SERVERLESS_MAX_PAYLOAD_MB = 4
SERVERLESS_MAX_INVOCATION_SECONDS = 60

# Asynchronous inference.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AsyncInferenceClientConfig.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html
ASYNC_MAX_CONCURRENT_INVOCATIONS = Range(1, 1000)
ASYNC_INVOCATION_TIMEOUT_SECONDS = Range(1, 3600)
ASYNC_MAX_PAYLOAD_MB = 1024

# Batch transform.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html
# MaxPayloadInMB x MaxConcurrentTransforms may not exceed 100 MB.
BATCH_MAX_PAYLOAD_MB = Range(0, 100)
BATCH_PAYLOAD_BUDGET_MB = 100
BATCH_ENVIRONMENT_ENTRIES = 16
BATCH_INVOCATION_TIMEOUT_SECONDS = Range(1, 3600)
BATCH_JOB_NAME_PREFIX_MAX_LENGTH = 26
"""Job names are ``<prefix>-<uuid>`` (36 characters) within the 63-character name limit."""

# Deployment guardrails.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_RollingUpdatePolicy.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AutoRollbackConfig.html
MAXIMUM_EXECUTION_TIMEOUT_SECONDS = Range(600, 28800)
TERMINATION_WAIT_SECONDS = Range(0, 3600)
WAIT_INTERVAL_SECONDS = Range(0, 3600)
CANARY_SIZE_PERCENT = Range(1, 50)
LINEAR_STEP_PERCENT = Range(10, 50)
ROLLING_BATCH_PERCENT = Range(5, 50)
ROLLBACK_ALARMS = Range(1, 10)

# Application Auto Scaling.
# https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html
SCALING_COOLDOWN_SECONDS = Range(0, 3600)

# Families with local NVMe instance storage: AWS rejects KmsKeyId on their endpoint configs
# ("You can't request a KmsKeyId when using an instance type with local storage").
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html#sagemaker-CreateEndpointConfig-request-KmsKeyId
# https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html
INSTANCE_STORAGE_FAMILIES = frozenset(
    {
        "c5d", "c6gd", "m5d", "m6gd", "r5d", "r6gd", "r7gd",
        "g4dn", "g5", "g6", "g6e", "g7", "g7e",
        "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200",
        "dl1", "trn1", "trn1n", "trn2",
    }
)  # fmt: skip

# Burstable families: CPU credits make invocations-per-instance a poor scaling signal, and
# Application Auto Scaling is not supported for them on SageMaker.
# https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-prerequisites.html
BURSTABLE_FAMILY_PREFIX = "t"


def hosting_instance_types() -> tuple[str, ...]:
    """Every instance type a real-time production variant accepts.

    From the SageMaker API model that ships with botocore (the ``ProductionVariantInstanceType``
    enum), through the generated ``service_tables.json``, so the list moves with the pinned SDK
    instead of being copied by hand.
    """
    return service_catalog.hosting_instance_types()


def transform_instance_types() -> tuple[str, ...]:
    """Every instance type a transform job accepts (``TransformInstanceType``), from botocore."""
    return service_catalog.transform_instance_types()


def sagemaker_regions() -> tuple[str, ...]:
    """Every region SageMaker runs in, in every partition, from botocore's endpoint data."""
    return service_catalog.sagemaker_regions()


def instance_family(instance_type: str) -> str:
    """``ml.g5.xlarge`` -> ``g5``."""
    parts = instance_type.split(".")
    return parts[1] if len(parts) == 3 else ""


def has_instance_storage(instance_type: str) -> bool:
    """True where AWS rejects a KMS key for the endpoint's storage volume."""
    return instance_family(instance_type) in INSTANCE_STORAGE_FAMILIES


def is_burstable(instance_type: str) -> bool:
    """True for ``ml.t2``/``ml.t3`` style burstable instances."""
    return instance_family(instance_type).startswith(BURSTABLE_FAMILY_PREFIX)

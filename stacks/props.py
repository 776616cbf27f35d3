"""The one place that maps configuration blocks to construct props.

Constructs in ``sagemaker_constructs`` never see ``endpoint_configs``; the stacks call these
functions to turn a validated block into the plain values and frozen dataclasses they take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_sagemaker as sagemaker

from endpoint_configs import limits
from endpoint_configs.async_inference import AsyncAlarms, AsyncEndpoint
from endpoint_configs.compilation import ModelCompilation
from endpoint_configs.guardrails import DeploymentGuardrails
from endpoint_configs.model import VpcConfig
from endpoint_configs.monitoring import EndpointAlarms
from endpoint_configs.realtime import DataCapture, InstanceVariant
from endpoint_configs.scaling import CapacityScaling
from endpoint_configs.serverless import ServerlessEndpoint
from model_packaging import neo as neo_input
from sagemaker_constructs import (
    compilation,
    endpoint,
    endpoint_alarms,
    guardrails,
    model,
    queue_alarms,
    scaling,
)

ProductionVariant = sagemaker.CfnEndpointConfig.ProductionVariantProperty


def guarded_deployment(config: DeploymentGuardrails | None) -> guardrails.GuardedDeployment | None:
    if config is None:
        return None
    policy: guardrails.BlueGreenDeployment | guardrails.RollingDeployment
    if config.blue_green is not None:
        shift = config.blue_green.traffic_shift
        policy = guardrails.BlueGreenDeployment(
            traffic_shift=guardrails.TrafficShift(
                mode=shift.type,
                size_percent=shift.size_percent,
                wait_interval_seconds=shift.wait_interval_seconds,
            ),
            termination_wait_seconds=config.blue_green.termination_wait_seconds,
            maximum_execution_timeout_seconds=config.blue_green.maximum_execution_timeout_seconds,
        )
    else:
        assert config.rolling is not None  # the config model requires exactly one policy
        policy = guardrails.RollingDeployment(
            maximum_batch_percent=config.rolling.maximum_batch_percent,
            wait_interval_seconds=config.rolling.wait_interval_seconds,
            rollback_maximum_batch_percent=config.rolling.rollback_maximum_batch_percent,
            maximum_execution_timeout_seconds=config.rolling.maximum_execution_timeout_seconds,
        )
    return guardrails.GuardedDeployment(
        policy=policy, additional_alarm_names=tuple(config.rollback_alarms.additional_alarm_names)
    )


def alarm_thresholds(config: EndpointAlarms) -> endpoint_alarms.AlarmThresholds:
    latency, waste = config.latency, config.waste
    return endpoint_alarms.AlarmThresholds(
        max_5xx_errors_per_minute=config.max_5xx_errors_per_minute,
        latency=(
            None
            if latency is None
            else endpoint_alarms.LatencyThreshold(max_ms=latency.max_ms, statistic=latency.statistic)
        ),
        evaluation_minutes=config.evaluation_minutes,
        waste=(
            None
            if waste is None
            else endpoint_alarms.WasteThreshold(
                min_invocations_per_instance_per_hour=waste.min_invocations_per_instance_per_hour,
                hours=waste.hours,
            )
        ),
    )


def capacity_bounds(config: CapacityScaling) -> scaling.CapacityBounds:
    return scaling.CapacityBounds(
        min_capacity=config.min_capacity,
        max_capacity=config.max_capacity,
        scale_in_cooldown_seconds=config.scale_in_cooldown_seconds,
        scale_out_cooldown_seconds=config.scale_out_cooldown_seconds,
        schedules=tuple(
            scaling.CapacitySchedule(
                name=s.name,
                cron=s.cron,
                time_zone=s.timezone,
                min_capacity=s.min_capacity,
                max_capacity=s.max_capacity,
            )
            for s in config.schedules
        ),
    )


def data_capture(config: DataCapture | None) -> endpoint.DataCapture | None:
    if config is None:
        return None
    return endpoint.DataCapture(
        sampling_percentage=config.sampling_percentage,
        capture_input=config.capture_input,
        capture_output=config.capture_output,
        s3_prefix=config.s3_prefix,
        json_content_types=tuple(config.json_content_types),
    )


def vpc_placement(config: VpcConfig | None) -> model.VpcPlacement | None:
    if config is None:
        return None
    return model.VpcPlacement(
        subnet_ids=tuple(config.subnet_ids), security_group_ids=tuple(config.security_group_ids)
    )


def queue_thresholds(config: AsyncAlarms) -> queue_alarms.QueueThresholds:
    return queue_alarms.QueueThresholds(
        max_backlog_size=config.max_backlog_size,
        max_oldest_request_age_seconds=config.max_oldest_request_age_seconds,
        max_invocation_failures_per_5_minutes=config.max_invocation_failures_per_5_minutes,
    )


def storage_key_rejection(instance_types: Sequence[str]) -> str | None:
    """Why AWS rejects a storage KMS key on these instance types, or None when it takes one."""
    families = sorted({limits.instance_family(t) for t in instance_types if limits.has_instance_storage(t)})
    if not families:
        return None
    return (
        f"Instance families {', '.join(families)} have NVMe instance storage, which AWS encrypts in "
        "hardware and for which CreateEndpointConfig rejects a KmsKeyId."
    )


def instance_variants(
    variants: Sequence[InstanceVariant],
    model_names: Mapping[str, str],
    *,
    load_timeouts: tuple[int, int] | None = None,
    volume_sizes: Mapping[str, int | None] | None = None,
) -> list[ProductionVariant]:
    """Production variants on dedicated instances; ``model_names`` maps variant name to model.
    ``load_timeouts`` (download, start-up) and ``volume_sizes`` (by instance type) apply where a
    variant sets none (a large model's)."""
    download, startup = load_timeouts or (None, None)
    volumes = volume_sizes or {}
    return [
        ProductionVariant(
            variant_name=v.name,
            model_name=model_names[v.name],
            instance_type=v.instance_type,
            initial_instance_count=v.initial_instance_count,
            initial_variant_weight=v.initial_weight,
            volume_size_in_gb=v.volume_size_gb or volumes.get(v.instance_type),
            model_data_download_timeout_in_seconds=v.model_data_download_timeout_seconds or download,
            container_startup_health_check_timeout_in_seconds=(
                v.container_startup_health_check_timeout_seconds or startup
            ),
        )
        for v in variants
    ]


def serverless_variant(block: ServerlessEndpoint, model_name: str) -> ProductionVariant:
    """The single serverless production variant: memory, concurrency, provisioned concurrency."""
    return ProductionVariant(
        variant_name=block.variant_name,
        model_name=model_name,
        serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
            memory_size_in_mb=block.memory_size_mb,
            max_concurrency=block.max_concurrency,
            provisioned_concurrency=block.provisioned_concurrency,
        ),
    )


def async_variant(
    block: AsyncEndpoint,
    model_name: str,
    *,
    load_timeouts: tuple[int, int] | None = None,
    volume_size: int | None = None,
) -> ProductionVariant:
    """The single instance variant of an asynchronous endpoint; ``load_timeouts`` (download,
    start-up) and ``volume_size`` for a large model."""
    download, startup = load_timeouts or (None, None)
    return ProductionVariant(
        variant_name=block.variant_name,
        model_name=model_name,
        instance_type=block.instance_type,
        initial_instance_count=block.initial_instance_count,
        initial_variant_weight=1.0,
        volume_size_in_gb=block.volume_size_gb or volume_size,
        model_data_download_timeout_in_seconds=download,
        container_startup_health_check_timeout_in_seconds=startup,
    )


def compilation_job(config: ModelCompilation, *, traced_here: bool) -> compilation.CompilationJobSpec:
    """The Neo job of ``model.compilation``; ``traced_here`` when ``model_packaging`` traced the
    model, whose forward order the shapes then take (the config may list them in any order)."""
    platform = config.target_platform
    data_input_config = config.data_input_config()
    if traced_here and config.input_shapes is not None:
        data_input_config = neo_input.data_input_config(config.input_shapes)
    return compilation.CompilationJobSpec(
        framework=config.framework,
        framework_version=config.framework_version,
        target=compilation.NeoTarget(
            device=config.target_device,
            platform_os=platform.os if platform else None,
            platform_arch=platform.arch if platform else None,
            platform_accelerator=platform.accelerator if platform else None,
        ),
        data_input_config=data_input_config,
        compiler_options=config.compiler_options_text(),
        max_runtime_seconds=config.max_runtime_seconds,
    )

"""An endpoint: endpoint config for its production variants, rollback alarms, guarded updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from endpoint_configs import limits
from endpoint_configs.models import DataCapture, DeploymentGuardrails, InstanceVariant, ServerlessEndpoint
from stacks.compliance import acknowledge

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
ProductionVariant = sagemaker.CfnEndpointConfig.ProductionVariantProperty


class InferenceEndpoint(Construct):
    """``AWS::SageMaker::EndpointConfig`` + ``AWS::SageMaker::Endpoint`` for any production variants
    (instance-based or serverless; see ``instance_variants`` and ``serverless_variant``), real-time or
    asynchronous (``async_inference``).

    - Storage is encrypted with ``key``; pass ``key_rejected_because`` where AWS rejects a key for
      these variants (NVMe instance storage), and the omission is acknowledged with that reason.
    - ``data_capture`` writes sampled requests and responses to ``capture_bucket`` with ``key``.
    - ``deployment`` adds blue/green or rolling updates that roll back when an alarm fires: 5xx
      errors summed over all variants, and the worst variant's p90 model latency.
    - Updates keep autoscaled instance counts and provisioned concurrency
      (``RetainAllVariantProperties``) but apply changed weights and data capture settings.

    Exposes ``endpoint``, ``endpoint_config``, ``endpoint_name``, ``variant_names``,
    ``rollback_alarms`` and the metrics ``metric_invocations``, ``metric_5xx_errors`` and
    ``metric_model_latency``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        production_variants: Sequence[ProductionVariant],
        key: kms.IKey,
        key_rejected_because: str | None = None,
        capture_bucket: s3.IBucket | None = None,
        data_capture: DataCapture | None = None,
        deployment: DeploymentGuardrails | None = None,
        alarm_topic: sns.ITopic | None = None,
        async_inference: sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        self.variant_names = [v.variant_name for v in production_variants]
        if data_capture is not None and capture_bucket is None:
            raise ValueError("data_capture needs capture_bucket")

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=list(production_variants),
            kms_key_id=None if key_rejected_because else key.key_arn,
            data_capture_config=_data_capture(data_capture, capture_bucket, key),
            async_inference_config=async_inference,
        )
        if key_rejected_because:
            acknowledge(
                self.endpoint_config,
                "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured",
                key_rejected_because,
            )

        self.rollback_alarms: list[cloudwatch.Alarm] = []
        if deployment is not None:
            self.rollback_alarms = self._rollback_alarms(deployment, alarm_topic)

        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Resource",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DesiredWeight"),
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig"),
            ],
            deployment_config=_deployment_config(deployment, self.rollback_alarms),
        )

    def metric_invocations(self, variant_name: str) -> cloudwatch.Metric:
        return self._metric("Invocations", variant_name, "Sum")

    def metric_5xx_errors(self, variant_name: str) -> cloudwatch.Metric:
        return self._metric("Invocation5XXErrors", variant_name, "Sum")

    def metric_model_latency(self, variant_name: str, statistic: str = "p90") -> cloudwatch.Metric:
        """Model latency in microseconds, as SageMaker reports it."""
        return self._metric("ModelLatency", variant_name, statistic)

    def _metric(self, name: str, variant_name: str, statistic: str) -> cloudwatch.Metric:
        return metric(self.endpoint_name, name, statistic, variant_name)

    def _rollback_alarms(
        self, deployment: DeploymentGuardrails, alarm_topic: sns.ITopic | None
    ) -> list[cloudwatch.Alarm]:
        config = deployment.rollback_alarms
        names = self.variant_names
        alarms: list[cloudwatch.Alarm] = []
        if config.max_5xx_errors_per_minute is not None:
            alarms.append(
                self._alarm_over_variants(
                    "Rollback5xxAlarm",
                    expression=" + ".join(f"FILL(e{i}, 0)" for i in range(len(names))),
                    metrics={f"e{i}": self.metric_5xx_errors(n) for i, n in enumerate(names)},
                    label="5xx errors, all variants",
                    threshold=config.max_5xx_errors_per_minute,
                    evaluation_periods=config.evaluation_periods,
                )
            )
        if config.max_p90_model_latency_ms is not None:
            alarms.append(
                self._alarm_over_variants(
                    "RollbackLatencyAlarm",
                    expression=f"MAX([{', '.join(f'l{i}' for i in range(len(names)))}])",
                    metrics={f"l{i}": self.metric_model_latency(n) for i, n in enumerate(names)},
                    label="p90 model latency (us), worst variant",
                    threshold=config.max_p90_model_latency_ms * 1000,
                    evaluation_periods=config.evaluation_periods,
                )
            )
        if alarm_topic is not None:
            for alarm in alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
        return alarms

    def _alarm_over_variants(
        self,
        construct_id: str,
        *,
        expression: str,
        metrics: dict[str, cloudwatch.IMetric],
        label: str,
        threshold: float,
        evaluation_periods: int,
    ) -> cloudwatch.Alarm:
        math = cloudwatch.MathExpression(
            expression=expression, using_metrics=metrics, label=label, period=cdk.Duration.minutes(1)
        )
        return math.create_alarm(
            self,
            construct_id,
            alarm_description=f"{self.endpoint_name}: {label}; rolls back a deployment",
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def _data_capture(
    capture: DataCapture | None, bucket: s3.IBucket | None, key: kms.IKey
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None:
    if capture is None or bucket is None:
        return None
    modes = [m for m, on in (("Input", capture.capture_input), ("Output", capture.capture_output)) if on]
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        enable_capture=True,
        initial_sampling_percentage=capture.sampling_percentage,
        destination_s3_uri=f"s3://{bucket.bucket_name}/{capture.s3_prefix}",
        kms_key_id=key.key_arn,
        capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=m) for m in modes],
        capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
            json_content_types=list(capture.json_content_types)
        ),
    )


def metric(
    endpoint_name: str, name: str, statistic: str, variant_name: str | None = None
) -> cloudwatch.Metric:
    """A one-minute ``AWS/SageMaker`` metric of an endpoint (and variant)."""
    dimensions = {"EndpointName": endpoint_name}
    if variant_name is not None:
        dimensions["VariantName"] = variant_name
    return cloudwatch.Metric(
        namespace=SAGEMAKER_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=cdk.Duration.minutes(1),
    )


def instance_variants(
    variants: Sequence[InstanceVariant], model_names: Mapping[str, str]
) -> list[ProductionVariant]:
    """Production variants on dedicated instances, each with its model."""
    return [
        ProductionVariant(
            variant_name=v.name,
            model_name=model_names[v.name],
            instance_type=v.instance_type,
            initial_instance_count=v.initial_instance_count,
            initial_variant_weight=v.initial_weight,
            volume_size_in_gb=v.volume_size_gb,
            model_data_download_timeout_in_seconds=v.model_data_download_timeout_seconds,
            container_startup_health_check_timeout_in_seconds=v.container_startup_health_check_timeout_seconds,
        )
        for v in variants
    ]


def storage_key_rejection(variants: Sequence[InstanceVariant]) -> str | None:
    """Why AWS rejects a storage KMS key for these variants, or None when it takes one."""
    families = sorted(
        {
            limits.instance_family(v.instance_type)
            for v in variants
            if limits.has_instance_storage(v.instance_type)
        }
    )
    if not families:
        return None
    return (
        f"Instance families {', '.join(families)} have NVMe instance storage, which AWS encrypts in "
        "hardware and for which CreateEndpointConfig rejects a KmsKeyId."
    )


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


def _percent(value: int) -> sagemaker.CfnEndpoint.CapacitySizeProperty:
    return sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=value)


def _deployment_config(
    deployment: DeploymentGuardrails | None, alarms: Sequence[cloudwatch.Alarm]
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty | None:
    if deployment is None:
        return None
    alarm_names = [a.alarm_name for a in alarms] + list(deployment.rollback_alarms.additional_alarm_names)
    rollback = sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
        alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in alarm_names]
    )
    if deployment.blue_green is not None:
        policy = deployment.blue_green
        shift = policy.traffic_shift
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            auto_rollback_configuration=rollback,
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                    type=shift.type,
                    wait_interval_in_seconds=shift.wait_interval_seconds,
                    canary_size=_percent(shift.size_percent)
                    if shift.type == "CANARY" and shift.size_percent
                    else None,
                    linear_step_size=_percent(shift.size_percent)
                    if shift.type == "LINEAR" and shift.size_percent
                    else None,
                ),
                termination_wait_in_seconds=policy.termination_wait_seconds,
                maximum_execution_timeout_in_seconds=policy.maximum_execution_timeout_seconds,
            ),
        )
    rolling = deployment.rolling
    assert rolling is not None
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        auto_rollback_configuration=rollback,
        rolling_update_policy=sagemaker.CfnEndpoint.RollingUpdatePolicyProperty(
            maximum_batch_size=_percent(rolling.maximum_batch_percent),
            wait_interval_in_seconds=rolling.wait_interval_seconds,
            maximum_execution_timeout_in_seconds=rolling.maximum_execution_timeout_seconds,
            rollback_maximum_batch_size=(
                _percent(rolling.rollback_maximum_batch_percent)
                if rolling.rollback_maximum_batch_percent is not None
                else None
            ),
        ),
    )

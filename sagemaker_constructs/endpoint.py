"""An endpoint: the endpoint config for its production variants and guarded updates that roll back
on the endpoint's alarms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge
from sagemaker_constructs.guardrails import (
    ROLLBACK_ALARMS,
    GuardedDeployment,
    RollingDeployment,
    deployment_config,
)
from sagemaker_constructs.metrics import endpoint_metric

ProductionVariant = sagemaker.CfnEndpointConfig.ProductionVariantProperty


@dataclass(frozen=True)
class DataCapture:
    """Capture ``sampling_percentage`` (0-100, default 20) of requests and/or responses under
    ``s3_prefix`` (default ``data-capture``) of the capture bucket, treating
    ``json_content_types`` (default application/json) as JSON text."""

    sampling_percentage: int = 20
    capture_input: bool = True
    capture_output: bool = True
    s3_prefix: str = "data-capture"
    json_content_types: tuple[str, ...] = ("application/json",)

    def __post_init__(self) -> None:
        if not 0 <= self.sampling_percentage <= 100:
            raise ValueError(f"sampling_percentage {self.sampling_percentage}: allowed 0-100")
        if not (self.capture_input or self.capture_output):
            raise ValueError("data capture needs capture_input or capture_output")


class InferenceEndpoint(Construct):
    """``AWS::SageMaker::EndpointConfig`` + ``AWS::SageMaker::Endpoint`` for any production variants
    (instance-based or serverless; see ``instance_variants`` and ``serverless_variant``), real-time or
    asynchronous (``async_inference``).

    - Storage is encrypted with ``key``; pass ``key_rejected_because`` where AWS rejects a key for
      these variants (NVMe instance storage), and the omission is acknowledged with that reason.
    - ``data_capture`` writes sampled requests and responses to ``capture_bucket`` with ``key``.
    - ``deployment`` adds blue/green or rolling updates that roll back when one of
      ``rollback_alarms`` (the endpoint's own, from ``EndpointAlarms``) or of the deployment's
      additional alarm names fires: 1-10 in all.
    - Updates keep autoscaled instance counts and provisioned concurrency
      (``RetainAllVariantProperties``) but apply changed weights and data capture settings.

    Exposes ``endpoint``, ``endpoint_config``, ``endpoint_name``, ``variant_names``,
    ``rollback_alarms`` (those given, when there is a deployment) and the metrics
    ``metric_invocations``, ``metric_5xx_errors`` and ``metric_model_latency``.
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
        deployment: GuardedDeployment | None = None,
        rollback_alarms: Sequence[cloudwatch.IAlarm] = (),
        async_inference: sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        self.variant_names = [v.variant_name for v in production_variants]
        if data_capture is not None and capture_bucket is None:
            raise ValueError("data_capture needs capture_bucket")
        if (
            deployment is not None
            and isinstance(deployment.policy, RollingDeployment)
            and len(self.variant_names) > 1
        ):
            # https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html
            raise ValueError("rolling deployments support single-variant endpoints only; use blue/green")
        if deployment is not None:
            count = len(rollback_alarms) + len(deployment.additional_alarm_names)
            if count not in ROLLBACK_ALARMS:
                raise ValueError(f"{count} rollback alarms; a guarded deployment needs 1-10")

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

        self.rollback_alarms: list[cloudwatch.IAlarm] = list(rollback_alarms) if deployment else []

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
            deployment_config=(
                deployment_config(deployment, [a.alarm_name for a in self.rollback_alarms])
                if deployment is not None
                else None
            ),
        )

    def metric_invocations(self, variant_name: str) -> cloudwatch.Metric:
        return self._metric("Invocations", variant_name, "Sum")

    def metric_5xx_errors(self, variant_name: str) -> cloudwatch.Metric:
        return self._metric("Invocation5XXErrors", variant_name, "Sum")

    def metric_model_latency(self, variant_name: str, statistic: str = "p90") -> cloudwatch.Metric:
        """Model latency in microseconds, as SageMaker reports it."""
        return self._metric("ModelLatency", variant_name, statistic)

    def _metric(self, name: str, variant_name: str, statistic: str) -> cloudwatch.Metric:
        return endpoint_metric(self.endpoint_name, name, statistic, variant_name)


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

"""The asynchronous inference stack: S3 in and out, SNS notifications, scale to zero, queue alarms."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from endpoint_configs.images import image_uri
from endpoint_configs.models import AsyncAlarms, AsyncEndpoint, EnvironmentConfig
from stacks.inference_endpoint import InferenceEndpoint, ProductionVariant, metric
from stacks.model_data import ArtifactLocation
from stacks.served_model import ServedModel
from stacks.stateful import ImportedModelStore, StoreExports
from stacks.variant_autoscaling import AsyncScaleToZero

DEFAULT_PREFIXES = {"input": "async/input/", "output": "async/output/", "failure": "async/failure/"}


class AsyncQueueAlarms(Construct):
    """Alarms on an asynchronous endpoint's queue, sent to ``alarm_topic``: backlog too large,
    oldest request too old, invocations failing. Exposes ``alarms``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        config: AsyncAlarms,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        checks = [
            (
                "BacklogSize",
                "ApproximateBacklogSize",
                "Average",
                config.max_backlog_size,
                5,
                "queued requests",
            ),
            (
                "OldestRequestAge",
                "ApproximateAgeOfOldestRequest",
                "Maximum",
                config.max_oldest_request_age_seconds,
                5,
                "age of the oldest queued request (s)",
            ),
            (
                "InvocationFailures",
                "InvocationFailures",
                "Sum",
                config.max_invocation_failures_per_5_minutes,
                1,
                "failed invocations in 5 minutes",
            ),
        ]
        self.alarms: list[cloudwatch.Alarm] = []
        for alarm_id, name, statistic, threshold, periods, what in checks:
            period = cdk.Duration.minutes(5) if name == "InvocationFailures" else cdk.Duration.minutes(1)
            alarm = cloudwatch.Alarm(
                self,
                alarm_id,
                alarm_description=f"{endpoint_name}: {what} above {threshold}",
                metric=metric(endpoint_name, name, statistic).with_(period=period),
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
            self.alarms.append(alarm)


class AsyncInferenceStack(cdk.Stack):
    """Wires the asynchronous constructs for one environment to its stateful stack's exports.

    Requests go to ``input_path`` (clients upload, then call InvokeEndpointAsync), results to
    ``output_path`` or ``failure_path``, encrypted with the environment key, with notifications on
    the success and error topics (created here, KMS-encrypted and TLS-only, unless ARNs are given).
    The execution role may read only the input prefix, write only the output and failure prefixes
    and publish only to those two topics.
    Exposes ``served``, ``endpoint``, ``paths``, ``success_topic``, ``error_topic``, ``scaling`` (or
    None) and ``queue_alarms``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        store_exports: StoreExports,
        artifact: ArtifactLocation,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        store = ImportedModelStore(self, "Store", exports=store_exports)
        block = config.block(AsyncEndpoint)
        endpoint_name = config.endpoint_name("async")
        image = image_uri(config.model.image, region=config.region, instance_type=block.instance_type)
        self.served = ServedModel.for_endpoint(
            self,
            "Served",
            config=config,
            endpoint_type="async",
            artifact=artifact,
            image_uris=[image],
            key=store.key,
        )
        configured = {"input": block.input_path, "output": block.output_path, "failure": block.failure_path}
        locations = {
            kind: self._location(uri, DEFAULT_PREFIXES[kind], store.bucket)
            for kind, uri in configured.items()
        }
        self.paths = {kind: uri for kind, (uri, _) in locations.items()}
        objects = {kind: arn for kind, (_, arn) in locations.items()}
        self.success_topic = self._topic("SuccessTopic", block.success_topic_arn, store)
        self.error_topic = self._topic("ErrorTopic", block.error_topic_arn, store)
        self.endpoint = InferenceEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            production_variants=[
                ProductionVariant(
                    variant_name=block.variant_name,
                    model_name=self.served.model_names[image],
                    instance_type=block.instance_type,
                    initial_instance_count=block.initial_instance_count,
                    initial_variant_weight=1.0,
                    volume_size_in_gb=block.volume_size_gb,
                )
            ],
            key=store.key,
            deployment=block.deployment,
            alarm_topic=store.alarm_topic,
            async_inference=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=block.max_concurrent_invocations_per_instance
                ),
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=self.paths["output"],
                    s3_failure_path=self.paths["failure"],
                    kms_key_id=store.key.key_arn,
                    notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=self.success_topic.topic_arn,
                        error_topic=self.error_topic.topic_arn,
                        include_inference_response_in=["SUCCESS_NOTIFICATION_TOPIC"],
                    ),
                ),
            ),
        )
        role = self.served.execution_role
        io_policy = role.add_policy(
            "AsyncIoPolicy",
            [
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects["input"]]),
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[objects["output"], objects["failure"]]
                ),
                iam.PolicyStatement(
                    actions=["sns:Publish"],
                    resources=[self.success_topic.topic_arn, self.error_topic.topic_arn],
                ),
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
                    resources=[store.key.key_arn],
                ),
            ],
            prefix_reason="Asynchronous requests and results have generated keys; the grant covers only the "
            "configured input, output and failure prefixes.",
        )
        # SageMaker checks the output and notification permissions when it creates the endpoint.
        self.endpoint.endpoint.node.add_dependency(io_policy)
        role.grant_describe_alarms(self.endpoint.rollback_alarms)

        self.scaling = (
            AsyncScaleToZero(
                self,
                f"Scaling-{block.variant_name}",
                endpoint_name=endpoint_name,
                variant_name=block.variant_name,
                endpoint=self.endpoint.endpoint,
                scaling=block.autoscaling,
            )
            if block.autoscaling is not None
            else None
        )
        self.queue_alarms = AsyncQueueAlarms(
            self,
            "QueueAlarms",
            endpoint_name=endpoint_name,
            config=block.alarms,
            alarm_topic=store.alarm_topic,
        )
        cdk.CfnOutput(self, "EndpointName", value=endpoint_name, description="Invoke this endpoint by name")
        for kind, uri in configured.items():
            title = kind.capitalize()
            if uri is not None:
                cdk.CfnOutput(self, f"{title}Path", value=uri, description=f"Async {kind} location")
            else:
                # A key prefix, not the whole s3:// path: outputs that re-export an imported value
                # are a smell (cfn-lint W6001); the bucket is the stateful stack's export.
                cdk.CfnOutput(
                    self,
                    f"{title}Prefix",
                    value=DEFAULT_PREFIXES[kind],
                    description=f"Async {kind} key prefix in bucket export {store_exports.bucket_name}",
                )
        cdk.CfnOutput(
            self,
            "InvocationTimeoutSeconds",
            value=str(block.invocation_timeout_seconds),
            description="Pass to InvokeEndpointAsync as InvocationTimeoutSeconds",
        )

    def _location(self, uri: str | None, default_prefix: str, bucket: s3.IBucket) -> tuple[str, str]:
        """The S3 URI of a path and the ARN pattern of the objects under it."""
        if uri is None:
            return f"s3://{bucket.bucket_name}/{default_prefix}", bucket.arn_for_objects(f"{default_prefix}*")
        bucket_name, _, prefix = uri.removeprefix("s3://").partition("/")
        return uri, f"arn:{self.partition}:s3:::{bucket_name}/{prefix}*"

    def _topic(self, construct_id: str, arn: str | None, store: ImportedModelStore) -> sns.ITopic:
        if arn is not None:
            return sns.Topic.from_topic_arn(self, construct_id, arn)
        return sns.Topic(self, construct_id, master_key=store.key, enforce_ssl=True)

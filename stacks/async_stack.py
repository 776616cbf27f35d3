"""The asynchronous workload stack: S3 in and out, SNS notifications, scale to zero, queue alarms."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from endpoint_configs import AsyncEndpoint
from endpoint_configs.naming import ASYNC_DEFAULT_PREFIXES
from sagemaker_constructs.dashboard import WorkloadDashboard
from sagemaker_constructs.queue_alarms import AsyncQueueAlarms
from sagemaker_constructs.scaling import AsyncScaleToZero
from stacks import props
from stacks.workload_stack import EndpointStack


class AsyncInferenceStack(EndpointStack[AsyncEndpoint]):
    """An asynchronous endpoint whose requests come from ``input_path`` (clients upload, then call
    InvokeEndpointAsync) and whose results go to ``output_path`` or ``failure_path``, encrypted with
    the environment key, with notifications on the success and error topics (created here,
    KMS-encrypted and TLS-only, unless ARNs are given). The execution role may read only the input
    prefix, write only the output and failure prefixes and publish only to those two topics.
    Exposes ``endpoint``, ``paths``, ``success_topic``, ``error_topic``, ``scaling`` (or None) and
    ``queue_alarms`` and ``dashboard`` besides the base's attributes.
    """

    IDLE_INSTANCES_BILL = False  # scales to zero: an hour without requests has no instances

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        block = self.block
        store = self.store
        configured = {"input": block.input_path, "output": block.output_path, "failure": block.failure_path}
        locations = {
            kind: self.s3_location(uri, ASYNC_DEFAULT_PREFIXES[kind]) for kind, uri in configured.items()
        }
        self.paths = {kind: location.uri for kind, location in locations.items()}
        objects = {kind: location.objects_arn for kind, location in locations.items()}
        self.success_topic = self._topic("SuccessTopic", block.success_topic_arn)
        self.error_topic = self._topic("ErrorTopic", block.error_topic_arn)
        self.endpoint = self.add_endpoint(
            [
                props.async_variant(
                    block,
                    self.model_name_for(block.instance_type),
                    load_timeouts=self.load_timeouts,
                    volume_size=self.volume_sizes[block.instance_type],
                )
            ],
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
        io_policy = self.served.execution_role.add_policy(
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

        self.scaling = (
            AsyncScaleToZero(
                self,
                f"Scaling-{block.variant_name}",
                endpoint_name=self.endpoint_name,
                variant_name=block.variant_name,
                endpoint=self.endpoint.endpoint,
                bounds=props.capacity_bounds(block.autoscaling),
                target_backlog_per_instance=block.autoscaling.target_backlog_per_instance,
            )
            if block.autoscaling is not None
            else None
        )
        self.queue_alarms = AsyncQueueAlarms(
            self,
            "QueueAlarms",
            endpoint_name=self.endpoint_name,
            alarm_topic=store.alarm_topic,
            thresholds=props.queue_thresholds(block.alarms),
        )
        self.dashboard = WorkloadDashboard.asynchronous(
            self,
            "Dashboard",
            dashboard_name=self.stack_name,
            endpoint_name=self.endpoint_name,
            variant_names=self.endpoint.variant_names,
            alarms=self.watched_alarms(*self.queue_alarms.alarms),
        )
        self.publish_locations("Async", configured, ASYNC_DEFAULT_PREFIXES)
        cdk.CfnOutput(
            self,
            "InvocationTimeoutSeconds",
            value=str(block.invocation_timeout_seconds),
            description="Pass to InvokeEndpointAsync as InvocationTimeoutSeconds",
        )

    def _topic(self, construct_id: str, arn: str | None) -> sns.ITopic:
        if arn is not None:
            return sns.Topic.from_topic_arn(self, construct_id, arn)
        return sns.Topic(self, construct_id, master_key=self.store.key, enforce_ssl=True)

"""Autoscaling of one production variant: target tracking plus scheduled capacity changes."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct, IDependable

from endpoint_configs.models import VariantAutoscaling as VariantAutoscalingConfig

INSTANCE_COUNT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Application Auto Scaling acts through its service-linked role; no role of ours is needed.
# https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html
SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


class InstanceVariantAutoscaling(Construct):
    """Scale a variant's instance count between ``min_capacity`` and ``max_capacity``.

    Target tracking keeps ``SageMakerVariantInvocationsPerInstance`` at the configured target;
    each schedule changes the bounds at a cron time in a time zone (e.g. fewer instances at
    night). The target depends on ``endpoint`` so it is registered after the endpoint exists.
    Exposes ``scalable_target`` and ``target_invocations_per_instance``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_name: str,
        scaling: VariantAutoscalingConfig,
        endpoint: IDependable,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.scalable_target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{variant_name}",
            scalable_dimension=INSTANCE_COUNT_DIMENSION,
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
            role=iam.Role.from_role_arn(
                self,
                "ServiceLinkedRole",
                f"arn:{stack.partition}:iam::{stack.account}:role/{SERVICE_LINKED_ROLE}",
            ),
        )
        self.scalable_target.node.add_dependency(endpoint)
        self.target_invocations_per_instance = scaling.target_invocations_per_instance
        self.scalable_target.scale_to_track_metric(
            "InvocationsPerInstance",
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            target_value=self.target_invocations_per_instance,
            scale_in_cooldown=cdk.Duration.seconds(scaling.scale_in_cooldown_seconds),
            scale_out_cooldown=cdk.Duration.seconds(scaling.scale_out_cooldown_seconds),
        )
        for schedule in scaling.schedules:
            self.scalable_target.scale_on_schedule(
                schedule.name,
                schedule=appscaling.Schedule.expression(f"cron({schedule.cron})"),
                time_zone=cdk.TimeZone.of(schedule.timezone),
                min_capacity=schedule.min_capacity,
                max_capacity=schedule.max_capacity,
            )

"""Autoscaling of one production variant: target tracking plus scheduled capacity changes.

Instance variants scale their instance count on invocations per instance; serverless variants
scale their provisioned concurrency on its utilization; asynchronous endpoints scale their
instances on the queue backlog per instance, down to zero, and back up from zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from constructs import Construct, IDependable

from sagemaker_constructs.metrics import endpoint_metric

# Application Auto Scaling acts through its service-linked role; no role of ours is needed.
# https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html
SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


@dataclass(frozen=True)
class CapacitySchedule:
    """At each ``cron`` time (six-field EventBridge form, in ``time_zone``, default UTC), set the
    bounds to ``min_capacity``-``max_capacity``; ``name`` is unique per scalable target."""

    name: str
    cron: str
    min_capacity: int
    max_capacity: int
    time_zone: str = "UTC"


@dataclass(frozen=True)
class CapacityBounds:
    """Capacity between ``min_capacity`` (0 allowed, where the service allows it) and
    ``max_capacity``; cooldowns default to 300 s in and 60 s out; ``schedules`` change the bounds
    at set times (default: none)."""

    min_capacity: int
    max_capacity: int
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60
    schedules: tuple[CapacitySchedule, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.min_capacity <= self.max_capacity:
            raise ValueError(f"capacity bounds {self.min_capacity}-{self.max_capacity}: need 0 <= min <= max")


@dataclass(frozen=True)
class ScalingDimension:
    """What is scaled, and the metric target tracking holds steady: predefined, or None for one
    given by the caller."""

    scalable_dimension: str
    metric: appscaling.PredefinedMetric | None
    policy_id: str


INSTANCE_COUNT = ScalingDimension(
    "sagemaker:variant:DesiredInstanceCount",
    appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
    "InvocationsPerInstance",
)
ASYNC_BACKLOG = ScalingDimension("sagemaker:variant:DesiredInstanceCount", None, "BacklogPerInstance")
PROVISIONED_CONCURRENCY = ScalingDimension(
    "sagemaker:variant:DesiredProvisionedConcurrency",
    appscaling.PredefinedMetric.SAGEMAKER_VARIANT_PROVISIONED_CONCURRENCY_UTILIZATION,
    "ProvisionedConcurrencyUtilization",
)


class VariantScaling(Construct):
    """Scale one variant between ``bounds.min_capacity`` and ``bounds.max_capacity`` on
    ``dimension`` (``INSTANCE_COUNT``, ``PROVISIONED_CONCURRENCY`` or ``ASYNC_BACKLOG``).

    Target tracking holds the dimension's metric (or ``custom_metric``) at ``target_value``;
    each schedule changes the bounds at a cron time in a time zone (e.g. less capacity at night).
    The scalable target depends on ``endpoint``, so it is registered after the endpoint exists.
    Exposes ``scalable_target`` and ``target_value``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_name: str,
        endpoint: IDependable,
        dimension: ScalingDimension,
        bounds: CapacityBounds,
        target_value: float,
        custom_metric: cloudwatch.IMetric | None = None,
    ) -> None:
        if (dimension.metric is None) == (custom_metric is None):
            raise ValueError("give custom_metric exactly when the dimension has no predefined metric")
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.scalable_target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{variant_name}",
            scalable_dimension=dimension.scalable_dimension,
            min_capacity=bounds.min_capacity,
            max_capacity=bounds.max_capacity,
            role=iam.Role.from_role_arn(
                self,
                "ServiceLinkedRole",
                f"arn:{stack.partition}:iam::{stack.account}:role/{SERVICE_LINKED_ROLE}",
            ),
        )
        self.scalable_target.node.add_dependency(endpoint)
        self.target_value = target_value
        self.scalable_target.scale_to_track_metric(
            dimension.policy_id,
            predefined_metric=dimension.metric,
            custom_metric=custom_metric,
            target_value=target_value,
            scale_in_cooldown=cdk.Duration.seconds(bounds.scale_in_cooldown_seconds),
            scale_out_cooldown=cdk.Duration.seconds(bounds.scale_out_cooldown_seconds),
        )
        for schedule in bounds.schedules:
            self.scalable_target.scale_on_schedule(
                schedule.name,
                schedule=appscaling.Schedule.expression(f"cron({schedule.cron})"),
                time_zone=cdk.TimeZone.of(schedule.time_zone),
                min_capacity=schedule.min_capacity,
                max_capacity=schedule.max_capacity,
            )


class AsyncScaleToZero(Construct):
    """Scale an asynchronous endpoint between ``bounds.min_capacity`` (0 allowed) and
    ``bounds.max_capacity``, holding ``target_backlog_per_instance`` queued requests per instance.

    - Target tracking holds ``ApproximateBacklogSizePerInstance`` (EndpointName dimension) at the
      configured backlog per instance; it scales in to ``min_capacity`` when the queue is empty.
    - At zero instances that metric cannot rise, so a step policy adds one instance when the
      ``HasBacklogWithoutCapacity`` alarm fires (requests wait, no instance runs).
      https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html
    Exposes ``scaling`` (the ``VariantScaling``), ``scale_out_from_zero`` and ``backlog_without_capacity``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_name: str,
        endpoint: IDependable,
        bounds: CapacityBounds,
        target_backlog_per_instance: float,
    ) -> None:
        super().__init__(scope, construct_id)
        self.scaling = VariantScaling(
            self,
            "Backlog",
            endpoint_name=endpoint_name,
            variant_name=variant_name,
            endpoint=endpoint,
            dimension=ASYNC_BACKLOG,
            bounds=bounds,
            target_value=target_backlog_per_instance,
            custom_metric=endpoint_metric(endpoint_name, "ApproximateBacklogSizePerInstance", "Average"),
        )
        self.scale_out_from_zero = appscaling.StepScalingAction(
            self,
            "ScaleOutFromZero",
            scaling_target=self.scaling.scalable_target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=cdk.Duration.seconds(bounds.scale_out_cooldown_seconds),
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        self.scale_out_from_zero.add_adjustment(adjustment=1, lower_bound=0)
        self.backlog_without_capacity = cloudwatch.Alarm(
            self,
            "BacklogWithoutCapacity",
            alarm_description=f"{endpoint_name}: requests wait and no instance runs; adds one instance",
            metric=endpoint_metric(endpoint_name, "HasBacklogWithoutCapacity", "Maximum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.backlog_without_capacity.add_alarm_action(
            cloudwatch_actions.ApplicationScalingAction(self.scale_out_from_zero)
        )

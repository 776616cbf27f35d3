"""VariantScaling and AsyncScaleToZero: scalable targets, target tracking, schedules, scale from zero."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Template

from sagemaker_constructs.metrics import endpoint_metric
from sagemaker_constructs.scaling import (
    ASYNC_BACKLOG,
    INSTANCE_COUNT,
    PROVISIONED_CONCURRENCY,
    AsyncScaleToZero,
    CapacityBounds,
    CapacitySchedule,
    VariantScaling,
)
from tests.sagemaker_constructs.support import bare_stack, logical_id

SERVICE_LINKED_ROLE = (
    "arn:aws:iam::123456789012:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


@dataclass(frozen=True)
class Scalings:
    template: Template
    resources: dict[str, Any]
    endpoint: sagemaker.CfnEndpoint
    instances: VariantScaling
    serverless: VariantScaling
    to_zero: AsyncScaleToZero

    def properties(self, construct: Any) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id(construct)]["Properties"]
        return properties

    def policies_of(self, scaling: VariantScaling) -> dict[str, Any]:
        """The scaling policies on ``scaling``'s target, by policy type."""
        target = {"Ref": logical_id(scaling.scalable_target)}
        found = self.template.find_resources(
            "AWS::ApplicationAutoScaling::ScalingPolicy", {"Properties": {"ScalingTargetId": target}}
        )
        return {str(r["Properties"]["PolicyType"]): r for r in found.values()}


@pytest.fixture(scope="module")
def scalings() -> Scalings:
    stack = bare_stack("ScalingCheck")
    endpoint = sagemaker.CfnEndpoint(stack, "Endpoint", endpoint_config_name="config")
    instances = VariantScaling(
        stack,
        "Instances",
        endpoint_name="minilm-prod",
        variant_name="Cpu",
        endpoint=endpoint,
        dimension=INSTANCE_COUNT,
        bounds=CapacityBounds(
            min_capacity=1,
            max_capacity=6,
            scale_in_cooldown_seconds=600,
            scale_out_cooldown_seconds=30,
            schedules=(
                CapacitySchedule("night", "0 20 ? * MON-FRI *", 0, 1, time_zone="Europe/Berlin"),
                CapacitySchedule("morning", "0 7 ? * MON-FRI *", 2, 6),
            ),
        ),
        target_value=70,
    )
    serverless = VariantScaling(
        stack,
        "Serverless",
        endpoint_name="minilm-serverless",
        variant_name="AllTraffic",
        endpoint=endpoint,
        dimension=PROVISIONED_CONCURRENCY,
        bounds=CapacityBounds(min_capacity=1, max_capacity=10),
        target_value=0.7,
    )
    to_zero = AsyncScaleToZero(
        stack,
        "ToZero",
        endpoint_name="llm-async",
        variant_name="Gpu",
        endpoint=endpoint,
        bounds=CapacityBounds(min_capacity=0, max_capacity=3, scale_out_cooldown_seconds=120),
        target_backlog_per_instance=5,
    )
    template = Template.from_stack(stack)
    return Scalings(template, dict(template.to_json()["Resources"]), endpoint, instances, serverless, to_zero)


def test_scalable_target_names_the_endpoint_variant_and_dimension(scalings: Scalings) -> None:
    target = scalings.properties(scalings.instances.scalable_target)
    assert {k: v for k, v in target.items() if k != "ScheduledActions"} == {
        "MaxCapacity": 6,
        "MinCapacity": 1,
        "ResourceId": "endpoint/minilm-prod/variant/Cpu",
        "RoleARN": SERVICE_LINKED_ROLE,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ServiceNamespace": "sagemaker",
    }


def test_serverless_variant_scales_provisioned_concurrency(scalings: Scalings) -> None:
    target = scalings.properties(scalings.serverless.scalable_target)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert target["ResourceId"] == "endpoint/minilm-serverless/variant/AllTraffic"


def test_minimum_capacity_of_zero_stays_zero(scalings: Scalings) -> None:
    """The falsy-zero bug of aws-sagemaker-alpha would drop MinCapacity 0 (or turn it into 1)."""
    target = scalings.properties(scalings.to_zero.scaling.scalable_target)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3)
    night = scalings.properties(scalings.instances.scalable_target)["ScheduledActions"][0]
    assert night["ScalableTargetAction"] == {"MaxCapacity": 1, "MinCapacity": 0}


def test_instances_track_invocations_per_instance_with_the_cooldowns(scalings: Scalings) -> None:
    policy = scalings.policies_of(scalings.instances)["TargetTrackingScaling"]
    assert policy["Properties"]["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 600,
        "ScaleOutCooldown": 30,
        "TargetValue": 70,
    }
    assert scalings.instances.target_value == 70


def test_serverless_tracks_provisioned_concurrency_utilization_with_default_cooldowns(
    scalings: Scalings,
) -> None:
    policy = scalings.policies_of(scalings.serverless)["TargetTrackingScaling"]
    assert policy["Properties"]["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"
        },
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
        "TargetValue": 0.7,
    }


def test_async_tracks_backlog_per_instance_as_a_custom_metric(scalings: Scalings) -> None:
    policy = scalings.policies_of(scalings.to_zero.scaling)["TargetTrackingScaling"]
    configuration = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert configuration == {
        "CustomizedMetricSpecification": {
            "Dimensions": [{"Name": "EndpointName", "Value": "llm-async"}],
            "MetricName": "ApproximateBacklogSizePerInstance",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Average",
        },
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 120,
        "TargetValue": 5,
    }


def test_schedules_set_bounds_at_cron_times_in_their_time_zones(scalings: Scalings) -> None:
    assert scalings.properties(scalings.instances.scalable_target)["ScheduledActions"] == [
        {
            "ScalableTargetAction": {"MaxCapacity": 1, "MinCapacity": 0},
            "Schedule": "cron(0 20 ? * MON-FRI *)",
            "ScheduledActionName": "night",
            "Timezone": "Europe/Berlin",
        },
        {
            "ScalableTargetAction": {"MaxCapacity": 6, "MinCapacity": 2},
            "Schedule": "cron(0 7 ? * MON-FRI *)",
            "ScheduledActionName": "morning",
            "Timezone": "UTC",
        },
    ]
    assert "ScheduledActions" not in scalings.properties(scalings.serverless.scalable_target)


def test_targets_and_their_policies_wait_for_the_endpoint(scalings: Scalings) -> None:
    endpoint = logical_id(scalings.endpoint)
    for scaling in (scalings.instances, scalings.serverless, scalings.to_zero.scaling):
        assert scalings.resources[logical_id(scaling.scalable_target)]["DependsOn"] == [endpoint]
        for policy in scalings.policies_of(scaling).values():
            if policy["Properties"]["PolicyType"] == "TargetTrackingScaling":
                assert policy["DependsOn"] == [endpoint]


def test_no_role_of_our_own_is_created(scalings: Scalings) -> None:
    scalings.template.resource_count_is("AWS::IAM::Role", 0)


def test_step_policy_adds_one_instance_when_requests_wait_without_capacity(scalings: Scalings) -> None:
    step = scalings.policies_of(scalings.to_zero.scaling)["StepScaling"]
    assert step["Properties"]["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity",
        "Cooldown": 120,
        "MetricAggregationType": "Maximum",
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
    }


def test_backlog_without_capacity_alarm_triggers_the_step_policy(scalings: Scalings) -> None:
    assert scalings.properties(scalings.to_zero.backlog_without_capacity) == {
        "AlarmActions": [{"Ref": logical_id(scalings.to_zero.scale_out_from_zero)}],
        "AlarmDescription": "llm-async: requests wait and no instance runs; adds one instance",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Dimensions": [{"Name": "EndpointName", "Value": "llm-async"}],
        "EvaluationPeriods": 1,
        "MetricName": "HasBacklogWithoutCapacity",
        "Namespace": "AWS/SageMaker",
        "Period": 60,
        "Statistic": "Maximum",
        "Threshold": 1,
        "TreatMissingData": "notBreaching",
    }
    scalings.template.resource_count_is("AWS::CloudWatch::Alarm", 1)


@pytest.mark.parametrize(("low", "high"), [(3, 2), (-1, 2)])
def test_capacity_bounds_need_zero_at_most_min_at_most_max(low: int, high: int) -> None:
    """GIVEN a minimum above the maximum, or below zero, WHEN the bounds are made THEN they are refused."""
    with pytest.raises(ValueError, match=f"capacity bounds {low}-{high}: need 0 <= min <= max"):
        CapacityBounds(min_capacity=low, max_capacity=high)


def test_capacity_bounds_accept_a_fixed_size_and_zero() -> None:
    assert CapacityBounds(min_capacity=0, max_capacity=0).max_capacity == 0
    assert CapacityBounds(min_capacity=2, max_capacity=2).min_capacity == 2


def test_backlog_dimension_without_a_custom_metric_is_refused() -> None:
    # GIVEN the async backlog dimension, which has no predefined metric, and no custom metric
    stack = bare_stack("NoCustomMetricCheck")
    endpoint = sagemaker.CfnEndpoint(stack, "Endpoint", endpoint_config_name="config")
    # WHEN the variant scaling is built THEN it is refused
    with pytest.raises(ValueError, match="give custom_metric exactly when the dimension has no predefined"):
        VariantScaling(
            stack,
            "Backlog",
            endpoint_name="llm-async",
            variant_name="Gpu",
            endpoint=endpoint,
            dimension=ASYNC_BACKLOG,
            bounds=CapacityBounds(min_capacity=0, max_capacity=2),
            target_value=5,
        )


def test_custom_metric_on_a_predefined_dimension_is_refused() -> None:
    # GIVEN the instance count dimension, which has a predefined metric, and a custom metric too
    stack = bare_stack("TwoMetricsCheck")
    endpoint = sagemaker.CfnEndpoint(stack, "Endpoint", endpoint_config_name="config")
    custom: cloudwatch.IMetric = endpoint_metric("minilm-prod", "CPUUtilization", "Average")
    # WHEN the variant scaling is built THEN it is refused
    with pytest.raises(ValueError, match="give custom_metric exactly when the dimension has no predefined"):
        VariantScaling(
            stack,
            "Instances",
            endpoint_name="minilm-prod",
            variant_name="Cpu",
            endpoint=endpoint,
            dimension=INSTANCE_COUNT,
            bounds=CapacityBounds(min_capacity=1, max_capacity=2),
            target_value=70,
            custom_metric=custom,
        )

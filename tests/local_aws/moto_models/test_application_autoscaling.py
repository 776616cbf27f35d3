"""local_aws.moto_models.application_autoscaling: ScalableTarget and ScalingPolicy, deployed through
moto's CloudFormation."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.local_aws.conftest import REGION, ROLE_ARN
from tests.local_aws.scaling_stack import (
    DIMENSION,
    RESOURCE_ID,
    STACK,
    TARGET_REF,
    create_stack,
    delete_stack,
    scalable_targets,
    scaling_policies,
    scheduled_actions,
    template,
    update_stack,
)


@pytest.fixture
def stack(aws: None) -> dict[str, str]:
    """The scaling stack, created; its outputs."""
    return create_stack()


def test_stack_registers_the_scalable_target_with_its_scheduled_action(stack: dict[str, str]) -> None:
    [target] = scalable_targets()
    assert target["ResourceId"] == RESOURCE_ID
    assert target["ScalableDimension"] == DIMENSION
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert target["RoleARN"] == ROLE_ARN

    [action] = scheduled_actions()
    assert action["ScheduledActionName"] == "evening-scale-in"
    assert action["Schedule"] == "cron(0 20 ? * MON-FRI *)"
    assert action["Timezone"] == "Europe/Berlin"
    assert (action["ResourceId"], action["ScalableDimension"]) == (RESOURCE_ID, DIMENSION)
    assert action["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 2}


def test_stack_puts_target_tracking_and_step_policies_with_api_types(stack: dict[str, str]) -> None:
    policies = scaling_policies()
    assert set(policies) == {"invocations-per-instance", "backlog-steps"}

    tracking = policies["invocations-per-instance"]
    assert (tracking["PolicyType"], tracking["ResourceId"]) == ("TargetTrackingScaling", RESOURCE_ID)
    assert tracking["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "TargetValue": 420.0,
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }

    step = policies["backlog-steps"]
    assert (step["PolicyType"], step["ScalableDimension"]) == ("StepScaling", DIMENSION)
    assert step["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity",
        "Cooldown": 120,
        "MetricAggregationType": "Maximum",
        "StepAdjustments": [
            {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 2},
        ],
    }


def test_ref_and_getatt_of_target_and_policy_return_what_cloudformation_returns(
    stack: dict[str, str],
) -> None:
    step_arn = scaling_policies()["backlog-steps"]["PolicyARN"]
    assert stack["TargetRef"] == stack["TargetId"] == TARGET_REF
    assert stack["StepPolicyRef"] == stack["StepPolicyArn"] == step_arn

    resources = boto3.client("cloudformation", region_name=REGION).describe_stack_resources(StackName=STACK)
    physical_ids = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}
    assert physical_ids["Target"] == TARGET_REF
    assert physical_ids["StepPolicy"] == step_arn


def test_stack_update_changes_max_capacity_in_place(stack: dict[str, str]) -> None:
    policy_arns = {name: policy["PolicyARN"] for name, policy in scaling_policies().items()}

    update_stack(template(max_capacity=6))

    [target] = scalable_targets()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)
    assert [action["ScheduledActionName"] for action in scheduled_actions()] == ["evening-scale-in"]
    assert {name: policy["PolicyARN"] for name, policy in scaling_policies().items()} == policy_arns


def test_stack_update_of_a_policy_keeps_the_arn_its_alarm_acts_on(stack: dict[str, str]) -> None:
    arn = scaling_policies()["backlog-steps"]["PolicyARN"]

    update_stack(template(step_cooldown=30))

    step = scaling_policies()["backlog-steps"]
    assert step["StepScalingPolicyConfiguration"]["Cooldown"] == 30
    assert step["PolicyARN"] == arn
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms(
        AlarmNames=[stack["BacklogAlarmRef"]]
    )
    assert alarms["MetricAlarms"][0]["AlarmActions"] == [arn]


def test_stack_update_deletes_a_scheduled_action_removed_from_the_template(stack: dict[str, str]) -> None:
    update_stack(template(with_schedule=False))

    assert scheduled_actions() == []
    assert len(scalable_targets()) == 1
    assert set(scaling_policies()) == {"invocations-per-instance", "backlog-steps"}


def test_stack_delete_removes_target_actions_and_policies(stack: dict[str, str]) -> None:
    delete_stack()

    assert scalable_targets() == []
    assert scheduled_actions() == []
    assert scaling_policies() == {}


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        pytest.param(
            {
                "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                "Properties": {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": RESOURCE_ID,
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "MinCapacity": 1,
                    "MaxCapacity": 2,
                },
            },
            "Unsupported service namespace, resource type or scalable dimension",
            id="target-with-wrong-dimension",
        ),
        pytest.param(
            {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": "orphan",
                    "PolicyType": "StepScaling",
                    "ScalingTargetId": TARGET_REF,
                    "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity"},
                },
            },
            "No scalable target registered",
            id="policy-without-target",
        ),
    ],
)
def test_stack_with_an_invalid_autoscaling_resource_fails_with_a_readable_error(
    aws: None, resource: dict[str, Any], message: str
) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)

    with pytest.raises(ClientError, match=message) as error:
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps({"Resources": {"It": resource}}))

    assert error.value.response["Error"]["Code"] == "ValidationError"

"""A stack of autoscaling and alarm resources in the shape CDK synthesizes, and readers of what exists.

The resources refer to each other (the backlog alarm acts on the step policy, policies name the
target), so the Application Auto Scaling and CloudWatch model tests share this one template.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.local_aws.conftest import REGION, ROLE_ARN

STACK = "endpoint-scaling"
RESOURCE_ID = "endpoint/my-endpoint/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TARGET_REF = f"{RESOURCE_ID}|{DIMENSION}|sagemaker"


def template(
    max_capacity: int = 4, backlog_threshold: str = "5", step_cooldown: int = 120, with_schedule: bool = True
) -> str:
    """A hand-written template in the shape CDK synthesizes; numbers sometimes arrive as strings."""
    endpoint_dimension = [{"Name": "EndpointName", "Value": "my-endpoint"}]
    schedule = {
        "ScheduledActionName": "evening-scale-in",
        "Schedule": "cron(0 20 ? * MON-FRI *)",
        "Timezone": "Europe/Berlin",
        "ScalableTargetAction": {"MinCapacity": "1", "MaxCapacity": 2},
    }
    return json.dumps(
        {
            "Resources": {
                "AlarmTopic": {"Type": "AWS::SNS::Topic"},
                "Target": {
                    "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                    "Properties": {
                        "ServiceNamespace": "sagemaker",
                        "ResourceId": RESOURCE_ID,
                        "ScalableDimension": DIMENSION,
                        "MinCapacity": 1,
                        "MaxCapacity": max_capacity,
                        "RoleARN": ROLE_ARN,
                        "ScheduledActions": [schedule] if with_schedule else [],
                    },
                },
                "TrackingPolicy": {
                    "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                    "Properties": {
                        "PolicyName": "invocations-per-instance",
                        "PolicyType": "TargetTrackingScaling",
                        "ScalingTargetId": {"Ref": "Target"},
                        "TargetTrackingScalingPolicyConfiguration": {
                            "PredefinedMetricSpecification": {
                                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                            },
                            "TargetValue": 420,
                            "ScaleInCooldown": 300,
                            "ScaleOutCooldown": "60",
                        },
                    },
                },
                "StepPolicy": {
                    "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                    "Properties": {
                        "PolicyName": "backlog-steps",
                        "PolicyType": "StepScaling",
                        "ScalingTargetId": {"Ref": "Target"},
                        "StepScalingPolicyConfiguration": {
                            "AdjustmentType": "ChangeInCapacity",
                            "Cooldown": step_cooldown,
                            "MetricAggregationType": "Maximum",
                            "StepAdjustments": [
                                {
                                    "MetricIntervalLowerBound": "0",
                                    "MetricIntervalUpperBound": 10,
                                    "ScalingAdjustment": 1,
                                },
                                {"MetricIntervalLowerBound": 10, "ScalingAdjustment": "2"},
                            ],
                        },
                    },
                },
                "BacklogAlarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "ApproximateBacklogSizePerInstance",
                        "Dimensions": endpoint_dimension,
                        "Statistic": "Average",
                        "Period": 60,
                        "EvaluationPeriods": "2",
                        "Threshold": backlog_threshold,
                        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": [{"Ref": "StepPolicy"}],
                    },
                },
                "LatencyAlarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": "my-endpoint-p99-latency",
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "ModelLatency",
                        "Dimensions": endpoint_dimension,
                        "ExtendedStatistic": "p99",
                        "Period": 60,
                        "EvaluationPeriods": 5,
                        "Threshold": 1000000,
                        "ComparisonOperator": "GreaterThanThreshold",
                        "OKActions": [{"Ref": "AlarmTopic"}],
                    },
                },
                "ErrorRateAlarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": "my-endpoint-error-rate",
                        "EvaluationPeriods": 3,
                        "DatapointsToAlarm": 2,
                        "Threshold": 1,
                        "ComparisonOperator": "GreaterThanThreshold",
                        "AlarmActions": [{"Ref": "AlarmTopic"}],
                        "Metrics": [
                            _metric_query("invocations", "Invocations"),
                            _metric_query("errors", "Invocation5XXErrors"),
                            {
                                "Id": "rate",
                                "Expression": "100 * errors / invocations",
                                "Label": "5XX error rate (%)",
                                "ReturnData": True,
                            },
                        ],
                    },
                },
            },
            "Outputs": {
                "TargetRef": {"Value": {"Ref": "Target"}},
                "TargetId": {"Value": {"Fn::GetAtt": ["Target", "Id"]}},
                "StepPolicyRef": {"Value": {"Ref": "StepPolicy"}},
                "StepPolicyArn": {"Value": {"Fn::GetAtt": ["StepPolicy", "Arn"]}},
                "BacklogAlarmRef": {"Value": {"Ref": "BacklogAlarm"}},
                "BacklogAlarmArn": {"Value": {"Fn::GetAtt": ["BacklogAlarm", "Arn"]}},
            },
        }
    )


def _metric_query(query_id: str, metric_name: str) -> dict[str, Any]:
    metric = {
        "Namespace": "AWS/SageMaker",
        "MetricName": metric_name,
        "Dimensions": [{"Name": "EndpointName", "Value": "my-endpoint"}],
    }
    return {
        "Id": query_id,
        "MetricStat": {"Metric": metric, "Period": "60", "Stat": "Sum"},
        "ReturnData": "false",
    }


def create_stack() -> dict[str, str]:
    """Create the stack from :func:`template`; return its outputs."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=STACK, TemplateBody=template())
    outputs = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    return {output["OutputKey"]: output["OutputValue"] for output in outputs}


def delete_stack() -> None:
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName=STACK)


def update_stack(template_body: str) -> None:
    boto3.client("cloudformation", region_name=REGION).update_stack(
        StackName=STACK, TemplateBody=template_body
    )


def scalable_targets() -> list[dict[str, Any]]:
    client = boto3.client("application-autoscaling", region_name=REGION)
    return list(client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"])


def scaling_policies() -> dict[str, dict[str, Any]]:
    client = boto3.client("application-autoscaling", region_name=REGION)
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return {policy["PolicyName"]: policy for policy in policies}


def scheduled_actions() -> list[dict[str, Any]]:
    client = boto3.client("application-autoscaling", region_name=REGION)
    return list(client.describe_scheduled_actions(ServiceNamespace="sagemaker")["ScheduledActions"])


def alarms() -> dict[str, dict[str, Any]]:
    client = boto3.client("cloudwatch", region_name=REGION)
    return {alarm["AlarmName"]: alarm for alarm in client.describe_alarms()["MetricAlarms"]}

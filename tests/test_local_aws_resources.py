"""The local AWS deploys our autoscaling and alarm resources, and accepts current SageMaker instance types."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sagemaker.models import FakeEndpointConfig

from local_aws.cloudformation_resources import install

REGION = "us-east-1"
STACK = "endpoint-scaling"
RESOURCE_ID = "endpoint/my-endpoint/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
ROLE_ARN = "arn:aws:iam::123456789012:role/autoscaling"
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


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can reach a real account."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    install()
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None) -> dict[str, str]:
    """Create the stack; return its outputs."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=STACK, TemplateBody=template())
    outputs = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    return {output["OutputKey"]: output["OutputValue"] for output in outputs}


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


def test_stack_puts_single_metric_alarms_acting_on_the_step_policy_and_topic(stack: dict[str, str]) -> None:
    found = alarms()
    backlog = found[stack["BacklogAlarmRef"]]
    assert backlog["AlarmName"].startswith(f"{STACK}-BacklogAlarm-")
    assert (backlog["Namespace"], backlog["MetricName"]) == (
        "AWS/SageMaker",
        "ApproximateBacklogSizePerInstance",
    )
    assert backlog["Dimensions"] == [{"Name": "EndpointName", "Value": "my-endpoint"}]
    assert (backlog["Statistic"], backlog["Period"], backlog["EvaluationPeriods"]) == ("Average", 60, 2)
    assert (backlog["Threshold"], backlog["ComparisonOperator"]) == (5.0, "GreaterThanOrEqualToThreshold")
    assert backlog["TreatMissingData"] == "notBreaching"
    assert backlog["AlarmActions"] == [scaling_policies()["backlog-steps"]["PolicyARN"]]

    latency = found["my-endpoint-p99-latency"]
    assert latency["ExtendedStatistic"] == "p99"
    assert "Statistic" not in latency
    [topic] = boto3.client("sns", region_name=REGION).list_topics()["Topics"]
    assert latency["OKActions"] == [topic["TopicArn"]]


def test_stack_puts_metric_math_alarm_with_its_queries(stack: dict[str, str]) -> None:
    alarm = alarms()["my-endpoint-error-rate"]
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == (3, 2, 1.0)
    assert "MetricName" not in alarm
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    assert queries["rate"]["Expression"] == "100 * errors / invocations"
    assert queries["rate"]["ReturnData"] is True
    assert queries["errors"]["ReturnData"] is False
    assert queries["errors"]["MetricStat"] == {
        "Metric": {
            "Namespace": "AWS/SageMaker",
            "MetricName": "Invocation5XXErrors",
            "Dimensions": [{"Name": "EndpointName", "Value": "my-endpoint"}],
        },
        "Period": 60,
        "Stat": "Sum",
    }


def test_ref_and_getatt_return_what_cloudformation_returns(stack: dict[str, str]) -> None:
    step_arn = scaling_policies()["backlog-steps"]["PolicyARN"]
    backlog = next(
        alarm for alarm in alarms().values() if alarm["AlarmName"].startswith(f"{STACK}-BacklogAlarm-")
    )
    assert stack["TargetRef"] == stack["TargetId"] == TARGET_REF
    assert stack["StepPolicyRef"] == stack["StepPolicyArn"] == step_arn
    assert stack["BacklogAlarmRef"] == backlog["AlarmName"]
    assert stack["BacklogAlarmArn"] == backlog["AlarmArn"]

    resources = boto3.client("cloudformation", region_name=REGION).describe_stack_resources(StackName=STACK)
    physical_ids = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}
    assert physical_ids["Target"] == TARGET_REF
    assert physical_ids["StepPolicy"] == step_arn


def update_stack(template_body: str) -> None:
    boto3.client("cloudformation", region_name=REGION).update_stack(
        StackName=STACK, TemplateBody=template_body
    )


def test_stack_update_changes_max_capacity_and_threshold_in_place(stack: dict[str, str]) -> None:
    policy_arns = {name: policy["PolicyARN"] for name, policy in scaling_policies().items()}

    update_stack(template(max_capacity=6, backlog_threshold="8"))

    [target] = scalable_targets()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)
    assert [action["ScheduledActionName"] for action in scheduled_actions()] == ["evening-scale-in"]
    assert {name: policy["PolicyARN"] for name, policy in scaling_policies().items()} == policy_arns
    found = alarms()
    assert set(found) == {stack["BacklogAlarmRef"], "my-endpoint-p99-latency", "my-endpoint-error-rate"}
    assert found[stack["BacklogAlarmRef"]]["Threshold"] == 8.0


def test_stack_update_of_a_policy_keeps_the_arn_its_alarm_acts_on(stack: dict[str, str]) -> None:
    arn = scaling_policies()["backlog-steps"]["PolicyARN"]

    update_stack(template(step_cooldown=30))

    step = scaling_policies()["backlog-steps"]
    assert step["StepScalingPolicyConfiguration"]["Cooldown"] == 30
    assert step["PolicyARN"] == arn
    assert alarms()[stack["BacklogAlarmRef"]]["AlarmActions"] == [arn]


def test_stack_update_deletes_a_scheduled_action_removed_from_the_template(stack: dict[str, str]) -> None:
    update_stack(template(with_schedule=False))

    assert scheduled_actions() == []
    assert len(scalable_targets()) == 1
    assert set(scaling_policies()) == {"invocations-per-instance", "backlog-steps"}


def test_stack_delete_removes_target_actions_policies_and_alarms(stack: dict[str, str]) -> None:
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName=STACK)

    assert scalable_targets() == []
    assert scheduled_actions() == []
    assert scaling_policies() == {}
    assert alarms() == {}


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


def create_endpoint_config(instance_type: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    name = instance_type.replace(".", "-")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/inference:latest"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"config-{name}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": instance_type,
                "InitialInstanceCount": 1,
            }
        ],
    )


def test_endpoint_config_accepts_g5_instance_type_after_install(aws: None) -> None:
    create_endpoint_config("ml.g5.xlarge")

    configs = boto3.client("sagemaker", region_name=REGION).list_endpoint_configs()["EndpointConfigs"]
    assert [config["EndpointConfigName"] for config in configs] == ["config-ml-g5-xlarge"]


def test_endpoint_config_still_rejects_unknown_instance_type(aws: None) -> None:
    with pytest.raises(
        ClientError, match=r"Value 'ml\.bogus\.large' at 'instanceType' failed to satisfy"
    ) as error:
        create_endpoint_config("ml.bogus.large")

    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_install_again_keeps_the_single_instance_type_wrapper(aws: None) -> None:
    check = FakeEndpointConfig.validate_instance_type

    install()

    assert FakeEndpointConfig.validate_instance_type is check
    create_endpoint_config("ml.g5.xlarge")


@pytest.mark.slow
def test_install_registers_the_models_after_moto_built_its_type_map() -> None:
    code = """
from moto.cloudformation import parsing
parsing.get_model_map()
from local_aws.cloudformation_resources import install
assert "AWS::CloudWatch::Alarm" not in parsing.get_model_map()
install()
assert parsing.get_model_map()["AWS::CloudWatch::Alarm"].__name__ == "AlarmResource"
"""
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], check=True)


def test_provisioned_concurrency_dimension_is_accepted_and_bogus_ones_are_not(aws: None) -> None:
    autoscaling = boto3.client("application-autoscaling", region_name=REGION)
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/serverless-ep/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredProvisionedConcurrency",
        MinCapacity=1,
        MaxCapacity=4,
    )
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    with pytest.raises(ClientError, match=r"Value 'sagemaker:variant:Bogus' at 'scalableDimension' failed"):
        autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId="endpoint/serverless-ep/variant/AllTraffic",
            ScalableDimension="sagemaker:variant:Bogus",
            MinCapacity=1,
            MaxCapacity=4,
        )


def test_explicit_endpoint_name_in_a_template_is_kept(aws: None) -> None:
    template = {
        "Resources": {
            "Model": {
                "Type": "AWS::SageMaker::Model",
                "Properties": {
                    "ExecutionRoleArn": ROLE_ARN,
                    "PrimaryContainer": {
                        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/inference:latest"
                    },
                },
            },
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                            "InstanceType": "ml.m5.large",
                            "InitialInstanceCount": 1,
                        }
                    ]
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointName": "named-endpoint",
                    "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                },
            },
        }
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="named", TemplateBody=json.dumps(template)
    )
    endpoints = boto3.client("sagemaker", region_name=REGION).list_endpoints()["Endpoints"]
    assert [e["EndpointName"] for e in endpoints] == ["named-endpoint"]


def _async_endpoint(name: str, output: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/inference:latest"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {"S3OutputPath": f"{output}out/", "S3FailurePath": f"{output}fail/"}
        },
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_async_result_lands_under_the_configured_output_path(aws: None) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="async-results")
    _async_endpoint("async-ep", "s3://async-results/")
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    response = runtime.invoke_endpoint_async(
        EndpointName="async-ep", InputLocation="s3://async-results/in/1.json"
    )
    assert response["OutputLocation"].startswith("s3://async-results/out/")
    assert response["FailureLocation"].startswith("s3://async-results/fail/")
    key = response["OutputLocation"].removeprefix("s3://async-results/")
    body = boto3.client("s3", region_name=REGION).get_object(Bucket="async-results", Key=key)["Body"].read()
    assert json.loads(body) == {"default": "response"}
    again = runtime.invoke_endpoint_async(
        EndpointName="async-ep", InputLocation="s3://async-results/in/1.json"
    )
    assert again["OutputLocation"] == response["OutputLocation"]


def test_async_invocation_of_an_unknown_endpoint_is_rejected(aws: None) -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with pytest.raises(ClientError, match="Endpoint no-such-endpoint of account 123456789012 not found"):
        runtime.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation="s3://b-1/in.json")

"""The serverless inference stack, property by property, for the environments that offer it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SynthesizedEnvironment, synthesize

DLC_CPU = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("dev", tmp_path_factory.mktemp("dev-serverless"), "serverless")


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("staging", tmp_path_factory.mktemp("staging-serverless"), "serverless")


def _all(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    return dict(env.template("serverless").find_resources(type_name))


def _only(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    (resource,) = _all(env, type_name).values()
    return dict(resource)


def test_stack_is_named_for_serverless_and_deploys_after_the_stateful_stack(
    staging: SynthesizedEnvironment,
) -> None:
    stack = staging.stack("serverless")
    assert stack.stack_name == "minilm-embeddings-staging-serverless"
    assert [d.stack_name for d in stack.dependencies] == ["minilm-embeddings-staging-stateful"]
    staging.template("serverless").has_output(
        "EndpointName", {"Value": "minilm-embeddings-staging-serverless"}
    )


def test_model_runs_the_cpu_image_without_isolation_or_vpc(dev: SynthesizedEnvironment) -> None:
    model = _only(dev, "AWS::SageMaker::Model")["Properties"]
    assert model["PrimaryContainer"]["Image"] == DLC_CPU
    assert model["EnableNetworkIsolation"] is False
    assert "VpcConfig" not in model


def test_endpoint_config_has_one_serverless_variant(staging: SynthesizedEnvironment) -> None:
    config = _only(staging, "AWS::SageMaker::EndpointConfig")["Properties"]
    model_id = next(iter(_all(staging, "AWS::SageMaker::Model")))
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": {"Fn::GetAtt": [model_id, "ModelName"]},
            "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 20, "ProvisionedConcurrency": 2},
        }
    ]
    assert "DataCaptureConfig" not in config


def test_on_demand_serverless_has_no_provisioned_concurrency_and_no_scaling(
    dev: SynthesizedEnvironment,
) -> None:
    variant = _only(dev, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 5}
    assert _all(dev, "AWS::ApplicationAutoScaling::ScalableTarget") == {}


def test_endpoint_config_is_encrypted_with_the_environment_key(dev: SynthesizedEnvironment) -> None:
    config = _only(dev, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["KmsKeyId"] == {"Fn::ImportValue": "minilm-embeddings-dev-stateful-key-arn"}


def test_provisioned_concurrency_is_a_scalable_target_with_off_hours_schedules(
    staging: SynthesizedEnvironment,
) -> None:
    target = _only(staging, "AWS::ApplicationAutoScaling::ScalableTarget")
    endpoint_id = next(iter(_all(staging, "AWS::SageMaker::Endpoint")))
    assert target["DependsOn"] == [endpoint_id]
    properties = target["Properties"]
    assert properties["ResourceId"] == "endpoint/minilm-embeddings-staging-serverless/variant/AllTraffic"
    assert properties["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert (properties["MinCapacity"], properties["MaxCapacity"]) == (1, 4)
    assert properties["ScheduledActions"] == [
        {
            "ScheduledActionName": "weeknights-min",
            "Schedule": "cron(0 20 ? * MON-FRI *)",
            "Timezone": "Europe/Berlin",
            "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 1},
        },
        {
            "ScheduledActionName": "workday-restore",
            "Schedule": "cron(0 7 ? * MON-FRI *)",
            "Timezone": "Europe/Berlin",
            "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 4},
        },
    ]


def test_target_tracking_holds_provisioned_concurrency_utilization(staging: SynthesizedEnvironment) -> None:
    policy = _only(staging, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"
        },
        "TargetValue": 0.7,
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }


def test_blue_green_canary_with_rollback_alarms(staging: SynthesizedEnvironment) -> None:
    deployment = _only(staging, "AWS::SageMaker::Endpoint")["Properties"]["DeploymentConfig"]
    assert deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
        "WaitIntervalInSeconds": 300,
    }
    alarms = {k: v for k, v in _all(staging, "AWS::CloudWatch::Alarm").items() if k.startswith("Alarms")}
    assert deployment["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": {"Ref": a}} for a in alarms]
    dimensions = [
        metric["MetricStat"]["Metric"]["Dimensions"]
        for alarm in alarms.values()
        for metric in alarm["Properties"]["Metrics"]
        if "MetricStat" in metric
    ]
    assert all(
        d
        == [
            {"Name": "EndpointName", "Value": "minilm-embeddings-staging-serverless"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ]
        for d in dimensions
    )


def test_role_has_no_data_capture_grant(staging: SynthesizedEnvironment) -> None:
    policies = {k: v for k, v in _all(staging, "AWS::IAM::ManagedPolicy").items() if k.startswith("Served")}
    assert len(policies) == 1
    actions = {
        action
        for statement in next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert "s3:PutObject" not in actions
    assert "cloudwatch:DescribeAlarms" in actions


def _dashboard_text(env: SynthesizedEnvironment) -> str:
    body = _only(env, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in body["Fn::Join"][1])


def test_dashboard_shows_cold_starts_and_provisioned_concurrency_not_instances(
    staging: SynthesizedEnvironment,
) -> None:
    text = _dashboard_text(staging)
    for metric in ("ModelSetupTime", "ServerlessProvisionedConcurrencyUtilization", "ModelLatency"):
        assert metric in text
    assert "CPUUtilization" not in text
    assert "IdleGuardAlarm" in text  # staging's idle guard deletes after 48 h

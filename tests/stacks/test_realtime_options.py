"""Real-time options the shipped environments do not use: image URI, VPC, rolling updates,
your own rollback alarms, input-only capture, a variant without autoscaling, and an uncompressed
artifact under an S3 prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import cdk_json_context
from endpoint_configs import parse_config
from stacks.environment import add_environment, locate_artifact

CONFIG = """
project: options-check
environment: staging
account: "123456789012"
region: eu-west-1
tags: {cost-center: test}
model:
  image:
    uri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/embeddings/server:1.4.2
  artifact:
    s3_prefix: s3://options-models/models/0123abcd/
  network_isolation: false
  vpc:
    subnet_ids: [subnet-0123456789abcdef0, subnet-0123456789abcdef1]
    security_group_ids: [sg-0123456789abcdef0]
default_endpoint_type: realtime
endpoints:
  - type: realtime
    endpoint_name: options-endpoint
    variants:
      - instance_type: ml.c5.large
        initial_instance_count: 2
        volume_size_gb: 30
    data_capture:
      sampling_percentage: 100
      capture_output: false
      s3_prefix: capture/options
    deployment:
      rolling:
        maximum_batch_percent: 25
        wait_interval_seconds: 120
        rollback_maximum_batch_percent: 100
        maximum_execution_timeout_seconds: 1800
      rollback_alarms:
        endpoint_alarms: [errors]
        additional_alarm_names: [team-slo-burn]
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("cdk-options")
    app = cdk.App(context=cdk_json_context(), outdir=str(outdir))
    config = parse_config(CONFIG, source="options.yaml", expected_env="staging")
    artifact = locate_artifact(config.model.artifact, None)
    stacks = add_environment(app, config, "realtime", artifact=artifact)
    app.synth()
    data: dict[str, Any] = json.loads(
        Path(outdir, f"{stacks.inference.stack_name}.template.json").read_text()
    )
    return data


def _of_type(template: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == type_name]


def test_stacks_target_the_configured_account_and_region(template: dict[str, Any]) -> None:
    policy = json.dumps(_of_type(template, "AWS::IAM::ManagedPolicy"))
    assert ":logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/options-endpoint" in policy


def test_image_uri_is_used_as_given_and_its_repository_is_the_only_pull_grant(
    template: dict[str, Any],
) -> None:
    (model,) = _of_type(template, "AWS::SageMaker::Model")
    assert (
        model["PrimaryContainer"]["Image"]
        == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/embeddings/server:1.4.2"
    )
    assert "arn:aws:ecr:eu-west-1:123456789012:repository/embeddings/server" in json.dumps(
        _of_type(template, "AWS::IAM::ManagedPolicy")
    )


def test_model_runs_in_the_configured_vpc_without_isolation(template: dict[str, Any]) -> None:
    (model,) = _of_type(template, "AWS::SageMaker::Model")
    assert model["EnableNetworkIsolation"] is False
    assert model["VpcConfig"] == {
        "Subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
    }


def test_vpc_models_may_manage_network_interfaces(template: dict[str, Any]) -> None:
    statements = [
        s for p in _of_type(template, "AWS::IAM::ManagedPolicy") for s in p["PolicyDocument"]["Statement"]
    ]
    eni = next(s for s in statements if "ec2:CreateNetworkInterface" in s["Action"])
    assert eni["Resource"] == "*"


def test_storage_is_kms_encrypted_on_ebs_backed_instances(template: dict[str, Any]) -> None:
    (config,) = _of_type(template, "AWS::SageMaker::EndpointConfig")
    assert config["KmsKeyId"] == {"Fn::ImportValue": "options-check-staging-stateful-key-arn"}
    assert config["ProductionVariants"][0]["VolumeSizeInGB"] == 30


def test_input_only_capture_under_a_custom_prefix(template: dict[str, Any]) -> None:
    (config,) = _of_type(template, "AWS::SageMaker::EndpointConfig")
    capture = config["DataCaptureConfig"]
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}]
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"]["Fn::Join"][1][-1] == "/capture/options"


def test_rolling_update_with_own_and_built_in_rollback_alarms(template: dict[str, Any]) -> None:
    (endpoint,) = _of_type(template, "AWS::SageMaker::Endpoint")
    deployment = endpoint["DeploymentConfig"]
    assert deployment["RollingUpdatePolicy"] == {
        "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 120,
        "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 100},
        "MaximumExecutionTimeoutInSeconds": 1800,
    }
    assert "BlueGreenUpdatePolicy" not in deployment
    names = deployment["AutoRollbackConfiguration"]["Alarms"]
    assert len(names) == 2
    assert names[1] == {"AlarmName": "team-slo-burn"}
    # the errors alarm rolls back; the latency alarm (default p99 above 1000 ms) only notifies
    assert len(_of_type(template, "AWS::CloudWatch::Alarm")) == 2


def test_variant_without_autoscaling_has_no_scalable_target(template: dict[str, Any]) -> None:
    assert _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget") == []


def test_uncompressed_artifact_is_read_from_its_prefix(template: dict[str, Any]) -> None:
    (model,) = _of_type(template, "AWS::SageMaker::Model")
    assert "ModelDataUrl" not in model["PrimaryContainer"]
    assert model["PrimaryContainer"]["ModelDataSource"] == {
        "S3DataSource": {
            "S3Uri": "s3://options-models/models/0123abcd/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
    }


def test_role_reads_only_the_artifact_prefix(template: dict[str, Any]) -> None:
    statements = [
        s for p in _of_type(template, "AWS::IAM::ManagedPolicy") for s in p["PolicyDocument"]["Statement"]
    ]
    reads = [s for s in statements if s["Action"] in ("s3:GetObject", "s3:ListBucket")]
    assert reads == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": "arn:aws:s3:::options-models/models/0123abcd/*",
        },
        {
            "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": ["models/0123abcd/*"]}},
            "Effect": "Allow",
            "Resource": "arn:aws:s3:::options-models",
        },
    ]

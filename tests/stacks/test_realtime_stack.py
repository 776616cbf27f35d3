"""The real-time inference stack, property by property, for the shipped environments."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.conftest import REPO, SynthesizedEnvironment

ENDPOINT = {"dev": "minilm-embeddings-dev-realtime", "prod": "minilm-embeddings-prod-realtime"}
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference"


def _only(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    found = env.template("realtime").find_resources(type_name)
    assert len(found) == 1, found
    return dict(next(iter(found.values())))


def _all(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    return dict(env.template("realtime").find_resources(type_name))


def _logical_id(env: SynthesizedEnvironment, type_name: str, prefix: str) -> str:
    return next(k for k in _all(env, type_name) if k.startswith(prefix))


def _alarm(env: SynthesizedEnvironment, prefix: str) -> dict[str, Any]:
    properties: dict[str, Any] = _all(env, "AWS::CloudWatch::Alarm")[
        _logical_id(env, "AWS::CloudWatch::Alarm", prefix)
    ]["Properties"]
    return properties


def _statements(env: SynthesizedEnvironment) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in _all(env, "AWS::IAM::ManagedPolicy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


@pytest.fixture(scope="module")
def dev(synthesized: dict[str, SynthesizedEnvironment]) -> SynthesizedEnvironment:
    return synthesized["dev"]


@pytest.fixture(scope="module")
def staging(synthesized: dict[str, SynthesizedEnvironment]) -> SynthesizedEnvironment:
    return synthesized["staging"]


@pytest.fixture(scope="module")
def prod(synthesized: dict[str, SynthesizedEnvironment]) -> SynthesizedEnvironment:
    return synthesized["prod"]


# --- stack ---------------------------------------------------------------------------------------


def test_stack_is_named_and_deploys_after_the_stateful_stack(prod: SynthesizedEnvironment) -> None:
    stack = prod.stack("realtime")
    assert stack.stack_name == "minilm-embeddings-prod-realtime"
    assert [d.stack_name for d in stack.dependencies] == ["minilm-embeddings-prod-stateful"]
    assert stack.region == "us-east-1"


def test_endpoint_name_is_an_output(prod: SynthesizedEnvironment) -> None:
    prod.template("realtime").has_output("EndpointName", {"Value": ENDPOINT["prod"]})


# --- models --------------------------------------------------------------------------------------


def _asset_url(env: SynthesizedEnvironment) -> str:
    url = _only(env, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["ModelDataUrl"]
    return str(url["Fn::Sub"])


def test_model_serves_the_built_artifact_in_network_isolation_from_its_own_wheels(
    dev: SynthesizedEnvironment,
) -> None:
    model = _only(dev, "AWS::SageMaker::Model")["Properties"]
    assert model["EnableNetworkIsolation"] is True
    assert model["PrimaryContainer"] == {
        "Image": f"{DLC}:2.6-cpu-py312",
        "ModelDataUrl": {"Fn::Sub": _asset_url(dev)},
        # the toolkit's start-up `pip install -r code/requirements.txt` sees only code/wheels
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": "/opt/ml/model/code/wheels",
        },
    }
    assert re.fullmatch(
        r"s3://cdk-hnb659fds-assets-\$\{AWS::AccountId\}-us-east-1/[0-9a-f]{64}\.gz", _asset_url(dev)
    )
    assert model["ExecutionRoleArn"] == {
        "Fn::GetAtt": [_logical_id(dev, "AWS::IAM::Role", "ServedExecutionRole"), "Arn"]
    }
    assert "VpcConfig" not in model


def test_gpu_variant_gets_the_gpu_build_of_the_framework_image(prod: SynthesizedEnvironment) -> None:
    images = sorted(
        m["Properties"]["PrimaryContainer"]["Image"] for m in _all(prod, "AWS::SageMaker::Model").values()
    )
    assert images == [f"{DLC}:2.6-cpu-py312", f"{DLC}:2.6-gpu-py312"]


def test_models_are_created_after_the_role_policy(dev: SynthesizedEnvironment) -> None:
    model = _only(dev, "AWS::SageMaker::Model")
    policy = _logical_id(dev, "AWS::IAM::ManagedPolicy", "ServedExecutionRolePolicy")
    assert model["DependsOn"] == [policy]


# --- endpoint config -----------------------------------------------------------------------------


def test_variants_carry_type_count_weight_and_their_model(prod: SynthesizedEnvironment) -> None:
    variants = _only(prod, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"]
    models = {
        m["Properties"]["PrimaryContainer"]["Image"].rsplit(":", 1)[1]: logical_id
        for logical_id, m in _all(prod, "AWS::SageMaker::Model").items()
    }
    assert variants == [
        {
            "VariantName": "cpu-c6i",
            "InstanceType": "ml.c6i.xlarge",
            "InitialInstanceCount": 2,
            "InitialVariantWeight": 0.9,
            "ModelName": {"Fn::GetAtt": [models["2.6-cpu-py312"], "ModelName"]},
        },
        {
            "VariantName": "gpu-g5",
            "InstanceType": "ml.g5.xlarge",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 0.1,
            "ModelName": {"Fn::GetAtt": [models["2.6-gpu-py312"], "ModelName"]},
        },
    ]


def test_variant_timeouts_are_passed_through(staging: SynthesizedEnvironment) -> None:
    variant = _only(staging, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"][0]
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 600
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600


def test_endpoint_storage_is_encrypted_with_the_environment_key(dev: SynthesizedEnvironment) -> None:
    config = _only(dev, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["KmsKeyId"] == {"Fn::ImportValue": "minilm-embeddings-dev-stateful-key-arn"}


def test_no_storage_key_when_a_variant_has_nvme_instance_storage(prod: SynthesizedEnvironment) -> None:
    # ml.g5 has NVMe instance storage: AWS rejects KmsKeyId on such endpoint configs.
    assert "KmsKeyId" not in _only(prod, "AWS::SageMaker::EndpointConfig")["Properties"]


def test_data_capture_writes_sampled_traffic_to_the_kms_bucket(staging: SynthesizedEnvironment) -> None:
    capture = _only(staging, "AWS::SageMaker::EndpointConfig")["Properties"]["DataCaptureConfig"]
    assert capture == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": {
            "Fn::Join": [
                "",
                [
                    "s3://",
                    {"Fn::ImportValue": "minilm-embeddings-staging-stateful-bucket-name"},
                    "/data-capture",
                ],
            ]
        },
        "KmsKeyId": {"Fn::ImportValue": "minilm-embeddings-staging-stateful-key-arn"},
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }


def test_data_capture_is_off_unless_configured(dev: SynthesizedEnvironment) -> None:
    assert "DataCaptureConfig" not in _only(dev, "AWS::SageMaker::EndpointConfig")["Properties"]


# --- endpoint and guardrails ---------------------------------------------------------------------


def test_endpoint_keeps_autoscaled_counts_but_applies_weights_and_capture(
    dev: SynthesizedEnvironment,
) -> None:
    endpoint = _only(dev, "AWS::SageMaker::Endpoint")["Properties"]
    assert endpoint["EndpointName"] == ENDPOINT["dev"]
    assert endpoint["RetainAllVariantProperties"] is True
    assert endpoint["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredWeight"},
        {"VariantPropertyType": "DataCaptureConfig"},
    ]
    assert endpoint["EndpointConfigName"] == {
        "Fn::GetAtt": [
            _logical_id(dev, "AWS::SageMaker::EndpointConfig", "EndpointConfig"),
            "EndpointConfigName",
        ]
    }


def _deployment(env: SynthesizedEnvironment) -> dict[str, Any]:
    config: dict[str, Any] = _only(env, "AWS::SageMaker::Endpoint")["Properties"]["DeploymentConfig"]
    return config


def test_dev_deploys_blue_green_all_at_once(dev: SynthesizedEnvironment) -> None:
    assert _deployment(dev)["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 120},
        "TerminationWaitInSeconds": 0,
        "MaximumExecutionTimeoutInSeconds": 1800,
    }


def test_staging_deploys_a_canary(staging: SynthesizedEnvironment) -> None:
    assert _deployment(staging)["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            "WaitIntervalInSeconds": 300,
        },
        "TerminationWaitInSeconds": 300,
        "MaximumExecutionTimeoutInSeconds": 3600,
    }


def test_prod_deploys_linearly(prod: SynthesizedEnvironment) -> None:
    routing = _deployment(prod)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 600,
    }


def test_rollback_uses_the_stacks_own_alarms(prod: SynthesizedEnvironment) -> None:
    alarms = _deployment(prod)["AutoRollbackConfiguration"]["Alarms"]
    assert alarms == [
        {"AlarmName": {"Ref": _logical_id(prod, "AWS::CloudWatch::Alarm", "AlarmsErrors")}},
        {"AlarmName": {"Ref": _logical_id(prod, "AWS::CloudWatch::Alarm", "AlarmsLatency")}},
    ]


def _metric(metric_id: str, name: str, variant: str, stat: str) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {
                "Dimensions": [
                    {"Name": "EndpointName", "Value": ENDPOINT["prod"]},
                    {"Name": "VariantName", "Value": variant},
                ],
                "MetricName": name,
                "Namespace": "AWS/SageMaker",
            },
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def test_5xx_alarm_sums_errors_over_every_variant(prod: SynthesizedEnvironment) -> None:
    prod.template("realtime").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": [
                Match.object_like({"Expression": "FILL(e0, 0) + FILL(e1, 0)", "ReturnData": True}),
                _metric("e0", "Invocation5XXErrors", "cpu-c6i", "Sum"),
                _metric("e1", "Invocation5XXErrors", "gpu-g5", "Sum"),
            ],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 3,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Fn::ImportValue": "minilm-embeddings-prod-stateful-alarm-topic-arn"}],
        },
    )


def test_latency_alarm_watches_the_worst_variant_p90_in_microseconds(prod: SynthesizedEnvironment) -> None:
    prod.template("realtime").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": [
                Match.object_like({"Expression": "MAX([l0, l1])", "ReturnData": True}),
                _metric("l0", "ModelLatency", "cpu-c6i", "p90"),
                _metric("l1", "ModelLatency", "gpu-g5", "p90"),
            ],
            "Threshold": 300_000,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def test_prod_waste_alarm_wants_a_request_a_second_per_instance_over_six_hours(
    prod: SynthesizedEnvironment,
) -> None:
    properties = _alarm(prod, "AlarmsWaste")
    assert properties["Metrics"][0]["Expression"] == "MAX([FILL(w0, 0), FILL(w1, 0)])"
    assert (properties["Threshold"], properties["EvaluationPeriods"]) == (3600, 6)
    assert properties["ComparisonOperator"] == "LessThanThreshold"
    assert "make advise ENV=prod" in properties["AlarmDescription"]


# --- monitoring ----------------------------------------------------------------------------------


def _dashboard_text(env: SynthesizedEnvironment) -> str:
    body = _only(env, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in body["Fn::Join"][1])


def test_one_dashboard_named_after_the_stack_with_its_alarms_and_instances(
    prod: SynthesizedEnvironment,
) -> None:
    dashboard = _only(prod, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == "minilm-embeddings-prod-realtime"
    text = _dashboard_text(prod)
    for alarm in ("AlarmsErrors", "AlarmsLatency", "AlarmsWaste", "IdleGuardAlarm"):
        assert _logical_id(prod, "AWS::CloudWatch::Alarm", alarm) in text
    for metric in (
        "ModelLatency",
        "OverheadLatency",
        "Invocation4XXErrors",
        "CPUUtilization",
        "GPUUtilization",
    ):
        assert metric in text
    assert "ModelSetupTime" not in text


def test_dev_idle_guard_deletes_the_idle_endpoint_after_a_day_and_says_how_to_restore(
    dev: SynthesizedEnvironment,
) -> None:
    alarm = _all(dev, "AWS::CloudWatch::Alarm")[_logical_id(dev, "AWS::CloudWatch::Alarm", "IdleGuardAlarm")]
    assert alarm["Properties"]["EvaluationPeriods"] == 24
    assert alarm["Properties"]["TreatMissingData"] == "breaching"
    (function,) = [
        f
        for f in _all(dev, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "index.handler"
    ]
    assert function["Properties"]["Environment"]["Variables"] == {
        "ENDPOINT_NAME": ENDPOINT["dev"],
        "ALARM_NAME": f"{ENDPOINT['dev']}-idle-guard",
    }
    outputs = dev.template("realtime").find_outputs("RestoreEndpointCommand")
    (restore,) = outputs.values()
    assert "aws sagemaker create-endpoint --endpoint-name minilm-embeddings-dev-realtime" in json.dumps(
        restore["Value"]
    )
    assert dev.template("realtime").find_outputs("EndpointConfigName")


def test_prod_idle_guard_only_notifies(prod: SynthesizedEnvironment) -> None:
    alarm = _all(prod, "AWS::CloudWatch::Alarm")[
        _logical_id(prod, "AWS::CloudWatch::Alarm", "IdleGuardAlarm")
    ]
    assert alarm["Properties"]["EvaluationPeriods"] == 12
    assert alarm["Properties"]["AlarmActions"] == [
        {"Fn::ImportValue": "minilm-embeddings-prod-stateful-alarm-topic-arn"}
    ]
    assert not _all(prod, "AWS::Lambda::Function")
    assert not prod.template("realtime").find_outputs("RestoreEndpointCommand")


# --- autoscaling ---------------------------------------------------------------------------------


def test_each_scaled_variant_is_a_scalable_target_registered_after_the_endpoint(
    prod: SynthesizedEnvironment,
) -> None:
    endpoint_id = _logical_id(prod, "AWS::SageMaker::Endpoint", "Endpoint")
    targets = {
        t["Properties"]["ResourceId"]: t
        for t in _all(prod, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    }
    assert sorted(targets) == [
        f"endpoint/{ENDPOINT['prod']}/variant/cpu-c6i",
        f"endpoint/{ENDPOINT['prod']}/variant/gpu-g5",
    ]
    cpu = targets[f"endpoint/{ENDPOINT['prod']}/variant/cpu-c6i"]
    assert cpu["DependsOn"] == [endpoint_id]
    assert cpu["Properties"]["MinCapacity"] == 2
    assert cpu["Properties"]["MaxCapacity"] == 8
    assert cpu["Properties"]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert cpu["Properties"]["ServiceNamespace"] == "sagemaker"
    role_arn = cpu["Properties"]["RoleARN"]["Fn::Join"][1][-1]
    assert role_arn.endswith("AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")


def test_off_hours_schedules_carry_cron_time_zone_and_bounds(prod: SynthesizedEnvironment) -> None:
    prod.template("realtime").has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ResourceId": f"endpoint/{ENDPOINT['prod']}/variant/cpu-c6i",
            "ScheduledActions": [
                {
                    "ScheduledActionName": "weeknights-min",
                    "Schedule": "cron(0 21 ? * MON-FRI *)",
                    "Timezone": "America/New_York",
                    "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 4},
                },
                {
                    "ScheduledActionName": "workday-restore",
                    "Schedule": "cron(0 6 ? * MON-FRI *)",
                    "Timezone": "America/New_York",
                    "ScalableTargetAction": {"MinCapacity": 2, "MaxCapacity": 8},
                },
            ],
        },
    )


@pytest.mark.parametrize(
    ("variant", "target", "scale_in", "scale_out"),
    [
        ("cpu-c6i", 80 * 60 * 0.6, 600, 60),  # measured 80 req/s, safety factor 0.6
        ("gpu-g5", 400 * 60 * 0.7, 300, 60),  # measured 400 req/s, default factor 0.7
    ],
)
def test_target_tracking_holds_invocations_per_instance_at_the_derived_target(
    prod: SynthesizedEnvironment, variant: str, target: float, scale_in: int, scale_out: int
) -> None:
    target_id = _logical_id(
        prod, "AWS::ApplicationAutoScaling::ScalableTarget", f"Scaling{variant.replace('-', '')}"
    )
    prod.template("realtime").has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target_id},
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "TargetValue": target,
                "ScaleInCooldown": scale_in,
                "ScaleOutCooldown": scale_out,
            },
        },
    )


# --- execution role ------------------------------------------------------------------------------


def test_role_is_assumed_only_by_sagemaker_and_has_no_aws_managed_policy(
    prod: SynthesizedEnvironment,
) -> None:
    role = _only(prod, "AWS::IAM::Role")["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role


def test_deployed_archive_is_the_reproducible_build_of_the_example(dev: SynthesizedEnvironment) -> None:
    assets = json.loads((dev.outdir / "minilm-embeddings-dev-realtime.assets.json").read_text())
    (staged,) = [
        dev.outdir / a["source"]["path"]
        for a in assets["files"].values()
        if a["source"]["path"].endswith(".gz")
    ]
    built = sorted((REPO / "build" / "artifacts").glob("model-*.tar.gz"))
    digest = hashlib.sha256(staged.read_bytes()).hexdigest()
    assert f"model-{digest[:16]}.tar.gz" in [b.name for b in built]
    with tarfile.open(staged) as tar:
        names = set(tar.getnames())
    # dev serves the int8 ONNX model, not the safetensors weights, with its wheels beside the code
    assert {"model.onnx", "onnx_model.json", "code/inference.py", "code/requirements.txt"} <= names
    assert "model.safetensors" not in names
    assert any(name.startswith("code/wheels/onnxruntime-") for name in names)


def test_role_reads_only_the_artifact_object(dev: SynthesizedEnvironment) -> None:
    reads = [s for s in _statements(dev) if "s3:GetObject" in str(s["Action"])]
    object_key = _asset_url(dev).rsplit("/", 1)[1]
    assert reads == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:aws:s3:::",
                        {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-us-east-1"},
                        f"/{object_key}",
                    ],
                ]
            },
        }
    ]


def test_role_pulls_only_from_the_model_image_repository(dev: SynthesizedEnvironment) -> None:
    pulls = next(s for s in _statements(dev) if "ecr:BatchGetImage" in s["Action"])
    assert pulls["Resource"] == "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-inference"


def test_role_writes_logs_only_to_its_endpoint_log_group(dev: SynthesizedEnvironment) -> None:
    logs = next(s for s in _statements(dev) if "logs:PutLogEvents" in s["Action"])
    rendered = [part["Fn::Join"][1][-1] for part in logs["Resource"]]
    assert rendered == [
        f":log-group:/aws/sagemaker/Endpoints/{ENDPOINT['dev']}",
        f":log-group:/aws/sagemaker/Endpoints/{ENDPOINT['dev']}:log-stream:*",
    ]


def test_only_unscopable_actions_use_a_wildcard_resource(prod: SynthesizedEnvironment) -> None:
    wildcard = sorted(str(s["Action"]) for s in _statements(prod) if s["Resource"] == "*")
    assert wildcard == ["cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"]
    metrics = next(s for s in _statements(prod) if s["Action"] == "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {
        "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}
    }


def test_role_may_describe_only_its_rollback_alarms(prod: SynthesizedEnvironment) -> None:
    describe = next(s for s in _statements(prod) if s["Action"] == "cloudwatch:DescribeAlarms")
    assert describe["Resource"] == [
        {"Fn::GetAtt": [_logical_id(prod, "AWS::CloudWatch::Alarm", "AlarmsErrors"), "Arn"]},
        {"Fn::GetAtt": [_logical_id(prod, "AWS::CloudWatch::Alarm", "AlarmsLatency"), "Arn"]},
    ]


def test_data_capture_grant_is_limited_to_the_capture_prefix(
    staging: SynthesizedEnvironment, dev: SynthesizedEnvironment
) -> None:
    put = next(s for s in _statements(staging) if s["Action"] == "s3:PutObject")
    assert put["Resource"] == {
        "Fn::Join": [
            "",
            [{"Fn::ImportValue": "minilm-embeddings-staging-stateful-bucket-arn"}, "/data-capture/*"],
        ]
    }
    assert not [s for s in _statements(dev) if s["Action"] == "s3:PutObject"]


def test_endpoint_resources_carry_the_config_tags(prod: SynthesizedEnvironment) -> None:
    for type_name in ("AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig", "AWS::IAM::Role"):
        tags = {t["Key"]: t["Value"] for t in _only(prod, type_name)["Properties"]["Tags"]}
        assert tags["cost-center"] == "ml-platform-prod", type_name
        assert tags["environment"] == "prod", type_name


def test_endpoint_waits_for_the_data_capture_grant(staging: SynthesizedEnvironment) -> None:
    endpoint = _only(staging, "AWS::SageMaker::Endpoint")
    capture_policy = _logical_id(staging, "AWS::IAM::ManagedPolicy", "ServedExecutionRoleDataCapturePolicy")
    assert capture_policy in endpoint["DependsOn"]

"""InferenceEndpoint and EndpointAlarms: endpoint config and endpoint, data capture, the endpoint's
alarms (errors, latency, waste) and guarded updates that roll back on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from sagemaker_constructs.endpoint import DataCapture, InferenceEndpoint, ProductionVariant
from sagemaker_constructs.endpoint_alarms import (
    AlarmThresholds,
    EndpointAlarms,
    LatencyThreshold,
    WasteThreshold,
)
from sagemaker_constructs.guardrails import (
    BlueGreenDeployment,
    GuardedDeployment,
    RollingDeployment,
    TrafficShift,
)
from tests.sagemaker_constructs.support import acknowledged, bare_stack, logical_id, nag_findings

KMS_RULE = "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured"
NVME_REASON = "ml.g5 instances have NVMe instance storage, where SageMaker rejects a KMS key."
ASYNC = sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
    output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
        s3_output_path="s3://models-b/async-results"
    ),
    client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
        max_concurrent_invocations_per_instance=4
    ),
)


def _variant(name: str, instance_type: str = "ml.m5.large") -> ProductionVariant:
    return ProductionVariant(
        variant_name=name,
        model_name=f"model-{name}",
        initial_instance_count=1,
        instance_type=instance_type,
        initial_variant_weight=1,
    )


@dataclass(frozen=True)
class Endpoints:
    stack: cdk.Stack
    template: Template
    resources: dict[str, Any]
    key: kms.Key
    bucket: s3.Bucket
    topic: sns.Topic
    guarded_alarms: EndpointAlarms
    rolling_alarms: EndpointAlarms
    async_alarms: EndpointAlarms
    guarded: InferenceEndpoint
    rejected_key: InferenceEndpoint
    rolling: InferenceEndpoint
    plain: InferenceEndpoint

    def properties(self, construct: Any) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id(construct)]["Properties"]
        return properties


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    stack = bare_stack("EndpointCheck")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    bucket = s3.Bucket(stack, "Bucket", encryption=s3.BucketEncryption.KMS, encryption_key=key)
    topic = sns.Topic(stack, "Alarms", master_key=key)
    guarded_alarms = EndpointAlarms(
        stack,
        "GuardedAlarms",
        endpoint_name="minilm-prod",
        variant_names=["Cpu", "Large"],
        thresholds=AlarmThresholds(
            latency=LatencyThreshold(max_ms=250, statistic="p90"),
            waste=WasteThreshold(min_invocations_per_instance_per_hour=600, hours=6),
        ),
        alarm_topic=topic,
        advice_command="make advise ENV=prod",
    )
    rolling_alarms = EndpointAlarms(
        stack,
        "RollingAlarms",
        endpoint_name="minilm-staging",
        variant_names=["Cpu"],
        thresholds=AlarmThresholds(max_5xx_errors_per_minute=3, latency=None, evaluation_minutes=5),
        alarm_topic=topic,
    )
    async_alarms = EndpointAlarms(
        stack,
        "AsyncAlarms",
        endpoint_name="llm-async",
        variant_names=["Gpu"],
        thresholds=AlarmThresholds(waste=WasteThreshold(min_invocations_per_instance_per_hour=10, hours=2)),
        alarm_topic=topic,
        idle_instances_bill=False,
    )
    guarded = InferenceEndpoint(
        stack,
        "Guarded",
        endpoint_name="minilm-prod",
        production_variants=[_variant("Cpu"), _variant("Large", "ml.c5.2xlarge")],
        key=key,
        capture_bucket=bucket,
        data_capture=DataCapture(),
        deployment=GuardedDeployment(
            BlueGreenDeployment(TrafficShift("CANARY", size_percent=10)),
            additional_alarm_names=("minilm-prod-errors",),
        ),
        rollback_alarms=[a for a in (guarded_alarms.errors, guarded_alarms.latency) if a is not None],
    )
    rejected_key = InferenceEndpoint(
        stack,
        "RejectedKey",
        endpoint_name="llm-async",
        production_variants=[_variant("Gpu", "ml.g5.xlarge")],
        key=key,
        key_rejected_because=NVME_REASON,
        capture_bucket=bucket,
        data_capture=DataCapture(
            sampling_percentage=5,
            capture_output=False,
            s3_prefix="captured",
            json_content_types=("application/json", "application/jsonlines"),
        ),
        async_inference=ASYNC,
    )
    rolling = InferenceEndpoint(
        stack,
        "Rolling",
        endpoint_name="minilm-staging",
        production_variants=[_variant("Cpu")],
        key=key,
        deployment=GuardedDeployment(RollingDeployment()),
        rollback_alarms=rolling_alarms.alarms,
    )
    plain = InferenceEndpoint(
        stack, "Plain", endpoint_name="minilm-dev", production_variants=[_variant("Cpu")], key=key
    )
    template = Template.from_stack(stack)
    return Endpoints(
        stack=stack,
        template=template,
        resources=dict(template.to_json()["Resources"]),
        key=key,
        bucket=bucket,
        topic=topic,
        guarded_alarms=guarded_alarms,
        rolling_alarms=rolling_alarms,
        async_alarms=async_alarms,
        guarded=guarded,
        rejected_key=rejected_key,
        rolling=rolling,
        plain=plain,
    )


def test_endpoint_uses_its_config_and_given_name(endpoints: Endpoints) -> None:
    properties = endpoints.properties(endpoints.plain.endpoint)
    assert properties["EndpointName"] == "minilm-dev"
    assert properties["EndpointConfigName"] == {
        "Fn::GetAtt": [logical_id(endpoints.plain.endpoint_config), "EndpointConfigName"]
    }
    endpoints.template.all_resources_properties(
        "AWS::SageMaker::EndpointConfig", {"EndpointConfigName": Match.absent()}
    )


def test_variants_are_passed_through_in_order(endpoints: Endpoints) -> None:
    variants = endpoints.properties(endpoints.guarded.endpoint_config)["ProductionVariants"]
    assert [(v["VariantName"], v["InstanceType"]) for v in variants] == [
        ("Cpu", "ml.m5.large"),
        ("Large", "ml.c5.2xlarge"),
    ]
    assert endpoints.guarded.variant_names == ["Cpu", "Large"]


def test_storage_is_encrypted_with_the_key(endpoints: Endpoints) -> None:
    key = {"Fn::GetAtt": [logical_id(endpoints.key), "Arn"]}
    for endpoint in (endpoints.guarded, endpoints.rolling, endpoints.plain):
        assert endpoints.properties(endpoint.endpoint_config)["KmsKeyId"] == key


def test_rejected_key_is_left_out_and_acknowledged_with_the_reason(endpoints: Endpoints) -> None:
    assert "KmsKeyId" not in endpoints.properties(endpoints.rejected_key.endpoint_config)
    assert acknowledged(endpoints.rejected_key.endpoint_config) == {KMS_RULE: NVME_REASON}
    assert acknowledged(endpoints.plain.endpoint_config) == {}


def test_cdk_nag_accepts_the_acknowledged_config_and_flags_an_unacknowledged_one(
    endpoints: Endpoints,
) -> None:
    # GIVEN the endpoints, and a bare config without a key in another app
    assert [
        rule for rule, _ in nag_findings(endpoints.stack, cdk_nag.HIPAASecurityChecks) if KMS_RULE in rule
    ] == []
    unacknowledged = bare_stack("UnacknowledgedCheck")
    sagemaker.CfnEndpointConfig(unacknowledged, "Config", production_variants=[_variant("Cpu")])
    # WHEN HIPAA checks run THEN only the unacknowledged one is reported, under the acknowledged ID
    assert nag_findings(unacknowledged, cdk_nag.HIPAASecurityChecks) == [
        (KMS_RULE, ["UnacknowledgedCheck/Config"])
    ]


def test_data_capture_samples_requests_and_responses_with_the_key(endpoints: Endpoints) -> None:
    assert endpoints.properties(endpoints.guarded.endpoint_config)["DataCaptureConfig"] == {
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "DestinationS3Uri": {
            "Fn::Join": ["", ["s3://", {"Ref": logical_id(endpoints.bucket)}, "/data-capture"]]
        },
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "KmsKeyId": {"Fn::GetAtt": [logical_id(endpoints.key), "Arn"]},
    }


def test_data_capture_follows_its_props_and_keeps_the_key_when_storage_rejects_it(
    endpoints: Endpoints,
) -> None:
    capture = endpoints.properties(endpoints.rejected_key.endpoint_config)["DataCaptureConfig"]
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}]
    assert capture["InitialSamplingPercentage"] == 5
    assert capture["DestinationS3Uri"]["Fn::Join"][1][-1] == "/captured"
    assert capture["CaptureContentTypeHeader"] == {
        "JsonContentTypes": ["application/json", "application/jsonlines"]
    }
    assert capture["KmsKeyId"] == {"Fn::GetAtt": [logical_id(endpoints.key), "Arn"]}


def test_no_data_capture_without_its_props(endpoints: Endpoints) -> None:
    assert "DataCaptureConfig" not in endpoints.properties(endpoints.plain.endpoint_config)


def test_async_inference_config_is_passed_through(endpoints: Endpoints) -> None:
    assert endpoints.properties(endpoints.rejected_key.endpoint_config)["AsyncInferenceConfig"] == {
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
        "OutputConfig": {"S3OutputPath": "s3://models-b/async-results"},
    }
    assert "AsyncInferenceConfig" not in endpoints.properties(endpoints.plain.endpoint_config)


def _variant_metric(metric_id: str, name: str, variant: str, stat: str) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "minilm-prod"},
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


def test_5xx_alarm_sums_errors_over_all_variants(endpoints: Endpoints) -> None:
    alarm = endpoints.properties(endpoints.guarded_alarms.errors)
    assert alarm["Metrics"] == [
        {
            "Expression": "FILL(e0, 0) + FILL(e1, 0)",
            "Id": "expr_1",
            "Label": "5xx errors, all variants",
            "ReturnData": True,
        },
        _variant_metric("e0", "Invocation5XXErrors", "Cpu", "Sum"),
        _variant_metric("e1", "Invocation5XXErrors", "Large", "Sum"),
    ]
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 2
    assert alarm["TreatMissingData"] == "notBreaching"


def test_latency_alarm_takes_the_worst_variant_in_microseconds(endpoints: Endpoints) -> None:
    alarm = endpoints.properties(endpoints.guarded_alarms.latency)
    assert alarm["Metrics"] == [
        {
            "Expression": "MAX([l0, l1])",
            "Id": "expr_1",
            "Label": "p90 model latency (us), worst variant",
            "ReturnData": True,
        },
        _variant_metric("l0", "ModelLatency", "Cpu", "p90"),
        _variant_metric("l1", "ModelLatency", "Large", "p90"),
    ]
    assert alarm["Threshold"] == 250 * 1000
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_alarm_notifies_the_topic(endpoints: Endpoints) -> None:
    topic = {"Ref": logical_id(endpoints.topic)}
    for alarms in (endpoints.guarded_alarms, endpoints.rolling_alarms, endpoints.async_alarms):
        for alarm in alarms.alarms:
            assert endpoints.properties(alarm)["AlarmActions"] == [topic]


def test_a_threshold_set_to_none_creates_no_alarm(endpoints: Endpoints) -> None:
    alarms = endpoints.rolling_alarms
    assert alarms.latency is None
    assert alarms.waste is None
    properties = endpoints.properties(alarms.errors)
    assert properties["Metrics"][0]["Expression"] == "FILL(e0, 0)"
    assert properties["Threshold"] == 3
    assert properties["EvaluationPeriods"] == 5
    # guarded: errors, latency, waste; rolling: errors; async: errors, latency, waste
    endpoints.template.resource_count_is("AWS::CloudWatch::Alarm", 7)


def test_waste_alarm_counts_an_hour_without_requests_as_idle_where_instances_bill(
    endpoints: Endpoints,
) -> None:
    alarm = endpoints.properties(endpoints.guarded_alarms.waste)
    assert alarm["Metrics"] == [
        {
            "Expression": "MAX([FILL(w0, 0), FILL(w1, 0)])",
            "Id": "expr_1",
            "Label": "invocations per instance an hour, busiest variant",
            "ReturnData": True,
        },
        {**_variant_metric("w0", "InvocationsPerInstance", "Cpu", "Sum"), "MetricStat": {
            **_variant_metric("w0", "InvocationsPerInstance", "Cpu", "Sum")["MetricStat"], "Period": 3600}},
        {**_variant_metric("w1", "InvocationsPerInstance", "Large", "Sum"), "MetricStat": {
            **_variant_metric("w1", "InvocationsPerInstance", "Large", "Sum")["MetricStat"], "Period": 3600}},
    ]  # fmt: skip
    assert alarm["Threshold"] == 600
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["EvaluationPeriods"] == 6
    assert alarm["TreatMissingData"] == "breaching"
    assert "make advise ENV=prod" in alarm["AlarmDescription"]
    assert "smaller instance type" in alarm["AlarmDescription"]


def test_waste_alarm_of_a_kind_that_scales_to_zero_ignores_hours_without_data(endpoints: Endpoints) -> None:
    alarm = endpoints.properties(endpoints.async_alarms.waste)
    assert alarm["Metrics"][0]["Expression"] == "MAX([w0])"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["EvaluationPeriods"] == 2


def test_deployment_rolls_back_on_its_alarms_then_the_additional_ones(endpoints: Endpoints) -> None:
    config = endpoints.properties(endpoints.guarded.endpoint)["DeploymentConfig"]
    # the endpoint's own error and latency alarms, not copies
    assert endpoints.guarded.rollback_alarms == [
        endpoints.guarded_alarms.errors,
        endpoints.guarded_alarms.latency,
    ]
    assert config["AutoRollbackConfiguration"] == {
        "Alarms": [
            {"AlarmName": {"Ref": logical_id(endpoints.guarded.rollback_alarms[0])}},
            {"AlarmName": {"Ref": logical_id(endpoints.guarded.rollback_alarms[1])}},
            {"AlarmName": "minilm-prod-errors"},
        ]
    }
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    rolling = endpoints.properties(endpoints.rolling.endpoint)["DeploymentConfig"]
    assert "RollingUpdatePolicy" in rolling


def test_no_deployment_means_no_rollback_alarms_and_no_deployment_config(endpoints: Endpoints) -> None:
    assert endpoints.plain.rollback_alarms == []
    assert endpoints.rejected_key.rollback_alarms == []
    assert "DeploymentConfig" not in endpoints.properties(endpoints.plain.endpoint)


def test_updates_keep_scaled_capacity_but_apply_weights_and_data_capture(endpoints: Endpoints) -> None:
    endpoints.template.resource_count_is("AWS::SageMaker::Endpoint", 4)
    endpoints.template.all_resources_properties(
        "AWS::SageMaker::Endpoint",
        {
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [
                {"VariantPropertyType": "DesiredWeight"},
                {"VariantPropertyType": "DataCaptureConfig"},
            ],
        },
    )


def test_variant_metrics_are_one_minute_sagemaker_metrics(endpoints: Endpoints) -> None:
    endpoint = endpoints.guarded
    for metric, name, statistic in (
        (endpoint.metric_invocations("Large"), "Invocations", "Sum"),
        (endpoint.metric_5xx_errors("Large"), "Invocation5XXErrors", "Sum"),
        (endpoint.metric_model_latency("Large"), "ModelLatency", "p90"),
        (endpoint.metric_model_latency("Large", "p99"), "ModelLatency", "p99"),
    ):
        assert (metric.namespace, metric.metric_name, metric.statistic) == ("AWS/SageMaker", name, statistic)
        assert metric.dimensions == {"EndpointName": "minilm-prod", "VariantName": "Large"}
        assert metric.period.to_seconds() == 60


def test_data_capture_without_a_bucket_is_a_programming_error() -> None:
    # GIVEN data capture settings but no capture bucket
    stack = bare_stack("NoCaptureBucketCheck")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    # WHEN the endpoint is built THEN it is refused
    with pytest.raises(ValueError, match="data_capture needs capture_bucket"):
        InferenceEndpoint(
            stack,
            "Endpoint",
            endpoint_name="minilm-dev",
            production_variants=[_variant("Cpu")],
            key=key,
            data_capture=DataCapture(),
        )


def test_data_capture_must_capture_something() -> None:
    # GIVEN neither requests nor responses captured, WHEN built, THEN refused (SageMaker would be)
    with pytest.raises(ValueError, match="needs capture_input or capture_output"):
        DataCapture(capture_input=False, capture_output=False)


def test_rolling_deployment_of_several_variants_is_refused() -> None:
    # GIVEN two variants and a rolling update policy
    stack = bare_stack("RollingTwoVariants")
    key = kms.Key(stack, "Key")
    variants = [
        ProductionVariant(
            variant_name=name, model_name="m", instance_type="ml.m5.large", initial_instance_count=1
        )
        for name in ("a", "b")
    ]
    # WHEN the endpoint is built, THEN it is refused, as SageMaker's guardrails refuse it
    with pytest.raises(ValueError, match="single-variant endpoints only"):
        InferenceEndpoint(
            stack,
            "Endpoint",
            endpoint_name="two-variants",
            production_variants=variants,
            key=key,
            deployment=GuardedDeployment(RollingDeployment()),
        )


@pytest.mark.parametrize("additional", [0, 11], ids=["no-alarm", "eleven-alarms"])
def test_guarded_deployment_needs_one_to_ten_rollback_alarms(additional: int) -> None:
    # GIVEN a guarded deployment with no alarm, or with eleven
    stack = bare_stack(f"Rollback{additional}")
    names = tuple(f"alarm-{i}" for i in range(additional))
    # WHEN the endpoint is built, THEN it is refused as AutoRollbackConfig refuses it
    with pytest.raises(ValueError, match=f"{additional} rollback alarms; a guarded deployment needs 1-10"):
        InferenceEndpoint(
            stack,
            "Endpoint",
            endpoint_name="guarded",
            production_variants=[_variant("Cpu")],
            key=kms.Key(stack, "Key"),
            deployment=GuardedDeployment(RollingDeployment(), additional_alarm_names=names),
        )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LatencyThreshold(max_ms=100, statistic="p101"), "latency statistic 'p101'"),
        (lambda: LatencyThreshold(max_ms=100, statistic="avg"), "latency statistic 'avg'"),
        (lambda: WasteThreshold(min_invocations_per_instance_per_hour=1, hours=169), "allowed 1-168"),
        (lambda: AlarmThresholds(evaluation_minutes=0), "evaluation_minutes 0: allowed 1-60"),
    ],
    ids=["percentile-over-100", "not-a-percentile", "waste-over-7-days", "no-minutes"],
)
def test_thresholds_cloudwatch_would_refuse_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()

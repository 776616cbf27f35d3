"""The summary ``make deploy-local`` prints: every resource with its whole name, however narrow the
terminal (names are what users copy into the next command)."""

from __future__ import annotations

import io
from typing import Any

import boto3
from rich.console import Console

from local_aws.deploy import print_summary, summary_rows
from tests.local_aws.conftest import IMAGE, REGION, ROLE_ARN

ENDPOINT = "minilm-embeddings-staging-eu-west-realtime-with-a-long-name"
POLICY = f"{ENDPOINT}-AllTraffic-InvocationsPerInstance-TargetTracking-0123456789AB"
ALARM = f"{ENDPOINT}-AllTraffic-ModelLatency-p99-above-the-target-for-15-minutes"


def _deployed() -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c")
    autoscaling = boto3.client("application-autoscaling", region_name=REGION)
    target: dict[str, Any] = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{ENDPOINT}/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)
    autoscaling.put_scaling_policy(
        **target,
        PolicyName=POLICY,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName=ALARM,
        AlarmDescription="p99 model latency above target",
        MetricName="ModelLatency",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=15,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_the_summary_shows_whole_names_on_an_80_column_terminal(aws: None) -> None:
    # GIVEN an endpoint whose resources have names longer than a column of an 80-column table
    _deployed()
    rows = summary_rows(lambda service: boto3.client(service, region_name=REGION), ENDPOINT)
    # WHEN the summary is printed 80 columns wide
    out = io.StringIO()
    print_summary(rows, Console(file=out, width=80, force_terminal=False))
    # THEN every name appears whole, on a line of its own
    lines = out.getvalue().splitlines()
    for name in (f"{ENDPOINT} / AllTraffic", f"endpoint/{ENDPOINT}/variant/AllTraffic", POLICY, ALARM):
        assert f"  {name}" in lines, name
    assert "DesiredInstanceCount 1-4" in out.getvalue()

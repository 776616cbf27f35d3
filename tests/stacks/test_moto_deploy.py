"""Deploy every environment's synthesized templates, for every endpoint type it offers, into moto's
CloudFormation and read back with boto3 what exists: endpoint config, endpoint, scalable targets,
policies, schedules, alarms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from endpoint_configs import (
    AsyncEndpoint,
    RealtimeEndpoint,
    ServerlessEndpoint,
    limits,
    load_environment_config,
)
from tests.conftest import ENDPOINT_TARGETS, block_of, endpoint_block, synthesize
from tests.stacks.moto_deploy import Deployed, deploy_to_moto

SKIPPED_TARGETS = {("neo", "realtime"), ("neo", "async"), ("llm", "realtime"), ("llm-large", "async")}
MOTO_TARGETS = tuple(t for t in ENDPOINT_TARGETS if t not in SKIPPED_TARGETS)
"""Every endpoint target but four whose deploy would show nothing new here, and whose templates go
through the policy checks (test_policy.py): neo's real-time one and llm's real-time one are
deployed by the real cdk CLI in tests/local_aws/test_deploy_local.py (the compiled archive served,
the weights' prefix read); neo's async one compiles and serves as the real-time one does, under its
own prefix; llm-large's async one is an async endpoint like dev's and prod's with the LMI
container's image and settings (tests/stacks/test_llm_stacks.py)."""


@pytest.fixture(scope="module", params=MOTO_TARGETS, ids="-".join)
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    env, kind = request.param
    yield from deploy_to_moto(synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}-{kind}"), kind))


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o.get("ExportName", o["OutputKey"]): o["OutputValue"] for o in stack.get("Outputs", [])}


def test_both_stacks_are_created(deployed: Deployed) -> None:
    assert [s["StackStatus"] for s in deployed.stacks.values()] == ["CREATE_COMPLETE", "CREATE_COMPLETE"]


def test_endpoint_is_in_service_under_its_configured_name(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    name = config.endpoint_name(deployed.endpoint_type)
    assert _outputs(deployed.stacks[deployed.endpoint_type])["EndpointName"] == name
    endpoint = deployed.client("sagemaker").describe_endpoint(EndpointName=name)
    assert endpoint["EndpointStatus"] == "InService"


def _check_instance_variant_counts(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    endpoint = deployed.client("sagemaker").describe_endpoint(EndpointName=config.endpoint_name("realtime"))
    expected = [
        (v.name, v.initial_instance_count, v.initial_weight)
        for v in block_of(config, RealtimeEndpoint).variants
    ]
    actual = [
        (v["VariantName"], v["CurrentInstanceCount"], v["CurrentWeight"])
        for v in endpoint["ProductionVariants"]
    ]
    assert actual == expected


def test_endpoint_config_matches_the_config_file(deployed: Deployed) -> None:
    if deployed.endpoint_type == "serverless":
        _check_serverless_config(deployed)
    elif deployed.endpoint_type == "async":
        _check_async_config(deployed)
    else:
        _check_instance_variant_counts(deployed)
        _check_realtime_config(deployed)


def _check_realtime_config(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    block = block_of(config, RealtimeEndpoint)
    sagemaker = deployed.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=config.endpoint_name("realtime"))
    endpoint_config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert [(v["VariantName"], v["InstanceType"]) for v in endpoint_config["ProductionVariants"]] == [
        (v.name, v.instance_type) for v in block.variants
    ]
    exports = _outputs(deployed.stacks["stateful"])
    key_arn = exports[f"{config.stack_name('stateful')}-key-arn"]
    nvme = any(limits.has_instance_storage(v.instance_type) for v in block.variants)
    assert endpoint_config.get("KmsKeyId") == (None if nvme else key_arn)
    if block.data_capture is None:
        assert not endpoint_config.get("DataCaptureConfig")
    else:
        capture = endpoint_config["DataCaptureConfig"]
        bucket = exports[config.stateful_exports.bucket_name]
        assert capture["DestinationS3Uri"] == f"s3://{bucket}/{block.data_capture.s3_prefix}"
        assert capture["InitialSamplingPercentage"] == block.data_capture.sampling_percentage
        assert capture["KmsKeyId"] == key_arn


def test_models_use_the_execution_role_and_artifact(deployed: Deployed) -> None:
    sagemaker = deployed.client("sagemaker")
    models = [sagemaker.describe_model(ModelName=m["ModelName"]) for m in sagemaker.list_models()["Models"]]
    assert models
    for model in models:
        # the CDK asset of the built archive, in the bootstrap bucket (compiled and LLM models:
        # tests/local_aws/test_deploy_local.py)
        assert model["PrimaryContainer"]["ModelDataUrl"].startswith(
            "s3://cdk-hnb659fds-assets-123456789012-us-east-1/"
        )
        role_name = model["ExecutionRoleArn"].rsplit("/", 1)[1]
        trust = deployed.client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_scalable_targets_policies_and_schedules_exist(deployed: Deployed) -> None:
    if deployed.endpoint_type == "serverless":
        _check_provisioned_concurrency_scaling(deployed)
    elif deployed.endpoint_type == "async":
        _check_scale_to_zero(deployed)
    else:
        _check_instance_scaling(deployed)


def _check_instance_scaling(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    name = config.endpoint_name("realtime")
    autoscaling = deployed.client("application-autoscaling")
    targets = {
        t["ResourceId"]: t
        for t in autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    }
    policies = {
        p["ResourceId"]: p
        for p in autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    }
    schedules = autoscaling.describe_scheduled_actions(ServiceNamespace="sagemaker")["ScheduledActions"]
    scaled = [v for v in block_of(config, RealtimeEndpoint).variants if v.autoscaling is not None]
    assert len(targets) == len(scaled) > 0
    for variant in scaled:
        scaling = variant.autoscaling
        assert scaling is not None
        resource_id = f"endpoint/{name}/variant/{variant.name}"
        assert (targets[resource_id]["MinCapacity"], targets[resource_id]["MaxCapacity"]) == (
            scaling.min_capacity,
            scaling.max_capacity,
        )
        tracking = policies[resource_id]["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["TargetValue"] == scaling.target_invocations_per_instance
        assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
            "SageMakerVariantInvocationsPerInstance"
        )
        mine = {s["ScheduledActionName"]: s for s in schedules if s["ResourceId"] == resource_id}
        assert sorted(mine) == sorted(s.name for s in scaling.schedules)
        for schedule in scaling.schedules:
            action = mine[schedule.name]
            assert action["Schedule"] == f"cron({schedule.cron})"
            assert action["Timezone"] == schedule.timezone
            assert action["ScalableTargetAction"] == {
                "MinCapacity": schedule.min_capacity,
                "MaxCapacity": schedule.max_capacity,
            }


def test_endpoint_alarms_exist_and_notify_the_alarm_topic(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    every_alarm = deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]
    alarms = [a for a in every_alarm if re.search(r"-Alarms(Errors|Latency|Waste)", a["AlarmName"])]
    topic = _outputs(deployed.stacks["stateful"])[f"{config.stack_name('stateful')}-alarm-topic-arn"]
    thresholds = endpoint_block(config, deployed.endpoint_type).alarms
    expected = [thresholds.max_5xx_errors_per_minute, thresholds.latency, thresholds.waste]
    assert len(alarms) == sum(t is not None for t in expected)
    for alarm in alarms:
        assert alarm["AlarmActions"] == [topic]
        metric_names = {
            m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m
        }
        assert metric_names in ({"Invocation5XXErrors"}, {"ModelLatency"}, {"InvocationsPerInstance"})
        dimensions = [m["MetricStat"]["Metric"]["Dimensions"] for m in alarm["Metrics"] if "MetricStat" in m]
        endpoint_name = config.endpoint_name(deployed.endpoint_type)
        assert all({"Name": "EndpointName", "Value": endpoint_name} in d for d in dimensions)


def _check_serverless_config(serverless: Deployed) -> None:
    """Memory, concurrency and the environment key; no instances."""
    config = load_environment_config(serverless.env)
    block = block_of(config, ServerlessEndpoint)
    sagemaker = serverless.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=config.endpoint_name("serverless"))
    endpoint_config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = endpoint_config["ProductionVariants"]
    assert variant["VariantName"] == block.variant_name
    assert "InstanceType" not in variant
    expected = {"MemorySizeInMB": block.memory_size_mb, "MaxConcurrency": block.max_concurrency}
    if block.provisioned_concurrency is not None:
        expected["ProvisionedConcurrency"] = block.provisioned_concurrency
    assert variant["ServerlessConfig"] == expected
    exports = _outputs(serverless.stacks["stateful"])
    assert endpoint_config["KmsKeyId"] == exports[f"{config.stack_name('stateful')}-key-arn"]


def _check_provisioned_concurrency_scaling(serverless: Deployed) -> None:
    """Provisioned concurrency scales on its utilization, with schedules (when configured)."""
    config = load_environment_config(serverless.env)
    block = block_of(config, ServerlessEndpoint)
    autoscaling = serverless.client("application-autoscaling")
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    scaling = block.provisioned_concurrency_scaling
    if scaling is None:
        assert targets == []
        return
    (target,) = targets
    assert (
        target["ResourceId"] == f"endpoint/{config.endpoint_name('serverless')}/variant/{block.variant_name}"
    )
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (scaling.min_capacity, scaling.max_capacity)
    (policy,) = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == scaling.target_utilization
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantProvisionedConcurrencyUtilization"
    )
    schedules = autoscaling.describe_scheduled_actions(ServiceNamespace="sagemaker")["ScheduledActions"]
    assert sorted((s["ScheduledActionName"], s["Schedule"], s["Timezone"]) for s in schedules) == sorted(
        (s.name, f"cron({s.cron})", s.timezone) for s in scaling.schedules
    )


def _check_async_config(deployed: Deployed) -> None:
    """Output and failure paths in the environment bucket, with its key, and the two topics."""
    config = load_environment_config(deployed.env)
    block = block_of(config, AsyncEndpoint)
    sagemaker = deployed.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=config.endpoint_name("async"))
    async_config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])[
        "AsyncInferenceConfig"
    ]
    exports = _outputs(deployed.stacks["stateful"])
    bucket = exports[config.stateful_exports.bucket_name]
    output = async_config["OutputConfig"]
    assert output["S3OutputPath"] == f"s3://{bucket}/async/output/"
    assert output["S3FailurePath"] == f"s3://{bucket}/async/failure/"
    assert output["KmsKeyId"] == exports[f"{config.stack_name('stateful')}-key-arn"]
    assert async_config["ClientConfig"] == {
        "MaxConcurrentInvocationsPerInstance": block.max_concurrent_invocations_per_instance
    }
    topics = {t["TopicArn"] for t in deployed.client("sns").list_topics()["Topics"]}
    notification = output["NotificationConfig"]
    assert {notification["SuccessTopic"], notification["ErrorTopic"]} <= topics


def _check_scale_to_zero(deployed: Deployed) -> None:
    """Min 0, target tracking on the backlog per instance, and the alarm that drives the step policy."""
    config = load_environment_config(deployed.env)
    scaling = block_of(config, AsyncEndpoint).autoscaling
    assert scaling is not None
    autoscaling = deployed.client("application-autoscaling")
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, scaling.max_capacity)
    policies = {
        p["PolicyType"]: p
        for p in autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    }
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"]["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert tracking["TargetValue"] == scaling.target_backlog_per_instance
    step = policies["StepScaling"]
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}
    ]
    alarms = deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]
    (trigger,) = [a for a in alarms if a.get("MetricName") == "HasBacklogWithoutCapacity"]
    assert trigger["AlarmActions"] == [step["PolicyARN"]]


def test_endpoint_answers_an_invocation_by_name(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    runtime = deployed.client("sagemaker-runtime")
    name = config.endpoint_name(deployed.endpoint_type)
    if deployed.endpoint_type != "async":
        response = runtime.invoke_endpoint(
            EndpointName=name, Body=b'{"inputs": "hello"}', ContentType="application/json"
        )
        assert response["Body"].read()
        return
    # GIVEN a request uploaded to the input path (an async round trip)
    bucket = _outputs(deployed.stacks["stateful"])[config.stateful_exports.bucket_name]
    s3 = deployed.client("s3")
    s3.put_object(Bucket=bucket, Key="async/input/request-1.json", Body=b'{"inputs": ["hello", "world"]}')
    # WHEN the endpoint is invoked asynchronously
    response = runtime.invoke_endpoint_async(
        EndpointName=name,
        InputLocation=f"s3://{bucket}/async/input/request-1.json",
        InvocationTimeoutSeconds=block_of(config, AsyncEndpoint).invocation_timeout_seconds,
    )
    # THEN the result lands under the configured output prefix
    assert response["OutputLocation"].startswith(f"s3://{bucket}/async/output/")
    key = response["OutputLocation"].removeprefix(f"s3://{bucket}/")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert response["FailureLocation"].startswith(f"s3://{bucket}/async/failure/")


def test_the_budget_exists_with_its_limit_filter_and_notifications(deployed: Deployed) -> None:
    config = load_environment_config(deployed.env)
    budgets = deployed.client("budgets")
    listed = budgets.describe_budgets(AccountId="123456789012").get("Budgets", [])
    if config.budget is None:
        assert listed == []
        return
    name = f"{config.project}-{config.environment}-monthly"
    budget = budgets.describe_budget(AccountId="123456789012", BudgetName=name)["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == config.budget.monthly_limit_usd
    assert budget["BudgetLimit"]["Unit"] == "USD"
    assert budget["TimeUnit"] == "MONTHLY"
    assert budget["FilterExpression"]["And"][0]["Tags"]["Values"] == [config.environment]
    notifications = budgets.describe_notifications_for_budget(AccountId="123456789012", BudgetName=name)
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notifications["Notifications"]) == sorted(
        (alert.spend, alert.threshold_percent) for alert in config.budget.alerts
    )

"""The asynchronous inference stack: S3 paths, topics, least privilege, and every link of the
scale-to-zero chain (min 0, backlog metric, HasBacklogWithoutCapacity alarm -> step policy)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SynthesizedEnvironment, synthesize

ENDPOINT = "minilm-embeddings-prod-async"
BUCKET_ARN = {"Fn::ImportValue": "minilm-embeddings-prod-stateful-bucket-arn"}
BUCKET_NAME = {"Fn::ImportValue": "minilm-embeddings-prod-stateful-bucket-name"}
KEY_ARN = {"Fn::ImportValue": "minilm-embeddings-prod-stateful-key-arn"}


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnvironment:
    return synthesize("prod", tmp_path_factory.mktemp("prod-async"), "async")


def _all(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    return dict(env.template("async").find_resources(type_name))


def _only(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    (resource,) = _all(env, type_name).values()
    return dict(resource)


def _id(env: SynthesizedEnvironment, type_name: str, prefix: str) -> str:
    (logical_id,) = [k for k in _all(env, type_name) if k.startswith(prefix)]
    return logical_id


def _path(prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["s3://", BUCKET_NAME, f"/{prefix}"]]}


def _objects(prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [BUCKET_ARN, f"/{prefix}*"]]}


def test_endpoint_config_queues_results_in_the_kms_bucket_and_notifies_topics(
    prod: SynthesizedEnvironment,
) -> None:
    config = _only(prod, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["AsyncInferenceConfig"] == {
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
        "OutputConfig": {
            "S3OutputPath": _path("async/output/"),
            "S3FailurePath": _path("async/failure/"),
            "KmsKeyId": KEY_ARN,
            "NotificationConfig": {
                "SuccessTopic": {"Ref": _id(prod, "AWS::SNS::Topic", "SuccessTopic")},
                "ErrorTopic": {"Ref": _id(prod, "AWS::SNS::Topic", "ErrorTopic")},
                "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC"],
            },
        },
    }
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c6i.xlarge", 1)


def test_topics_are_kms_encrypted_and_tls_only(prod: SynthesizedEnvironment) -> None:
    topics = _all(prod, "AWS::SNS::Topic")
    assert len(topics) == 2
    assert all(t["Properties"]["KmsMasterKeyId"] == KEY_ARN for t in topics.values())
    policies = _all(prod, "AWS::SNS::TopicPolicy").values()
    assert len(policies) == 2
    for policy in policies:
        deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_role_reads_only_the_input_writes_only_results_and_publishes_only_to_its_topics(
    prod: SynthesizedEnvironment,
) -> None:
    policy = _all(prod, "AWS::IAM::ManagedPolicy")[
        _id(prod, "AWS::IAM::ManagedPolicy", "ServedExecutionRoleAsyncIo")
    ]
    statements = {
        str(s["Action"]): s["Resource"] for s in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert statements["s3:GetObject"] == _objects("async/input/")
    assert statements["s3:PutObject"] == [_objects("async/failure/"), _objects("async/output/")]
    assert statements["sns:Publish"] == [
        {"Ref": _id(prod, "AWS::SNS::Topic", "ErrorTopic")},
        {"Ref": _id(prod, "AWS::SNS::Topic", "SuccessTopic")},
    ]
    endpoint = _only(prod, "AWS::SageMaker::Endpoint")
    assert _id(prod, "AWS::IAM::ManagedPolicy", "ServedExecutionRoleAsyncIo") in endpoint["DependsOn"]


def test_scalable_target_may_reach_zero_and_waits_for_the_endpoint(prod: SynthesizedEnvironment) -> None:
    target = _only(prod, "AWS::ApplicationAutoScaling::ScalableTarget")
    properties = target["Properties"]
    assert (properties["MinCapacity"], properties["MaxCapacity"]) == (0, 6)
    assert properties["ResourceId"] == f"endpoint/{ENDPOINT}/variant/AllTraffic"
    assert properties["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["DependsOn"] == [_id(prod, "AWS::SageMaker::Endpoint", "Endpoint")]


def test_target_tracking_holds_the_backlog_per_instance(prod: SynthesizedEnvironment) -> None:
    policy = _all(prod, "AWS::ApplicationAutoScaling::ScalingPolicy")[
        _id(
            prod,
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            "ScalingAllTrafficBacklogTargetBacklogPerInstance",
        )
    ]["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "CustomizedMetricSpecification": {
            "MetricName": "ApproximateBacklogSizePerInstance",
            "Namespace": "AWS/SageMaker",
            "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}],
            "Statistic": "Average",
        },
        "TargetValue": 8,
        "ScaleInCooldown": 900,
        "ScaleOutCooldown": 120,
    }


def test_backlog_without_capacity_alarm_triggers_the_step_policy_that_adds_an_instance(
    prod: SynthesizedEnvironment,
) -> None:
    step_id = _id(prod, "AWS::ApplicationAutoScaling::ScalingPolicy", "ScalingAllTrafficScaleOutFromZero")
    step = _all(prod, "AWS::ApplicationAutoScaling::ScalingPolicy")[step_id]["Properties"]
    assert step["PolicyType"] == "StepScaling"
    assert step["ScalingTargetId"] == {
        "Ref": _id(prod, "AWS::ApplicationAutoScaling::ScalableTarget", "Scaling")
    }
    assert step["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
    ]
    alarm = _all(prod, "AWS::CloudWatch::Alarm")[
        _id(prod, "AWS::CloudWatch::Alarm", "ScalingAllTrafficBacklogWithoutCapacity")
    ]["Properties"]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["Namespace"] == "AWS/SageMaker"
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": ENDPOINT}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [{"Ref": step_id}]


@pytest.mark.parametrize(
    ("alarm", "metric", "threshold"),
    [
        ("QueueAlarmsBacklogSize", "ApproximateBacklogSize", 500),
        ("QueueAlarmsOldestRequestAge", "ApproximateAgeOfOldestRequest", 3600),
        ("QueueAlarmsInvocationFailures", "InvocationFailures", 0),
    ],
)
def test_queue_alarms_notify_the_environment_alarm_topic(
    prod: SynthesizedEnvironment, alarm: str, metric: str, threshold: int
) -> None:
    properties = _all(prod, "AWS::CloudWatch::Alarm")[_id(prod, "AWS::CloudWatch::Alarm", alarm)][
        "Properties"
    ]
    assert properties["MetricName"] == metric
    assert properties["Threshold"] == threshold
    assert properties["AlarmActions"] == [
        {"Fn::ImportValue": "minilm-embeddings-prod-stateful-alarm-topic-arn"}
    ]


def test_outputs_tell_clients_where_to_put_requests_and_which_timeout(prod: SynthesizedEnvironment) -> None:
    template = prod.template("async")
    template.has_output("EndpointName", {"Value": ENDPOINT})
    template.has_output("InputPrefix", {"Value": "async/input/"})
    template.has_output("OutputPrefix", {"Value": "async/output/"})
    template.has_output("FailurePrefix", {"Value": "async/failure/"})
    template.has_output("InvocationTimeoutSeconds", {"Value": "1800"})


def _dashboard_text(env: SynthesizedEnvironment) -> str:
    body = _only(env, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in body["Fn::Join"][1])


def test_dashboard_shows_the_queue_and_its_alarms(prod: SynthesizedEnvironment) -> None:
    text = _dashboard_text(prod)
    for metric in ("ApproximateBacklogSize", "ApproximateAgeOfOldestRequest", "HasBacklogWithoutCapacity"):
        assert metric in text
    for alarm in ("QueueAlarmsBacklogSize", "QueueAlarmsOldestRequestAge", "AlarmsErrors"):
        assert _id(prod, "AWS::CloudWatch::Alarm", alarm) in text


def test_endpoint_alarms_are_errors_and_latency_when_no_waste_threshold_is_set(
    prod: SynthesizedEnvironment,
) -> None:
    # prod's async block sets no waste alarm: errors and latency, besides the queue's three
    alarms = [k for k in _all(prod, "AWS::CloudWatch::Alarm") if k.startswith("Alarms")]
    assert len(alarms) == 2
